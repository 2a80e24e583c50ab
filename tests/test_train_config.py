"""Run configs: validation messages, every shipped config group option, the Hydra entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from entry_points import run_script
from hydra import compose, initialize_config_dir

from jaxsnn.nn import ConvSpec
from jaxsnn.train.config import DataConfig, ModelConfig, TrainerConfig
from jaxsnn.train.run import Run, run_keys
from jaxsnn.train.schema import plain

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


def composed(*overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return plain(compose("train", overrides=list(overrides)))  # as experiments/train.py hands it over


def composed_run(*overrides: str) -> Run:
    """The run experiments/train.py trains for ``overrides``."""
    return Run.from_dict(run_keys(composed(*overrides)))


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
        run = composed_run(f"{group}={option}")
        assert isinstance(run.trainer, TrainerConfig)


def test_defaults_and_overrides_reach_the_run_config():
    run = composed_run("surrogate=triangle", "trainer.epochs=5", "data=randman", "model=rlif")
    assert run.model.surrogate.shape == "triangular" and run.model.recurrent
    assert run.trainer.epochs == 5 and run.data.name == "randman"
    default = composed_run()
    assert default.data.name == "digits" and default.model.hidden == (128,)
    with pytest.raises(ValueError, match="trainer.lr must be > 0"):
        composed_run("trainer.lr=-0.1")


@pytest.mark.xla_optimized
def test_entry_point_trains_the_default_network_to_the_digits_headline(tmp_path, capsys):
    """``python experiments/train.py`` as the README runs it: the default LIF network on embedded
    digits reaches the headline >= 90 % test accuracy (0.933 measured) and writes its record."""
    run_script("train.py", "progress=false", f"hydra.run.dir={tmp_path}")
    stdout = capsys.readouterr().out
    assert "Training history" in stdout and "Evaluation record" in stdout
    record = json.loads((tmp_path / "record.json").read_text())
    default = composed_run()
    assert record["status"] == "complete" and record["epochs_run"] == default.trainer.epochs
    assert record["params"]["data"]["name"] == "digits" and record["params"]["model"]["hidden"] == [128]
    history = record["metrics"]["history"]
    assert len(history) == default.trainer.epochs and record["objectives"]["accuracy"] == history[-1]["test_accuracy"]
    assert record["objectives"]["accuracy"] >= 0.90, record["objectives"]
