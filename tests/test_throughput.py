"""Trial throughput (issue 17): compiled programs reused across trials, initial weights drawn
without per-shape compilation, JAX's persistent cache loaded across processes (with the C++ FFI
kernels) and survived when corrupt; records stay the same whichever way a program was obtained."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxsnn.compile_cache import compilation_counts
from jaxsnn.core import Surrogate
from jaxsnn.data import DataSplits, SpikeDataset
from jaxsnn.nn import LIFSpec
from jaxsnn.nn.init import draw, scaled_lecun
from jaxsnn.record import EvaluationRecord
from jaxsnn.train.config import ModelConfig, TrainerConfig
from jaxsnn.train.sg import PROGRAMS, UNOPTIMIZED, OptimizerSpec, train_sg, zero_state
from jaxsnn.train.sparsity import SparsitySchedule
from jaxsnn.tuning.evaluate import evaluate


def _toy(n: int, seed: int) -> SpikeDataset:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n).astype(np.int32)
    rates = np.where(np.arange(12)[None] // 4 == labels[:, None], 0.6, 0.05)
    return SpikeDataset((rng.random((n, 8, 12)) < rates[:, None]).astype(np.float32), labels, 3, "toy")


DATA = DataSplits(_toy(96, 0), _toy(48, 1))


def _same_run(a: EvaluationRecord, b: EvaluationRecord) -> None:
    """Everything a run measured, timings aside, is equal."""
    assert a.status == b.status and a.objectives["accuracy"] == b.objectives["accuracy"]
    assert a.spikes == b.spikes and a.constraints == b.constraints
    untimed = [{k: v for k, v in h.items() if k != "epoch_time_s"} for h in a.metrics["history"]]
    assert untimed == [{k: v for k, v in h.items() if k != "epoch_time_s"} for h in b.metrics["history"]]


@pytest.mark.parametrize("shape", [(12, 16), (3, 3, 2, 5), (40, 40), (300, 300)])  # the last past MIN_LENGTH
def test_bucketed_draws_equal_jax_draws_of_the_exact_shape(shape):
    key = jax.random.key(sum(shape))
    jax_init = nnx.initializers.variance_scaling(0.7**2, "fan_in", "truncated_normal")
    np.testing.assert_array_equal(scaled_lecun(0.7)(key, shape, jnp.float32), jax_init(key, shape, jnp.float32))
    std = 1 / math.sqrt(shape[-1])
    np.testing.assert_array_equal(draw(key, shape, "normal", std, 0.25),
                                  0.25 + std * jax.random.normal(key, shape, jnp.float32))
    raw = jax.random.PRNGKey(sum(shape))  # STDP's initial weights: a raw key, uniform on [0, 0.3)
    np.testing.assert_array_equal(draw(raw, shape, "uniform", 0.3), jax.random.uniform(raw, shape, jnp.float32, 0.0, 0.3))


def test_draws_up_to_the_minimum_length_share_one_program():
    """Every weight of up to ``MIN_LENGTH`` elements comes from one draw program: a new layer
    width compiles nothing (it used to compile a draw per power of two)."""
    draw(jax.random.key(0), (8, 8), "normal", 1.0)  # the shared program, compiled or found
    before = compilation_counts()["compiled"]
    for shape in [(64, 200), (3, 5), (256, 256), (2, 7, 9)]:
        draw(jax.random.key(1), shape, "normal", 1.0)
    assert compilation_counts()["compiled"] == before


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
@pytest.mark.parametrize("schedule, warmup, clip", [("constant", 0, None), ("cosine", 3, 1.0)])
def test_the_host_built_optimiser_state_is_what_the_transformation_initialises(optimizer, schedule, warmup, clip):
    """Trainers build a population's initial optimiser state from its shapes on the host
    (``zero_state``) instead of compiling ``tx.init``: equal, leaf for leaf and dtype for dtype,
    for every update rule, schedule, warm-up and clipping a ``TrainerConfig`` can ask for."""
    tx = OptimizerSpec(optimizer, schedule, 20, warmup, clip, 1e-3).transform()
    params = {"w": jnp.ones((2, 3, 4)), "b": jnp.full((2, 4), 0.5)}  # two stacked members
    initialised = jax.vmap(tx.init)(params)
    built = zero_state(jax.eval_shape(jax.vmap(tx.init), params))
    assert jax.tree.structure(built) == jax.tree.structure(initialised)
    for b, i in zip(jax.tree.leaves(built), jax.tree.leaves(initialised)):
        assert b.dtype == i.dtype
        np.testing.assert_array_equal(np.asarray(b), np.asarray(i))


def test_trials_differing_in_traced_hyperparameters_share_one_program_and_keep_their_records():
    model = ModelConfig(hidden=(16,), neuron=LIFSpec(backend="xla"))
    first = train_sg(model, TrainerConfig(epochs=2, batch_size=32), DATA, progress=False)
    other = dataclasses.replace(model, weight_scale=1.7, neuron=LIFSpec(alpha=0.7, theta=0.6, backend="xla"),
                                surrogate=Surrogate("fast_sigmoid", gamma=0.5, beta=3.0))
    trainer = TrainerConfig(epochs=3, batch_size=32, lr=5e-3, sparsity=SparsitySchedule(weight=3.0, target=0.05))
    misses, before = PROGRAMS.misses, compilation_counts()
    reused = train_sg(other, trainer, DATA, seed=4, progress=False)
    assert PROGRAMS.misses == misses, "a traced hyperparameter changed the program's key"
    assert compilation_counts()["compiled"] == before["compiled"], "XLA compiled during a reused trial"
    assert reused.objectives != first.objectives

    PROGRAMS.clear()
    jax.clear_caches()
    fresh = train_sg(other, trainer, DATA, seed=4, progress=False)
    assert PROGRAMS.misses == misses + 1
    _same_run(reused, fresh)


def test_shape_changing_hyperparameters_get_their_own_program():
    model = ModelConfig(hidden=(16,), neuron=LIFSpec(backend="xla"))
    train_sg(model, TrainerConfig(epochs=1, batch_size=32), DATA, progress=False)
    misses = PROGRAMS.misses
    train_sg(dataclasses.replace(model, hidden=(9,)), TrainerConfig(epochs=1, batch_size=32), DATA, progress=False)
    train_sg(model, TrainerConfig(epochs=1, batch_size=24), DATA, progress=False)
    assert PROGRAMS.misses == misses + 2


@pytest.mark.xla_optimized  # the suite compiles everything unoptimised; this test needs both kinds
def test_unoptimized_programs_are_programs_of_their_own_that_train_as_well():
    """``xla_optimizations=False`` (a study's setting) compiles a program of its own, never one an
    optimised run of the same shapes left in the cache, and it trains the same network to the same
    quality: only the rounding may differ."""
    model = ModelConfig(hidden=(13,), neuron=LIFSpec(backend="xla"))  # a shape no other test compiles
    trainer = TrainerConfig(epochs=6, batch_size=32, lr=1e-2)
    optimized = train_sg(model, trainer, DATA, progress=False)
    misses = PROGRAMS.misses
    fast = train_sg(model, dataclasses.replace(trainer, xla_optimizations=False), DATA, progress=False)
    assert PROGRAMS.misses == misses + 1
    assert fast.status == optimized.status == "complete"
    assert optimized.objectives["accuracy"] > 0.9
    assert abs(fast.objectives["accuracy"] - optimized.objectives["accuracy"]) <= 0.05
    assert fast.params["trainer"]["xla_optimizations"] is False  # what retraining it needs
    # At -O0 the two kinds of CPU emitters round differently: the setting pins the classic ones so
    # that train.py (XLA's default emitters) retrains a study's trial exactly (the slow
    # test_round_trip test runs both in separate processes).
    assert UNOPTIMIZED["xla_cpu_use_fusion_emitters"] is False


def test_only_a_schedule_that_depends_on_the_run_length_puts_epochs_in_the_key():
    assert OptimizerSpec.of(TrainerConfig(epochs=2), 5) == OptimizerSpec.of(TrainerConfig(epochs=7), 5)
    cosine = [OptimizerSpec.of(TrainerConfig(epochs=e, schedule="cosine"), 5) for e in (2, 7)]
    assert cosine[0] != cosine[1]


_CACHED_TRIAL = {
    "run": {"model": {"neuron": {"backend": "ffi"}},
            "trainer": {"xla_optimizations": False}},  # -O0 compiles faster; cached as well
    "params": {"model.hidden.width": 8, "trainer.epochs": 1, "data.time_steps": 10, "trainer.batch_size": 128,
               "model.neuron.theta": 0.5},
}  # fmt: skip
_CACHE_SCRIPT = """
import json, sys, warnings
from pathlib import Path
import jax
from jaxsnn.compile_cache import use_compilation_cache
from jaxsnn.tuning.evaluate import evaluate
from jaxsnn.train.sg import PROGRAMS

folder = use_compilation_cache(sys.argv[1])
out = {}
for run in ("cold", "loaded", "corrupt"):
    if run == "corrupt":
        for entry in folder.iterdir():
            entry.write_bytes(entry.read_bytes()[: len(entry.read_bytes()) // 2] + b"garbage")
    PROGRAMS.clear()
    jax.clear_caches()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = evaluate(json.loads(sys.argv[2]))
    out[run] = {"record": record.to_json(),
                "warnings": [str(w.message) for w in caught if "compilation cache" in str(w.message)]}
print(json.dumps(out))
"""


def _same_measured_run(run: EvaluationRecord, cold: EvaluationRecord) -> None:
    """The same trial, whichever way its programs were obtained: accuracy, spikes, every epoch
    (but its wall time)."""
    assert (run.objectives["accuracy"], run.spikes) == (cold.objectives["accuracy"], cold.spikes)
    strip = lambda history: [{k: v for k, v in h.items() if k != "epoch_time_s"} for h in history]  # noqa: E731
    assert strip(run.metrics["history"]) == strip(cold.metrics["history"])


def test_a_trial_whose_programs_left_memory_loads_them_from_the_persistent_cache():
    """In this process, through the suite's persistent cache (tests/conftest.py): the trial run
    again after every in-memory cache is cleared compiles nothing, loads its programs (the C++
    FFI kernels' among them) and measures the same run. The slow twin below does it in a fresh
    process with a cache of its own, and corrupts that cache."""
    cold = evaluate(_CACHED_TRIAL)
    assert cold.metrics["backend"] == "ffi"
    PROGRAMS.clear()
    jax.clear_caches()
    loaded = evaluate(_CACHED_TRIAL)
    assert loaded.metrics["xla_compiled"] == 0 and loaded.metrics["xla_loaded"] > 0
    _same_measured_run(loaded, cold)


@pytest.mark.slow
def test_ffi_programs_load_from_the_persistent_cache_and_a_corrupt_entry_only_warns(tmp_path):
    """One fresh process (the cache settings are global): a cold trial writes the cache, the same
    trial with every in-memory cache cleared loads it, and after every entry is corrupted it
    warns, compiles afresh and still measures the same run."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CACHE_SCRIPT), str(tmp_path / "cache"), json.dumps(_CACHED_TRIAL)],
        capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    cold, loaded, corrupt = (EvaluationRecord.from_json(runs[run]["record"]) for run in ("cold", "loaded", "corrupt"))
    assert cold.metrics["backend"] == "ffi" and cold.metrics["xla_compiled"] > 0
    assert loaded.metrics["xla_compiled"] == 0 and loaded.metrics["xla_loaded"] > 0
    assert runs["corrupt"]["warnings"] and corrupt.metrics["xla_compiled"] > 0
    for run in (loaded, corrupt):
        _same_measured_run(run, cold)
