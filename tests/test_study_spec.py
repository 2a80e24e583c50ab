"""A study stores its whole spec, so README's resume line, ``experiments/hpo.py study=<path>``,
resumes it as it was created; a command that would change it is refused (issue 15)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from entry_points import run_script
from omegaconf import OmegaConf
from test_fail_early import preset

import jaxsnn.hpo.loop
import jaxsnn.tuning.evaluate
from jaxsnn.hpo.study import Study
from jaxsnn.record import EvaluationRecord
from jaxsnn.tuning.spaces import dotted
from jaxsnn.tuning.study_spec import SpecError, prepare, resume_spec

README = Path(__file__).resolve().parents[1] / "README.md"


def created(path: Path, n_finished: int = 1) -> dict:
    """A study created as ``experiments/hpo.py hpo=silent_stdp hpo.optimizer=random hpo.seed=5
    hpo.n_trials=4 hpo.timeout_s=99 hpo.executor=thread`` would, with ``n_finished`` trials done;
    returns its spec. Nothing of it is the entry point's default preset (silent_sg)."""
    spec = {**preset("silent_stdp"), "optimizer": "random", "seed": 5, "n_trials": 4, "timeout_s": 99,
            "executor": "thread"}  # fmt: skip
    plan = prepare(spec)
    with Study.create(path, plan.space, spec["objectives"], spec["constraints"], optimizer=spec["optimizer"],
                      seed=spec["seed"], options=spec["options"], config=spec) as study:  # fmt: skip
        for i in range(n_finished):
            params = plan.space.sample(np.random.default_rng(i), 1)[0]
            record = EvaluationRecord(params, {"accuracy": 0.5, "train_accuracy": 0.5}, {"silent": -0.05})
            study.finish_trial(study.start_trial(params), record)
    return spec


@pytest.fixture
def runs(monkeypatch) -> list[dict]:
    """What ``experiments/hpo.py`` hands the loop, instead of running trials."""
    calls: list[dict] = []

    def run_study(study, objective, executor, n_trials, n_workers, timeout_s=None, progress=True, batch_trials=1):
        calls.append({"optimizer": study.optimizer_name, "seed": study.seed, "n_trials": n_trials,
                      "n_workers": n_workers, "timeout_s": timeout_s, "base": dict(objective.base)}
                     | ({"batch_trials": batch_trials} if batch_trials != 1 else {}))  # fmt: skip
        return study

    monkeypatch.setattr(jaxsnn.hpo.loop, "run_study", run_study)
    return calls


def test_the_readme_resume_line_resumes_the_study_from_its_path_alone(tmp_path, runs):
    resume = next(line for line in README.read_text().splitlines() if "# resume a killed study" in line)
    assert "experiments/hpo.py study=outputs/hpo/<run>/study.sqlite" in resume
    path = tmp_path / "run" / "study.sqlite"
    path.parent.mkdir()
    spec = created(path)
    run_script("hpo.py", f"study={path}", f"hydra.run.dir={tmp_path}", "progress=false", "compilation_cache=null")
    assert runs == [{"optimizer": "random", "seed": 5, "n_trials": 4, "n_workers": 2, "timeout_s": 99,
                     "base": {"run": spec["run"], **spec["evaluation"]}}]  # fmt: skip
    with Study.open(path) as study:
        assert study.config == spec and len(study.finished()) == 1
        assert study.pending()[0].params["stdp.n_neurons"] == 100  # the preset's enqueued default, queued once


@pytest.mark.filterwarnings("ignore:No artists with labels:UserWarning")  # the plots of a study with no trial
def test_the_entry_point_stores_the_spec_it_ran(tmp_path, runs):
    run_script("hpo.py", f"hydra.run.dir={tmp_path}", "progress=false", "compilation_cache=null", "hpo=silent_stdp",
               "hpo.seed=7", "hpo.bounds.stdp.epochs=[1,3]")  # fmt: skip
    with Study.open(tmp_path / "study.sqlite") as study:
        cluster = OmegaConf.to_container(OmegaConf.load(README.parent / "conf" / "hpo.yaml").hpo.cluster)  # every preset's
        bounds = preset("silent_stdp")["bounds"]
        assert study.config == {**preset("silent_stdp"), "seed": 7,
                                "bounds": {"stdp": {**bounds["stdp"], "epochs": [1, 3]}}, "cluster": cluster}  # fmt: skip


def test_overrides_that_keep_the_spec_or_set_how_the_driver_runs_are_accepted(tmp_path, runs):
    path = tmp_path / "study.sqlite"
    created(path)
    run_script("hpo.py", f"study={path}", f"hydra.run.dir={tmp_path}", "progress=false", "compilation_cache=null",
               "hpo.seed=5", "hpo=silent_stdp", "hpo.optimizer=random", "hpo.n_trials=4", "hpo.timeout_s=99",
               "hpo.executor=thread", "hpo.n_workers=1")  # fmt: skip
    assert [(r["optimizer"], r["n_trials"], r["n_workers"]) for r in runs] == [("random", 4, 1)]


@pytest.mark.filterwarnings("ignore:No artists with labels:UserWarning")  # the plots of a study with no trial
def test_batch_trials_reaches_the_loop_and_a_bad_value_is_refused_before_the_study_starts(tmp_path, runs):
    common = (f"hydra.run.dir={tmp_path}", "progress=false", "compilation_cache=null", "hpo.n_trials=4")
    with pytest.raises(SpecError, match="hpo.batch_trials: must be a positive integer, got 0"):
        run_script("hpo.py", *common, "hpo.batch_trials=0")
    assert not (tmp_path / "study.sqlite").exists() and runs == []
    run_script("hpo.py", *common, "hpo.batch_trials=4")
    assert [r.get("batch_trials") for r in runs] == [4]


def test_a_resume_may_give_the_study_more_trials(tmp_path, runs):
    path = tmp_path / "study.sqlite"
    created(path)
    run_script("hpo.py", f"study={path}", f"hydra.run.dir={tmp_path}", "progress=false", "compilation_cache=null",
               "hpo.n_trials=10")  # fmt: skip
    assert [(r["optimizer"], r["seed"], r["n_trials"]) for r in runs] == [("random", 5, 10)]


def test_overrides_that_change_the_spec_are_refused_listing_each_difference(tmp_path, runs):
    path = tmp_path / "study.sqlite"
    created(path)
    # '+': without hpo=<preset> the command composes the default preset (silent_sg), which has no stdp bounds
    with pytest.raises(SpecError) as error:
        run_script("hpo.py", f"study={path}", f"hydra.run.dir={tmp_path}", "compilation_cache=null",
                   "hpo.optimizer=logei", "+hpo.bounds.stdp.epochs=[1,3]", "hpo.n_workers=1")  # fmt: skip
    assert str(error.value).splitlines()[1:] == [
        "  - hpo.bounds.stdp.epochs: the study has [1, 2], this command gives [1, 3]",
        "  - hpo.optimizer: the study has 'random', this command gives 'logei'",
    ]
    assert runs == []


def test_a_preset_named_on_resume_is_compared_whole():
    stored = {**preset("silent_stdp"), "seed": 5}
    with pytest.raises(SpecError) as error:
        resume_spec(preset("silent_stdp"), ["hpo=silent_stdp"], stored)
    assert str(error.value).splitlines()[1:] == ["  - hpo.seed: the study has 5, this command gives 0"]
    command = {**preset(), "n_workers": 3}  # silent_sg: only the overridden key is taken from it
    assert resume_spec(command, ["hpo.n_workers=3", "progress=false", "study=x"], stored) == {**stored, "n_workers": 3}


def test_nested_and_dotted_bounds_and_points_of_a_preset_are_one_spec():
    """A preset may write its bounds and points nested (what Hydra makes of
    ``hpo.bounds.trainer.epochs``) or by dotted path: the study is the same."""
    (point,) = preset()["enqueue"]
    point = {**point, "trainer": {**point["trainer"], "epochs": 2}}
    spec = {**preset(), "bounds": {"trainer": {"epochs": [1, 2]}, "data": {"time_steps": [10, 30]}}, "enqueue": [point]}
    flat = {**spec, "bounds": {"trainer.epochs": [1, 2], "data.time_steps": [10, 30]}, "enqueue": [dotted(point)]}
    nested, by_path = prepare(spec), prepare(flat)
    assert nested.space == by_path.space and nested.enqueue == by_path.enqueue
    assert (nested.space["trainer.epochs"].low, nested.space["trainer.epochs"].high) == (1, 2)
    assert (nested.space["data.time_steps"].low, nested.space["data.time_steps"].high) == (10, 30)
    assert nested.enqueue == [flat["enqueue"][0]] and nested.enqueue[0]["trainer.epochs"] == 2


@pytest.mark.parametrize("dotted_first", [False, True])
def test_a_point_giving_a_path_both_nested_and_dotted_is_refused_naming_it(dotted_first):
    """Which of the two values would win is a silent guess: the spec is refused, whichever comes first."""
    (point,) = preset()["enqueue"]
    twice = {"trainer.epochs": 3, **point} if dotted_first else {**point, "trainer.epochs": 3}
    with pytest.raises(SpecError, match=r"hpo\.enqueue\[0\]: trainer\.epochs is given twice"):
        prepare({**preset(), "enqueue": [twice]})


def _old_stdp_spec() -> dict:
    """silent_stdp as stored before a trial was a run config plus overrides."""
    spec = {key: value for key, value in preset("silent_stdp").items() if key != "run"}
    return {**spec, "trainer": "stdp", "evaluation": {**spec["evaluation"], "dataset": "digits", "data_root": None}}


@pytest.mark.parametrize(("names", "spec", "message"), [
    (["epochs"], {**preset("silent_stdp"), "bounds": {"epochs": [1, 2]}, "enqueue": []},
     r"names its parameters as before they were run-config paths \(epochs"),
    (["stdp.epochs"], {**_old_stdp_spec(), "enqueue": []},
     r"created before a trial was a run config plus overrides \(hpo.trainer is now hpo.run.algorithm; "
     r"hpo.evaluation.dataset is now hpo.run.data.name; hpo.evaluation.data_root is now hpo.run.data.root\)"),
])  # fmt: skip
def test_a_study_of_an_older_vocabulary_is_refused_on_resume_and_kept(tmp_path, runs, names, spec, message):
    """A study file created before parameters were named by run-config paths (its space and points
    name ``epochs``, ``theta``), or before its trials were run configs (``hpo.trainer``,
    ``hpo.evaluation.dataset``), cannot be resumed: the entry point says so before anything runs
    and leaves the file as it was."""
    from jaxsnn.hpo.space import IntParam, Space

    path = tmp_path / "study.sqlite"
    (name,) = names
    with Study.create(path, Space([IntParam(name, 1, 2)]), spec["objectives"], spec["constraints"],
                      config=spec) as study:  # fmt: skip
        study.finish_trial(study.start_trial({name: 1}),
                           EvaluationRecord({name: 1}, {"accuracy": 0.5, "train_accuracy": 0.5}, {"silent": -0.1}))
    before = path.read_bytes()
    with pytest.raises(SpecError, match=message):
        run_script("hpo.py", f"study={path}", f"hydra.run.dir={tmp_path}", "progress=false", "compilation_cache=null")
    assert runs == [] and path.read_bytes() == before


def test_a_resume_giving_a_path_both_nested_and_dotted_is_refused_under_hpo():
    stored = preset("silent_stdp")
    command = {**stored, "bounds": {"stdp": {"epochs": [1, 2]}, "stdp.epochs": [1, 3]}}
    with pytest.raises(SpecError, match=r"hpo: bounds\.stdp\.epochs is given twice"):
        resume_spec(command, ["hpo.bounds.stdp.epochs=[1,2]"], stored)


def test_a_study_adds_any_field_of_the_run_config_to_its_space_and_its_trials_set_it():
    """``hpo.add`` searches a field the trainer's space leaves at its default, named by its path
    (here nested, as ``+hpo.add.trainer.weight_decay={type:float,...}`` writes it): the study's
    space holds it, a trial's config carries the drawn value, and the retrain command keeps it."""
    add = {"trainer": {"weight_decay": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True},
                       "optimizer": {"type": "categorical", "choices": ["adamw"]}},
           "model.readout_alpha": {"type": "float", "low": 0.5, "high": 0.95}}  # fmt: skip
    plan = prepare({**preset(), "add": add, "enqueue": []})  # an enqueued point must give added fields too
    assert plan.space.names[-3:] == ("trainer.weight_decay", "trainer.optimizer", "model.readout_alpha")
    point = plan.space.sample(np.random.default_rng(0), 1)[0]
    trial = jaxsnn.tuning.evaluate.validate({**plan.objective.base, "params": point})
    assert trial.run.trainer.weight_decay == point["trainer.weight_decay"] > 0
    assert (trial.run.trainer.optimizer, trial.run.model.readout_alpha) == ("adamw", point["model.readout_alpha"])
    command = plan.objective.retrain_command(point)
    assert f"trainer.weight_decay={point['trainer.weight_decay']}" in command and "trainer.optimizer=adamw" in command
    # An added parameter may be conditional on a searched categorical one: drawn only where it applies.
    rec_mean = {"type": "float", "low": -0.5, "high": 0.5, "condition": {"parent": "model.recurrent", "values": [True]}}
    plan = prepare({**preset(), "add": {"model.rec_mean": rec_mean}, "enqueue": []})
    for point in plan.space.sample(np.random.default_rng(1), 8):
        run = jaxsnn.tuning.evaluate.validate({**plan.objective.base, "params": point}).run
        assert ("model.rec_mean" in point) == point["model.recurrent"] == run.model.recurrent
        assert run.model.rec_mean == point.get("model.rec_mean", 0.0)
