"""Peer optimizers (Optuna TPE, Optuna GPSampler, BoTorch SCBO) behind our ask/tell interface.

The SNN-HPO benchmark compares our optimizers with these peers on the surrogate problems. The
peers live in their own virtual environment (default /work/peers-venv), so that their torch never
meets our JAX: :class:`PeerOptimizer` re-runs this file there with ``--peer-worker`` and talks to
it over stdin/stdout, one JSON line per message, the way ``bo_quality.py`` does. The parent
evaluates every point, so peers and ours see identical problems.

Protocol. First line ``{"peer", "seed", "space": Space.to_dict(), "n_initial", "dim"}``; then
``{"cmd": "ask"}`` -> ``{"id", "params": {...}}`` (Optuna: native distributions, define-by-run, so
conditional parameters stay conditional) or ``{"id", "x": [...]}`` (BoTorch SCBO: a point of the
parent's encoded unit cube); ``{"cmd": "tell", "id", "status", "accuracy", "silent"}`` -> ``{"ok":
true}`` (accuracy maximised, ``silent <= 0`` feasible; failed and pruned trials carry no values);
``{"cmd": "close"}`` ends the worker. The ``id`` names an asked trial, so that a study with several
workers can tell its trials in the order they finish: the Optuna peers keep several trials running,
as an Optuna study does (``benchmarks/snn_real_peers.py``); BoTorch SCBO proposes one point at a
time.

This module's top level imports only the standard library and numpy: the parent side runs in our
environment, the peer side in the peers' one (which has no jaxsnn).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from jaxsnn.hpo.space import Space
    from jaxsnn.record import EvaluationRecord

PEERS = ("optuna-tpe", "optuna-gp", "botorch-scbo")
PEERS_PYTHON = "/work/peers-venv/bin/python"
PEERS_INSTALL = (
    "python3 -m venv /work/peers-venv && /work/peers-venv/bin/pip install torch==2.13.0 "
    "--index-url https://download.pytorch.org/whl/cpu && /work/peers-venv/bin/pip install torch==2.13.0 "
    "optuna botorch numpy scipy"
)
"""How to build the peers' environment, in any POSIX shell: CPU torch from PyTorch's own index first
(PyPI's Linux wheel pulls CUDA), then the peers with torch pinned to it, so that BoTorch's
requirement cannot replace it."""
_MODULES = {"optuna-tpe": ("optuna",), "optuna-gp": ("optuna", "torch", "scipy"), "botorch-scbo": ("botorch", "torch")}
"""What each peer imports in the worker (GPSampler needs torch and scipy, imported lazily by Optuna)."""
_INFORMATIVE = ("complete", "silent_stopped")


# ================================================================================================
# Peer side: runs in the peers' interpreter, imports only numpy + optuna / torch + botorch.
# ================================================================================================
def _same(a: Any, b: Any) -> bool:
    """Choice equality that keeps ``True`` and ``1`` apart, as ``CategoricalParam.index`` does."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _dependency_order(params: list[dict]) -> list[dict]:
    """Parents before children (as ``Space._dependency_order``): a child may be declared first."""
    order: list[dict] = []
    placed: set[str] = set()
    while len(order) < len(params):
        ready = [
            p for p in params
            if p["name"] not in placed and (p["condition"] is None or p["condition"]["parent"] in placed)
        ]  # fmt: skip
        if not ready:
            raise ValueError(f"cyclic conditions among {[p['name'] for p in params if p['name'] not in placed]}")
        order += ready
        placed |= {p["name"] for p in ready}
    return order


class _OptunaPeer:
    """An Optuna study on the native space; the silent constraint goes through ``constraints_func``."""

    def __init__(self, kind: str, seed: int, space: dict, n_initial: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        self._optuna = optuna

        def constraints(trial: optuna.trial.FrozenTrial) -> list[float]:
            return trial.user_attrs.get("constraints", [])

        sampler_class = optuna.samplers.TPESampler if kind == "optuna-tpe" else optuna.samplers.GPSampler
        sampler = sampler_class(seed=seed, n_startup_trials=n_initial, constraints_func=constraints)
        self.study = optuna.create_study(direction="maximize", sampler=sampler)
        self.declared = [p["name"] for p in space["params"]]
        self.order = _dependency_order(space["params"])
        self.running: dict[int, optuna.trial.Trial] = {}

    @staticmethod
    def _suggest(trial: Any, p: dict) -> Any:
        if p["type"] == "float":
            return trial.suggest_float(p["name"], p["low"], p["high"], log=p["log"])
        if p["type"] == "int":
            return trial.suggest_int(p["name"], int(p["low"]), int(p["high"]), log=p["log"])
        return trial.suggest_categorical(p["name"], p["choices"])

    def ask(self) -> dict:
        trial = self.study.ask()
        self.running[trial.number] = trial
        values: dict[str, Any] = {}
        for p in self.order:
            c = p["condition"]
            if c is None or (c["parent"] in values and any(_same(values[c["parent"]], v) for v in c["values"])):
                values[p["name"]] = self._suggest(trial, p)
        return {"id": trial.number, "params": {name: values[name] for name in self.declared if name in values}}

    def enqueue(self, params: dict) -> None:
        """Optuna's own seeding: the next ``ask`` returns ``params`` (``Study.enqueue_trial``)."""
        self.study.enqueue_trial(params)

    def tell(self, trial_id: int, status: str, accuracy: float | None, silent: float | None) -> None:
        trial = self.running.pop(trial_id, None)
        if trial is None:
            raise RuntimeError(f"tell of trial {trial_id}, which is not running (running: {sorted(self.running)})")
        state = self._optuna.trial.TrialState
        if status in _INFORMATIVE:
            trial.set_user_attr("constraints", [silent])
            self.study.tell(trial, accuracy)
        else:
            self.study.tell(trial, state=state.FAIL if status == "failed" else state.PRUNED)


class _ScboPeer:
    """``bo_quality``'s BoTorch SCBO loop on the encoded unit cube; failed and pruned points are skipped."""

    def __init__(self, seed: int, dim: int, n_initial: int) -> None:
        import torch
        from bo_quality import _BotorchSCBO

        self.opt = _BotorchSCBO(dim, seed, n_init=n_initial)
        # The base class indexes its Sobol design by the number of observations, so a skipped point
        # would be asked again; this engine replays the same sequence and continues past it.
        self.design = torch.quasirandom.SobolEngine(dim, scramble=True, seed=seed)
        self.x = None
        self.asked = 0

    def ask(self) -> dict:
        if self.x is not None:
            raise RuntimeError("botorch-scbo proposes one point at a time: tell the last one first")
        self.x = self.design.draw(1).double()[0] if len(self.opt.X) < self.opt.n_init else self.opt.ask()
        self.asked += 1
        return {"id": self.asked, "x": self.x.tolist()}

    def tell(self, trial_id: int, status: str, accuracy: float | None, silent: float | None) -> None:
        if self.x is None or trial_id != self.asked:
            raise RuntimeError(f"tell of trial {trial_id}, which is not the pending one")
        if status in _INFORMATIVE:
            self.opt.tell(self.x, accuracy, [silent])
        self.x = None


def peer_worker() -> None:
    """Serve one peer over stdin/stdout; library prints go to stderr so stdout carries only replies."""
    warnings.simplefilter("ignore")  # Optuna's experimental/deprecation notes, GPyTorch fit warnings
    out: IO[str] = sys.stdout
    sys.stdout = sys.stderr

    def receive() -> dict:
        line = sys.stdin.readline()
        if not line:
            raise SystemExit("parent closed the pipe")
        return json.loads(line)

    def send(obj: dict) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    spec = receive()
    if spec["peer"] == "botorch-scbo":
        peer: _OptunaPeer | _ScboPeer = _ScboPeer(spec["seed"], spec["dim"], spec["n_initial"])
    elif spec["peer"] in ("optuna-tpe", "optuna-gp"):
        peer = _OptunaPeer(spec["peer"], spec["seed"], spec["space"], spec["n_initial"])
    else:
        raise ValueError(f"unknown peer {spec['peer']!r}; valid: {', '.join(PEERS)}")
    while (msg := receive())["cmd"] != "close":
        if msg["cmd"] == "ask":
            send(peer.ask())
        elif msg["cmd"] == "enqueue":
            if not isinstance(peer, _OptunaPeer):
                raise ValueError(f"{spec['peer']} takes no enqueued configurations")
            peer.enqueue(msg["params"])
            send({"ok": True})
        elif msg["cmd"] == "tell":
            peer.tell(msg["id"], msg["status"], msg["accuracy"], msg["silent"])
            send({"ok": True})
        else:
            raise ValueError(f"unknown command {msg['cmd']!r}")


# ================================================================================================
# Parent side: our environment (jaxsnn), started from the SNN benchmark.
# ================================================================================================
def available_peers(python: str = PEERS_PYTHON) -> dict[str, str | None]:
    """Peer -> ``None`` when ``python`` imports what that peer needs, else why not and how to fix it.

    Imports for real (not just ``find_spec``): a half-installed torch should count as missing.
    """
    modules = sorted({m for needed in _MODULES.values() for m in needed})
    code = (
        "import importlib, json, sys\n"
        "errors = {}\n"
        "for m in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(m)\n"
        "    except Exception as e:\n"
        "        errors[m] = f'{type(e).__name__}: {e}'\n"
        "print(json.dumps(errors))\n"
    )
    fix = f"build the peer venv: {PEERS_INSTALL}"
    try:
        out = subprocess.run([python, "-c", code, *modules], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as e:
        return {peer: f"{peer}: cannot run {python} ({e}); {fix}" for peer in PEERS}
    if out.returncode != 0:
        return {peer: f"{peer}: {python} failed ({out.stderr.strip()[-300:]}); {fix}" for peer in PEERS}
    errors = json.loads(out.stdout.splitlines()[-1])
    result: dict[str, str | None] = {}
    for peer in PEERS:
        missing = [m for m in _MODULES[peer] if m in errors]
        result[peer] = (
            f"{peer}: {python} cannot import {', '.join(missing)} ({errors[missing[0]]}); {fix}" if missing else None
        )
    return result


class PeerOptimizer:
    """A peer in its worker process, with the ask/tell interface of ours (params dicts, records).

    Cube peers answer points of the encoded space; they are snapped and decoded here, where the
    space lives. Every answer is validated, so a peer cannot hand the benchmark an invalid trial.
    """

    def __init__(self, python: str, peer: str, space: Space, seed: int, n_initial: int,
                 enqueue: Sequence[dict] = ()) -> None:
        if peer not in PEERS:
            raise ValueError(f"unknown peer {peer!r}; valid: {', '.join(PEERS)}")
        self.peer, self.space = peer, space
        self._asked: list[tuple[dict[str, Any], int]] = []  # (params, the peer's id) of trials not yet told
        self._stderr = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a chatty worker cannot block
        self._proc = subprocess.Popen(
            [python, str(Path(__file__).resolve()), "--peer-worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True, bufsize=1,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )  # fmt: skip
        self._write({"peer": peer, "seed": seed, "space": space.to_dict(), "n_initial": n_initial, "dim": space.dim})
        for params in enqueue:  # asked first, as Optuna runs enqueued trials before sampling
            space.validate(params)
            self._request({"cmd": "enqueue", "params": params})

    def _died(self) -> RuntimeError:
        try:
            rc = self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            rc = self._proc.wait()
        self._stderr.seek(0)
        tail = self._stderr.read()[-2000:]
        return RuntimeError(f"peer {self.peer} worker exited (rc={rc}); stderr tail:\n{tail}")

    def _write(self, msg: dict) -> None:
        try:
            self._proc.stdin.write(json.dumps(msg) + "\n")
            self._proc.stdin.flush()
        except OSError:  # a broken pipe: the worker is gone
            raise self._died() from None

    def _request(self, msg: dict) -> dict:
        self._write(msg)
        line = self._proc.stdout.readline()
        if not line:
            raise self._died()
        return json.loads(line)

    def ask(self) -> dict[str, Any]:
        """The next trial's params, valid for ``space``."""
        reply = self._request({"cmd": "ask"})
        if "x" in reply:
            params = self.space.decode(self.space.project(np.asarray(reply["x"], dtype=float)[None])[0])
        else:
            params = reply["params"]
        self.space.validate(params)
        self._asked.append((params, reply["id"]))
        return params

    def tell(self, record: EvaluationRecord) -> None:
        """Report an asked trial, found by its params (trials may finish in any order): values for
        informative records, only the status otherwise."""
        match = next((i for i, (params, _) in enumerate(self._asked) if params == record.params), None)
        if match is None:
            raise ValueError(f"{self.peer} was told a trial it did not propose: {record.params} "
                             f"({len(self._asked)} asked and not told)")  # fmt: skip
        _, trial_id = self._asked.pop(match)
        self._request({
            "cmd": "tell", "id": trial_id, "status": record.status,
            "accuracy": float(record.objectives["accuracy"]) if record.informative else None,
            "silent": float(record.constraints["silent"]) if record.informative else None,
        })  # fmt: skip

    def close(self) -> None:
        """Stop the worker (idempotent)."""
        if self._proc.poll() is None:
            try:
                self._proc.stdin.write(json.dumps({"cmd": "close"}) + "\n")
                self._proc.stdin.flush()
                self._proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout, self._stderr):
            with contextlib.suppress(OSError):  # unflushed bytes to a dead worker
                stream.close()

    def __enter__(self) -> PeerOptimizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    if sys.argv[1:] != ["--peer-worker"]:
        raise SystemExit("usage: python benchmarks/snn_peers.py --peer-worker  (started by PeerOptimizer)")
    peer_worker()
