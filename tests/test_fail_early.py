"""A study spec is checked whole before anything is created or started (issue 15): every mistake
a new user makes is named under its ``hpo.`` key, and a run that measured nothing exits non-zero."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from entry_points import run_script
from fixtures_data import write_shd
from omegaconf import OmegaConf

import jaxsnn.hpo.executor_registry
from jaxsnn.hpo.features import INPUT_DRIVE
from jaxsnn.hpo.study import Study
from jaxsnn.record import EvaluationRecord
from jaxsnn.tuning.spaces import dotted
from jaxsnn.tuning.study_spec import SpecError, prepare

REPO = Path(__file__).resolve().parents[1]


def preset(name: str = "silent_sg") -> dict:
    return OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "hpo" / f"{name}.yaml"))


def with_data(spec: dict, **data) -> dict:
    """``spec`` whose trials read ``data`` (``run.data``'s fields)."""
    return {**spec, "run": {**spec["run"], "data": {**spec["run"].get("data", {}), **data}}}


def write_tiny_shd(root: Path, n_train: int = 8, n_test: int = 4) -> Path:
    """SHD-format files of random 30-spike recordings (20 classes, 700 channels)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        times = [np.sort(rng.uniform(0.0, 1.0, 30)) for _ in range(n)]
        units = [rng.integers(0, 700, 30) for _ in range(n)]
        write_shd(root, split, times, units, list(rng.integers(0, 20, n)))
    return root


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"optimizer": "nope"}, "hpo.optimizer: unknown optimizer 'nope'"),
        ({"options": {"n_initail": 3}}, "hpo.optimizer: unknown options ['n_initail']"),
        ({"n_trials": -3}, "hpo.n_trials: must be a positive integer, got -3"),
        ({"n_workers": 0}, "hpo.n_workers: must be a positive integer, got 0"),
        ({"timeout_s": 0}, "hpo.timeout_s: must be a positive number or null, got 0"),
        ({"seed": "abc"}, "hpo.seed: must be an integer, got 'abc'"),
        ({"executor": "mpi"}, "hpo.executor: must be one of"),
        ({"constraints": ["silent", "foo"]}, "hpo.constraints: ['foo'] not recorded by this evaluation"),
        ({"constraints": []}, "hpo.constraints: the evaluation records ['silent']"),
        ({"objectives": {"acc": "max"}}, "hpo.objectives: ['acc'] not recorded by algorithm 'sg'"),
        ({"objectives": {"accuracy": "up"}}, "hpo.objectives: must map objective names to 'max' or 'min'"),
        ({"bounds": {"surrogate.gamma": [-1.0, 2.0]}}, "hpo.bounds.surrogate.gamma: bad evaluate() config: surrogate gamma must be > 0.0"),
        ({"bounds": {"trainer.epochs": [-2, 3]}, "enqueue": []}, "hpo.bounds.trainer.epochs: bad evaluate() config: trainer.epochs"),
        ({"bounds": {"trainer.epochs": 3}}, "hpo.bounds.trainer.epochs: must be [low, high], got 3"),
        ({"exclude": ["gama"]}, "hpo.bounds / hpo.exclude / hpo.add: cannot narrow or exclude unknown sg parameter(s) ['gama']"),
        ({"enqueue": [{"model.hidden.width": 4}]}, "hpo.enqueue[0]: invalid params"),
        ({"add": {"trainer.weight_decy": {"type": "float", "low": 0.0, "high": 0.1}}},
         "hpo.add.trainer.weight_decy: bad evaluate() config: trainer has no field(s) ['weight_decy']"),
        ({"add": {"trainer.weight_decay": {"type": "float", "low": 0.0, "high": 0.1}}},
         "hpo.add.trainer.weight_decay: bad evaluate() config: trainer.weight_decay=0.1 needs optimizer=adamw"),
        ({"add": {"trainer.lr": {"type": "float", "low": 1e-3, "high": 1e-2}}},
         "hpo.bounds / hpo.exclude / hpo.add: trainer.lr is searched already"),
        ({"add": {"trainer": {"grad_clip": {"type": "float", "low": 1.0}}}},
         "hpo.bounds / hpo.exclude / hpo.add: trainer.grad_clip: "),
        ({"add": {"data.seed": {"type": "int", "low": 0, "high": 3}}}, "unknown sg hyperparameter(s) ['data.seed']"),
        ({"evaluation": {"silent": "nope"}}, "hpo.evaluation: bad evaluate() config: unknown silent preset"),
        ({"run": {"trainer": {"lrr": 0.1}}}, "hpo.run: unknown trainer option(s) ['lrr']"),
        ({"run": {"algorithm": "snntorch"}}, "hpo.run: algorithm must be one of"),
        ({"evaluation": {"dataset": "shd", "silent": "dvs_slayer"}}, "hpo.evaluation.dataset is now hpo.run.data.name"),
        ({"trainer": "sg"}, "hpo.trainer is now hpo.run.algorithm"),
    ],
)  # fmt: skip
def test_each_spec_mistake_is_named_under_its_key(change, expected):
    with pytest.raises(SpecError) as error:
        prepare({**preset(), **change})
    assert expected in str(error.value)


def test_all_problems_are_listed_at_once():
    spec = {**preset(), "optimizer": "nope", "constraints": ["foo", "silent"],
            "bounds": {"surrogate.gamma": [-1.0, 2.0]}}  # fmt: skip
    with pytest.raises(SpecError) as error:
        prepare(spec)
    assert [line.split(":")[0] for line in str(error.value).splitlines()[1:]] == [
        "  - hpo.constraints", "  - hpo.bounds.surrogate.gamma", "  - hpo.optimizer"]  # fmt: skip


def test_the_presets_pass():
    for name in ("silent_sg", "silent_stdp", "slayer_moo", "hybrid_moo"):
        assert prepare(preset(name)).notes == ()


def test_a_missing_or_unreadable_dataset_is_found_before_the_study_starts(tmp_path):
    with pytest.raises(SpecError, match=r"hpo.run.data.root: shd train data not found: expected .*shd_train.h5"):
        prepare(with_data(preset(), name="shd", root=str(tmp_path)))
    write_tiny_shd(tmp_path)
    (tmp_path / "SHD" / "shd_train.h5").write_bytes(b"")  # an interrupted download
    with pytest.raises(SpecError, match=r"hpo.run.data.root: cannot read shd data"):
        prepare(with_data(preset(), name="shd", root=str(tmp_path)))
    with pytest.raises(SpecError, match=r"hpo.run.data.root: MNIST file .*train-images-idx3-ubyte.* not found"):
        prepare(with_data(preset("silent_stdp"), name="mnist", root=str(tmp_path)))


def test_an_event_dataset_leaves_the_rate_code_out_of_the_space(tmp_path):
    """Issue 14: ``data.options.max_rate`` sets the rate code's ``max_rate``, which SHD does not have; the
    space leaves it out (with a note) and so do the preset's enqueued point, instead of every
    trial failing on it."""
    spec = with_data(preset(), name="shd", root=str(write_tiny_shd(tmp_path)))
    plan = prepare(spec)
    rate = "data.options.max_rate"
    assert rate not in plan.space.names and rate in prepare(preset()).space.names
    assert plan.notes == ("note: data.options.max_rate left out of the search: dataset 'shd' has no rate coding",)
    (point,) = plan.enqueue
    assert rate not in point and point["model.hidden.width"] == 128
    plan.objective.check(point)  # the point builds a valid trial now
    with pytest.raises(SpecError, match=r"hpo.bounds: \['data\.options\.max_rate'\] do not apply to dataset 'shd'"):
        prepare({**spec, "bounds": {**dotted(spec["bounds"]), rate: [0.1, 0.5]}})


def test_a_mistake_stops_the_entry_point_before_the_study_file_or_a_worker(tmp_path, monkeypatch):
    def no_workers(*args, **kwargs):
        raise AssertionError("a worker was started")

    monkeypatch.setattr(jaxsnn.hpo.executor_registry, "make_executor", no_workers)
    for override in ("hpo.optimizer=nope", "hpo.n_trials=-3", "hpo.timeout_s=0", "hpo.seed=abc",
                     "hpo.constraints=[foo]", "hpo.bounds.trainer.epochs=[-1,3]"):  # fmt: skip
        with pytest.raises(SpecError, match=override.split("=")[0].replace("[", r"\[")):
            run_script("hpo.py", f"hydra.run.dir={tmp_path}", "compilation_cache=null", override)
        assert not list(tmp_path.glob("*.sqlite*")), override


def test_a_run_whose_every_trial_failed_exits_non_zero_with_the_distinct_errors(tmp_path):
    """The study is complete already (3 failed trials): the entry point resumes it from its path,
    runs nothing, and exits 1 naming each distinct error once with its count; the file stays."""
    spec = {**preset(), "n_trials": 3, "executor": "thread", "enqueue": []}
    plan = prepare(spec)
    path = tmp_path / "study.sqlite"
    with Study.create(path, plan.space, spec["objectives"], spec["constraints"], optimizer=spec["optimizer"],
                      options=plan.options, config=spec) as study:  # as experiments/hpo.py creates it
        for i, error in enumerate(["ValueError: boom", "ValueError: boom", "timeout after 240s"]):
            params = plan.space.sample(np.random.default_rng(i), 1)[0]
            study.finish_trial(study.start_trial(params), EvaluationRecord.failure(params, error))
    with pytest.raises(SystemExit) as exit_:
        run_script("hpo.py", f"study={path}", f"hydra.run.dir={tmp_path}", "progress=false", "compilation_cache=null")
    assert str(exit_.value) == f"every trial of study {path} failed (3):\n  2 x ValueError: boom\n  1 x timeout after 240s"
    with Study.open(path) as study:
        assert study.counts()["failed"] == 3


def test_the_presets_gp_features_reach_scbo_and_other_optimizers_run_without_them():
    """silent_sg names the input drive once: SCBO and log-EI get it as an option (stored with the
    study; SCBO's GP input, both optimizers' screens), random search runs the same preset with a
    note; a feature the space cannot build is refused under its key."""
    spec = preset()
    assert spec["optimizer"] == "scbo"
    plan = prepare(spec)
    assert plan.options["features"] == {
        "log_drive": {"model.weight_scale": 1, "data.options.max_rate": 1, "model.neuron.theta": -1}} == INPUT_DRIVE
    assert plan.notes == ()
    plan = prepare({**spec, "optimizer": "logei"})
    assert plan.options["features"] == INPUT_DRIVE and plan.notes == ()
    plan = prepare({**spec, "optimizer": "random"})
    assert "features" not in plan.options
    assert plan.notes == ("note: hpo.features (log_drive) are inputs of logei and scbo only; random searches without them",)
    with pytest.raises(SpecError, match="features: .*'model.readout' must be a numeric parameter"):
        prepare({**spec, "features": {"bad": {"model.readout": 1}}})
    # A name the trainer lacks would silently drop out of the product (as an excluded one does):
    # refused, whether misspelled or in the flat vocabulary of before the run-config paths.
    for powers in ({"model": {"weight_scale": 1, "neuron": {"thetaa": -1}}}, {"weight_scale": 1, "theta": -1}):
        with pytest.raises(SpecError, match=r"hpo\.features\.log_drive: unknown sg parameter"):
            prepare({**spec, "features": {"log_drive": powers}})


def test_a_screen_prior_travels_with_the_features_and_is_checked_before_any_trial():
    """``hpo.screen_prior`` reaches the optimizers that screen on the features, with them; random
    search runs without either (one note); a prior without features, or one the optimizer refuses,
    fails the study before its first trial, under its key."""
    spec = {**preset(), "screen_prior": {"log_drive": 1}}
    for optimizer in ("scbo", "logei"):
        plan = prepare({**spec, "optimizer": optimizer})
        assert plan.options["screen_prior"] == {"log_drive": 1} and plan.options["features"] == INPUT_DRIVE
    plan = prepare({**spec, "optimizer": "random"})
    assert "screen_prior" not in plan.options and len(plan.notes) == 1
    with pytest.raises(SpecError, match=r"hpo\.screen_prior: needs hpo\.features"):
        prepare({**spec, "features": None})
    with pytest.raises(SpecError, match=r"hpo\.optimizer: .*screen_prior names 'drive', not a feature"):
        prepare({**spec, "screen_prior": {"drive": 1}})


def test_a_design_prior_reaches_every_model_with_a_design_and_is_checked_before_any_trial():
    """``hpo.design_prior`` (nested paths, as a preset writes them) reaches log-EI and SCBO dotted;
    random search runs without it (one note); a parameter the trainer lacks, or a prior that
    names none of the study's, fails the study before its first trial, under its key."""
    spec = {**preset(), "design_prior": {"log_lr": {"trainer": {"lr": 1}}}}
    for optimizer in ("scbo", "logei"):
        assert prepare({**spec, "optimizer": optimizer}).options["design_prior"] == {"log_lr": {"trainer.lr": 1}}
    plan = prepare({**spec, "optimizer": "random"})
    assert "design_prior" not in plan.options and any("hpo.design_prior (log_lr)" in n for n in plan.notes)
    with pytest.raises(SpecError, match=r"hpo\.design_prior\.log_lr: unknown sg parameter\(s\) \['trainer.lrr'\]"):
        prepare({**spec, "design_prior": {"log_lr": {"trainer": {"lrr": 1}}}})
    with pytest.raises(SpecError, match=r"hpo\.optimizer: design_prior names no parameter of the space"):
        prepare({**spec, "design_prior": {"log_lr": {"trainer": {"lr": 1}}}, "exclude": ["trainer.lr"]})
