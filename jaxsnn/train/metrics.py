"""Training metrics: what one batch measures (inside ``jit``) and what an epoch reports (host).

Firing rates and spike counts are measured on every batch, not only at the end, because the
early stoppers and the sparsity loss need them as training goes, and because a record must keep
everything measured so far when a run is stopped or fails.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsnn.nn import SpikingOutput


class BatchStats(NamedTuple):
    """One training batch: ``loss``, ``correct`` predictions, per-sample ``output_counts`` ``(B,)``,
    mean firing ``rates`` per layer and ``spikes`` per sample summed over all spiking layers."""

    loss: jax.Array
    correct: jax.Array
    output_counts: jax.Array
    rates: dict[str, jax.Array]
    spikes: jax.Array


def layer_rates(spikes: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    """Mean spikes per neuron per time step of each layer."""
    return {name: z.mean() for name, z in spikes.items()}


def correct_predictions(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-sample 1/0 for arg-max hits."""
    return (logits.argmax(axis=-1) == labels).astype(jnp.int32)


def batch_stats(
    out: SpikingOutput, labels: jax.Array, loss: jax.Array, rates: dict[str, jax.Array]
) -> BatchStats:
    batch = labels.shape[0]
    spikes = sum(z.sum() for z in out.spikes.values()) / batch
    return BatchStats(
        loss, correct_predictions(out.logits, labels).sum(), out.output_counts, rates, spikes
    )


class EpochMeter:
    """Running means over the batches of one epoch of one model (host side, NumPy values)."""

    def __init__(self) -> None:
        self.batches = 0
        self.samples = 0
        self._loss = 0.0
        self._correct = 0
        self._spikes = 0.0
        self._output_spikes = 0.0
        self._rates: dict[str, float] = {}

    def add(self, stats: BatchStats) -> None:
        """Account one batch (a single model's stats, already fetched to the host)."""
        batch = len(stats.output_counts)
        self.batches += 1
        self.samples += batch
        self._loss += float(stats.loss)
        self._correct += int(stats.correct)
        self._spikes += float(stats.spikes) * batch
        self._output_spikes += float(np.sum(stats.output_counts))
        for name, rate in stats.rates.items():
            self._rates[name] = self._rates.get(name, 0.0) + float(rate)

    @property
    def accuracy(self) -> float:
        """Training accuracy over the batches seen this epoch (0 before the first)."""
        return self._correct / self.samples if self.samples else 0.0

    def summary(self) -> dict[str, Any]:
        """Epoch means: loss, train accuracy, layer rates, spikes and output spikes per sample."""
        n = max(self.batches, 1)
        return {
            "loss": self._loss / n,
            "train_accuracy": self.accuracy,
            "rates": {name: total / n for name, total in self._rates.items()},
            "spikes_per_sample": self._spikes / max(self.samples, 1),
            "output_spikes_per_sample": self._output_spikes / max(self.samples, 1),
            "steps": self.batches,
        }
