"""HYBRID training (Rathi et al., 2020): train an ANN, convert it, fine-tune the SNN with BPTT.

Conversion alone needs long windows (rates are only resolved to ``1 / T``); using the converted
network as the *initialisation* of surrogate-gradient training lets a short window recover the
accuracy. HYBRID's "spike-timing-dependent backpropagation" is BPTT through the IF/LIF dynamics
with a surrogate spike derivative, which is what ``lif_scan`` differentiates.

The record's objectives are those of the multi-objective HPO of HYBRID (Parsa et al., 2021):
``accuracy`` (fine-tuned SNN, test set, ``time_steps`` window) up; ``inference_steps``,
``train_time_s`` (ANN training + calibration + fine-tuning steps, no compilation) and
``spikes_per_sample`` down. ``metrics`` keep every stage's accuracy: ``ann_accuracy``,
``converted_accuracy`` (before fine-tuning, same window), ``finetuned_accuracy`` and, for the
windows in ``conversion_eval_steps``, ``converted_accuracy_by_steps``.
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

from jaxsnn.core import BACKENDS, Surrogate
from jaxsnn.data import ImageDataset
from jaxsnn.nn.conversion import ENCODINGS, ConvertedSNN, ReLUNet, make_blocks
from jaxsnn.record import EvaluationRecord
from jaxsnn.train.config import from_mapping, require_matching_kernels, require_positive
from jaxsnn.train.conversion import convert
from jaxsnn.train.epoch_loop import FitResult, LossFn, evaluate, finish_record, fit, spike_stats
from jaxsnn.train.metrics import BatchStats, correct_predictions
from jaxsnn.train.stopping import EarlyStopper


@dataclasses.dataclass(frozen=True)
class HybridConfig:
    """One HYBRID run. Architecture: conv layers ``conv_channels`` (kernels ``conv_kernels``,
    average pool by ``pool`` after each), dense ``hidden`` layers, a class readout; bias-free.

    ANN: ``ann_epochs`` of Adam at ``ann_lr``. Conversion: ``percentile`` normalisation on
    ``calibration_samples`` training images, IF ``threshold``, ``initial_potential``,
    ``encoding`` of the images (``constant`` current or Bernoulli ``rate`` spikes). Fine-tuning:
    ``finetune_epochs`` (0: conversion only) of Adam at ``finetune_lr`` with ``surrogate``, over a
    ``time_steps`` window, neurons with ``leak`` (1: IF, as converted).
    """

    conv_channels: tuple[int, ...] = (16, 32)
    conv_kernels: tuple[int, ...] = (3, 3)
    pool: int = 2
    hidden: tuple[int, ...] = (64,)
    ann_epochs: int = 20
    ann_lr: float = 2e-3
    batch_size: int = 32
    percentile: float = 99.9
    calibration_samples: int = 1024
    threshold: float = 1.0
    initial_potential: float = 0.5
    encoding: str = "constant"
    time_steps: int = 4
    leak: float = 1.0
    finetune_epochs: int = 5
    finetune_lr: float = 3e-4
    surrogate: Surrogate = Surrogate(gamma=0.3)
    conversion_eval_steps: tuple[int, ...] = ()
    eval_batch_size: int = 256
    backend: str = "auto"

    def __post_init__(self) -> None:
        for name in ("conv_channels", "conv_kernels", "hidden", "conversion_eval_steps"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        require_positive(
            "hybrid", self,
            ints=("conv_channels", "conv_kernels", "hidden", "conversion_eval_steps", "pool", "ann_epochs",
                  "batch_size", "calibration_samples", "time_steps", "eval_batch_size"),
            numbers=("ann_lr", "finetune_lr", "threshold"),
        )  # fmt: skip
        require_matching_kernels("hybrid", self.conv_channels, self.conv_kernels)
        if not (isinstance(self.finetune_epochs, int) and self.finetune_epochs >= 0):
            raise ValueError(f"hybrid.finetune_epochs must be an integer >= 0, got {self.finetune_epochs!r}")
        if not 0.0 < self.percentile <= 100.0:
            raise ValueError(f"hybrid.percentile must lie in (0, 100], got {self.percentile!r}")
        if not 0.0 <= self.initial_potential < 1.0:
            raise ValueError(f"hybrid.initial_potential must lie in [0, 1), got {self.initial_potential!r}")
        if not 0.0 < self.leak <= 1.0:
            raise ValueError(f"hybrid.leak must lie in (0, 1] (1: IF neurons), got {self.leak!r}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"unknown hybrid.encoding {self.encoding!r}; valid: {', '.join(ENCODINGS)}")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown hybrid.backend {self.backend!r}; valid: {', '.join(BACKENDS)}")

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> "HybridConfig":
        """Build from a plain mapping (Hydra), naming unknown keys; ``surrogate`` may be a mapping."""
        return from_mapping(
            cls, mapping, "hybrid", {"surrogate": lambda spec: from_mapping(Surrogate, spec, "surrogate", {})}
        )


def cifar10_config(**overrides: Any) -> HybridConfig:
    """A VGG-style bias-free CNN for 3x32x32 CIFAR-10 (64-128-256 channels, 3x3, average pool 2,
    dense 512); HYBRID fine-tunes such networks over tens of steps instead of thousands."""
    settings: dict[str, Any] = dict(
        conv_channels=(64, 128, 256), conv_kernels=(3, 3, 3), pool=2, hidden=(512,),
        ann_epochs=30, ann_lr=1e-3, batch_size=64, time_steps=32, finetune_epochs=10,
        eval_batch_size=128,
    )  # fmt: skip
    return HybridConfig(**{**settings, **overrides})


def ann_loss(model: ReLUNet, x: jax.Array, y: jax.Array, key: jax.Array) -> tuple[jax.Array, BatchStats]:
    """Softmax cross-entropy of the ANN; no spikes, so counts and rates are empty."""
    del key
    logits = model(x)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    zeros = jnp.zeros(y.shape, logits.dtype)
    return loss, BatchStats(loss, correct_predictions(logits, y).sum(), zeros, {}, jnp.zeros((), logits.dtype))


def snn_loss(time_steps: int) -> LossFn:
    """Cross-entropy of the SNN's mean readout over ``time_steps``; the stoppers watch the last
    spiking layer (the readout does not fire, and a silent last layer means a constant readout)."""

    def loss_fn(model: ConvertedSNN, x: jax.Array, y: jax.Array, key: jax.Array) -> tuple[jax.Array, BatchStats]:
        out = model(x, time_steps, key)
        loss = optax.softmax_cross_entropy_with_integer_labels(out.logits, y).mean()
        return loss, spike_stats(out.spikes, out.logits, y, model.names[-1], loss)

    return loss_fn


def _convert(cfg: HybridConfig, ann: ReLUNet, images: np.ndarray) -> ConvertedSNN:
    return convert(
        ann, images, percentile=cfg.percentile, threshold=cfg.threshold, leak=cfg.leak,
        initial_potential=cfg.initial_potential, encoding=cfg.encoding, surrogate=cfg.surrogate,
        backend=cfg.backend,
    )  # fmt: skip


def train_hybrid(
    cfg: HybridConfig,
    data: tuple[ImageDataset, ImageDataset],
    *,
    stoppers: Sequence[EarlyStopper] = (),
    seed: int = 0,
) -> EvaluationRecord:
    """ANN training, conversion and SNN fine-tuning on ``(train, test)`` images; never raises for
    a bad run. Stoppers see every fine-tuning batch (their stop skips the test pass, as in
    ``train_slayer``); a non-finite ANN or SNN loss gives a ``failed`` record."""
    start = time.perf_counter()
    train, test = data
    params = {**dataclasses.asdict(cfg), "seed": seed}
    blocks = make_blocks(cfg.conv_channels, cfg.conv_kernels, cfg.pool, cfg.hidden, train.n_classes)
    ann = ReLUNet(train.images.shape[1:], blocks, rngs=nnx.Rngs(seed))
    ann_fit = fit(
        ann, ann_loss, train.images, train.labels, epochs=cfg.ann_epochs, batch_size=cfg.batch_size,
        tx=optax.adam(cfg.ann_lr), seed=seed,
    )  # fmt: skip
    metrics: dict[str, Any] = {"dataset": train.name, "ann_history": ann_fit.history,
                               "ann_train_time_s": ann_fit.train_time_s}  # fmt: skip
    if ann_fit.status == "failed":
        return EvaluationRecord.failure(
            params, f"ANN training: {ann_fit.reason}", time.perf_counter() - start, metrics=metrics
        )
    eval_kwargs = dict(batch_size=cfg.eval_batch_size, seed=seed)
    metrics["ann_accuracy"] = evaluate(ann_fit.model, ann_loss, test.images, test.labels, **eval_kwargs)["accuracy"]

    calibration_start = time.perf_counter()
    calibration = train.images[np.random.default_rng(seed).permutation(len(train))[: cfg.calibration_samples]]
    snn = _convert(cfg, ann_fit.model, calibration)
    calibration_time_s = time.perf_counter() - calibration_start
    metrics["scales"] = list(snn.scales)
    converted = {
        steps: evaluate(snn, snn_loss(steps), test.images, test.labels, **eval_kwargs)
        for steps in sorted({cfg.time_steps, *cfg.conversion_eval_steps})
    }
    metrics["converted_accuracy"] = converted[cfg.time_steps]["accuracy"]
    metrics["converted_accuracy_by_steps"] = {str(s): m["accuracy"] for s, m in converted.items()}

    loss_fn = snn_loss(cfg.time_steps)
    if cfg.finetune_epochs:
        tuned = fit(
            snn, loss_fn, train.images, train.labels, epochs=cfg.finetune_epochs, batch_size=cfg.batch_size,
            tx=optax.adam(cfg.finetune_lr), seed=seed, stoppers=stoppers,
        )  # fmt: skip
    else:
        tuned = FitResult(snn, "complete", None, [], 0.0, 0.0)

    def test_pass() -> dict[str, float]:
        if not cfg.finetune_epochs:
            return converted[cfg.time_steps]
        return evaluate(tuned.model, loss_fn, test.images, test.labels, **eval_kwargs)

    record = finish_record(
        tuned, params, stoppers, start, test_pass, inference_steps=cfg.time_steps, metrics=metrics,
        train_time_s=ann_fit.train_time_s + calibration_time_s + tuned.train_time_s,
    )  # fmt: skip
    if record.status == "complete":
        record.metrics["finetuned_accuracy"] = record.objectives["accuracy"]
    return record
