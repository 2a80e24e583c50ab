"""The SNN-HPO benchmark: real-trial rows, the surrogate fitted on them, the equal-compute runner."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from scipy.special import logit
from scipy.stats import spearmanr
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.gaussian_process import GaussianProcessRegressor

from jaxsnn.hpo.features import LEARNING_RATE_PRIOR, LogProductFeatures
from jaxsnn.hpo.registry import make_optimizer
from jaxsnn.snnbench import HPO_PRESETS, PROBLEMS, get_problem
from jaxsnn.snnbench.compare import (
    N_INITIAL,
    TraceRow,
    best_curve,
    compute_to_reach,
    our_method,
    quarter_odds,
    run,
    silent_rate,
    summarise,
)
from jaxsnn.snnbench.problems import stdp_learning
from jaxsnn.snnbench.surrogate import SurrogateBenchmark, calibrated_noise, cross_validate, random_search_best
from jaxsnn.snnbench.tables import (
    append_rows,
    check_fractions,
    false_stops,
    random_best,
    read_live,
    read_rows,
    replay,
    replay_checks,
    row_params,
    rule_outcome,
    run_live,
    run_row,
    with_live_costs,
    write_table,
)
from jaxsnn.snnbench.targets import SHIPPED, real_medians, real_verdicts, surrogate_verdicts
from jaxsnn.train.silent import SilentNetworkDetector
from jaxsnn.tuning.evaluate import evaluate, validate
from jaxsnn.tuning.study_spec import prepare

PROBLEM = get_problem("sg_digits")


def synthetic_rows(n: int, seed: int = 0) -> list[dict]:
    """Rows with a known truth: silent iff the log drive is low; accuracy rises with it and lr."""
    rows = []
    for i, params in enumerate(PROBLEM.space().sample(np.random.default_rng(seed), n)):
        drive = math.log(params["model.weight_scale"] * params["data.options.max_rate"] / params["model.neuron.theta"])
        stopped = drive < -1.0
        learning = 0.05 * math.log10(params["trainer.lr"] / 1e-5)
        accuracy = float(np.clip(0.1 + 0.12 * (drive + 1.0) + learning, 0.1, 0.99))
        epochs = params["trainer.epochs"]
        cost = 1.0 + 0.5 * epochs * params["data.time_steps"] / 10
        rows.append({
            "index": i, "status": "complete", "accuracy": 0.1 if stopped else accuracy, "cost_s": cost,
            "setup_s": 1.0, "samples": 1400 * epochs, "silent_fraction": 0.95 if stopped else 0.05,
            "checks": [0.95 if stopped else 0.05] * (14 * epochs), "stopped": stopped,
            "stop_samples": 100.0 if stopped else math.nan, "stop_time_s": 1.1 if stopped else math.nan,
            "error": "", "params": params,
        })  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def bench() -> SurrogateBenchmark:
    return SurrogateBenchmark(PROBLEM, synthetic_rows(300))


def test_check_fractions_are_the_detectors_running_fraction():
    counts = np.array([0, 0, 3, 1, 0, 2, 0, 0])  # silent (< 1 spike): samples 1, 2, 5, 7, 8
    assert check_fractions(counts, k=1, interval=2) == [1.0, 0.5, 0.5, 0.625]
    assert check_fractions(counts, k=3, interval=4) == [0.75, 0.875]


def test_replay_stops_where_the_live_detector_stops():
    batches = [np.array([1, 1, 0, 0]), np.array([0, 0, 0, 1]), np.array([0, 0, 0, 0])]
    stop = replay(SilentNetworkDetector(k=1, p=0.5, update_interval=4), batches, [1.0, 2.0, 3.0])
    live = SilentNetworkDetector(k=1, p=0.5, update_interval=4)
    decisions = [live.update(b, {}) for b in batches]
    first = next(i for i, d in enumerate(decisions) if d is not None)
    assert stop == {"stopped": 1, "stop_batch": 2, "stop_samples": 8, "stop_time_s": 2.0} and first == 1 and live.seen == 8


def test_rows_are_fixed_by_seed_and_index():
    assert row_params(PROBLEM, 7) == row_params(PROBLEM, 7)
    assert row_params(PROBLEM, 7) != row_params(PROBLEM, 8)
    PROBLEM.space().validate(row_params(PROBLEM, 7))


def test_table_round_trip(tmp_path):
    rows = synthetic_rows(5)
    as_csv = [{**r, "stopped": int(r["stopped"]), "checks": json.dumps(r["checks"]), "params": json.dumps(r["params"])}
              for r in rows]  # fmt: skip
    shard = tmp_path / "p.shard0.csv"
    append_rows(shard, as_csv[:2])
    append_rows(shard, as_csv[2:])  # a resumed generator appends below the header
    write_table(tmp_path / "p.csv.gz", read_rows(shard))
    again = read_rows(tmp_path / "p.csv.gz")
    for key in ("params", "stopped", "checks", "accuracy"):
        assert [r[key] for r in again] == [r[key] for r in rows]


def test_a_rule_replayed_on_a_tables_checks_stops_where_the_spike_counts_stopped_it():
    """Every row of the committed sg_digits table: the problem's rule replayed on the row's ``checks``
    alone stops the rows, at the samples, that replaying it on the recorded spike counts did."""
    rows = [r for r in read_rows(Path(__file__).resolve().parents[1] / "benchmarks" / "tables" / "sg_digits.csv.gz")
            if r["status"] == "complete"]  # fmt: skip
    interval = PROBLEM.preset.update_interval
    stops = [replay_checks(SilentNetworkDetector.preset(PROBLEM.detector), r["checks"], interval) for r in rows]
    assert len(rows) == 1000 and sum(s is not None for s in stops) == sum(r["stopped"] for r in rows) > 600
    assert all((s is None) == (not r["stopped"]) and (s is None or s == r["stop_samples"]) for s, r in zip(stops, rows))


def test_a_grace_on_the_last_interval_keeps_a_network_that_wakes_up_and_costs_its_samples():
    woke = [1.0, 1.0, 1.0, 1.0, 1.0] + [500 / (100 * i) for i in range(6, 31)]  # silent for 500 samples, then not
    quiet = [1.0] * 30
    paper = partial(SilentNetworkDetector, 1, 0.3, 100)
    graced = partial(SilentNetworkDetector, 1, 0.3, 100, window="interval", grace=1000)
    assert replay_checks(paper(), woke, 100) == 100 and replay_checks(graced(), woke, 100) is None
    assert replay_checks(graced(), quiet, 100) == 1000
    rows = [{"status": "complete", "checks": c, "accuracy": a, "cost_s": 4.0, "setup_s": 1.0, "samples": 3000}
            for c, a in ((woke, 0.9), (quiet, 0.1))]  # fmt: skip
    # the paper's rule: both stopped at 100 of 3,000 samples, 1.1 s each of 8 s; the grace: the quiet
    # network at 1,000 samples (2 s), the one that wakes up trained to the end (4 s) of the 8 s
    assert rule_outcome(rows, paper, 100, 0.5) == {"rows": 2, "stopped": 2, "false_stops": 1,
                                                   "compute_share": pytest.approx(2.2 / 8)}
    assert rule_outcome(rows, graced, 100, 0.5) == {"rows": 2, "stopped": 1, "false_stops": 0,
                                                    "compute_share": pytest.approx(6.0 / 8)}
    with pytest.raises(ValueError, match="checked every 100 samples cannot replay a rule checked every 150"):
        replay_checks(SilentNetworkDetector(1, 0.3, 150), woke, 100)


def test_a_real_row_replays_the_stop_of_a_live_run():
    """The table's promise: one run without the detector says where a live one stops."""
    params = {**row_params(PROBLEM, 0), "model.neuron.theta": 20.0, "model.weight_scale": 0.05, "trainer.epochs": 1,
              "model.hidden.width": 16, "model.hidden.depth": 1, "data.time_steps": 10, "trainer.batch_size": 64}
    problem = get_problem("sg_digits")
    row = run_row(problem, 0, params=params)
    live = evaluate(problem.config(params))
    assert row["stopped"] == 1 and live.status == "silent_stopped"
    # The first check (100 samples) falls inside batch 2, but batch 1's 64 silent samples already
    # lose it (64/100 > 0.3): both stop after batch 1.
    assert row["stop_samples"] == 64 and "of 64/64 samples" in live.metrics["stop_reason"]
    assert "the check at 100 samples is lost already" in live.metrics["stop_reason"]
    assert live.metrics["samples_seen"] == 64 and json.loads(row["checks"])[0] == 1.0
    assert row["samples"] > row["stop_samples"] and row["cost_s"] >= row["stop_time_s"]
    # Run as a study runs it (the live detector, the preset's compile settings), it ends the same
    # way, before its training step is compiled: cheaper than the recorded run's stop.
    timed = run_live(problem, 0, params, {"algorithm": "sg", "data": {"name": "digits"},
                                          "trainer": {"xla_optimizations": False}})
    assert timed["status"] == "silent_stopped" and timed["cost_s"] < row["stop_time_s"]


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_live_rows_run_with_the_presets_run_and_the_problems_data(monkeypatch, name):
    """A live row is timed as the preset's trials compile (its ``run``), on the problem's data."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from snn_tables import preset_spec, study_run

    problem = get_problem(name)
    run = study_run(problem)
    for key, value in preset_spec(problem)["run"].items():
        if key != "data":
            assert run[key] == value
    assert run["algorithm"] == problem.trainer and run["data"]["name"] == problem.run["data"]["name"]
    assert run["data"].get("options", {}) == problem.run["data"].get("options", {})


def test_live_costs_replace_what_the_table_charges_and_keep_its_outcomes():
    rows = [{"index": i, "status": "complete", "stopped": stopped, "cost_s": cost, "stop_time_s": stop,
             "accuracy": 0.5} for i, (stopped, cost, stop) in
            enumerate([(False, 3.0, math.nan), (False, 4.0, math.nan), (True, 3.0, 2.0), (True, 5.0, 2.0)])]
    rows.append({"index": 4, "status": "failed", "stopped": False, "cost_s": 1.0, "stop_time_s": math.nan,
                 "accuracy": math.nan})
    live = {0: {"status": "complete", "cost_s": 1.5}, 1: {"status": "complete", "cost_s": 1.0},
            2: {"status": "silent_stopped", "cost_s": 0.2},
            3: {"status": "complete", "cost_s": 4.0}}  # the live run was not stopped: outcome kept, cost scaled
    costed = with_live_costs(rows, live)
    full_ratio = np.median([1.5 / 3.0, 1.0 / 4.0])  # kept rows, live / table
    assert [r["cost_s"] for r in costed[:2]] == [1.5, 1.0]
    assert costed[2]["stop_time_s"] == 0.2 and costed[2]["cost_s"] == pytest.approx(3.0 * full_ratio)
    assert costed[3]["stopped"] and costed[3]["stop_time_s"] == pytest.approx(2.0 * 0.2 / 2.0)
    assert costed[3]["cost_s"] == pytest.approx(5.0 * full_ratio) and costed[4] == rows[4]
    assert rows[0]["cost_s"] == 3.0  # the table's rows are not changed in place
    with pytest.raises(ValueError, match="lack 1 of the table's 4 rows"):
        with_live_costs(rows, {i: live[i] for i in range(3)})


def test_false_stops_count_the_good_networks_the_detector_stopped():
    def row(accuracy: float, stopped: bool, whole_run_fraction: float, status: str = "complete") -> dict:
        return {"status": status, "accuracy": accuracy, "stopped": stopped, "silent_fraction": whole_run_fraction}

    rows = [row(0.8, True, 0.1),   # silent early, then woke up: a false stop
            row(0.6, True, 0.95),  # silent by the rule all along, and still classified
            row(0.55, True, 0.5),  # a false stop of neither kind
            row(0.1, True, 1.0),   # rightly stopped
            row(0.9, False, 0.0), row(0.3, False, 0.1), row(0.99, True, 0.0, status="failed")]
    assert false_stops(rows, good_accuracy=0.5, p=0.3) == {
        "rows": 6, "stopped": 4, "good": 4, "false_stops": 3, "woke_up": 1, "silent_throughout": 1,
        "best_stopped": 0.8, "best_kept": 0.9}


def test_random_best_is_the_median_best_kept_row_of_random_sets_of_the_table():
    """One kept network of 0.9 among ten rows: a set of all ten always holds it, a set of one holds
    it a tenth of the time (median best 0: the stopped rows count as nothing found); of five, half
    the time (median between 0.3, the next kept row, and 0.9). A failed row is never drawn."""
    rows = [{"status": "complete", "accuracy": 0.9, "stopped": False},
            {"status": "complete", "accuracy": 0.3, "stopped": False},
            *[{"status": "complete", "accuracy": 0.95, "stopped": True}] * 8,
            {"status": "failed", "accuracy": 0.99, "stopped": False}]  # fmt: skip
    assert random_best(rows, 10) == 0.9 and random_best(rows, 1) == 0.0
    assert random_best(rows, 5) in (0.3, 0.6, 0.9)
    with pytest.raises(ValueError, match=r"n must be in \[1, 10\]"):
        random_best(rows, 11)


def test_trial_noise_is_fixed_by_the_configuration_and_spreads_the_logit_by_its_deviation(bench):
    """``noise`` moves a trial's accuracy from the prediction by noise x a standard normal draw in
    the accuracy model's logit: the same configuration always gets the same draw (an int and a
    numpy int alike), the draws over many configurations have the named deviation, a kept trial
    reports it, and ``noise=0`` (the default) reports the prediction itself."""
    noisy = bench.with_noise(0.8)
    configs = PROBLEM.space().sample(np.random.default_rng(11), 80)
    unit = lambda a: logit((np.asarray(a) - 0.05) / 0.95)  # noqa: E731  the surrogate's logit (floor 0.05)
    predicted = np.array([noisy.predict(c)["accuracy"] for c in configs])
    drawn = np.array([noisy.trial_accuracy(c, a) for c, a in zip(configs, predicted)])
    assert np.std(unit(drawn) - unit(predicted)) == pytest.approx(0.8, rel=0.25)
    again = {k: np.int64(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in configs[0].items()}
    assert noisy.trial_accuracy(again, predicted[0]) == drawn[0] != predicted[0]
    kept = next(c for c, a in zip(configs, predicted) if noisy.predict(c)["p_silent"] < 0.5)
    assert noisy(kept).objectives["accuracy"] == noisy.trial_accuracy(kept, noisy.predict(kept)["accuracy"])
    assert bench(kept).objectives["accuracy"] == bench.predict(kept)["accuracy"]
    with pytest.raises(ValueError, match="noise must be a finite number >= 0"):
        SurrogateBenchmark(PROBLEM, bench.rows[:50], noise=-1.0)
    with pytest.raises(ValueError, match="noise must be a finite number >= 0"):
        bench.with_noise(math.inf)
    assert bench.noise == 0.0 and noisy.accuracy is bench.accuracy  # a copy with the same fitted models


def test_calibrated_noise_raises_random_search_best_to_the_tables(bench):
    """The calibrated noise makes random search's median best of n trials on the surrogate the
    given target (the table's own, in the benchmark): above the noiseless surrogate's best it is
    positive and lands on the target; at or below it, none is added."""
    n, draws = 10, 100
    plain = random_search_best(bench, n, draws=draws)
    assert calibrated_noise(bench, n, plain - 0.05, draws=draws) == 0.0
    noise = calibrated_noise(bench, n, plain + 0.1, draws=draws)
    noisy = bench.with_noise(noise)
    assert noise > 0.1 and random_search_best(noisy, n, draws=draws) == pytest.approx(plain + 0.1, abs=0.01)


def test_validation_reports_the_top_of_the_held_out_kept_networks_real_and_predicted(bench):
    """The 95th percentiles of the held-out kept rows' real accuracy and of their predictions."""
    held_out = synthetic_rows(200, seed=3)
    kept = [r for r in held_out if r["status"] == "complete" and not r["stopped"]]
    validation = bench.validate(held_out)
    assert validation.kept_top == pytest.approx(np.quantile([r["accuracy"] for r in kept], 0.95))
    predicted = [bench.predict(r["params"])["accuracy"] for r in kept]
    assert validation.kept_top_predicted == pytest.approx(np.quantile(predicted, 0.95))


def test_surrogate_is_deterministic_and_validated(bench):
    params = synthetic_rows(1, seed=1)[0]["params"]
    assert bench(params) == bench(params)
    # Refitting on the same rows gives the same model (a small table: determinism needs no size).
    small = synthetic_rows(60)
    assert SurrogateBenchmark(PROBLEM, small).predict(params) == SurrogateBenchmark(PROBLEM, small).predict(params)
    validation = bench.validate(synthetic_rows(200, seed=3))
    assert validation.silent_agreement >= 0.9 and validation.accuracy_spearman >= 0.8, validation
    assert validation.meets_targets()


def test_cross_validation_predicts_every_row_from_forests_that_never_saw_it():
    rows = synthetic_rows(150, seed=5)
    validation = cross_validate(PROBLEM, rows, folds=3)  # three fits, not five: Spearman 0.84 (0.92 with 5)
    assert validation.n_test == 150 and validation.n_train == 100 and validation.meets_targets(), validation
    # Accuracies drawn independently of the parameters cannot be predicted, only memorised: a split
    # that leaked held-out rows into the fit would rank them well. Forests (no learning inputs)
    # memorise their training rows best, so they expose such a leak most plainly, and fit fast.
    noise = [{**r, "accuracy": float(a)} for r, a in zip(rows, np.random.default_rng(6).random(len(rows)))]
    assert abs(cross_validate(dataclasses.replace(PROBLEM, learning=None), noise, folds=3).accuracy_spearman_all) < 0.3


def test_a_retest_ranks_the_table_against_the_same_kept_networks_trained_again():
    problem, rows = dataclasses.replace(PROBLEM, learning=None), synthetic_rows(150, seed=5)
    kept = [r for r in rows if not r["stopped"]]
    noise = np.random.default_rng(7).normal(0.0, 0.05, len(kept))
    retest = [{**r, "accuracy": r["accuracy"] + e} for r, e in zip(kept[1:], noise[1:])]  # one kept row not rerun
    validation = cross_validate(problem, rows, folds=3, retest=retest)
    assert validation.retested == len(kept) - 1
    expected = spearmanr([r["accuracy"] for r in kept[1:]], [r["accuracy"] for r in retest]).statistic
    assert validation.retest_spearman == pytest.approx(expected)
    assert 0.5 < validation.surrogate_retest_spearman < 1.0
    unrelated = [{**r, "accuracy": float(a)} for r, a in zip(kept, np.random.default_rng(8).random(len(kept)))]
    shuffled = cross_validate(problem, rows, folds=3, retest=unrelated)
    assert abs(shuffled.retest_spearman) < 0.3 and abs(shuffled.surrogate_retest_spearman) < 0.3


def test_accuracy_is_a_gaussian_process_of_the_learning_inputs_or_else_a_forest(bench):
    assert isinstance(bench.accuracy, GaussianProcessRegressor)
    forest = SurrogateBenchmark(dataclasses.replace(PROBLEM, learning=None), synthetic_rows(400))
    assert isinstance(forest.accuracy, ExtraTreesRegressor)
    assert forest.validate(synthetic_rows(200, seed=3)).meets_targets()
    # Validations and random-search estimates ask for many configurations at once: each gets the
    # answer it gets alone, to the bit (a trial and its validation see the same surrogate).
    configs = [r["params"] for r in synthetic_rows(40, seed=9)]
    for surrogate in (bench, forest):
        assert surrogate.predict_many(configs) == [surrogate.predict(c) for c in configs]


def test_the_silent_classifier_sees_the_learning_inputs_where_the_problem_says_its_silence_depends_on_them():
    """Rows silent exactly where the Adam steps' reach ``lr x epochs / batch`` is small (a learning
    input, a product of three encoded axes): trees on the encoding approximate the product's edge,
    the learning input draws it."""

    def silent_where_learning_is_slow(rows: list[dict]) -> list[dict]:
        out = []
        for r in rows:
            p = r["params"]
            stopped = math.log(p["trainer.lr"] * p["trainer.epochs"] / p["trainer.batch_size"]) < -9.5
            out.append({**r, "stopped": stopped, "accuracy": 0.1 if stopped else r["accuracy"],
                        "stop_samples": 100.0, "stop_time_s": 1.1})  # fmt: skip
        return out

    train, held_out = silent_where_learning_is_slow(synthetic_rows(200)), silent_where_learning_is_slow(
        synthetic_rows(200, seed=3))
    agreement = {flag: SurrogateBenchmark(dataclasses.replace(PROBLEM, silent_learning=flag), train)
                 .validate(held_out).silent_agreement for flag in (False, True)}  # fmt: skip
    assert agreement[True] >= 0.98 and agreement[True] > agreement[False] + 0.03, agreement
    assert get_problem("stdp_digits").silent_learning and not get_problem("sg_digits").silent_learning
    with pytest.raises(ValueError, match="silent_learning needs the problem's learning inputs"):
        dataclasses.replace(PROBLEM, learning=None, silent_learning=True)


def test_the_stdp_problem_models_accuracy_on_finite_physical_inputs_everywhere_in_its_space():
    problem = get_problem("stdp_digits")
    assert problem.learning is stdp_learning
    space = problem.space()
    ranges = {p.name: (p.low, p.high) for p in space.params}
    points = space.sample(np.random.default_rng(0), 300)
    points += [{n: r[0] for n, r in ranges.items()}, {n: r[1] for n, r in ranges.items()}]
    drive = ("stdp.input_rate_hz", "stdp.w_norm", "stdp.tau_ge_ms")  # the strongest and the weakest input
    points += [{n: r[n in drive] if n != "stdp.threshold_mv" else r[0] for n, r in ranges.items()},
               {n: r[n not in drive] if n != "stdp.threshold_mv" else r[1] for n, r in ranges.items()}]
    inputs = np.array([stdp_learning(p) for p in points])
    assert inputs.shape == (len(points), 15) and np.isfinite(inputs).all()


def test_surrogate_modes_account_for_the_detector(bench):
    rows = synthetic_rows(60, seed=4)
    silent = next(r["params"] for r in rows if r["stopped"] and bench.predict(r["params"])["p_silent"] > 0.9)
    stopped, full, dropped = bench(silent, "detector"), bench(silent, "no_detector"), bench(silent, "dropped")
    assert stopped.status == "silent_stopped" and stopped.constraints["silent"] > 0
    assert stopped.objectives["accuracy"] == pytest.approx(0.1) and stopped.cost_s < full.cost_s
    assert full.status == "complete" and full.constraints["silent"] > 0
    assert dropped.status == "pruned" and not dropped.informative and dropped.cost_s == stopped.cost_s
    kept = next(r["params"] for r in rows if not r["stopped"] and bench.predict(r["params"])["p_silent"] < 0.1)
    assert bench(kept).feasible and bench(kept).cost_s == bench(kept, "no_detector").cost_s
    with pytest.raises(ValueError, match="unknown mode"):
        bench(kept, "sometimes")


def _one_trial_runs(method: str, bests: list[float], compute: list[float]) -> list[list[TraceRow]]:
    """Per seed, a silent first trial and one trained network of ``bests[seed]`` at ``compute[seed]``."""
    return [[TraceRow(method, seed, 0, 0.5, "silent_stopped", 0.1, False, "initial", 0.0),
             TraceRow(method, seed, 1, c, "complete", b, True, "model", 0.0)]
            for seed, (b, c) in enumerate(zip(bests, compute))]


def test_a_method_is_set_against_the_shipped_one_by_seed_and_by_a_rank_test():
    """``summarise(..., reference=)``: a variant ahead of the preset on every seed by less than the
    seeds' spread shows it by seed (20 of 20 higher, every reach earlier) where the rank test
    cannot (p large); the preset's own bests under other seed numbers show as chance (as many
    higher as lower, p = 1); a peer gets the rank test only, its seeds pair nothing."""
    preset, variant = "scbo-drive-screen-n6-guard05-prior", "scbo-drive-screen-n6-guard05-prior-ft8"
    bests = list(np.linspace(0.5, 0.9, 20))
    compute = [10.0] * 20
    traces = {"random": _one_trial_runs("random", [0.5] * 20, [20.0] * 20),
              preset: _one_trial_runs(preset, bests, compute),
              variant: _one_trial_runs(variant, [b + 0.01 for b in bests], [9.0] * 20),
              "scbo-drive-screen-n6-guard05": _one_trial_runs("scbo-drive-screen-n6-guard05", bests[::-1], compute),
              "optuna-tpe": _one_trial_runs("optuna-tpe", bests, compute)}
    rows = {r["method"]: r for r in summarise(traces, 40.0, reference=preset)}
    assert math.isnan(rows[preset]["vs_best_p"])
    ahead = rows[variant]
    assert (ahead["vs_higher"], ahead["vs_lower"], ahead["vs_earlier"], ahead["vs_later"]) == (20, 0, 20, 0)
    assert ahead["vs_best_p"] > 0.5
    shuffled = rows["scbo-drive-screen-n6-guard05"]
    assert shuffled["vs_best_p"] == pytest.approx(1.0) and shuffled["vs_higher"] == shuffled["vs_lower"] == 10
    assert rows["optuna-tpe"]["vs_best_p"] == pytest.approx(1.0) and math.isnan(rows["optuna-tpe"]["vs_higher"])
    assert "vs_best_p" not in summarise(traces, 40.0)[0]


def test_quarter_odds_count_the_trials_and_the_runs_that_match_within_a_quarter_of_the_budget():
    """A budget of 40 s: the quarter ends at 10 s. Run 0 matches 0.8 in its second trial (5 s), run 1
    only after the quarter (11 s); an infeasible 0.85 (a silent network's) matches nothing. The
    design's four trials hold one match."""
    def row(seed: int, trial: int, compute: float, accuracy: float, feasible: bool, phase: str) -> TraceRow:
        return TraceRow("m", seed, trial, compute, "complete" if feasible else "silent_stopped", accuracy, feasible,
                        phase, 0.0)

    runs = [[row(0, 0, 2.0, 0.1, False, "initial"), row(0, 1, 5.0, 0.9, True, "initial"),
             row(0, 2, 12.0, 0.9, True, "model")],
            [row(1, 0, 3.0, 0.2, True, "initial"), row(1, 1, 8.0, 0.85, False, "initial"),
             row(1, 2, 9.5, 0.5, True, "model"), row(1, 3, 11.0, 0.95, True, "model")]]
    odds = quarter_odds(runs, 0.8, 40.0)
    assert odds == {"quarter_trials": 2.5, "quarter_hit": 0.5, "design_hit": 0.25}
    assert quarter_odds(runs, 0.99, 40.0)["quarter_hit"] == 0.0
    traces = {"random": runs, "m": runs}
    summary = summarise(traces, 40.0)[1]
    best = float(np.median([0.9, 0.95]))  # random's median final best: the reach anchor
    assert summary["quarter_hit"] == quarter_odds(runs, best, 40.0)["quarter_hit"] == 0.0
    assert summary["trial_hit"] == pytest.approx(1 / 7)  # of the seven trials only the 0.95 matches 0.925


def test_surrogate_refuses_points_outside_its_table(bench):
    params = {**synthetic_rows(1)[0]["params"], "model.neuron.theta": 50.0}
    with pytest.raises(ValueError, match=r"model\.neuron\.theta=50.0 is outside the table's range \[0.05, 20.0\]"):
        bench(params)


def test_runs_spend_the_budget_and_summaries_compare_methods(bench):
    traces = {"random": [run(bench, "random", s, 40.0) for s in range(3)]}
    for trace in traces["random"]:
        assert trace[-2].compute_s < 40.0 <= trace[-1].compute_s
        assert [t.phase for t in trace[:N_INITIAL]] == ["initial"] * N_INITIAL
        curve = best_curve(trace, np.linspace(0, 40, 50))
        assert np.all(np.diff(curve) >= 0)
    summary = summarise(traces, 40.0)[0]
    assert summary["reach_ratio"] == 1.0 and summary["seeds"] == 3  # random's best costs it the budget
    other = summarise({**traces, "again": traces["random"][:1]}, 40.0)[1]
    reach = compute_to_reach(traces["random"][0], summary["best_100"])
    assert other["reach_ratio"] == pytest.approx(reach / 40.0)
    at = next(i for i, t in enumerate(traces["random"][0]) if t.compute_s == reach)
    asked = sum(t.ask_s for t in traces["random"][0][: at + 1])
    assert compute_to_reach(traces["random"][0], summary["best_100"], with_asks=True) == pytest.approx(reach + asked)
    assert other["reach_with_asks_ratio"] == pytest.approx((reach + asked) / 40.0)
    assert compute_to_reach(traces["random"][0], 2.0) == math.inf
    assert silent_rate(traces["random"][0], "initial") == np.mean([not t.feasible for t in traces["random"][0][:N_INITIAL]])
    # random search's "design" is its first N_INITIAL trials: the compute when the last of them ended
    design_ends = sorted(trace[N_INITIAL - 1].compute_s for trace in traces["random"])
    assert summary["design_ratio"] == pytest.approx(design_ends[1] / 40.0)


def test_a_seeded_run_evaluates_the_enqueued_configurations_first_as_design(bench):
    rows = synthetic_rows(400)
    best = max((r for r in rows if not r["stopped"]), key=lambda r: r["accuracy"])
    trace = run(bench, "random+default", 0, 40.0, enqueue=[best["params"]])
    plain = run(bench, "random", 0, 40.0)
    assert trace[0].accuracy == bench(best["params"]).objectives["accuracy"] and trace[0].phase == "initial"
    # then the method asks as it would after one told trial (random search seeds each draw by the count)
    assert [t.accuracy for t in trace[1:4]] == [t.accuracy for t in plain[1:4]]
    with pytest.raises(ValueError, match=r"model\.neuron\.theta=50.0 is outside the table's range"):
        run(bench, "random+default", 0, 40.0, enqueue=[{**best["params"], "model.neuron.theta": 50.0}])


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_each_problem_names_the_preset_its_real_studies_run(name):
    """snn_real_studies.py runs ``hpo=HPO_PRESETS[trainer]`` with the problem's run and detector: that
    preset must train the problem's trainer under the problem's silent detector."""
    problem = PROBLEMS[name]
    path = Path(__file__).resolve().parents[1] / "conf" / "hpo" / f"{HPO_PRESETS[problem.trainer]}.yaml"
    preset = OmegaConf.load(path)
    assert preset.run.algorithm == problem.trainer
    assert preset.evaluation.silent == problem.detector


def _settings(optimizer) -> dict:
    """What makes two optimizers propose alike: class, options, GP config, refit schedule, features,
    trust region (not the space, the seed or the records)."""
    scalars = {k: v for k, v in vars(optimizer).items() if isinstance(v, (bool, int, float, str)) and k != "seed"}
    region = dataclasses.asdict(optimizer.region) if hasattr(optimizer, "region") else None
    schedule = (optimizer.models.config, optimizer.models.growth, optimizer.models.first_size, optimizer.models.lag)
    prior = None if optimizer.prior_signs is None else optimizer.prior_signs.tolist()
    return {"class": type(optimizer).__name__, **scalars, "features": list(optimizer.inputs.names),
            "prior": prior, "schedule": schedule, "region": region}


@pytest.mark.parametrize("preset", sorted(HPO_PRESETS.values()))
def test_the_scorecard_judges_the_optimizer_each_preset_ships(preset):
    """RESULTS.md's verdict line per problem is computed for ``targets.SHIPPED[preset]``: built as the
    surrogate benchmark builds it, it must be the optimizer a study of the preset builds (a preset
    changed without its benchmark method, or the other way round, fails here)."""
    spec = OmegaConf.to_container(OmegaConf.load(Path(__file__).parent.parent / "conf" / "hpo" / f"{preset}.yaml"))
    plan = prepare(spec)
    shipped = make_optimizer(spec["optimizer"], plan.space, dict(spec["objectives"]), list(spec["constraints"]),
                             seed=spec["seed"], **plan.options)  # fmt: skip
    benchmarked, mode = our_method(SHIPPED[preset][0], plan.space, spec["seed"])
    assert mode == "detector" and _settings(benchmarked) == _settings(shipped)
    plain, _ = our_method("logei", plan.space, spec["seed"])  # the benchmark's plain log-EI refits on the ask path
    assert _settings(plain) != _settings(make_optimizer("logei", plan.space, {"accuracy": "max"}, ["silent"]))


def _summary(method: str, reach: float, best: float, silent: float, design: float = 0.1) -> dict:
    return {"method": method, "reach_ratio": reach, "best_100": best, "silent_model": silent, "design_ratio": design}


def test_the_calibrated_runs_are_judged_in_their_own_targets_table(monkeypatch):
    """Runs on the calibrated surrogate get a row per run with its noise, random search's best and
    the shipped method's verdicts against the peers run there; without such runs, no table."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from snn_hpo import calibrated_lines

    shipped = SHIPPED["silent_sg"][0]
    rows = [{**_summary("random", 1.0, 0.72, 0.70), "seeds": 40}, _summary(shipped, 0.47, 0.865, 0.05),
            _summary("optuna-tpe", 0.53, 0.865, 0.3)]
    lines = calibrated_lines({"sg_digits_b50": rows},
                             {"sg_digits_b50": {"problem": "sg_digits", "budget_trials": 50, "noise": 1.417}})
    assert lines[-1] == (f"| sg_digits b50 | 1.417 | 0.720 (40 seeds) | `{shipped}` | 0.47 (missed; design 0.10) "
                         "| 0.865 vs optuna-tpe 0.865 (met) | 5% vs random 70% (met) |")
    assert calibrated_lines({}, {}) == []


def test_the_ablation_table_sets_the_shipped_method_beside_its_own_ablations_only(monkeypatch):
    """Per run, the shipped method, then without the detector and with silent trials pruned; other
    variants and the peers stay out, and a run without ablations has no lines (nor, with none at
    all, the table); the plot shows the ablations and the peers, not the variants."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from snn_hpo import ablation_lines, plotted

    shipped = SHIPPED["silent_sg"][0]
    row = {"seeds": 20, "trials": 24, "silent_initial": 0.25, "vs_best_p": math.nan}
    rows = [{**_summary(m, reach, best, 0.05), **row} for m, reach, best in (
        ("random", 1.0, 0.6), (shipped, 0.42, 0.845), (f"{shipped}-lr", 0.3, 0.9),
        (f"{shipped}-no-detector", 0.6, 0.8), (f"{shipped}-dropped", math.inf, 0.7), ("optuna-tpe", 0.5, 0.7))]
    budgets = {run: {"problem": run.rsplit("_", 1)[0]} for run in ("sg_digits_b50", "sg_randman_b50")}
    lines = ablation_lines({"sg_digits_b50": rows, "sg_randman_b50": rows[:3]}, budgets)
    body = [line.split(" | ")[:2] for line in lines if line.startswith("| sg_")]
    assert body == [["| sg_digits_b50", m] for m in (shipped, f"{shipped}-no-detector", f"{shipped}-dropped")]
    assert "| never | 0.700 |" in lines[-1]
    assert ablation_lines({"sg_randman_b50": rows[:3]}, budgets) == []
    traces = {m["method"]: [] for m in rows}
    assert list(plotted(traces, shipped)) == ["random", shipped, f"{shipped}-no-detector", f"{shipped}-dropped",
                                              "optuna-tpe"]


def test_the_quarter_table_lists_random_search_the_shipped_method_and_the_peers_with_the_rate_needed(monkeypatch):
    """One line per method of the reach comparison (a variant stays out), its needed per-trial rate
    ``1 - 0.5 ** (1 / m)`` for the ``m`` trials in its quarter."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from snn_hpo import quarter_lines

    shipped = SHIPPED["silent_sg"][0]
    odds = {"quarter_hit": 0.25, "design_hit": 0.015, "trial_hit": 0.018}
    rows = [{"method": m, "quarter_trials": n, **odds} for m, n in
            (("random", 11.0), (shipped, 6.0), (f"{shipped}-lr", 6.0), ("optuna-tpe", 1.0))]
    lines = quarter_lines({"sg_digits_b50": rows}, {"sg_digits_b50": {"problem": "sg_digits"}})
    body = [line for line in lines if line.startswith("| sg_digits_b50")]
    assert [line.split(" | ")[1] for line in body] == ["random", shipped, "optuna-tpe"]
    assert body[1] == f"| sg_digits_b50 | {shipped} | 6 | 25% | 10.9% / 1.5% / 1.8% |"
    assert body[2].endswith("| 1 | 25% | 50.0% / 1.5% / 1.8% |")


def test_a_peer_studies_summary_is_reported_for_the_problem_its_name_gives(monkeypatch, tmp_path):
    """``snn_real_peer_studies_<problem>.csv`` is that problem's section (its command, its trials),
    the name without a problem the demo problem's; each peer is set against the preset on the rows
    of random search's anchor, with the peer's medians first."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from results_io import write_csv
    from snn_hpo import peer_study_lines, problem_of

    shipped = SHIPPED["silent_sg"][0]
    rows = [{"optimizer": name, "seed": seed, "trials": 100, "compute_s": 100.0, "best_100": best + seed / 100,
             "best_final": best + 0.01, "reach_ratio": 0.5, "silent_design": 0.5, "silent_model": 0.1,
             "anchor_s": 100.0}
            for name, best in (("random", 0.80), (shipped, 0.95), ("optuna-tpe", 0.90)) for seed in range(3)]
    write_csv(tmp_path / "snn_real_peer_studies_sg_randman.csv", rows)
    lines = peer_study_lines(tmp_path / "snn_real_peer_studies_sg_randman.csv")
    assert lines[1] == "### Real studies against the peers (sg_randman from scratch, one machine, one day)"
    assert f"--problem sg_randman --trials 100 --optimizers random {shipped} optuna-tpe" in lines[3]
    assert lines[-1] == "| optuna-tpe | 3 | 0.910 / 0.960 (p=0.10) | 0.910 / 0.960 (p=0.05) | 0.50 / 0.50 |"
    assert problem_of(tmp_path / "snn_real_peer_studies.csv", "snn_real_peer_studies") == "sg_digits"
    assert problem_of(tmp_path / "snn_real_studies_stdp_digits.csv", "snn_real_studies") == "stdp_digits"


def test_run_summaries_summarise_each_run_folder_with_random_search(monkeypatch, tmp_path):
    """One summary per run folder that holds random search, written where the template says (a
    path with ``{run}``); a folder without random search has no anchor and is left out."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from results_io import read_csv, write_csv
    from snn_hpo import run_summaries

    shipped = SHIPPED["silent_sg"][0]
    for run_name, methods in (("sg_digits_b50", ("random", shipped)), ("sg_randman_b50", (shipped,))):
        (tmp_path / run_name).mkdir()
        (tmp_path / run_name / "budget.json").write_text(json.dumps({"budget_s": 10.0, "budget_trials": 50,
                                                                "problem": run_name.rsplit("_", 1)[0]}))
        for method in methods:
            rows = [{"method": method, "seed": seed, "trial": t, "compute_s": 2.0 * (t + 1), "status": "complete",
                     "accuracy": 0.1 * (t + 1) + 0.1 * seed, "feasible": True, "phase": "initial", "ask_s": 0.0}
                    for seed in (0, 1) for t in range(5)]  # fmt: skip
            write_csv(tmp_path / run_name / f"{method}.csv", rows)
    summaries, budgets = run_summaries(tmp_path, ["sg_digits", "sg_randman"], tmp_path / "summary_{run}.csv",
                                       plots=False)  # fmt: skip
    assert list(summaries) == list(budgets) == ["sg_digits_b50"]
    assert [r["method"] for r in read_csv(tmp_path / "summary_sg_digits_b50.csv")] == ["random", shipped]


def test_target_verdicts_follow_the_numbers():
    rows = [_summary("random", 1.0, 0.40, 0.70), _summary("ours", 0.25, 0.90, 0.20),
            _summary("optuna-tpe", 0.35, 0.85, 0.30), _summary("optuna-gp", 0.2, 0.95, 0.05)]
    verdicts = surrogate_verdicts(rows, "ours", ["optuna-tpe", "botorch-scbo"])
    assert verdicts == {"reach": "0.25 (met; design 0.10)", "best": "0.900 vs optuna-tpe 0.850 (met)",
                        "silent": "20% vs random 70% (met)"}
    worse = surrogate_verdicts([*rows[:1], _summary("ours", 0.26, 0.90, 0.21, 0.2), *rows[2:]], "ours", ["optuna-gp"])
    assert worse == {"reach": "0.26 (missed; design 0.20)", "best": "0.900 vs optuna-gp 0.950 (missed)",
                     "silent": "21% vs random 70% (missed)"}
    compared = [*rows[:3], {**rows[3], "vs_best_p": 0.27}]  # summarised against "ours"
    assert surrogate_verdicts(compared, "ours", ["optuna-gp"])["best"] == "0.900 vs optuna-gp 0.950 (missed; p=0.27)"
    assert surrogate_verdicts(rows, "absent", []) is None
    assert surrogate_verdicts(rows, "ours", [])["best"] == "0.900 (no peer run)"
    assert "not applicable" in surrogate_verdicts([_summary("random", 1.0, 0.4, 0.5), rows[1]], "ours", [])["silent"]
    real = [{"optimizer": "ours", "reach_ratio": r, "silent_model": s, "best_100": b, "design_ratio": d}
            for r, s, b, d in ((0.2, 0.0, 0.9, 0.1), (math.inf, 0.3, 0.5, 0.3), (0.1, 0.0, 0.95, "nan"))]
    # the design's median over the rows that keep it (the third, older row does not)
    assert real_verdicts(real, "ours") == {"seeds": "3", "reach": "0.20 (met; design 0.20)", "best": "0.900",
                                           "silent": "10% (met)"}
    assert real_verdicts([{**r, "design_ratio": "nan"} for r in real], "ours")["reach"] == "0.20 (met)"
    assert real_verdicts(real[1:2], "ours")["reach"] == "never (missed; design 0.30)" and real_verdicts(real, "other") is None
    # Rows summarised against another random-search anchor than the random rows' are not judged.
    anchored = [{**r, "anchor_s": a} for r, a in zip(real, ("25.0", "78.9", "25.0"))]
    random_rows = [{"optimizer": "random", "reach_ratio": 1.0, "silent_model": 0.7, "best_100": 0.8,
                    "anchor_s": "25.0"}]
    assert real_verdicts(anchored + random_rows, "ours")["seeds"] == "2"
    assert real_verdicts(anchored, "ours")["seeds"] == "3"  # no random rows on file: nothing to hold them to


def test_real_medians_summarise_each_optimizer_over_the_studies_of_the_current_anchor():
    def study(name: str, reach: float, best: float, anchor: str, cpu: str = "10") -> dict:
        return {"optimizer": name, "compute_s": 50.0, "reach_ratio": reach, "best_100": best, "best_final": best + 0.01,
                "silent_design": 0.5, "silent_model": 0.1, "reach_wall_ratio": reach + 0.1, "driver_cpu_s": cpu,
                "anchor_s": anchor}  # fmt: skip

    rows = [study("random", 1.0, 0.80, "25.0", "0.5"), study("random", math.inf, 0.70, "25.0", "0.5"),
            study("random", 0.5, 0.90, "25.0", "0.5"),
            study("ours", 0.2, 0.90, "25.0"), study("ours", 0.4, 0.92, "25.0", "nan"),
            study("ours", 0.1, 0.99, "79.0"),  # measured against an earlier random search: left out
            study("old", 0.1, 0.99, "79.0")]
    medians = {m["optimizer"]: m for m in real_medians(rows)}
    assert set(medians) == {"random", "ours"}
    ours = medians["ours"]
    assert ours["seeds"] == 2 and ours["reach"] == pytest.approx(0.3) and ours["best_100"] == pytest.approx(0.91)
    assert (ours["reach_q25"], ours["reach_q75"]) == pytest.approx((0.25, 0.35))
    assert ours["driver_cpu_s"] == 10.0  # a study from before the driver's CPU was kept does not count as 0
    assert medians["random"]["reach"] == 1.0 and medians["random"]["reach_q75"] == math.inf  # a seed that never got there


def test_a_missing_peer_library_names_the_install_command_and_the_run_goes_on_without_that_peer(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import snn_peers
    from snn_hpo import planned_methods

    # this interpreter imports numpy but not the module standing in for Optuna
    monkeypatch.setattr(snn_peers, "_MODULES", {"optuna-tpe": ("jaxsnn_no_such_module",), "optuna-gp": ("numpy",),
                                                "botorch-scbo": ("numpy",)})  # fmt: skip
    peers = snn_peers.available_peers(sys.executable)
    assert peers["optuna-gp"] is None and peers["botorch-scbo"] is None
    assert "cannot import jaxsnn_no_such_module" in peers["optuna-tpe"]
    assert snn_peers.PEERS_INSTALL in peers["optuna-tpe"]
    assert "cannot run" in snn_peers.available_peers("/nonexistent/python")["optuna-gp"]
    planned = planned_methods(["random", "optuna-tpe", "optuna-gp", "optuna-tpe+default", "random+default"], peers)
    assert planned == [("random", False), ("optuna-gp", True), ("random+default", False)]
    everything = planned_methods(None, peers)
    assert ("optuna-tpe", True) not in everything and ("botorch-scbo", True) in everything
    assert len([m for m, peer in everything if not peer]) > 10  # every method of ours still runs


def test_the_benchmark_charges_live_costs_and_never_mixes_two_cost_models_or_noises(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from snn_hpo import TABLES, same_budget, table

    live = read_live(TABLES / "sg_digits.live.csv.gz")
    charged = {r["index"]: r for r in table("sg_digits")}
    recorded = {r["index"]: r for r in read_rows(TABLES / "sg_digits.csv.gz")}
    stops = [(r["stop_time_s"], live[i]["cost_s"], recorded[i]["stop_time_s"])
             for i, r in charged.items() if r["stopped"]]
    assert all(charged_s == live_s for charged_s, live_s, _ in stops)
    assert np.median([c for c, *_ in stops]) < 0.25 * np.median([t for *_, t in stops])  # live, not the recorded run
    (tmp_path / "budget.json").write_text(json.dumps({"budget_s": 128.2}))
    same_budget(tmp_path, 128.2, 50)
    with pytest.raises(SystemExit, match="budget of 128.2 s; the table now charges 28.4 s"):
        same_budget(tmp_path, 28.4, 50)
    with pytest.raises(SystemExit, match="trial noise 0.000; the surrogate now draws 1.400"):
        same_budget(tmp_path, 128.2, 50, noise=1.4)  # calibrated traces never join plain ones
    (tmp_path / "budget.json").write_text(json.dumps({"budget_s": 128.2, "noise": 1.4}))
    same_budget(tmp_path, 128.2, 50, noise=1.4)


def test_the_real_studies_budget_never_pools_random_studies_with_rows_of_an_earlier_report(monkeypatch):
    """A kept summary row holds random search's best at the budget of the report that wrote it: the
    budget comes from the studies on disk or, with none there, from the rows, and a mix refuses
    (pooling would compare every study at a budget that leaves seeds out without saying so)."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from snn_real_studies import random_budget

    # traces: (compute, accuracy, silent, design, wall) per trial
    fast = [(10.0, 0.5, False, True, 5.0), (30.0, 0.8, False, False, 15.0)]
    slow = [(20.0, 0.6, False, True, 9.0), (50.0, 0.9, False, False, 25.0), (90.0, 0.95, False, False, 45.0)]
    mid = [(15.0, 0.7, False, True, 7.0), (70.0, 0.85, False, False, 35.0)]
    # median compute 70 s; at 70 s the three bests are 0.8, 0.9, 0.85
    assert random_budget([fast, slow, mid], []) == (70.0, 0.85)
    rows = [{"seed": "3", "compute_s": "100", "best_100": "0.9"}, {"seed": "4", "compute_s": "60", "best_100": "0.7"}]
    assert random_budget([], rows) == (80.0, 0.8)
    with pytest.raises(ValueError, match=r"seeds \[3, 4\] are only summary rows"):
        random_budget([fast], rows)
    with pytest.raises(ValueError, match="run --optimizers random first"):
        random_budget([], [])


def test_a_real_study_name_runs_what_its_rows_ran_across_the_screen_prior(monkeypatch):
    """The real studies' names spell their options out: the preset's method composes to the optimizer
    the preset ships (its screen prior included), and every name recorded before the prior runs
    without it even though the preset now names one (``hpo.screen_prior=null``)."""
    from hydra import compose, initialize_config_dir

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from snn_real_studies import VARIANTS, problem_overrides, study_overrides

    def built(overrides: list[str]):
        with initialize_config_dir(config_dir=str(Path(__file__).resolve().parents[1] / "conf"), version_base="1.3"):
            hpo = OmegaConf.to_container(compose("hpo", [*problem_overrides("sg_digits"), *overrides]).hpo)
        spec = {k: v for k, v in hpo.items() if k not in ("cluster", "study", "progress", "compilation_cache")}
        plan = prepare(spec)
        return make_optimizer(spec["optimizer"], plan.space, dict(spec["objectives"]), list(spec["constraints"]),
                              seed=spec["seed"], **plan.options)  # fmt: skip

    shipped = built([])
    assert shipped.prior_signs is not None
    assert _settings(built(VARIANTS[SHIPPED["silent_sg"][1]])) == _settings(shipped)
    before = built(VARIANTS["scbo-drive-screen-n6-guard05"])
    assert before.prior_signs is None and _settings(before) == {**_settings(shipped), "prior": None}
    assert built(VARIANTS["scbo-nodrive"]).prior_signs is None  # no features: a prior would be refused
    learning_rate_first = built(VARIANTS["scbo-drive-screen-n6-guard05-prior-lr"])  # nested overrides, dotted
    assert shipped.design_prior is None and learning_rate_first.design_prior.names == ["log_lr"]
    assert learning_rate_first.design_prior(np.eye(shipped.space.dim))[:, -1].round(6).tolist() == \
        LogProductFeatures(shipped.space, LEARNING_RATE_PRIOR)(np.eye(shipped.space.dim))[:, -1].round(6).tolist()
    assert _settings(learning_rate_first) == _settings(shipped)
    # without the detector: the preset's optimizer, its trials watched by a rule that never stops them
    with initialize_config_dir(config_dir=str(Path(__file__).resolve().parents[1] / "conf"), version_base="1.3"):
        unwatched = compose("hpo", study_overrides("scbo-drive-screen-n6-guard05-prior-no-detector", "sg_digits"))
    assert OmegaConf.to_container(unwatched.hpo.evaluation.silent) == {"k": 1, "p": 0.3, "update_interval": 100,
                                                                       "grace": 1000000000}
    assert _settings(built(VARIANTS["scbo-drive-screen-n6-guard05-prior-no-detector"])) == _settings(shipped)
    # with a grace: the paper's rule judged on the last interval once 1,000 samples are in
    with initialize_config_dir(config_dir=str(Path(__file__).resolve().parents[1] / "conf"), version_base="1.3"):
        graced = compose("hpo", study_overrides("scbo-drive-screen-n6-guard05-prior-grace", "sg_digits"))
    (detector,) = validate({"silent": OmegaConf.to_container(graced.hpo.evaluation.silent)}).stoppers
    assert (detector.k, detector.p, detector.update_interval, detector.window, detector.grace) == (1, 0.3, 100,
                                                                                                   "interval", 1000)
    assert _settings(built(VARIANTS["scbo-drive-screen-n6-guard05-prior-grace"])) == _settings(shipped)


_FAKE_PEER = """#!{python}
import json, sys
spec = json.loads(sys.stdin.readline())
told, asked = [], 0
for line in sys.stdin:
    msg = json.loads(line)
    if msg["cmd"] == "close":
        break
    if msg["cmd"] == "ask":
        asked += 1
        reply = {{"id": 100 + asked, "params": {{"x": asked / 10}}}}
    else:
        told.append([msg["id"], msg["status"], msg["accuracy"]])
        reply = {{"ok": True}}
    print(json.dumps(reply), flush=True)
open(sys.argv[1].replace("snn_peers.py", "told.json"), "w").write(json.dumps(told))
"""


def test_a_peer_is_told_its_trials_in_the_order_they_finish(tmp_path, monkeypatch):
    """Two workers finish trials out of order: each record reaches the peer under the id the peer
    gave the trial it proposed (an Optuna study keeps several trials running), and a record the
    peer never proposed is refused, not told as another trial."""
    from jaxsnn.hpo.space import FloatParam, Space
    from jaxsnn.record import EvaluationRecord

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import snn_peers

    worker = tmp_path / "peer_python"  # stands in for the peers' interpreter: it speaks the protocol
    worker.write_text(_FAKE_PEER.format(python=sys.executable))
    worker.chmod(0o755)
    monkeypatch.setattr(snn_peers, "__file__", str(tmp_path / "snn_peers.py"))  # where it writes what it was told
    space = Space([FloatParam("x", 0.0, 1.0)])
    with snn_peers.PeerOptimizer(str(worker), "optuna-tpe", space, seed=0, n_initial=2) as peer:
        first, second = peer.ask(), peer.ask()
        peer.tell(EvaluationRecord(second, {"accuracy": 0.5}, {"silent": -0.1}))
        with pytest.raises(ValueError, match="did not propose"):
            peer.tell(EvaluationRecord({"x": 0.7}, {"accuracy": 0.9}, {"silent": -0.1}))
        peer.tell(EvaluationRecord(first, {}, {}, status="failed", error="worker lost"))
    assert (first, second) == ({"x": 0.1}, {"x": 0.2})
    assert json.loads((tmp_path / "told.json").read_text()) == [[102, "complete", 0.5], [101, "failed", None]]
