"""The asynchronous ask/tell driver: keep every worker busy, store every outcome, survive failures.

No batch barrier: the moment one trial ends its record is stored, the optimizer is told, a new
point is asked for (with every other running point passed as pending) and submitted. Whatever
happens to a trial it ends as exactly one stored record:

- the objective raises -> ``failed`` with the exception and its traceback (caught in the worker);
- the worker process dies (segfault, OOM kill, ``os._exit``) -> ``failed`` naming the exit; the
  executor replaces the process and the study goes on;
- it runs past ``timeout_s`` -> ``failed`` with "timeout after Xs". The clock starts when the
  executor reports the task running (a process worker that is still starting up does not eat
  into the trial's time). Executors that can (process, dask) kill the task's worker; the thread
  executor cannot stop a thread, so that task runs on unseen while its slot is reused;
- it returns non-finite objectives -> ``failed`` with the reason;
- it breaks the objective's contract (returns something that is not an ``EvaluationRecord``,
  misses a declared objective/constraint, records an undeclared constraint): a bug of the
  objective that every trial would repeat -> stored ``failed``, then the study stops with an
  ``ObjectiveContractError`` naming the contract;
- ``silent_stopped`` records are stored and told exactly like complete ones.

The optimizer is told records *from the study*, in completion order, never directly: a resumed
run replays the same sequence, and records written by other drivers sharing the study reach this
optimizer too.

Asking ahead: a GP ask takes about a second on 2 CPU cores (much more when a new data size
triggers a recompilation), and a worker would sit idle for all of it. So while every worker is
busy the driver asks for the next point in advance, with all running points as pending. When a
worker frees up that point is submitted at once; the records finished meanwhile were among its
pending (fantasised) points when it was chosen, and the next ask sees them as data.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
import traceback
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import Any

from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from jaxsnn.hpo.executors import ProcessExecutor, SupportsAbort
from jaxsnn.hpo.spec import improves, record_problems
from jaxsnn.hpo.study import Study
from jaxsnn.record import EvaluationRecord, non_finite

Objective = Callable[[dict], EvaluationRecord]


def _failure_reason(exc: BaseException) -> str:
    """What a failed record says of an exception, whether the objective raised it in the worker
    or the executor lost the trial (a dead worker, a cancelled job)."""
    return f"{type(exc).__name__}: {exc}"


def evaluate(objective: Objective, params: dict[str, Any]) -> EvaluationRecord | Any:
    """Worker-side call of the objective: exceptions become ``failed`` records with the traceback.

    Catching here rather than in the driver keeps the traceback (it does not survive every
    executor's pickling) and makes "the objective raised" look the same on every executor.
    """
    start = time.perf_counter()
    try:
        result = objective(params)
    except (Exception, SystemExit) as e:
        return EvaluationRecord.failure(
            params,
            _failure_reason(e),
            cost_s=time.perf_counter() - start,
            metrics={"traceback": traceback.format_exc()},
        )
    if isinstance(result, EvaluationRecord) and not result.cost_s:
        result = dataclasses.replace(result, cost_s=time.perf_counter() - start)
    return result


def failed_each(points: list[dict[str, Any]], reason: str, cost_s: float, **details: Any) -> list[EvaluationRecord]:
    """A ``failed`` record per point of a task that failed as a whole, each charged an equal
    share of the task's ``cost_s``."""
    share = cost_s / len(points)
    return [EvaluationRecord.failure(p, reason, cost_s=share, metrics=dict(details)) for p in points]


def evaluate_batch(objective: Any, points: list[dict[str, Any]]) -> list[EvaluationRecord] | Any:
    """Worker-side call of ``objective.batch(points)`` (one record per point, in order): an
    exception fails every point, with the traceback."""
    start = time.perf_counter()
    try:
        return objective.batch(points)
    except (Exception, SystemExit) as e:
        return failed_each(points, _failure_reason(e), time.perf_counter() - start, traceback=traceback.format_exc())


class ObjectiveContractError(TypeError):
    """The objective broke its contract: it must return an ``EvaluationRecord`` whose informative
    outcomes carry every declared objective and constraint and no undeclared constraint."""


def contract_breach(result: Any, study: Study) -> str | None:
    """How ``result`` breaks the objective's contract, or ``None``.

    A breach is a bug of the objective, not a property of the point: every trial would fail the
    same way, so ``run_study`` stops at the first one instead of failing them all quietly.
    """
    if not isinstance(result, EvaluationRecord):
        return f"objective returned {type(result).__name__}, expected EvaluationRecord"
    return "; ".join(record_problems(result, study.objectives, study.constraints)) or None


def admit(result: Any, params: dict[str, Any], study: Study) -> EvaluationRecord:
    """The record to store for a trial, turned ``failed`` when it is not usable data.

    The stored params are always the trial's own (extras an objective wants to keep belong in
    ``metrics``), so the optimizer can always be told the record.
    """
    breach = contract_breach(result, study)
    if not isinstance(result, EvaluationRecord):
        return EvaluationRecord.failure(params, breach)
    record = dataclasses.replace(result, params=dict(params)) if result.params != params else result
    if not record.informative:
        return record
    values = {**record.objectives, **record.constraints}
    problems = [breach] if breach else []
    bad = non_finite(values)
    if bad:
        problems.append(f"non-finite values {bad}")
    if not problems:
        return record
    return EvaluationRecord.failure(
        params,
        "; ".join(problems),
        cost_s=record.cost_s,
        spikes=record.spikes,
        epochs_run=record.epochs_run,
        metrics={**record.metrics, "rejected": {"objectives": record.objectives, "constraints": record.constraints}},
    )


STARTUP_POLL_S = 0.05
"""How often the loop looks for submitted tasks that started running, to start their timeout clock."""


@dataclasses.dataclass
class _Running:
    """One submitted task: its trials (one, or a batch) and where it runs."""

    trials: list[tuple[int, dict[str, Any]]]  # (trial id, params)
    slot: int
    submitted: float  # time.monotonic() at submission: the cost of a task whose worker died
    deadline: float | None = None  # set once the task is seen running (timeouts only)

    def failed(self, reason: str, cost_s: float) -> list[EvaluationRecord]:
        """Each trial's record when the whole task failed (:func:`failed_each`)."""
        return failed_each([params for _, params in self.trials], reason, cost_s)


class _Progress:
    """The progress bar: trials done, best feasible per objective, silent and failed counts."""

    def __init__(self, study: Study, n_trials: int, enabled: bool) -> None:
        self._study = study
        self._best: dict[str, float] = {}
        self._silent = self._failed = 0
        self._bar = tqdm(total=n_trials, unit="trial", desc="study", disable=not enabled, dynamic_ncols=True)

    def told(self, record: EvaluationRecord) -> None:
        self._silent += record.status == "silent_stopped"
        self._failed += record.status == "failed"
        if record.feasible:
            for name, direction in self._study.objectives.items():
                value = float(record.objectives[name])
                if improves(direction, value, self._best.get(name)):
                    self._best[name] = value
        self._bar.update(1)

    def show(self, n_running: int) -> None:
        best = {f"best {k}": f"{v:.4g}" for k, v in self._best.items()} or {"best": "-"}
        self._bar.set_postfix({**best, "silent": self._silent, "failed": self._failed, "running": n_running})

    def close(self) -> None:
        self._bar.close()


def run_study(
    study: Study,
    objective: Objective,
    executor: Executor | None,
    n_trials: int,
    n_workers: int,
    timeout_s: float | None = None,
    progress: bool = True,
    ask_ahead: bool = True,
    batch_trials: int = 1,
) -> Study:
    """Run ``study`` until it holds ``n_trials`` finished trials, ``n_workers`` at a time.

    ``executor`` ``None`` starts a :class:`ProcessExecutor` of ``n_workers`` and shuts it down at
    the end. On an existing study this resumes: running trials of dead processes are requeued and
    evaluated first, and the optimizer is rebuilt from the stored records. Several drivers may
    run on one study at once; together they stop at ``n_trials``, and a driver that runs out of
    new trials to start takes over the running trials of a driver that died. ``ask_ahead`` prepares the
    next point while all workers are busy (module docstring); the price is at most one unused
    ask at the end of the study.

    ``batch_trials`` > 1 gives each task up to that many trials, asked one after another with the
    earlier ones pending (fantasised), and hands them to ``objective.batch(points)``, which
    returns one record per point (``TrialObjective.batch`` trains the SG trials of one network
    shape as one vmapped population). The loop stays asynchronous at the level of tasks; a task's
    timeout, crash or exception fails each of its trials with the reason.

    If the loop itself is interrupted (Ctrl-C, an optimizer error) the running tasks are aborted
    where the executor allows it and their trials released for the next run before re-raising.
    """
    if n_workers < 1:
        raise ValueError(f"n_workers must be >= 1, got {n_workers}")
    if n_trials < 0:
        raise ValueError(f"n_trials must be >= 0, got {n_trials}")
    if timeout_s is not None and timeout_s <= 0:
        raise ValueError(f"timeout_s must be > 0 or None, got {timeout_s}")
    if int(batch_trials) != batch_trials or batch_trials < 1:
        raise ValueError(f"batch_trials must be an integer >= 1, got {batch_trials!r}")
    if batch_trials > 1 and not callable(getattr(objective, "batch", None)):
        raise ValueError(f"batch_trials={batch_trials} needs an objective with a batch(points) method, "
                         f"and {type(objective).__name__} has none")  # fmt: skip
    own_executor = executor is None
    if executor is None:
        executor = ProcessExecutor(n_workers)
    driver = f"{socket.gethostname()}:{os.getpid()}"
    cpu_start = time.process_time()  # this process, every thread (compile-ahead included)
    study.requeue_running()
    study.join_as_driver()  # its own random stream when other drivers run beside it
    optimizer = study.fresh_optimizer()
    told_seq = 0
    bar = _Progress(study, n_trials, progress)
    running: dict[Future, _Running] = {}
    free_slots = list(range(n_workers - 1, -1, -1))
    warned_no_abort = False
    asked_ahead: dict[str, Any] | None = None

    def tell_new_records() -> None:
        nonlocal told_seq
        for trial in study.finished(after_seq=told_seq):
            optimizer.tell(trial.record)
            bar.told(trial.record)
            told_seq = trial.seq

    def ask() -> dict[str, Any]:
        return optimizer.ask([t.params for t in (*study.running(), *study.pending())])

    def next_trial(worker: str) -> tuple[int, dict[str, Any]] | None:
        nonlocal asked_ahead
        claimed = study.claim_pending(worker)
        if claimed is None and study.n_stored() >= n_trials and study.requeue_running():
            # Another driver died mid-run with trials running: they are pending again and this
            # driver takes them over, or the study would end short of n_trials finished.
            claimed = study.claim_pending(worker)
        if claimed is not None:
            return claimed.id, claimed.params
        if study.n_stored() >= n_trials:  # cheap check first: do not pay for an ask that cannot be used
            return None
        params, asked_ahead = (asked_ahead if asked_ahead is not None else ask()), None
        trial_id = study.start_trial(params, worker, limit=n_trials)
        return None if trial_id is None else (trial_id, params)

    def ask_ahead_while_busy() -> None:
        """Use the time every worker is busy to prepare the next point (see the module docstring)."""
        nonlocal asked_ahead
        if (
            ask_ahead
            and asked_ahead is None
            and not free_slots
            and not any(f.done() for f in running)
            and study.n_stored() < n_trials
        ):
            asked_ahead = ask()

    def wait_s() -> float | None:
        """How long the loop may block: until the next deadline, or a short poll while tasks start."""
        if timeout_s is None:
            return None
        now = time.monotonic()
        for future, run in running.items():
            if run.deadline is None and (future.running() or future.done()):
                run.deadline = now + timeout_s
        if any(run.deadline is None for run in running.values()):
            return STARTUP_POLL_S
        return max(0.0, min(run.deadline for run in running.values()) - now)

    def finish(future: Future, run: _Running, records: list[EvaluationRecord]) -> None:
        del running[future]
        free_slots.append(run.slot)
        for (trial_id, _), record in zip(run.trials, records, strict=True):
            study.finish_trial(trial_id, record)

    # One BLAS/OpenMP thread in the driver: the workers fill the cores, and a pool of BLAS
    # threads that spin after each of the optimizer's small matrix products takes CPU from them
    # without speeding anything up. `make demo` on 2 cores: driver CPU 24-27 s with the default
    # pools, 9 s with one thread (workers are fresh processes, unaffected). Set right before the
    # `try` whose `finally` restores them, so no exit path leaks the limit to the caller.
    thread_pools = threadpool_limits(limits=1)
    try:
        tell_new_records()
        compile_ahead = getattr(optimizer, "compile_ahead", None)  # model-based optimizers
        if compile_ahead is not None:  # the first model-based ask's programs, while the design runs
            compile_ahead(n_pending=n_workers - 1, n_trials=n_trials)
        while True:
            tell_new_records()
            while free_slots:
                trials: list[tuple[int, dict[str, Any]]] = []
                while len(trials) < batch_trials and (job := next_trial(f"{driver}/{free_slots[-1]}")) is not None:
                    trials.append(job)  # started: the next ask of the batch sees it as pending
                if not trials:
                    break
                if batch_trials == 1:
                    future = executor.submit(evaluate, objective, trials[0][1])
                else:
                    future = executor.submit(evaluate_batch, objective, [params for _, params in trials])
                running[future] = _Running(trials, free_slots.pop(), time.monotonic())
            bar.show(len(running))
            if not running:
                break
            ask_ahead_while_busy()
            done, _ = wait(list(running), timeout=wait_s(), return_when=FIRST_COMPLETED)
            for future in done:
                run = running[future]
                exc = future.exception()
                if exc is not None:
                    finish(future, run, run.failed(_failure_reason(exc), time.monotonic() - run.submitted))
                    continue
                results = future.result() if batch_trials > 1 else [future.result()]
                if not isinstance(results, list) or len(results) != len(run.trials):
                    finish(future, run, run.failed(f"objective.batch returned {type(results).__name__}, "
                                                   f"expected a list of {len(run.trials)} records", 0.0))
                    raise ObjectiveContractError(f"objective.batch must return one EvaluationRecord per point; "
                                                 f"got {results!r:.200}")  # fmt: skip
                finish(future, run, [admit(r, params, study) for r, (_, params) in zip(results, run.trials)])
                for result, (trial_id, _) in zip(results, run.trials):
                    breach = contract_breach(result, study)
                    if breach is not None:  # stored as failed above: nothing is lost, the study stops
                        raise ObjectiveContractError(
                            f"trial {trial_id}: {breach}. An objective must return an EvaluationRecord "
                            f"carrying the objectives {list(study.objectives)} and the constraints "
                            f"{list(study.constraints)} (failed and pruned records may omit them); the study "
                            "stops at the first trial that does not."
                        )
            for future, run in list(running.items()):
                if run.deadline is None or time.monotonic() < run.deadline:
                    continue
                if isinstance(executor, SupportsAbort):
                    executor.abort(future)
                elif not warned_no_abort:
                    warned_no_abort = True
                    warnings.warn(
                        f"{type(executor).__name__} cannot stop a running task: timed-out trials run on "
                        "in the background (use the process or dask executor to kill them)",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                finish(future, run, run.failed(f"timeout after {timeout_s:g}s", timeout_s))
        tell_new_records()
        bar.show(0)
    except BaseException:
        if isinstance(executor, SupportsAbort):
            for future in running:
                executor.abort(future)
        study.release([trial_id for run in running.values() for trial_id, _ in run.trials])
        raise
    finally:
        thread_pools.restore_original_limits()
        bar.close()
        study.add_driver_cpu(time.process_time() - cpu_start)
        study.leave_as_driver()
        if own_executor:
            executor.shutdown(wait=not running, cancel_futures=True)
    return study
