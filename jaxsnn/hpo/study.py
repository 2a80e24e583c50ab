"""Crash-safe studies: one SQLite file holds the search space, the optimizer spec and every trial.

Why SQLite in WAL mode: a trial's record is committed in one short transaction, so killing the
process at any moment loses no finished trial, and several processes (drivers on the same host)
can read while one writes. Every write opens with ``BEGIN IMMEDIATE`` so concurrent writers queue
on the busy timeout instead of failing on a read-to-write lock upgrade. WAL needs shared memory,
so all writers must live on one host (no network file systems) - which also lets a study tell a
dead owner from a live one by its process id.

The optimizer state is *not* pickled: it is rebuilt by constructing the optimizer from the stored
name / seed / options and telling it every stored record in completion order. This keeps the file
readable by any later jaxsnn version that keeps the optimizer's constructor.

This module is the storage; what a study's outcome looks like (best trial, Pareto front, flat
rows) is in :mod:`jaxsnn.hpo.results`, tables and plots in :mod:`jaxsnn.hpo.report`.

Trial life cycle::

    start_trial ---------------------------> running -> finish_trial -> complete | silent_stopped | failed | pruned
    enqueue -> pending -> claim_pending ---> running
    running, owner process died -> requeue_running -> pending
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psutil

from jaxsnn.hpo.spec import check_spec
from jaxsnn.record import STATUSES, EvaluationRecord

if TYPE_CHECKING:
    from jaxsnn.hpo.optimizers import Optimizer
    from jaxsnn.hpo.space import Space

FORMAT = "jaxsnn-study"
SCHEMA_VERSION = 1
ACTIVE_STATUSES: tuple[str, ...] = ("pending", "running")
TRIAL_STATUSES: tuple[str, ...] = ACTIVE_STATUSES + STATUSES
BUSY_TIMEOUT_S = 60.0

_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE trials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    params TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in TRIAL_STATUSES)})),
    record TEXT,
    worker TEXT,
    owner TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at REAL,
    finished_at REAL,
    seq INTEGER UNIQUE
);
CREATE INDEX trials_status ON trials (status);
"""


class StudyError(RuntimeError):
    """A file that is not a usable study, or a study used against its own spec."""


@dataclasses.dataclass(frozen=True)
class Trial:
    """One row of the study. ``seq`` is the completion order (``None`` until finished)."""

    id: int
    params: dict[str, Any]
    status: str
    record: EvaluationRecord | None
    worker: str | None
    owner: str | None
    attempts: int
    started_at: float | None
    finished_at: float | None
    seq: int | None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


def _process_identity(pid: int) -> str:
    """``host:pid:create_time``: the create time tells a reused pid from the original process."""
    return f"{socket.gethostname()}:{pid}:{psutil.Process(pid).create_time():.3f}"


def _owner_alive(owner: str) -> bool:
    """Whether the process that claimed a trial still exists.

    An owner on another host counts as dead: SQLite WAL cannot be shared across hosts, so a
    process there cannot be writing to this file any more (the file was moved). So does a
    zombie: it has exited, only its parent has not collected its exit status yet.
    """
    host, pid, created = owner.rsplit(":", 2)
    if host != socket.gethostname():
        return False
    try:
        process = psutil.Process(int(pid))
        return f"{process.create_time():.3f}" == created and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _check_marker(path: Path, conn: sqlite3.Connection) -> None:
    """``StudyError`` unless ``conn`` reads a study of this schema version."""
    try:
        rows = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError as e:
        raise StudyError(f"{path} is not a jaxsnn study ({e})") from None
    if rows.get("format") != FORMAT:
        raise StudyError(f"{path} is not a jaxsnn study (no '{FORMAT}' marker)")
    if rows.get("schema_version") != str(SCHEMA_VERSION):
        raise StudyError(
            f"{path} has study schema version {rows.get('schema_version')}, this jaxsnn reads version {SCHEMA_VERSION}"
        )


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True, sort_keys=False, default=float)


class Study:
    """A study file. Open one ``Study`` per process (or thread): each holds its own connection."""

    def __init__(self, path: str | os.PathLike, _conn: sqlite3.Connection) -> None:
        self.path = Path(path)
        self._conn = _conn
        self._lock = threading.Lock()
        self._owner = _process_identity(os.getpid())
        meta = dict(_conn.execute("SELECT key, value FROM meta").fetchall())
        self.objectives: dict[str, str] = json.loads(meta["objectives"])
        self.constraints: tuple[str, ...] = tuple(json.loads(meta["constraints"]))
        self.optimizer_name: str = json.loads(meta["optimizer"])
        self.seed: int = json.loads(meta["seed"])
        self.options: dict[str, Any] = json.loads(meta["options"])
        self._space_dict: dict[str, Any] = json.loads(meta["space"])
        self.config: dict[str, Any] | None = json.loads(meta.get("config", "null"))
        self.stream = 0
        self.read_only = False
        """Opened in a folder this process cannot write to: readable, any write raises ``StudyError``."""
        """This handle's random stream as a driver (see :meth:`join_as_driver`); 0: the study's seed."""

    # --- creation and opening -------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        space: "Space",
        objectives: Mapping[str, str],
        constraints: Sequence[str] = (),
        optimizer: str = "random",
        seed: int = 0,
        options: Mapping[str, Any] | None = None,
        *,
        exist_ok: bool = False,
        config: Mapping[str, Any] | None = None,
    ) -> "Study":
        """Write a new study file; with ``exist_ok`` open an existing one if its spec is identical.

        ``objectives`` maps each objective name to ``"max"`` or ``"min"``; ``constraints`` names the
        ``g(x) <= 0`` constraints every informative record must carry. ``optimizer``, ``seed`` and
        ``options`` are what ``make_optimizer`` needs to rebuild the optimizer on resume.
        ``config`` is the caller's whole run config (JSON-able), kept as :attr:`config` so that
        the file alone is enough to resume the study; it is stored once and never compared.
        """
        objectives, constraints = check_spec(objectives, constraints)
        constraints = list(constraints)
        options = dict(options or {})
        try:
            options_json = json.dumps(options)
        except TypeError as e:
            raise ValueError(f"optimizer options must be JSON-able to be stored: {e}") from None
        try:
            config_json = json.dumps(None if config is None else dict(config), allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"a study's config must be JSON-able to be stored: {e}") from None
        meta = {
            "format": FORMAT,
            "schema_version": str(SCHEMA_VERSION),
            "space": json.dumps(space.to_dict()),
            "objectives": json.dumps(objectives),
            "constraints": json.dumps(constraints),
            "optimizer": json.dumps(optimizer),
            "seed": json.dumps(int(seed)),
            "options": options_json,
            "created_at": json.dumps(time.time()),
            "config": config_json,
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Build the file aside and hard-link it into place: linking fails if the path exists, so
        # a study appears complete or not at all, even when two drivers create it at once.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        if not path.exists():
            try:
                conn = cls._connect(tmp)
                try:
                    with _transaction(conn, durable=True):
                        for statement in _SCHEMA.strip().split(";"):
                            if statement.strip():
                                conn.execute(statement)
                        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
                finally:
                    conn.close()  # checkpoints the WAL into the file and removes it
                os.link(tmp, path)
                return cls.open(path)
            except FileExistsError:
                pass
            except sqlite3.Error as e:
                raise StudyError(f"cannot create study {path} ({e}); nothing was written there") from e
            finally:  # the file aside, and its WAL and shared memory if SQLite failed before closing
                for leftover in (tmp, tmp.with_name(f"{tmp.name}-wal"), tmp.with_name(f"{tmp.name}-shm")):
                    leftover.unlink(missing_ok=True)
        if not exist_ok:
            raise FileExistsError(f"study {path} already exists; use Study.open() to resume it")
        study = cls.open(path)
        study._check_same_spec(meta)
        return study

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Study":
        """Open an existing study; clear errors for a missing file, a foreign file or a newer schema."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no study file at {path}; create one with Study.create()")
        # Read the marker through a read-only connection first: switching to WAL writes to the
        # file, and a file that is not a study (empty, foreign, damaged) must be left as it was.
        # In a folder this process cannot write to (WAL needs files beside the study) that
        # connection stays the study's: it can be read and reported, not run.
        read_only = not os.access(path.parent, os.W_OK)
        probe = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                                check_same_thread=False)  # fmt: skip
        try:
            _check_marker(path, probe)
        except StudyError:
            probe.close()
            raise
        if not read_only:
            probe.close()
        study = cls(path, probe if read_only else cls._connect(path))
        study.read_only = read_only
        return study

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE) and therefore short.
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as e:
            conn.close()
            raise StudyError(f"{path} is not a jaxsnn study ({e})") from None
        return conn

    def _check_same_spec(self, meta: Mapping[str, str]) -> None:
        stored = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        keys = ("space", "objectives", "constraints", "optimizer", "seed", "options")
        differ = [k for k in keys if json.loads(stored[k]) != json.loads(meta[k])]
        if differ:
            raise StudyError(f"study {self.path} exists with a different {', '.join(differ)}; pick another path")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Study":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Study({str(self.path)!r}, optimizer={self.optimizer_name!r}, objectives={self.objectives})"

    # --- spec -----------------------------------------------------------------------------------
    @property
    def space(self) -> "Space":
        from jaxsnn.hpo.space import Space

        return Space.from_dict(self._space_dict)

    def fresh_optimizer(self) -> "Optimizer":
        """The study's optimizer as constructed, before any record is told, drawing from this
        handle's :attr:`stream` (the study's own seed unless it joined beside other drivers)."""
        from jaxsnn.hpo.registry import make_optimizer

        seed = self.seed
        if self.stream:
            seed = int(np.random.SeedSequence([self.seed, self.stream]).generate_state(1)[0])
        return make_optimizer(
            self.optimizer_name, self.space, self.objectives, self.constraints, seed=seed, **self.options
        )

    def join_as_driver(self) -> int:
        """Register this handle as a driver of the study and take the smallest random stream no
        other live driver holds; return it (also kept as :attr:`stream`).

        Why: drivers built from the same seed propose the same points. A lone driver, the usual
        case and every resume included, gets stream 0 and so the study's own seed. Registrations
        of dead processes are dropped here; :meth:`leave_as_driver` drops this one.
        """
        with self._write() as conn:
            taken = set()
            for key, value in conn.execute("SELECT key, value FROM meta WHERE key LIKE 'driver:%'").fetchall():
                if _owner_alive(key.removeprefix("driver:").rsplit(":", 1)[0]):
                    taken.add(int(value))
                else:
                    conn.execute("DELETE FROM meta WHERE key = ?", (key,))
            self.stream = min(set(range(len(taken) + 1)) - taken)
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (self._driver_key(), str(self.stream))
            )
        return self.stream

    def leave_as_driver(self) -> None:
        """Give this handle's stream back (a driver that ends)."""
        with self._write() as conn:
            conn.execute("DELETE FROM meta WHERE key = ?", (self._driver_key(),))
        self.stream = 0
        self.read_only = False
        """Opened in a folder this process cannot write to: readable, any write raises ``StudyError``."""

    def add_driver_cpu(self, seconds: float) -> None:
        """Add a driver's CPU seconds to the study's :attr:`driver_cpu_s` (summed over drivers and
        resumes)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('driver_cpu_s', ?) ON CONFLICT(key) DO UPDATE "
                "SET value = CAST(value AS REAL) + CAST(excluded.value AS REAL)", (repr(float(seconds)),)
            )

    @property
    def driver_cpu_s(self) -> float | None:
        """CPU seconds the processes that drove this study spent in it: the optimizer's fits, asks
        and compilations and the loop (with an in-process executor, the trials too). Why keep it:
        on a machine whose cores the workers fill, that time comes out of the trials', so it is the
        optimizer's price beside the trials' ``cost_s``. None for a study no driver has run yet."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'driver_cpu_s'").fetchone()
        return None if row is None else float(row[0])

    def _driver_key(self) -> str:
        """``driver:<process identity>:<thread>``: drivers may share a process, one per thread."""
        return f"driver:{self._owner}:{threading.get_ident()}"

    def optimizer(self) -> "Optimizer":
        """The optimizer rebuilt by replaying every stored record in completion order."""
        opt = self.fresh_optimizer()
        for record in self.records():
            opt.tell(record)
        return opt

    # --- writing trials -------------------------------------------------------------------------
    @contextmanager
    def _storage_errors(self) -> Iterator[None]:
        """SQLite's errors and unreadable rows as ``StudyError`` naming the file and what to do
        next: a raw ``database disk image is malformed`` says neither which study nor whether
        work is lost."""
        try:
            yield
        except (sqlite3.Error, json.JSONDecodeError) as e:
            step = ("free disk space and run again: every finished trial is kept" if "full" in str(e)
                    else "finished trials committed before this error are kept")  # fmt: skip
            raise StudyError(f"study {self.path}: {e}; {step}") from e

    @contextmanager
    def _write(self, durable: bool = False) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise StudyError(f"study {self.path} was opened read-only (its folder is not writable): "
                             "copy the file to a writable folder to run or change it")  # fmt: skip
        with self._lock, self._storage_errors(), _transaction(self._conn, durable):
            yield self._conn

    def start_trial(self, params: Mapping[str, Any], worker: str = "", *, limit: int | None = None) -> int | None:
        """Store ``params`` as a running trial owned by this process and return its id.

        With ``limit``, the trial is only added while the study holds fewer than ``limit`` trials
        (counted in the same transaction, so concurrent drivers never overshoot); else ``None``.
        """
        with self._write() as conn:
            if limit is not None and conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0] >= limit:
                return None
            cur = conn.execute(
                "INSERT INTO trials (params, status, worker, owner, attempts, started_at) "
                "VALUES (?, 'running', ?, ?, 1, ?)",
                (_dumps(dict(params)), worker, self._owner, time.time()),
            )
            return int(cur.lastrowid)

    def enqueue(self, params: Mapping[str, Any]) -> int:
        """Add ``params`` as a pending trial, evaluated before the optimizer is asked for more.

        How a known configuration (a documented default, a colleague's best) seeds a study: it
        runs under the same conditions as every other trial and the optimizer learns from it.
        ``params`` must be a valid point of the study's space (``ValueError`` naming what is not).
        """
        self.space.validate(params)
        with self._write() as conn:
            cur = conn.execute("INSERT INTO trials (params, status) VALUES (?, 'pending')", (_dumps(dict(params)),))
            return int(cur.lastrowid)

    def enqueue_new(self, params: Mapping[str, Any]) -> int | None:
        """:meth:`enqueue` unless the study already holds ``params`` (a resumed study): a seeded
        point runs once however often its driver starts. The new id, or ``None``."""
        if any(t.params == dict(params) for t in self.trials()):
            return None
        return self.enqueue(params)

    def claim_pending(self, worker: str = "") -> Trial | None:
        """Atomically take the oldest pending (enqueued or requeued) trial and mark it running for this process."""
        with self._write() as conn:
            row = conn.execute("SELECT id FROM trials WHERE status = 'pending' ORDER BY id LIMIT 1").fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE trials SET status = 'running', worker = ?, owner = ?, attempts = attempts + 1, "
                "started_at = ? WHERE id = ?",
                (worker, self._owner, time.time(), row[0]),
            )
        return self.trial(row[0])

    def finish_trial(self, trial_id: int, record: EvaluationRecord) -> int:
        """Store the trial's record and final status in one transaction; return its completion seq.

        Once this returns the record is fsynced: it survives a killed process and a power loss.
        Finishing a trial that is not running (finished already, or requeued because its owner
        was presumed dead) raises ``StudyError``.
        """
        if not isinstance(record, EvaluationRecord):
            raise TypeError(f"finish_trial needs an EvaluationRecord, got {type(record).__name__}")
        with self._write(durable=True) as conn:
            row = conn.execute("SELECT status FROM trials WHERE id = ?", (trial_id,)).fetchone()
            if row is None:
                raise StudyError(f"study {self.path} has no trial {trial_id}")
            if row[0] != "running":
                raise StudyError(f"trial {trial_id} is {row[0]}, not running; it cannot be finished again")
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM trials").fetchone()[0]
            conn.execute(
                "UPDATE trials SET status = ?, record = ?, finished_at = ?, seq = ? WHERE id = ?",
                (record.status, record.to_json(), time.time(), seq, trial_id),
            )
        return int(seq)

    def requeue_running(self) -> list[int]:
        """Make the running trials of dead processes pending again; return their ids.

        Called on resume. A live owner's trials are left alone, so a second driver starting on a
        shared study never steals work in progress.
        """
        with self._lock, self._storage_errors():
            rows = self._conn.execute("SELECT id, owner FROM trials WHERE status = 'running'").fetchall()
        return self.release([i for i, owner in rows if owner != self._owner and not _owner_alive(owner)])

    def release(self, trial_ids: Sequence[int]) -> list[int]:
        """Make these trials pending again if they are still running; return those that were.

        A driver that stops early (Ctrl-C, an error) releases its own running trials so that the
        next run evaluates them first instead of waiting for this process to be found dead.
        """
        with self._write() as conn:
            released = [
                i for i in trial_ids
                if conn.execute(
                    "UPDATE trials SET status = 'pending', owner = NULL, worker = NULL, started_at = NULL "
                    "WHERE id = ? AND status = 'running'",
                    (i,),
                ).rowcount
            ]
        return released

    # --- reading --------------------------------------------------------------------------------
    def _select(self, where: str, args: Sequence[Any] = (), order: str = "id") -> list[Trial]:
        with self._lock, self._storage_errors():
            rows = self._conn.execute(
                "SELECT id, params, status, record, worker, owner, attempts, started_at, finished_at, seq "
                f"FROM trials WHERE {where} ORDER BY {order}",
                tuple(args),
            ).fetchall()
            return [self._trial(r) for r in rows]

    @staticmethod
    def _trial(r: Sequence[Any]) -> Trial:
        return Trial(
            id=r[0],
            params=json.loads(r[1]),
            status=r[2],
            record=EvaluationRecord.from_json(r[3]) if r[3] is not None else None,
            worker=r[4],
            owner=r[5],
            attempts=r[6],
            started_at=r[7],
            finished_at=r[8],
            seq=r[9],
        )

    def trial(self, trial_id: int) -> Trial:
        found = self._select("id = ?", (trial_id,))
        if not found:
            raise StudyError(f"study {self.path} has no trial {trial_id}")
        return found[0]

    def trials(self) -> list[Trial]:
        """Every trial, by id."""
        return self._select("1")

    def finished(self, after_seq: int = 0) -> list[Trial]:
        """Finished trials in completion order, those completed after ``after_seq`` only."""
        return self._select("seq > ?", (after_seq,), order="seq")

    def records(self) -> list[EvaluationRecord]:
        """Every stored record in completion order: exactly what the optimizer was told."""
        return [t.record for t in self.finished()]

    def running(self) -> list[Trial]:
        """Trials being evaluated right now, by any process."""
        return self._select("status = 'running'")

    def pending(self) -> list[Trial]:
        """Requeued trials waiting for a driver to claim them."""
        return self._select("status = 'pending'")

    def counts(self) -> dict[str, int]:
        """Number of trials per status (all statuses present, zeros included)."""
        with self._lock, self._storage_errors():
            rows = dict(self._conn.execute("SELECT status, COUNT(*) FROM trials GROUP BY status").fetchall())
        return {s: int(rows.get(s, 0)) for s in TRIAL_STATUSES}

    def n_stored(self) -> int:
        """Number of trials in the study, whatever their status (not ``__len__``: an empty study
        must not be falsy)."""
        return sum(self.counts().values())


@contextmanager
def _transaction(conn: sqlite3.Connection, durable: bool = False) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: take the write lock up front so writers queue, never deadlock.

    Every commit survives a killed process (the OS holds it). ``durable`` commits are also fsynced
    (``synchronous=FULL``) and survive a power loss; the WAL is sequential, so that makes every
    earlier commit durable too. Only records need it: a lost ``start_trial`` is re-asked, and
    an fsync per start would double the driver's time per trial (about 5 ms each on a VM disk).
    """
    conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:  # SQLite has rolled back already on some errors (a full disk)
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
