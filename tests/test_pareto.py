"""Multi-objective studies: the loop returns a non-dominated front, and the reference rule picks from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hpo_workers import CONSTRAINTS, SILENT_BELOW, SPACE, TWO_OBJECTIVES, pareto_silent
from omegaconf import OmegaConf

from jaxsnn.hpo import make_optimizer
from jaxsnn.hpo.dominance import non_dominated, pareto_front
from jaxsnn.hpo.executors import ThreadExecutor
from jaxsnn.hpo.loop import run_study
from jaxsnn.hpo.moo import hypervolume
from jaxsnn.hpo.results import pareto_trials
from jaxsnn.hpo.study import Study
from jaxsnn.record import EvaluationRecord
from jaxsnn.train.hybrid import HybridConfig
from jaxsnn.train.run import Run
from jaxsnn.train.slayer import SlayerConfig
from jaxsnn.tuning.reference import Reference, compare_with_reference, savings_rows, seed_with_reference, select
from jaxsnn.tuning.spaces import apply_point, dotted, search_space

MOO = {"accuracy": "max", "train_time_s": "min", "inference_steps": "min"}


def record(accuracy: float, time_s: float, steps: float, silent: float = -0.3) -> EvaluationRecord:
    status = "silent_stopped" if silent > 0 else "complete"
    return EvaluationRecord({}, {"accuracy": accuracy, "train_time_s": time_s, "inference_steps": steps},
                            {"silent": silent}, status=status)  # fmt: skip


@pytest.mark.parametrize("n_trials", [pytest.param(22, marks=pytest.mark.slow), 9])
def test_the_loop_with_mobo_returns_a_feasible_non_dominated_front_and_keeps_silent_trials(tmp_path, n_trials):
    """9 trials (3 model-guided) check the bookkeeping; the slow 22 also the front's quality,
    which test_optimizers checks in the fast suite without the loop. One MAP start in the fast
    variant: its GP and EHVI programs are then those of test_optimizers' MOBO tests."""
    restarts = 3 if n_trials == 22 else 1
    with Study.create(tmp_path / "m.db", SPACE, TWO_OBJECTIVES, CONSTRAINTS, optimizer="mobo", seed=0,
                      options={"n_initial": 6, "ref_point": {"f1": 1.1, "f2": 1.2}, "restarts": restarts}) as study:  # fmt: skip
        run_study(study, pareto_silent, ThreadExecutor(), n_trials=n_trials, n_workers=2, progress=False)
        finished = study.finished()
        front = pareto_trials(study)
    assert len(finished) == n_trials
    silent = [t for t in finished if t.record.status == "silent_stopped"]
    assert silent and all(t.record.constraints["silent"] > 0 for t in silent)  # stored, not dropped
    # the study's front is exactly the non-dominated subset of the feasible trials
    feasible = [t for t in finished if t.record.feasible]
    Y = -np.array([[t.record.objectives[n] for n in TWO_OBJECTIVES] for t in feasible])
    assert {t.id for t in front} == {t.id for t, keep in zip(feasible, non_dominated(Y)) if keep}
    assert all(t.params["x"] >= SILENT_BELOW for t in front)
    if n_trials < 22:
        return
    # and close to the true front f2 = (1 - f1)^2 + 1e-4, f1 in [0.2, 1]
    x = np.linspace(SILENT_BELOW, 1.0, 801)
    ref = -np.array([1.1, 1.2])
    true = hypervolume(-np.c_[x, (1 - x) ** 2 + 1e-4], ref)
    found = hypervolume(-np.array([[t.record.objectives[n] for n in TWO_OBJECTIVES] for t in front]), ref)
    # and better than random search with the same 22 trials: 0.94 of the true front at the median,
    # 0.973 at most over 200 seeds; beating all of 20 seeds by chance has odds 1 in 21
    randoms = [random_search_hypervolume(seed, 22, ref) for seed in range(20)]
    assert found > max(randoms), (found / true, max(randoms) / true)
    assert found > 0.95 * true


def test_the_study_front_leaves_out_dominated_and_infeasible_trials(tmp_path):
    """Known records (the loop test's 9 trials happen to leave no feasible trial dominated)."""
    values = [(0.3, 0.5, -1.0), (0.5, 0.2, -1.0), (0.6, 0.6, -1.0), (0.1, 0.1, 1.0), (0.3, 0.5, -1.0)]
    with Study.create(tmp_path / "f.db", SPACE, TWO_OBJECTIVES, CONSTRAINTS, optimizer="random") as study:
        for i, (f1, f2, silent) in enumerate(values):
            params = {"x": 0.1 + 0.1 * i, "lr": 0.01}
            status = "silent_stopped" if silent > 0 else "complete"
            study.finish_trial(study.start_trial(params, "w"),
                               EvaluationRecord(params, {"f1": f1, "f2": f2}, {"silent": silent}, status=status))
        # 3 is dominated by 1 and 2, 4 (the best values) is silent, 5 ties 1 and stays
        assert [t.id for t in pareto_trials(study)] == [1, 2, 5]


def random_search_hypervolume(seed: int, n_trials: int, ref: np.ndarray) -> float:
    optimizer = make_optimizer("random", SPACE, TWO_OBJECTIVES, CONSTRAINTS, seed=seed)
    records = []
    for _ in range(n_trials):
        records.append(pareto_silent(optimizer.ask()))
        optimizer.tell(records[-1])
    front = pareto_front(records, TWO_OBJECTIVES)
    return hypervolume(-np.array([[r.objectives[n] for n in TWO_OBJECTIVES] for r in front]).reshape(-1, 2), ref)


def accurate_but_slow(params: dict) -> EvaluationRecord:
    """accuracy peaks at x = 0.5; training time grows with x."""
    x = params["x"]
    return EvaluationRecord(params, {"accuracy": 1.0 - (x - 0.5) ** 2, "train_time_s": 1.0 + 10.0 * x}, {"silent": -1.0})


def test_the_reference_runs_once_as_the_first_trial_and_is_compared_with_the_front(tmp_path):
    rule = Reference({"x": 0.9, "lr": 0.01}, "train_time_s", max_accuracy_drop=0.0)
    objectives = {"accuracy": "max", "train_time_s": "min"}
    with Study.create(tmp_path / "r.db", SPACE, objectives, CONSTRAINTS, optimizer="random", seed=1) as study:
        assert seed_with_reference(study, rule).status == "pending"
        assert seed_with_reference(study, rule) is None  # a resumed study keeps its one reference
        assert compare_with_reference(study, rule) is None  # not finished yet
        run_study(study, accurate_but_slow, ThreadExecutor(), n_trials=12, n_workers=2, progress=False)
        comparison = compare_with_reference(study, rule)
        trials = study.trials()  # by id
        study_front = pareto_trials(study)
    assert trials[0].params == rule.params and comparison.reference.id == trials[0].id
    assert len([t for t in trials if t.params == rule.params]) == 1
    # the chosen trial: as accurate as x = 0.9 (x in [0.1, 0.9]) and the fastest such
    qualified = [t for t in trials if 0.1 - 1e-12 <= t.params["x"] < 0.9]
    assert comparison.chosen.id == min(qualified, key=lambda t: t.params["x"]).id
    front = {t.id for t in study_front}
    assert {t.id for t in comparison.eligible} == {t.id for t in qualified if t.id in front}
    xs = [t.params["x"] for t in comparison.eligible]
    assert xs == sorted(xs)  # cheapest (fastest) first
    summary = comparison.summary(rule)
    assert summary["reference_trial"] == comparison.reference.id and summary["chosen"]["params"] == comparison.chosen.params
    assert summary["eligible_trials"] == [t.id for t in comparison.eligible]


def test_select_takes_the_cheapest_front_point_within_the_accuracy_drop():
    reference = record(0.96, 4.0, 50)
    front = [record(0.97, 2.0, 50), record(0.955, 0.5, 10), record(0.949, 0.1, 5), record(0.99, 0.05, 2, silent=0.4)]
    rule = Reference({}, "train_time_s", max_accuracy_drop=0.01)
    assert select(front, reference, rule) is front[1]  # front[2] lost too much; front[3] is silent
    assert select(front, reference, Reference({}, "train_time_s")) is front[0]
    tie = [record(0.96, 1.0, 8), record(0.98, 1.0, 8)]
    assert select(tie, reference, Reference({}, "inference_steps")) is tie[1]  # the more accurate
    assert select([record(0.5, 0.1, 2)], reference, rule) is None
    assert select([reference, record(0.99, 4.0, 50)], reference, rule) is None  # nothing cut the cost


def test_savings_rows_give_reference_over_chosen_factors():
    headers, rows = savings_rows(record(0.96, 4.0, 50), record(0.955, 0.5, 10), list(MOO))
    assert headers == ["configuration", "status", *MOO]
    assert rows[2][2:] == pytest.approx([0.96 / 0.955, 8.0, 5.0])
    _, rows = savings_rows(record(0.96, 4.0, 50), None, list(MOO))
    assert rows[1][0] == "no front point qualifies"


@pytest.mark.parametrize(
    "spec, match",
    [
        ({"params": {}, "minimize": "cost"}, "'cost', which must be a study objective to minimize"),
        ({"params": {}, "minimize": "accuracy"}, "to minimize"),
        ({"params": {}, "minimize": "train_time_s", "accuracy": "train_time_s"}, "to maximize"),
        ({"params": {}, "minimize": "train_time_s", "max_accuracy_drop": -0.1}, "max_accuracy_drop"),
        ({"params": [1], "minimize": "train_time_s"}, "reference.params"),
        ({"params": {}, "minimize": "train_time_s", "drop": 0.1}, "unknown reference option"),
    ],
)
def test_a_bad_reference_is_refused_before_the_study(spec, match):
    with pytest.raises(ValueError, match=match):
        Reference.from_dict(spec, MOO)


@pytest.mark.parametrize(
    "preset, documented",
    [
        ("slayer_moo", lambda run: run.slayer == SlayerConfig(time_steps=50) and run.data.time_steps == 50),
        ("hybrid_moo", lambda run: run.hybrid == HybridConfig(finetune_epochs=0, time_steps=16)),
    ],
)
def test_each_reproduction_preset_references_its_documented_default_as_a_point_of_its_space(preset, documented):
    spec = OmegaConf.to_container(OmegaConf.load(Path(__file__).parents[1] / "conf" / "hpo" / f"{preset}.yaml"))
    base = Run.from_dict(spec["run"])
    space = search_space(base.algorithm, spec["exclude"], {k: tuple(v) for k, v in dotted(spec["bounds"]).items()})
    rule = Reference.from_dict({**spec["reference"], "params": dotted(spec["reference"]["params"])}, spec["objectives"])
    space.validate(rule.params)  # it can run as a trial of the study
    assert documented(apply_point(base, rule.params))
    assert spec["optimizer"] == "mobo" and spec["constraints"] == ["silent"]
