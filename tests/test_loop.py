"""The asynchronous loop: no barrier, every outcome a record, failures contained, resume after SIGKILL."""

from __future__ import annotations

import functools
import signal
import time

import pytest
from hpo_workers import (
    CONSTRAINTS,
    OBJECTIVES,
    SPACE,
    busy,
    crash_above_half,
    hang_above_half,
    nan_above_half,
    quadratic,
    raise_above_half,
    sleepy,
    spawn,
)

from jaxsnn.hpo.executors import ThreadExecutor
from jaxsnn.hpo.loop import admit, run_study
from jaxsnn.hpo.study import Study
from jaxsnn.record import EvaluationRecord


class Spy:
    """Wraps the study's optimizer and remembers what the loop told it and the pending it passed."""

    def __init__(self, inner):
        self.inner = inner
        self.told: list[EvaluationRecord] = []
        self.pending: list[list[dict]] = []

    def ask(self, pending=()):
        self.pending.append([dict(p) for p in pending])
        return self.inner.ask(pending)

    def tell(self, record):
        self.told.append(record)
        self.inner.tell(record)


@pytest.fixture
def study(tmp_path):
    with Study.create(tmp_path / "s.db", SPACE, OBJECTIVES, CONSTRAINTS, optimizer="random", seed=0) as s:
        yield s


@pytest.fixture
def spy(study, monkeypatch):
    s = Spy(study.fresh_optimizer())
    monkeypatch.setattr(study, "fresh_optimizer", lambda: s)
    return s


def by_x(study: Study) -> tuple[list, list]:
    """Finished trials split into those with ``x > 0.5`` (where the test objectives misbehave) and the rest."""
    trials = study.finished()
    return [t for t in trials if t.params["x"] > 0.5], [t for t in trials if t.params["x"] <= 0.5]


# --- the asynchronous driver ----------------------------------------------------------------------
def test_every_record_is_stored_and_told_silent_ones_included(study, spy):
    run_study(study, quadratic, ThreadExecutor(), n_trials=16, n_workers=3, progress=False)
    assert study.counts() | {"complete": 0, "silent_stopped": 0} == {
        "pending": 0, "running": 0, "complete": 0, "silent_stopped": 0, "failed": 0, "pruned": 0
    }
    assert len(study.records()) == 16
    assert spy.told == study.records()
    silent = [r for r in spy.told if r.status == "silent_stopped"]
    assert silent and all(r.constraints["silent"] > 0 for r in silent)


def test_an_enqueued_point_runs_first_counts_toward_n_trials_and_reaches_the_optimizer(study, spy):
    known = {"x": 0.3, "lr": 0.01}
    trial_id = study.enqueue(known)
    assert [t.id for t in study.pending()] == [trial_id]
    with pytest.raises(ValueError, match="missing parameter 'lr'"):
        study.enqueue({"x": 0.3})
    run_study(study, quadratic, ThreadExecutor(), n_trials=4, n_workers=1, progress=False)
    finished = study.finished()
    assert len(finished) == 4 and finished[0].id == trial_id and finished[0].params == known
    assert spy.told[0].params == known and spy.told[0].objectives["score"] == 0.0


def test_the_driver_keeps_one_blas_thread_while_it_runs_and_restores_the_pools_after(study):
    """The optimizer's BLAS threads would spin on the cores the workers fill (the demo's driver
    used 24-27 s of CPU with the default pools, 9 s with one thread): inside the loop every pool
    has one thread, and afterwards the caller's pools are as they were."""
    from threadpoolctl import threadpool_info, threadpool_limits

    seen: list[set[int]] = []

    def objective(params: dict) -> EvaluationRecord:  # thread executor: runs in the driver's process
        seen.append({pool["num_threads"] for pool in threadpool_info()})
        return quadratic(params)

    def pools() -> dict[str, int]:
        return {pool["filepath"]: pool["num_threads"] for pool in threadpool_info()}

    with threadpool_limits(limits=2):
        before = pools()
        assert before and set(before.values()) == {2}
        run_study(study, objective, ThreadExecutor(), n_trials=3, n_workers=1, progress=False)
        assert {path: threads for path, threads in pools().items() if path in before} == before
    assert seen and all(threads == {1} for threads in seen)


@pytest.mark.parametrize("ask_ahead", [False, True])
def test_each_ask_gets_the_running_points_as_pending(study, spy, ask_ahead):
    running_at_ask = []
    ask = spy.ask
    spy.ask = lambda pending=(): running_at_ask.append([t.params for t in study.running()]) or ask(pending)
    objective = functools.partial(sleepy, delay_s=0.05)
    run_study(study, objective, ThreadExecutor(), n_trials=12, n_workers=3, progress=False, ask_ahead=ask_ahead)
    assert spy.pending == running_at_ask
    assert [len(p) for p in spy.pending[:3]] == [0, 1, 2]  # filling the empty slots
    if ask_ahead:
        # While all three run, the next point is prepared with all three pending; one unused at most.
        assert max(len(p) for p in spy.pending) == 3 and len(spy.pending) <= 13
    else:
        assert max(len(p) for p in spy.pending) == 2 and len(spy.pending) == 12


class Batched:
    """An objective with ``batch``: remembers each task's points; ``fail`` raises inside a batch."""

    def __init__(self, fail: bool = False):
        self.tasks: list[list[dict]] = []
        self.fail = fail

    def __call__(self, params):
        return quadratic(params)

    def batch(self, points):
        self.tasks.append([dict(p) for p in points])
        if self.fail and any(p["x"] > 0.5 for p in points):
            raise ValueError("population lost")
        return [quadratic(p) for p in points]


def test_batched_tasks_ask_each_point_with_the_batch_so_far_pending(study, spy):
    objective = Batched()
    run_study(study, objective, ThreadExecutor(), n_trials=10, n_workers=2, progress=False, batch_trials=3)
    assert len(study.records()) == 10 and spy.told == study.records()
    assert sorted(len(task) for task in objective.tasks) == [1, 3, 3, 3]  # the last task takes what is left
    first, second = spy.pending[:2]
    assert first == [] and second == objective.tasks[0][:1]  # the batch's first point is pending for its second
    stored = {(t.params["x"], t.params["lr"]) for t in study.finished()}
    assert stored == {(p["x"], p["lr"]) for task in objective.tasks for p in task}


def test_a_batch_that_raises_fails_each_of_its_trials_and_the_study_goes_on(study):
    objective = Batched(fail=True)
    run_study(study, objective, ThreadExecutor(), n_trials=12, n_workers=2, progress=False, batch_trials=2)
    failed = [t for t in study.finished() if t.record.status == "failed"]
    lost = [p for task in objective.tasks if any(p["x"] > 0.5 for p in task) for p in task]
    assert failed and len(failed) == len(lost) == len(study.finished()) - sum(t.record.informative for t in study.finished())
    assert all("population lost" in t.record.error for t in failed)
    with pytest.raises(ValueError, match="batch"):
        run_study(study, quadratic, ThreadExecutor(), n_trials=14, n_workers=2, progress=False, batch_trials=2)


def test_no_batch_barrier_short_trials_flow_past_a_long_one(study):
    calls = []

    def first_one_is_long(params):
        calls.append(params)
        time.sleep(1.5 if len(calls) == 1 else 0.05)
        return quadratic(params)

    run_study(study, first_one_is_long, ThreadExecutor(), n_trials=14, n_workers=2, progress=False)
    trials = study.trials()
    longest = trials[0]
    assert longest.duration_s > 1.4
    started_meanwhile = [t for t in trials[1:] if t.started_at < longest.finished_at]
    assert len(started_meanwhile) >= 8  # a batch loop would have started exactly one


def test_resume_continues_to_n_trials_and_replays_the_records(study, monkeypatch):
    run_study(study, quadratic, ThreadExecutor(), n_trials=5, n_workers=2, progress=False)
    first = study.records()
    spy = Spy(study.fresh_optimizer())
    monkeypatch.setattr(study, "fresh_optimizer", lambda: spy)
    run_study(study, quadratic, ThreadExecutor(), n_trials=8, n_workers=2, progress=False)
    assert study.records()[:5] == first and len(study.records()) == 8
    assert spy.told == study.records()  # the 5 stored ones replayed first, then the 3 new ones


def test_the_driver_cpu_is_summed_over_runs_and_is_the_drivers_own(study, pool):
    """The study keeps the CPU its driver processes spent: trials on threads spend it in the
    driver and count; trials in worker processes spend it there and do not."""
    assert study.driver_cpu_s is None
    run_study(study, busy, ThreadExecutor(), n_trials=3, n_workers=1, progress=False)
    in_process = study.driver_cpu_s
    assert in_process >= 0.9  # three trials of 0.3 s of CPU each, on the driver's threads
    run_study(study, busy, pool, n_trials=6, n_workers=2, progress=False)
    assert in_process <= study.driver_cpu_s < in_process + 0.45  # the workers' 0.9 s are theirs


def test_progress_bar_shows_best_silent_and_failed(study, capsys):
    run_study(study, raise_above_half, ThreadExecutor(), n_trials=6, n_workers=2, progress=True)
    err = capsys.readouterr().err
    assert "6/6" in err and "best score" in err and "failed=" in err and "silent=" in err


# --- failures become records ----------------------------------------------------------------------
def test_objective_exception_becomes_a_failed_record_with_traceback(study, pool):
    run_study(study, raise_above_half, pool, n_trials=8, n_workers=2, progress=False)
    bad, good = by_x(study)
    assert len(bad) + len(good) == 8 and bad
    for t in bad:
        assert t.status == "failed" and t.record.error.startswith("ValueError: diverged at x=")
        assert "raise_above_half" in t.record.metrics["traceback"]
    assert all(t.status != "failed" for t in good)


def test_non_finite_objective_becomes_a_failed_record(study, pool):
    run_study(study, nan_above_half, pool, n_trials=8, n_workers=2, progress=False)
    bad, good = by_x(study)
    assert bad and all(t.status == "failed" and "non-finite" in t.record.error for t in bad)
    assert all(t.status == "complete" for t in good)


def test_crashed_worker_process_becomes_a_failed_record_and_the_study_goes_on(study, pool):
    # 4 trials (seed 0 draws x = 0.64, 0.45, 0.08, 0.52): two crashes, each a new worker process
    # to start (seconds of CPU for its JAX import), and good trials after the first crash
    run_study(study, crash_above_half, pool, n_trials=4, n_workers=2, progress=False)
    bad, good = by_x(study)
    assert len(bad) + len(good) == 4 and bad and good
    assert all(t.status == "failed" and "WorkerDied" in t.record.error and "code 3" in t.record.error for t in bad)
    assert all(t.status != "failed" for t in good)


def test_timeout_kills_the_trial_and_frees_its_slot(study, pool):
    start = time.monotonic()
    run_study(study, hang_above_half, pool, n_trials=4, n_workers=2, timeout_s=1.0, progress=False)  # 2 timeouts
    bad, good = by_x(study)
    assert bad and all(t.status == "failed" and t.record.error == "timeout after 1s" for t in bad)
    assert all(t.status != "failed" for t in good)
    assert time.monotonic() - start < 60  # the 120 s hangs were killed, not awaited


def test_timeout_on_threads_warns_that_the_task_runs_on(study):
    with pytest.warns(RuntimeWarning, match="cannot stop a running task"):
        run_study(study, hang_above_half, ThreadExecutor(), n_trials=4, n_workers=2, timeout_s=0.5, progress=False)
    bad, _ = by_x(study)
    assert bad and all(t.record.error == "timeout after 0.5s" for t in bad)
    assert len(study.finished()) == 4


def test_admit_turns_unusable_results_into_failures(study):
    params = {"x": 0.1, "lr": 0.01}
    assert "expected EvaluationRecord" in admit({"score": 1.0}, params, study).error
    assert "missing" in admit(EvaluationRecord(params, {"score": 1.0}), params, study).error
    undeclared = EvaluationRecord(params, {"score": 1.0}, {"silent": -1.0, "memory": 2.0})
    assert "undeclared constraints ['memory']" in admit(undeclared, params, study).error
    mutated = EvaluationRecord(params, {"score": 1.0}, {"silent": -1.0})
    mutated.objectives["score"] = float("inf")
    rejected = admit(mutated, params, study)
    assert rejected.status == "failed" and rejected.metrics["rejected"]["objectives"] == {"score": float("inf")}
    renamed = admit(quadratic({"x": 0.1, "lr": 0.01, "extra": 1}), params, study)
    assert renamed.status == "complete" and renamed.params == params


# --- crash safety across processes ----------------------------------------------------------------
def test_resume_after_sigkill_loses_nothing_and_reruns_the_running_trials_first(study):
    path = str(study.path)
    driver = spawn(f"drive({path!r}, 10, 2, 0.4, 'process')")
    deadline = time.monotonic() + 90
    while not (len(study.finished()) >= 3 and len(study.running()) == 2):
        assert time.monotonic() < deadline, "the driver subprocess made no progress"
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    assert driver.wait(timeout=30) == -signal.SIGKILL

    before = {t.id: (t.seq, t.record) for t in study.finished()}
    orphans = [t.id for t in study.running()]
    assert len(orphans) == 2 and len(before) >= 3

    run_study(study, functools.partial(sleepy, delay_s=0.05), ThreadExecutor(), n_trials=10, n_workers=2, progress=False)
    trials = study.trials()
    assert [t.id for t in trials] == list(range(1, 11))
    assert all(t.status in ("complete", "silent_stopped") for t in trials)
    assert {t.id: (t.seq, t.record) for t in trials if t.id in before} == before  # nothing lost or rewritten
    reran = [t for t in trials if t.id in orphans]
    assert all(t.attempts == 2 for t in reran)
    new = [t for t in trials if t.id not in before and t.id not in orphans]
    assert max(t.started_at for t in reran) <= min(t.started_at for t in new)  # requeued ones went first


def test_two_drivers_share_one_study_without_lost_or_duplicated_trials(study):
    path = str(study.path)
    drivers = [spawn(f"drive({path!r}, 16, 2, 0.4, 'thread')") for _ in range(2)]
    assert [d.wait(timeout=120) for d in drivers] == [0, 0]
    trials = study.trials()
    assert [t.id for t in trials] == list(range(1, 17))
    assert sorted(t.seq for t in trials) == list(range(1, 17))
    assert study.counts()["running"] == study.counts()["pending"] == 0
    assert len({t.owner for t in trials}) == 2  # both drivers did part of the work
