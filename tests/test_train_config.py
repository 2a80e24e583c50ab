"""Run configs: validation messages, every shipped config group option, the Hydra entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from jaxsnn.nn import ConvSpec
from jaxsnn.train.config import DataConfig, ModelConfig, RunConfig, TrainerConfig

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


def composed(*overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return OmegaConf.to_container(compose("train", overrides=list(overrides)), resolve=True)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: TrainerConfig(lr=-1e-3), "trainer.lr must be > 0"),
        (lambda: TrainerConfig(optimizer="rmsprop"), "unknown trainer.optimizer 'rmsprop'"),
        (lambda: TrainerConfig(weight_decay=0.1), "needs optimizer=adamw"),
        (lambda: TrainerConfig(epochs=0), "trainer.epochs must be a positive integer"),
        (lambda: TrainerConfig(schedule="step"), "unknown trainer.schedule"),
        (
            lambda: TrainerConfig.from_dict({"lr": 1e-3, "learning_rate": 1}),
            r"unknown trainer option\(s\) \['learning_rate'\]",
        ),
        (lambda: ModelConfig(readout="softmax"), "unknown model.readout 'softmax'"),
        (lambda: ModelConfig(hidden=(16, 0)), "model.hidden must be positive"),
        (
            lambda: ModelConfig(hidden=(), readout="max_membrane"),
            "needs at least one hidden or conv layer",
        ),
        (lambda: ModelConfig.from_dict({"neuron": {"theta": -1.0}}), "theta must be > 0"),
        (
            lambda: ModelConfig.from_dict({"surrogate": {"shape": "relu"}}),
            "unknown surrogate shape",
        ),
        (
            lambda: ModelConfig.from_dict({"conv": [{"channels": 4, "stride": 0}]}),
            "stride must be a positive",
        ),
        (lambda: DataConfig(time_steps=0), "data.time_steps must be a positive integer"),
    ],
)
def test_bad_values_fail_with_a_message_naming_the_option(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_nested_options_are_parsed_into_their_dataclasses():
    cfg = ModelConfig.from_dict(
        {"hidden": [32, 16], "conv": [{"channels": 4, "stride": 2}], "neuron": {"alpha": 0.8}}
    )
    assert cfg.hidden == (32, 16) and cfg.conv == (ConvSpec(4, 3, 2),) and cfg.neuron.alpha == 0.8


@pytest.mark.parametrize("group", ["model", "data", "surrogate", "trainer"])
def test_every_shipped_option_composes_into_a_valid_run_config(group):
    for option in sorted(p.stem for p in (CONF / group).glob("*.yaml")):
        run = RunConfig.from_dict(composed(f"{group}={option}"))
        assert isinstance(run.trainer, TrainerConfig)


def test_defaults_and_overrides_reach_the_run_config():
    run = RunConfig.from_dict(
        composed("surrogate=triangle", "trainer.epochs=5", "data=randman", "model=rlif")
    )
    assert run.model.surrogate.shape == "triangular" and run.model.recurrent
    assert run.trainer.epochs == 5 and run.data.name == "randman"
    default = RunConfig.from_dict(composed())
    assert default.data.name == "digits" and default.model.hidden == (128,)
    with pytest.raises(ValueError, match="trainer.lr must be > 0"):
        RunConfig.from_dict(composed("trainer.lr=-0.1"))


def test_entry_point_trains_end_to_end_and_writes_the_record(tmp_path):
    overrides = [
        "data=randman",
        "data.time_steps=10",
        "data.options.samples_per_class=12",
        "surrogate=triangle",
        "model.hidden=[8]",
        "model.neuron.backend=xla",
        "trainer.epochs=2",
        "trainer.batch_size=32",
        "progress=false",
        f"hydra.run.dir={tmp_path}",
    ]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "train.py"), *overrides],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Training history" in done.stdout and "Evaluation record" in done.stdout
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["status"] == "complete" and record["epochs_run"] == 2
    assert 0.0 <= record["objectives"]["accuracy"] <= 1.0
    assert record["params"]["model"]["surrogate"]["shape"] == "triangular"
    assert record["params"]["data"]["name"] == "randman"
    assert len(record["metrics"]["history"]) == 2
