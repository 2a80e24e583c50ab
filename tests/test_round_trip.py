"""A trial's params, pasted as overrides into experiments/train.py, retrain that exact trial."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from jaxsnn.train.run import Run, run_keys
from jaxsnn.train.schema import plain, register
from jaxsnn.tuning.evaluate import evaluate
from jaxsnn.tuning.objective import TrialObjective
from jaxsnn.tuning.overrides import train_overrides
from jaxsnn.tuning.retrain import train
from jaxsnn.tuning.spaces import apply_point, search_space

CONF = Path(__file__).resolve().parents[1] / "conf"


def composed(overrides: list[str]) -> dict:
    """The config experiments/train.py composes from ``overrides`` (schema-checked, as its main
    does), as the plain values its main hands to ``train``."""
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return plain(compose("train", overrides=overrides))


def train_run(overrides: list[str]) -> Run:
    """The run experiments/train.py trains for ``overrides``."""
    return Run.from_dict(run_keys(composed(overrides)))


def assert_same_run(run: Run, trial: Run) -> None:
    """Every field the trial's algorithm uses (``Run.to_dict``) is the trial's; of the loader's
    options the command writes them all, the trial's own among them."""
    got, want = run.to_dict(), trial.to_dict()
    options, want_options = got["data"].pop("options", {}), want["data"].pop("options", {})
    assert got == want
    assert {name: options[name] for name in want_options} == want_options


@pytest.mark.parametrize("seed", range(6))
def test_overrides_rebuild_the_trial_configs_of_any_point(seed):
    """Model (neuron and surrogate included), trainer and data of a random point of the full
    space: a field the overrides miss, or a name mapped to the wrong field, differs here."""
    point = search_space("sg").sample(np.random.default_rng(seed), 1)[0]
    optimized = seed % 2 == 0  # a study's unoptimised programs round differently: the run must know
    base = Run.from_dict({"data": {"seed": 2}, "seed": 5, "model": {"neuron": {"backend": "xla"}},
                          "trainer": {"xla_optimizations": optimized}})  # fmt: skip
    trial = apply_point(base, point)
    assert_same_run(train_run(train_overrides(trial)), trial)


def test_pasted_overrides_retrain_the_same_accuracy():
    """The round trip on a real trial: evaluate() and train.py's path give the same network."""
    point = {"model.hidden.width": 32, "trainer.epochs": 2, "data.time_steps": 10, "trainer.lr": 1e-2,
             "data.options.max_rate": 0.4, "surrogate.shape": "triangular", "trainer.batch_size": 64}  # fmt: skip
    objective = TrialObjective({"run": {"seed": 1}, "silent": None})
    record = objective(point)
    assert record.status == "complete", record.error
    words = shlex.split(objective.retrain_command(point))
    retrained = train({**composed(words[2:]), "progress": False})
    assert retrained.objectives["accuracy"] == record.objectives["accuracy"]
    # train.py's record keeps the run it trained: the trial's (resolved in its record)
    assert_same_run(Run.from_dict(retrained.params), Run.from_dict(record.metrics["resolved"]))
    assert retrained.objectives["accuracy"] > 0.3  # a network that learned: equality of two chance runs proves little


def test_a_study_prints_a_retrain_command_that_composes_to_the_trial():
    """The command experiments/hpo.py prints for the best trial, split as a shell would."""
    point = search_space("sg").sample(np.random.default_rng(7), 1)[0]
    base = {"run": {"data": {"name": "digits", "root": "/data/with space"}}, "silent": "dvs_slayer"}
    words = shlex.split(TrialObjective(base).retrain_command(point))
    assert words[:2] == ["python", "experiments/train.py"]
    assert_same_run(train_run(words[2:]), apply_point(Run.from_dict(base["run"]), point))


SMALL_TRIALS = {
    "stdp": {"stdp.n_neurons": 10, "stdp.presentation_ms": 50.0, "stdp.epochs": 1, "stdp.threshold_mv": 11.0},
    "slayer": {"slayer.hidden.width": 32, "slayer.hidden.depth": 1, "slayer.epochs": 2, "slayer.batch_size": 64,
               "slayer.time_steps": 10, "slayer.surrogate.gamma": 0.4},
    "hybrid": {"hybrid.hidden.width": 16, "hybrid.ann_epochs": 2, "hybrid.finetune_epochs": 1, "hybrid.time_steps": 2,
               "hybrid.surrogate.beta": 2.0},
}  # fmt: skip
FIXED = {"stdp": {"chunk": 25}, "slayer": {"eval_batch_size": 128}, "hybrid": {"conv_channels": [8], "conv_kernels": [3]}}
"""Fields of the base run that the trainers' defaults do not have: a command that dropped them
would compose, and differ."""


def trial_base(trainer: str) -> dict:
    run = {"algorithm": trainer, "data": {"name": "digits", "seed": 1}, "seed": 3, trainer: FIXED[trainer]}
    return {"run": run, "silent": None}


@pytest.mark.parametrize("trainer", sorted(SMALL_TRIALS))
def test_the_command_of_every_trainer_composes_to_the_trials_config(trainer):
    """stdp, slayer, hybrid: the printed command, composed as train.py composes it, is the
    trial's run (searched params, the base run's fields, data, seeds)."""
    base, point = trial_base(trainer), SMALL_TRIALS[trainer]
    words = shlex.split(TrialObjective(base).retrain_command(point))
    assert words[:2] == ["python", "experiments/train.py"] and f"algorithm={trainer}" in words
    assert_same_run(train_run(words[2:]), apply_point(Run.from_dict(base["run"]), point))


@pytest.mark.slow
@pytest.mark.parametrize("trainer", sorted(SMALL_TRIALS))
def test_a_trial_of_every_trainer_retrains_from_its_printed_command(trainer):
    """The round trip record -> printed train.py command -> train.py's ``train`` -> the same
    accuracy, for stdp, slayer and hybrid (tens of seconds each: slow; the fast test above
    checks the configs the command composes to)."""
    objective = TrialObjective(trial_base(trainer))
    record = objective(dict(SMALL_TRIALS[trainer]))
    assert record.status == "complete", record.error
    words = shlex.split(objective.retrain_command(record.params))
    retrained = train({**composed(words[2:]), "progress": False})
    assert retrained.status == "complete", retrained.error
    assert retrained.objectives["accuracy"] == record.objectives["accuracy"]
    assert record.objectives["accuracy"] > 0.2  # chance is 0.1: two chance-level runs tie too easily


_UNOPTIMIZED_TRIAL = {"run": {"trainer": {"xla_optimizations": False}}, "silent": None,
                      "params": {"model.hidden.width": 32, "trainer.epochs": 1, "data.time_steps": 10,
                                 "trainer.lr": 0.01, "trainer.batch_size": 64}}


def _losses_and_accuracy(config: dict) -> list[float]:
    record = evaluate(config)
    return [entry["loss"] for entry in record.metrics["history"]] + [record.objectives["accuracy"]]


@pytest.mark.slow  # a fresh process (7 s); the fast guard is in test_throughput
def test_an_unoptimised_trial_retrains_the_same_whatever_cpu_emitters_the_process_uses():
    """A study's workers run XLA's classic CPU emitters (as this suite does), ``experiments/train.py``
    XLA's default ones; unoptimised programs round differently under the two (the losses' last
    bits, measured), so ``xla_optimizations=False`` pins the emitters itself: a fresh process with
    the default emitters must give this process's losses exactly."""
    here = _losses_and_accuracy(_UNOPTIMIZED_TRIAL)
    script = (f"import json; from jaxsnn.tuning.evaluate import evaluate; r = evaluate({_UNOPTIMIZED_TRIAL!r}); "
              "print(json.dumps([e['loss'] for e in r.metrics['history']] + [r.objectives['accuracy']]))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}  # nothing to share
    env.update(XLA_FLAGS="--xla_cpu_use_fusion_emitters=true", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == here
