"""The annealed firing-rate regulariser of Herranz-Celotti & Rouat: ``s(e) * (mean(z) - target)^2``.

Stability-driven initialisation (conditions I-IV) deliberately starts networks at a high firing
rate, where gradients flow well; the penalty then pulls the rate down to ``target``. Switching it
on too early would silence the network before it has learned anything, so the switch ``s`` is 0
until ``start * E`` epochs and ramps linearly to 1 at ``end * E`` (paper: E/5 and 3E/5).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class SparsitySchedule:
    """Penalty ``weight * s(e) * sum_layers (rate_layer - target)^2``; ``weight = 0`` disables it.

    The sum runs over hidden layers (each layer's own mean rate), so a small layer is not drowned
    by a big one and a spiking output layer, which must fire to classify, is left alone.
    """

    weight: float = 1.0
    target: float = 0.01
    start: float = 0.2
    end: float = 0.6

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError(f"sparsity weight must be >= 0, got {self.weight}")
        if not 0.0 <= self.target <= 1.0:
            raise ValueError(f"sparsity target rate must lie in [0, 1], got {self.target}")
        if not 0.0 <= self.start <= self.end <= 1.0:
            raise ValueError(
                f"sparsity ramp needs 0 <= start <= end <= 1 (fractions of the epochs), "
                f"got start={self.start}, end={self.end}"
            )

    def switch(self, epoch: int, epochs: int) -> float:
        """``s(e)`` for 0-based ``epoch`` of ``epochs``: 0 up to ``start*E``, 1 from ``end*E``."""
        begin, finish = self.start * epochs, self.end * epochs
        if epoch >= finish:
            return 1.0
        if epoch <= begin:
            return 0.0
        return (epoch - begin) / (finish - begin)

    def penalty(self, rates: Mapping[str, jax.Array], switch: jax.Array) -> jax.Array:
        """The loss term for per-layer mean rates at switch value ``switch``."""
        return rate_penalty(rates, switch, self.weight, self.target)


def rate_penalty(
    rates: Mapping[str, jax.Array],
    switch: jax.Array,
    weight: jax.Array | float,
    target: jax.Array | float,
) -> jax.Array:
    """``weight * switch * sum_layers (rate - target)^2`` with ``weight`` and ``target`` possibly
    traced: a compiled train step then serves every sparsity setting."""
    total = sum(((rate - target) ** 2 for rate in rates.values()), jnp.zeros(()))
    return weight * switch * total
