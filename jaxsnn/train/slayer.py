"""SLAYER-style training of SRM networks, ending (whatever happens) in an ``EvaluationRecord``.

SLAYER (Shrestha & Orchard, 2018) trains spike-response-model neurons with a spike-count target:
the true-class output neuron should fire ``true_count`` times over the window, the others
``false_count`` times; the class is the output neuron that fired most. Gradients reach the weights
through the surrogate spike function and the temporal kernels (``jaxsnn.nn.srm``).

The record's objectives are those of the multi-objective HPO of SLAYER (Parsa et al., 2021):
``accuracy`` (up), ``train_time_s``, ``inference_steps`` (time steps presented per sample; the
latency knob is ``time_steps``, which keeps the first steps of every sample) and
``spikes_per_sample`` (all layers, an energy proxy), all down.

The epoch loop is ``jaxsnn.train.epoch_loop``, shared with the HYBRID trainer.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxsnn.core import Surrogate
from jaxsnn.data import DataSplits
from jaxsnn.nn.srm import SRMConv, SRMDense, SRMNetwork, SRMParams, SRMPool, spike_count_loss
from jaxsnn.record import EvaluationRecord
from jaxsnn.train.config import from_mapping, require_matching_kernels, require_positive
from jaxsnn.train.epoch_loop import LossFn, evaluate, finish_record, fit, spike_stats
from jaxsnn.train.metrics import BatchStats
from jaxsnn.train.stopping import EarlyStopper


@dataclasses.dataclass(frozen=True)
class SlayerConfig:
    """One SLAYER run: SRM network, spike-count targets, optimisation, latency.

    Network, input to output: an SRM sum-pool of the input frames by ``input_pool`` (1: none);
    one SRM conv layer per ``conv_channels`` entry (kernel ``conv_kernels[i]``), each followed by
    an SRM sum-pool by ``pool``; SRM dense layers of sizes ``hidden``; an SRM output layer of one
    neuron per class. Without conv layers this is the dense network for ``(C,)`` inputs.
    ``time_steps=None`` presents every step of the data, ``n`` only the first ``n``.
    """

    hidden: tuple[int, ...] = (128,)
    conv_channels: tuple[int, ...] = ()
    conv_kernels: tuple[int, ...] = ()
    pool: int = 2
    input_pool: int = 1
    tau_s: float = 2.0
    tau_r: float = 2.0
    theta: float = 1.0
    weight_scale: float = 3.0
    surrogate: Surrogate = Surrogate(gamma=0.5)
    true_count: float = 15.0
    false_count: float = 2.0
    epochs: int = 15
    batch_size: int = 32
    lr: float = 3e-3
    time_steps: int | None = None
    eval_batch_size: int = 256

    def __post_init__(self) -> None:
        for name in ("hidden", "conv_channels", "conv_kernels"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        require_positive(
            "slayer", self,
            ints=("hidden", "conv_channels", "conv_kernels", "pool", "input_pool", "epochs", "batch_size",
                  "eval_batch_size") + (("time_steps",) if self.time_steps is not None else ()),
            numbers=("weight_scale", "lr", "true_count"),
        )  # fmt: skip
        require_matching_kernels("slayer", self.conv_channels, self.conv_kernels)
        if not (isinstance(self.false_count, (int, float)) and 0 <= self.false_count < self.true_count):
            raise ValueError(
                f"slayer.false_count must lie in [0, true_count={self.true_count}), got {self.false_count!r}"
            )
        SRMParams(self.tau_s, self.tau_r, self.theta)  # validates the neuron constants

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> "SlayerConfig":
        """Build from a plain mapping (Hydra), naming unknown keys; ``surrogate`` may be a mapping."""
        return from_mapping(
            cls, mapping, "slayer", {"surrogate": lambda spec: from_mapping(Surrogate, spec, "surrogate", {})}
        )

    @property
    def srm(self) -> SRMParams:
        return SRMParams(self.tau_s, self.tau_r, self.theta)


def dvs_gesture_config(**overrides: Any) -> SlayerConfig:
    """SLAYER's DVS Gesture network on 128x128 frames: pool 4, conv 16@5x5, pool 2, conv 32@3x3,
    pool 2, dense 512, 11 outputs (Shrestha & Orchard 2018), with targets scaled to the window."""
    settings: dict[str, Any] = dict(
        hidden=(512,), conv_channels=(16, 32), conv_kernels=(5, 3), pool=2, input_pool=4,
        tau_s=5.0, tau_r=5.0, true_count=60.0, false_count=10.0, batch_size=8, epochs=30,
    )  # fmt: skip
    return SlayerConfig(**{**settings, **overrides})


def build_srm_network(
    cfg: SlayerConfig, sample_shape: tuple[int, ...], n_classes: int, *, seed: int
) -> tuple[SRMNetwork, tuple[str, ...]]:
    """The network of ``cfg`` for per-step inputs ``(C,)`` or ``(P, H, W)``, and its layer names."""
    spatial = cfg.conv_channels or cfg.input_pool > 1
    if spatial and len(sample_shape) != 3:
        raise ValueError(
            f"conv layers and input pooling need (P, H, W) frames, got per-step shape {sample_shape}"
        )
    rngs = nnx.Rngs(seed)
    common = dict(srm=cfg.srm, surrogate=cfg.surrogate)
    layers: list[nnx.Module] = []
    names: list[str] = []
    shape = tuple(sample_shape)

    def pool(factor: int, name: str) -> None:
        nonlocal shape
        if factor > 1:
            layers.append(SRMPool(factor, **common))
            names.append(name)
            shape = (shape[0], shape[1] // factor, shape[2] // factor)

    pool(cfg.input_pool, "pool_in")
    for i, (channels, kernel) in enumerate(zip(cfg.conv_channels, cfg.conv_kernels)):
        layers.append(SRMConv(shape[0], channels, kernel, weight_scale=cfg.weight_scale, rngs=rngs, **common))
        names.append(f"conv{i}")
        shape = (channels, *shape[1:])
        pool(cfg.pool, f"pool{i}")
    if min(shape) < 1:
        raise ValueError(f"pooling shrinks the {sample_shape} frames to nothing ({shape})")
    width = int(np.prod(shape))
    for i, size in enumerate((*cfg.hidden, n_classes)):
        layers.append(SRMDense(width, size, weight_scale=cfg.weight_scale, rngs=rngs, **common))
        names.append(f"hidden{i}" if i < len(cfg.hidden) else "output")
        width = size
    return SRMNetwork(layers), tuple(names)


def slayer_loss(cfg: SlayerConfig, names: tuple[str, ...]) -> LossFn:
    """SLAYER's spike-count loss for a network whose layers are ``names``; inputs batch-first."""

    def loss_fn(model: SRMNetwork, x: jax.Array, y: jax.Array, key: jax.Array) -> tuple[jax.Array, BatchStats]:
        del key  # deterministic forward pass
        outputs = model(jnp.swapaxes(x, 0, 1))
        spikes = dict(zip(names, outputs))
        loss = spike_count_loss(outputs[-1], y, cfg.true_count, cfg.false_count)
        return loss, spike_stats(spikes, outputs[-1].sum(axis=0), y, "output", loss)

    return loss_fn


def train_slayer(
    cfg: SlayerConfig, data: DataSplits, *, stoppers: Sequence[EarlyStopper] = (), seed: int = 0
) -> EvaluationRecord:
    """Train an SRM network of ``cfg`` on ``data`` with SLAYER's loss; never raises for a bad run.

    Complete runs report test ``accuracy``; a ``StopDecision`` ends training at once, skips the
    test pass and reports the training accuracy measured so far (as ``train_sg`` does), with the
    stopper's status. A non-finite loss or gradient gives a ``failed`` record naming epoch and step.
    ``constraints`` merge every stopper's ``constraints()``; ``spikes`` is the output layer's
    spikes per sample, ``spikes_per_sample`` counts every layer.
    """
    start = time.perf_counter()
    train, test = data
    steps = train.time_steps if cfg.time_steps is None else cfg.time_steps
    if steps > train.time_steps:
        raise ValueError(f"time_steps={steps} exceeds the {train.time_steps} steps of {train.name}")
    params = {**dataclasses.asdict(cfg), "seed": seed}
    model, names = build_srm_network(cfg, train.sample_shape, train.n_classes, seed=seed)
    loss_fn = slayer_loss(cfg, names)
    result = fit(
        model, loss_fn, train.inputs[:, :steps], train.labels, epochs=cfg.epochs,
        batch_size=cfg.batch_size, tx=optax.adam(cfg.lr), seed=seed, stoppers=stoppers,
    )  # fmt: skip
    return finish_record(
        result, params, stoppers, start,
        lambda: evaluate(result.model, loss_fn, test.inputs[:, :steps], test.labels, batch_size=cfg.eval_batch_size),
        inference_steps=steps, metrics={"dataset": train.name, "layers": list(names)},
    )  # fmt: skip


