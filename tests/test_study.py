"""Study files: creation and validation, durability, resume bookkeeping, concurrent writers."""

from __future__ import annotations

import math
import sqlite3

import pytest
from hpo_workers import CONSTRAINTS, OBJECTIVES, SPACE, quadratic, spawn

from jaxsnn.hpo.results import best_trial, pareto_trials, trial_rows
from jaxsnn.hpo.space import FloatParam, Space
from jaxsnn.hpo.study import SCHEMA_VERSION, Study, StudyError
from jaxsnn.record import EvaluationRecord


@pytest.fixture
def study(tmp_path):
    with Study.create(tmp_path / "s.db", SPACE, OBJECTIVES, CONSTRAINTS, optimizer="random", seed=3) as s:
        yield s


def finish(study: Study, params: dict, record: EvaluationRecord | None = None) -> int:
    trial_id = study.start_trial(params, worker="w")
    study.finish_trial(trial_id, record or quadratic(params))
    return trial_id


# --- create / open / validate -------------------------------------------------------------------
def test_create_then_open_restores_the_spec(tmp_path):
    path = tmp_path / "sub" / "s.db"
    Study.create(path, SPACE, {"acc": "max", "time": "min"}, ["silent"], optimizer="random", seed=7).close()
    with Study.open(path) as s:
        assert s.space == SPACE
        assert s.objectives == {"acc": "max", "time": "min"}
        assert s.constraints == ("silent",)
        assert (s.optimizer_name, s.seed, s.options) == ("random", 7, {})
        assert s.counts()["running"] == 0 and s.n_stored() == 0
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_create_refuses_to_overwrite_and_exist_ok_checks_the_spec(tmp_path):
    path = tmp_path / "s.db"
    Study.create(path, SPACE, OBJECTIVES, CONSTRAINTS).close()
    with pytest.raises(FileExistsError, match="Study.open"):
        Study.create(path, SPACE, OBJECTIVES, CONSTRAINTS)
    Study.create(path, SPACE, OBJECTIVES, CONSTRAINTS, exist_ok=True).close()
    other_space = Space([FloatParam("x", 0.0, 2.0)])
    with pytest.raises(StudyError, match="different space"):
        Study.create(path, other_space, OBJECTIVES, CONSTRAINTS, exist_ok=True)
    with pytest.raises(StudyError, match="different seed"):
        Study.create(path, SPACE, OBJECTIVES, CONSTRAINTS, seed=1, exist_ok=True)


@pytest.mark.parametrize(
    "objectives, constraints, options, match",
    [
        ({}, (), None, "non-empty dict"),
        ({"acc": "up"}, (), None, "'max' or 'min'"),
        ({"acc": "max"}, ("acc",), None, "unique"),
        ({"acc": "max"}, ("g", "g"), None, "unique"),
        ({"acc": "max"}, (), {"f": object()}, "JSON"),
    ],
)
def test_create_validates_the_spec(tmp_path, objectives, constraints, options, match):
    with pytest.raises(ValueError, match=match):
        Study.create(tmp_path / "s.db", SPACE, objectives, constraints, options=options)
    assert not (tmp_path / "s.db").exists()


def test_open_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no study file"):
        Study.open(tmp_path / "missing.db")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StudyError, match="not a jaxsnn study"):
        Study.open(garbage)
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(StudyError, match="not a jaxsnn study"):
        Study.open(foreign)


def test_open_rejects_another_schema_version(tmp_path):
    path = tmp_path / "s.db"
    Study.create(path, SPACE, OBJECTIVES, CONSTRAINTS).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StudyError, match=f"schema version {SCHEMA_VERSION + 1}"):
        Study.open(path)


# --- records --------------------------------------------------------------------------------------
def test_records_survive_reopening_in_completion_order(study):
    a = study.start_trial({"x": 0.1, "lr": 0.01}, worker="w0")
    b = study.start_trial({"x": 0.9, "lr": 0.01}, worker="w1")
    failed = EvaluationRecord.failure({"x": 0.9, "lr": 0.01}, "boom")
    study.finish_trial(b, failed)  # b finishes first
    study.finish_trial(a, quadratic({"x": 0.1, "lr": 0.01}))
    with Study.open(study.path) as again:
        trials = again.finished()
        assert [t.id for t in trials] == [b, a] and [t.seq for t in trials] == [1, 2]
        assert again.records() == [failed, quadratic({"x": 0.1, "lr": 0.01})]
        assert [t.status for t in trials] == ["failed", "complete"]
        assert trials[0].worker == "w1" and trials[0].duration_s >= 0


def test_nan_in_a_failed_record_round_trips(study):
    record = EvaluationRecord(
        params={"x": 0.1, "lr": 0.01}, objectives={"score": math.nan}, status="failed", error="nan loss"
    )
    finish(study, record.params, record)
    assert math.isnan(study.records()[0].objectives["score"])


def test_a_trial_is_finished_once(study):
    trial_id = finish(study, {"x": 0.1, "lr": 0.01})
    with pytest.raises(StudyError, match="not running"):
        study.finish_trial(trial_id, quadratic({"x": 0.1, "lr": 0.01}))
    with pytest.raises(StudyError, match="no trial 99"):
        study.finish_trial(99, quadratic({"x": 0.1, "lr": 0.01}))
    with pytest.raises(TypeError, match="EvaluationRecord"):
        study.finish_trial(trial_id, {"score": 1.0})


def test_start_trial_respects_the_limit(study):
    assert [study.start_trial({"x": 0.1, "lr": 0.01}, limit=2) for _ in range(3)][2] is None
    assert study.n_stored() == 2


# --- resume bookkeeping ---------------------------------------------------------------------------
def test_requeue_takes_only_trials_of_dead_processes(study):
    proc = spawn(f"start_one_trial_and_exit({str(study.path)!r})")
    assert proc.wait(timeout=60) == 0
    mine = study.start_trial({"x": 0.2, "lr": 0.01})
    (orphan,) = [t.id for t in study.running() if t.worker == "doomed"]
    assert study.requeue_running() == [orphan]
    assert [t.id for t in study.running()] == [mine]  # a live owner keeps its trial
    claimed = study.claim_pending(worker="again")
    assert (claimed.id, claimed.status, claimed.attempts, claimed.worker) == (orphan, "running", 2, "again")
    assert study.claim_pending() is None


def test_release_returns_own_running_trials_to_pending(study):
    a = study.start_trial({"x": 0.1, "lr": 0.01})
    b = finish(study, {"x": 0.2, "lr": 0.01})
    assert study.release([a, b]) == [a]
    assert [t.id for t in study.pending()] == [a]


def test_optimizer_is_rebuilt_by_replaying_the_records(study):
    for x in (0.1, 0.95, 0.4):
        finish(study, {"x": x, "lr": 0.01})
    optimizer = study.optimizer()
    assert optimizer.records == study.records()
    # Same seed, same records told: a rebuilt optimizer asks what the first one would have.
    assert optimizer.ask() == study.optimizer().ask()


# --- results --------------------------------------------------------------------------------------
def silent(x: float, score: float, violation: float) -> tuple[dict, EvaluationRecord]:
    """A silent-stopped trial at ``x`` whose score is whatever the test needs (often the best)."""
    params = {"x": x, "lr": 0.01}
    return params, EvaluationRecord(params, {"score": score}, {"silent": violation}, status="silent_stopped")


def test_best_ignores_infeasible_and_failed_trials(study):
    finish(study, {"x": 0.6, "lr": 0.01})
    finish(study, *silent(0.9, score=1.0, violation=0.1))  # the highest score, but infeasible
    finish(study, {"x": 0.31, "lr": 0.01}, EvaluationRecord.failure({"x": 0.31, "lr": 0.01}, "crash"))
    finish(study, {"x": 0.5, "lr": 0.01})
    assert best_trial(study).params["x"] == 0.5
    assert best_trial(study, feasible=False).params["x"] == 0.9  # informative, so it counts when asked
    assert study.counts()["silent_stopped"] == 1 and study.counts()["failed"] == 1


def test_best_and_pareto_front_with_two_objectives(tmp_path):
    with Study.create(tmp_path / "m.db", SPACE, {"acc": "max", "time": "min"}) as s:
        points = {0.1: (0.9, 5.0), 0.2: (0.8, 2.0), 0.3: (0.7, 3.0), 0.4: (0.95, 9.0)}
        for x, (acc, t) in points.items():
            params = {"x": x, "lr": 0.01}
            finish(s, params, EvaluationRecord(params, {"acc": acc, "time": t}))
        with pytest.raises(ValueError, match="several objectives"):
            best_trial(s)
        assert best_trial(s, "time").params["x"] == 0.2
        assert [t.params["x"] for t in pareto_trials(s)] == [0.1, 0.2, 0.4]  # 0.3 dominated by 0.2


def test_a_minimised_objective_ranks_smallest_first_everywhere(tmp_path):
    """The best trial, the ranked table and the progress bar's best read a direction through one
    rule (``jaxsnn.hpo.spec.signed``): with ``min`` all three pick the smallest feasible loss."""
    from jaxsnn.hpo.loop import _Progress
    from jaxsnn.hpo.report import ranked

    losses = {0.1: 0.5, 0.2: 0.2, 0.3: 0.9, 0.4: 0.05}  # x -> loss; x = 0.4 is infeasible below
    with Study.create(tmp_path / "m.db", SPACE, {"loss": "min"}, CONSTRAINTS) as s:
        progress = _Progress(s, len(losses), enabled=False)
        for x, loss in losses.items():
            params = {"x": x, "lr": 0.01}
            record = EvaluationRecord(params, {"loss": loss}, {"silent": 0.1 if x == 0.4 else -0.1})
            finish(s, params, record)
            progress.told(record)
        assert best_trial(s).params["x"] == 0.2
        assert [t.params["x"] for t in ranked(s)] == [0.2, 0.1, 0.3, 0.4]
        assert progress._best == {"loss": 0.2}


def test_trial_rows_are_one_flat_row_per_trial(study):
    finish(study, {"x": 0.1, "lr": 0.01})
    study.start_trial({"x": 0.2, "lr": 0.01})
    rows = trial_rows(study)
    assert [r["status"] for r in rows] == ["complete", "running"]
    assert rows[0]["param.x"] == 0.1 and rows[0]["score"] == pytest.approx(-0.04) and rows[0]["silent"] < 0
    assert math.isnan(rows[1]["score"])


# --- several processes ----------------------------------------------------------------------------
def test_two_processes_writing_at_once_lose_and_duplicate_nothing(study):
    n = 40
    procs = [spawn(f"hammer({str(study.path)!r}, {n})") for _ in range(2)]
    finish(study, {"x": 0.5, "lr": 0.01})  # and this process writes meanwhile too
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    trials = study.trials()
    assert [t.id for t in trials] == list(range(1, 2 * n + 2))
    assert sorted(t.seq for t in trials) == list(range(1, 2 * n + 2))
    assert all(t.status == "complete" for t in trials)
    assert len({t.worker for t in trials}) == 3


# --- report -----------------------------------------------------------------------------------------
def test_report_ranks_feasible_first_and_writes_the_plots(study, tmp_path):
    from rich.console import Console

    from jaxsnn.hpo.report import print_results, ranked, save_plots

    finish(study, *silent(0.9, score=1.0, violation=0.3))  # infeasible ones rank below every
    finish(study, {"x": 0.1, "lr": 0.01})  # feasible one whatever their score, and among
    finish(study, {"x": 0.35, "lr": 0.01})  # themselves by violation, not by score
    finish(study, *silent(0.85, score=0.5, violation=0.05))
    finish(study, {"x": 0.5, "lr": 0.01}, EvaluationRecord.failure({"x": 0.5, "lr": 0.01}, "boom"))
    assert [t.params["x"] for t in ranked(study)] == [0.35, 0.1, 0.85, 0.9, 0.5]
    console = Console(record=True, width=200)
    print_results(study, console=console)
    text = console.export_text()
    assert "5 finished, 2 silent, 1 failed" in text and "boom" in text
    written = save_plots(study, tmp_path / "plots")
    assert [p.name for p in written] == ["convergence.png", "feasibility.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)


def test_the_table_names_each_parameter_by_the_shortest_tail_of_its_path_that_no_other_shares():
    from jaxsnn.hpo.report import short_names
    from jaxsnn.tuning.spaces import search_space

    names = ("model.neuron.theta", "slayer.theta", "trainer.lr", "model.hidden.width", "data.options.max_rate",
             "surrogate.q", "q")  # fmt: skip
    assert short_names(names) == {
        "model.neuron.theta": "neuron.theta", "slayer.theta": "slayer.theta", "trainer.lr": "lr",
        "model.hidden.width": "width", "data.options.max_rate": "max_rate", "surrogate.q": "surrogate.q", "q": "q",
    }  # fmt: skip
    for trainer in ("sg", "stdp", "slayer", "hybrid"):  # every shipped space reads unambiguously
        short = short_names(search_space(trainer).names)
        assert len(set(short.values())) == len(short)


def test_report_draws_the_pareto_front_for_two_objectives(tmp_path):
    from jaxsnn.hpo.report import save_plots

    with Study.create(tmp_path / "m.db", SPACE, {"acc": "max", "time": "min"}) as s:
        for x in (0.1, 0.2, 0.3):
            params = {"x": x, "lr": 0.01}
            finish(s, params, EvaluationRecord(params, {"acc": x, "time": x * x}))
        assert [p.name for p in save_plots(s, tmp_path)] == ["convergence.png", "pareto.png"]


def test_concurrent_creation_yields_one_complete_study(tmp_path):
    import threading

    path = tmp_path / "s.db"
    studies, errors = [], []

    def create():
        try:
            studies.append(Study.create(path, SPACE, OBJECTIVES, CONSTRAINTS, exist_ok=True))
        except Exception as e:  # pragma: no cover - the assertion below reports it
            errors.append(e)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(studies) == 4
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))) == ["s.db"]


def test_enqueue_new_seeds_a_point_once(tmp_path):
    """A driver that starts again (resume) must not run its seeded default a second time."""
    space = Space([FloatParam("x", 0.0, 1.0)])
    with Study.create(tmp_path / "s.sqlite", space, {"f": "min"}) as study:
        first = study.enqueue_new({"x": 0.5})
        assert first is not None and study.enqueue_new({"x": 0.5}) is None
        assert study.enqueue_new({"x": 0.25}) not in (None, first)
        assert [t.params for t in study.trials()] == [{"x": 0.5}, {"x": 0.25}]
