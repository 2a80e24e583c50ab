"""A trial's params, pasted as overrides into experiments/train.py, retrain that exact trial."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from jaxsnn.train.schema import register, run_config
from jaxsnn.train.sg import train_sg
from jaxsnn.tuning.evaluate import TrialObjective, evaluate
from jaxsnn.tuning.spaces import search_space, sg_run, train_overrides

CONF = Path(__file__).resolve().parents[1] / "conf"


def train_run(overrides: list[str]):
    """What experiments/train.py builds from ``overrides`` (schema-checked, as its main does)."""
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return run_config(compose("train", overrides=overrides))


@pytest.mark.parametrize("seed", range(6))
def test_overrides_rebuild_the_trial_configs_of_any_point(seed):
    """Model (neuron and surrogate included), trainer and data of a random point of the full
    space: a field the overrides miss, or a name mapped to the wrong field, differs here."""
    point = search_space("sg").sample(np.random.default_rng(seed), 1)[0]
    evaluation = {"dataset": "randman", "data_seed": 2, "seed": 5, "backend": "xla"}
    run = train_run(train_overrides(point, evaluation))
    expected = sg_run(point, backend="xla")
    assert run.model == expected.model
    assert run.trainer == expected.trainer
    assert (run.data.name, run.data.time_steps, run.data.seed, run.seed) == ("randman", expected.time_steps, 2, 5)
    assert {k: run.data.options[k] for k in expected.data_options} == expected.data_options


def test_pasted_overrides_retrain_the_same_accuracy():
    """The round trip on a real trial: evaluate() and train.py's path give the same network."""
    point = {"n_hidden": 32, "epochs": 2, "time_steps": 10, "lr": 1e-2, "input_rate": 0.4, "sg_shape": "triangular",
             "batch_size": 64}  # fmt: skip
    evaluation = {"trainer": "sg", "params": point, "dataset": "digits", "seed": 1, "silent": None}
    record = evaluate(evaluation)
    assert record.status == "complete", record.error
    run = train_run(train_overrides(point, evaluation))
    retrained = train_sg(run.model, run.trainer, run.data.load(), seed=run.seed, progress=False)
    assert retrained.objectives["accuracy"] == record.objectives["accuracy"]
    assert retrained.objectives["accuracy"] > 0.3  # a network that learned: equality of two chance runs proves little


def test_a_study_prints_a_retrain_command_that_composes_to_the_trial():
    """The command experiments/hpo.py prints for the best trial, split as a shell would."""
    point = search_space("sg").sample(np.random.default_rng(7), 1)[0]
    base = {"trainer": "sg", "dataset": "digits", "silent": "dvs_slayer", "data_root": "/data/with space"}
    words = shlex.split(TrialObjective(base).retrain_command(point))
    assert words[:2] == ["python", "experiments/train.py"]
    run = train_run(words[2:])
    assert (run.model, run.trainer, run.data.root) == (sg_run(point).model, sg_run(point).trainer, "/data/with space")
    assert TrialObjective({"trainer": "stdp", "dataset": "digits"}).retrain_command({}) is None  # train.py is SG only
