"""Executors: real worker processes (crash, kill, environment), threads, and a real Dask LocalCluster."""

from __future__ import annotations

import os
import signal
import time

import dask
import distributed
import psutil
import pytest
from hpo_workers import (
    CONSTRAINTS,
    OBJECTIVES,
    SPACE,
    crash_above_half,
    env_and_pid,
    hang_above_half,
    quadratic,
    spawn,
)

from jaxsnn.hpo.executors import (
    DaskExecutor,
    SupportsAbort,
    ThreadExecutor,
    WorkerDied,
    local_dask_cluster,
)
from jaxsnn.hpo.executor_registry import make_executor
from jaxsnn.hpo.loop import run_study
from jaxsnn.hpo.study import Study


def _gone(pids: list[int], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids):
            return True
        time.sleep(0.1)
    return False


def _all_threaded(pids: list[int]) -> bool:
    try:
        return all(psutil.Process(p).num_threads() >= 2 for p in pids)
    except psutil.NoSuchProcess:
        return False


def _n_running(path) -> int:
    with Study.open(path) as study:
        return len(study.running())


# --- process executor -----------------------------------------------------------------------------
def test_workers_are_separate_processes_with_gpu_sharing_environment(pool):
    results = [f.result(timeout=60) for f in [pool.submit(env_and_pid) for _ in range(4)]]
    assert {pid for pid, _, _ in results} <= {c.pid for c in psutil.Process().children()}
    assert all(prealloc == "false" for _, prealloc, _ in results)
    assert all(platforms == os.environ.get("JAX_PLATFORMS") for _, _, platforms in results)


def test_closures_travel_to_workers(pool):
    offset = 41
    assert pool.submit(lambda x: x + offset, 1).result(timeout=60) == 42


def test_task_exception_keeps_its_type_and_remote_traceback(pool):
    future = pool.submit(int, "not a number")
    with pytest.raises(ValueError, match="invalid literal") as info:
        future.result(timeout=60)
    assert "Traceback" in str(info.value.__cause__)


def test_a_crash_fails_only_its_own_task_and_the_worker_is_replaced(pool):
    slow = pool.submit(time.sleep, 1.5)
    time.sleep(0.2)  # the slow task occupies one worker
    crash = pool.submit(os._exit, 3)
    with pytest.raises(WorkerDied, match="exited with code 3"):
        crash.result(timeout=60)
    assert slow.result(timeout=60) is None
    assert pool.submit(quadratic, {"x": 0.3, "lr": 0.01}).result(timeout=60).objectives["score"] == 0.0


def test_abort_kills_exactly_the_worker_running_the_task(pool):
    assert isinstance(pool, SupportsAbort)
    hung = pool.submit(time.sleep, 60)
    other = pool.submit(env_and_pid)
    other_pid = other.result(timeout=60)[0]
    while not hung.running():
        time.sleep(0.01)
    assert pool.abort(hung)
    with pytest.raises(WorkerDied, match="aborted"):
        hung.result(timeout=30)
    assert psutil.pid_exists(other_pid)
    assert pool.abort(hung) is False  # nothing left to abort
    assert pool.submit(env_and_pid).result(timeout=60)[1] == "false"


def test_killed_driver_takes_its_workers_with_it(tmp_path):
    """SIGKILL leaves no time to clean up: the kernel kills the workers with their driver, even
    one that is stopped (SIGSTOP) and so cannot notice that its parent is gone."""
    path = tmp_path / "s.db"
    driver = spawn(f"drive({str(path)!r}, 100, 2, 30.0, 'process')")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = [c.pid for c in psutil.Process(driver.pid).children()]
        # two threads: past the boot lines that ask the kernel to kill the worker with the driver
        if len(workers) == 2 and path.exists() and _n_running(path) == 2 and _all_threaded(workers):
            break
        time.sleep(0.2)
    else:
        pytest.fail("driver did not start two trials")
    os.kill(workers[0], signal.SIGSTOP)  # a stopped worker cannot watch its parent: the kernel must end it
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert _gone(workers, within_s=60), "orphaned worker processes outlived their driver"  # a bound, not a speed


def test_submit_after_shutdown_is_refused():
    ex = ThreadExecutor()
    ex.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(print)


# --- thread executor -------------------------------------------------------------------------------
def test_thread_executor_runs_tasks_in_process_without_blocking_on_a_stuck_one():
    ex = ThreadExecutor()
    stuck = ex.submit(time.sleep, 2.0)
    assert ex.submit(os.getpid).result(timeout=1) == os.getpid()  # not queued behind the stuck task
    assert not isinstance(ex, SupportsAbort)
    with pytest.raises(ZeroDivisionError):
        ex.submit(lambda: 1 / 0).result()
    ex.shutdown(wait=True)
    assert stuck.done()


def test_make_executor_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="process, dask, thread, slurm"):
        make_executor("mpi", 2)


# --- dask -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_executor():
    # One failure is enough for a worker death to surface as KilledWorker instead of 3 retries.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = local_dask_cluster(2)  # LocalCluster(n_workers=2, processes=True, threads_per_worker=1)
    ex = DaskExecutor(distributed.Client(cluster), close_client=True)
    yield ex
    ex.shutdown()


def test_dask_executor_runs_a_small_study(tmp_path, dask_executor):
    study = Study.create(tmp_path / "d.db", SPACE, OBJECTIVES, CONSTRAINTS)
    run_study(study, quadratic, dask_executor, n_trials=8, n_workers=2, progress=False)
    trials = study.finished()
    assert len(trials) == 8 and all(t.status in ("complete", "silent_stopped") for t in trials)
    assert {t.record.metrics["pid"] for t in trials} <= set(dask_executor.client.run(os.getpid).values())


class _StubTask:
    """A dask future that ends when the test says so."""

    def __init__(self, key: str) -> None:
        self.key, self.status, self._callbacks, self._error = key, "pending", [], None

    def add_done_callback(self, callback) -> None:
        self._callbacks.append(callback)

    def cancel(self) -> None:
        self.status = "cancelled"

    def exception(self):
        return self._error

    def result(self):
        return "done"

    def end(self, error: BaseException | None = None) -> None:
        self.status, self._error = ("error", error) if error else ("finished", None)
        for callback in self._callbacks:
            callback(self)

    def end_lost(self) -> None:
        """Finished, then lost with its worker before the callback reads it: the callback sees
        ``lost``, and ``exception()`` waits out the recomputation, which finishes."""
        self.status = "lost"
        self.exception = lambda: setattr(self, "status", "finished")  # returns None, as dask's does
        for callback in self._callbacks:
            callback(self)


class _StubClient:
    def __init__(self) -> None:
        self.sent: list[_StubTask] = []

    def subscribe_topic(self, topic, handler) -> None:
        pass

    def submit(self, *args, **kwargs) -> _StubTask:
        self.sent.append(_StubTask(f"task-{len(self.sent)}"))
        return self.sent[-1]


def test_a_result_lost_with_its_worker_and_recomputed_is_the_result_not_none():
    """The flake behind 'objective returned NoneType': a finished trial's result was lost when
    another trial killed the worker holding it; dask recomputed it, and the outcome copied was
    the ``None`` that ``exception()`` returns for a finished task."""
    client = _StubClient()
    future = DaskExecutor(client).submit(quadratic, {"x": 0.1})
    client.sent[0].end_lost()
    assert future.result(timeout=1) == "done"


def test_a_task_that_died_with_its_worker_before_it_started_is_sent_again():
    """After a crash, the scheduler can hand the next trial to the dead worker before it notices
    the death; that trial never ran, so it is sent again instead of failing as KilledWorker. A
    task that was running when its worker died fails, and resending stops after MAX_RESENDS."""
    killed = distributed.scheduler.KilledWorker("task", "worker", allowed_failures=0)
    client = _StubClient()
    ex = DaskExecutor(client)
    innocent = ex.submit(quadratic, {"x": 0.1})
    client.sent[0].end(killed)  # died queued on the dead worker, never started
    assert not innocent.done() and len(client.sent) == 2
    client.sent[0].end(killed)  # a late second outcome of the first copy changes nothing
    client.sent[1].end()
    assert innocent.result() == "done"

    culprit = ex.submit(crash_above_half, {"x": 0.9})
    ex._on_started((0.0, client.sent[-1].key))
    client.sent[-1].end(killed)  # it was running: it is the trial that took its worker down
    assert isinstance(culprit.exception(), distributed.scheduler.KilledWorker) and len(client.sent) == 3

    unlucky = ex.submit(quadratic, {"x": 0.2})
    for _ in range(DaskExecutor.MAX_RESENDS + 1):
        client.sent[-1].end(killed)
    assert isinstance(unlucky.exception(), distributed.scheduler.KilledWorker)
    assert len(client.sent) == 3 + 1 + DaskExecutor.MAX_RESENDS


def test_dask_worker_crash_becomes_a_failed_record(tmp_path, dask_executor):
    study = Study.create(tmp_path / "d.db", SPACE, OBJECTIVES, CONSTRAINTS)
    run_study(study, crash_above_half, dask_executor, n_trials=4, n_workers=2, progress=False)
    trials = study.finished()
    assert len(trials) == 4
    for t in trials:
        if t.params["x"] > 0.5:
            assert t.status == "failed" and "KilledWorker" in t.record.error
        else:
            assert t.status == "complete"
    assert any(t.status == "failed" for t in trials)


def test_dask_timeout_restarts_the_worker_and_the_study_goes_on(tmp_path, dask_executor):
    study = Study.create(tmp_path / "d.db", SPACE, OBJECTIVES, CONSTRAINTS)
    run_study(study, hang_above_half, dask_executor, n_trials=4, n_workers=2, timeout_s=2.0, progress=False)
    trials = study.finished()
    assert len(trials) == 4
    outcomes = [(t.params["x"], t.record.error) for t in trials]
    # No trial that would finish is killed with a timed-out one; every hanging one fails. Under
    # load a hanging trial can meet a worker the scheduler is still replacing and fail as
    # KilledWorker before its own timeout: a label race, not a lost or innocent trial.
    assert all((error is None) == (x <= 0.5) for x, error in outcomes), outcomes
    assert any(error == "timeout after 2s" for _, error in outcomes), outcomes
