"""Importable objectives and driver entry points for the study / executor / loop tests.

They live in a module (not in the test files) so that worker processes and driver subprocesses
import them by name, the way a user's training function is imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from jaxsnn.hpo.space import FloatParam, Space
from jaxsnn.record import EvaluationRecord

SPACE = Space([FloatParam("x", 0.0, 1.0), FloatParam("lr", 1e-4, 1e-1, log=True)])
OBJECTIVES = {"score": "max"}
CONSTRAINTS = ("silent",)
SILENT_ABOVE = 0.8


def quadratic(params: dict) -> EvaluationRecord:
    """``score = -(x - 0.3)^2``; ``x > 0.8`` stands for a silent network (constraint violated)."""
    x = params["x"]
    silent = x - SILENT_ABOVE
    return EvaluationRecord(
        params=params,
        objectives={"score": -((x - 0.3) ** 2)},
        constraints={"silent": silent},
        status="silent_stopped" if silent > 0 else "complete",
        metrics={"pid": os.getpid()},
    )


def sleepy(params: dict, delay_s: float = 0.2) -> EvaluationRecord:
    time.sleep(delay_s)
    return quadratic(params)


def busy(params: dict, cpu_s: float = 0.3) -> EvaluationRecord:
    """Spends ``cpu_s`` of CPU time in the calling process before scoring."""
    end = time.process_time() + cpu_s
    while time.process_time() < end:
        pass
    return quadratic(params)


def raise_above_half(params: dict) -> EvaluationRecord:
    if params["x"] > 0.5:
        raise ValueError(f"diverged at x={params['x']:.3f}")
    return quadratic(params)


def nan_above_half(params: dict) -> EvaluationRecord:
    """A training run whose loss became NaN reports it as a complete record: the record refuses."""
    score = float("nan") if params["x"] > 0.5 else quadratic(params).objectives["score"]
    return EvaluationRecord(params=params, objectives={"score": score}, constraints={"silent": -1.0})


def crash_above_half(params: dict) -> EvaluationRecord:
    """A worker that dies hard (as on a segfault or an OOM kill): no exception reaches Python."""
    if params["x"] > 0.5:
        os._exit(3)
    return quadratic(params)


def hang_above_half(params: dict) -> EvaluationRecord:
    if params["x"] > 0.5:
        time.sleep(120)
    return quadratic(params)


def env_and_pid() -> tuple[int, str | None, str | None]:
    return os.getpid(), os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE"), os.environ.get("JAX_PLATFORMS")


def drive(path: str, n_trials: int, n_workers: int, delay_s: float, executor: str) -> None:
    """Driver process: run (or resume) the study at ``path`` with the ``sleepy`` objective."""
    import functools

    from jaxsnn.hpo.executor_registry import make_executor
    from jaxsnn.hpo.loop import run_study
    from jaxsnn.hpo.study import Study

    study = Study.create(path, SPACE, OBJECTIVES, CONSTRAINTS, optimizer="random", seed=0, exist_ok=True)
    ex = make_executor(executor, n_workers)
    try:
        run_study(study, functools.partial(sleepy, delay_s=delay_s), ex, n_trials, n_workers, progress=False)
    finally:
        ex.shutdown()


def hammer(path: str, n: int) -> None:
    """Writer process: start and finish ``n`` trials as fast as possible on a shared study."""
    from jaxsnn.hpo.study import Study

    study = Study.open(path)
    for i in range(n):
        params = {"x": (os.getpid() % 97 + i) / 200.0, "lr": 0.01}
        study.finish_trial(study.start_trial(params, worker=f"hammer-{os.getpid()}"), quadratic(params))


def start_one_trial_and_exit(path: str) -> None:
    """A process that claims a trial and exits without finishing it."""
    from jaxsnn.hpo.study import Study

    Study.open(path).start_trial({"x": 0.1, "lr": 0.01}, worker="doomed")


def spawn(call: str) -> subprocess.Popen:
    """Start ``python -c 'import hpo_workers; hpo_workers.<call>'`` as a separate process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", f"import hpo_workers; hpo_workers.{call}"], env=env)


TWO_OBJECTIVES = {"f1": "min", "f2": "min"}
SILENT_BELOW = 0.2


def pareto_silent(params: dict) -> EvaluationRecord:
    """Two objectives ``f1 = x``, ``f2 = (1 - x)^2 + lr`` (front: lr at its floor, x in
    [0.2, 1]); ``x < 0.2`` stands for a silent network, stopped with the constraint violated."""
    x, lr = params["x"], params["lr"]
    silent = SILENT_BELOW - x
    return EvaluationRecord(
        params=params,
        objectives={"f1": x, "f2": (1.0 - x) ** 2 + lr},
        constraints={"silent": silent},
        status="silent_stopped" if silent > 0 else "complete",
    )
