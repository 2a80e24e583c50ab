"""``run_study`` through the library: an objective that breaks its contract stops the study at
the first such trial, with an error naming the contract (issue 15), instead of failing every
trial quietly; a point that merely fails (an exception, a NaN) still does not stop it. And a
driver takes over the running trials of a driver that died beside it."""

from __future__ import annotations

import socket

import pytest
from hpo_workers import CONSTRAINTS, OBJECTIVES, SPACE, quadratic, raise_above_half

from jaxsnn.hpo.executors import ThreadExecutor
from jaxsnn.hpo.loop import ObjectiveContractError, run_study
from jaxsnn.hpo.study import Study
from jaxsnn.record import EvaluationRecord


def returns_a_float(params: dict) -> float:
    return 0.5


def lacks_the_constraint(params: dict) -> EvaluationRecord:
    return EvaluationRecord(params, quadratic(params).objectives)


def fails_honestly_without_objectives(params: dict) -> EvaluationRecord:
    return EvaluationRecord.failure(params, "out of memory")


@pytest.fixture
def study(tmp_path):
    with Study.create(tmp_path / "s.db", SPACE, OBJECTIVES, CONSTRAINTS, optimizer="random", seed=0) as s:
        yield s


@pytest.mark.parametrize(
    ("objective", "breach"),
    [
        (returns_a_float, "objective returned float, expected EvaluationRecord"),
        (lacks_the_constraint, "missing declared objectives/constraints ['silent']"),
    ],
)
def test_a_broken_contract_stops_the_study_at_the_first_trial(study, objective, breach):
    with pytest.raises(ObjectiveContractError) as error:
        run_study(study, objective, ThreadExecutor(), n_trials=6, n_workers=1, progress=False)
    message = str(error.value)
    assert message.startswith(f"trial 1: {breach}. An objective must return an EvaluationRecord")
    assert f"objectives {list(OBJECTIVES)}" in message and f"constraints {list(CONSTRAINTS)}" in message
    (trial,) = study.trials()  # stopped at the first: stored failed, nothing else started
    assert trial.status == "failed" and breach in trial.record.error


def test_failed_points_and_failed_records_without_objectives_do_not_stop_it(study):
    run_study(study, raise_above_half, ThreadExecutor(), n_trials=6, n_workers=2, progress=False)
    run_study(study, fails_honestly_without_objectives, ThreadExecutor(), n_trials=8, n_workers=2, progress=False)
    assert len(study.finished()) == 8
    assert study.counts()["failed"] >= 2


def test_a_driver_takes_over_the_trials_of_a_driver_that_died_mid_run(study):
    """Issue 15: another driver claims a trial and dies while this one runs; this driver ends
    with exactly ``n_trials`` finished trials, the orphan among them, instead of one short.
    The dead driver is a second handle on the file whose owner identity is a pid that exists
    no more (a process would cost a fresh interpreter)."""
    dead = Study.open(study.path)
    dead._owner = f"{socket.gethostname()}:{2**22 + 1}:0.000"  # above Linux's pid_max

    def first_call_sees_a_driver_die(params: dict) -> EvaluationRecord:
        if len(study.trials()) == 1:
            dead.start_trial({"x": 0.1, "lr": 0.01}, worker="doomed")
        return quadratic(params)

    run_study(study, first_call_sees_a_driver_die, ThreadExecutor(), n_trials=4, n_workers=1, progress=False)
    dead.close()
    trials = study.trials()
    assert len(trials) == len(study.finished()) == 4
    assert trials[1].params == {"x": 0.1, "lr": 0.01} and trials[1].attempts == 2  # the orphan, run here
