"""Readouts: how a spiking network's activity becomes class scores (logits).

* ``spike_count``: a spiking LIF output layer; logits are its spike counts over time.
* ``max_membrane`` / ``mean_membrane``: a non-spiking leaky integrator
  ``v[t] = alpha * v[t-1] + z[t] @ W``; logits are the max / mean of ``v`` over time. These are
  smooth in ``W`` (no threshold on the path), which usually trains faster and more stably.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from jaxsnn.nn.init import scaled_lecun
from jaxsnn.nn.neuron import Hyper

READOUTS: tuple[str, ...] = ("spike_count", "max_membrane", "mean_membrane")
MEMBRANE_READOUTS: tuple[str, ...] = ("max_membrane", "mean_membrane")


class LeakyIntegrator(nnx.Module):
    """Non-spiking output neurons: ``(T, B, in) -> voltages (T, B, out)`` from rest."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        alpha: float,
        rngs: nnx.Rngs,
        weight_scale: float = 1.0,
    ) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"readout leak alpha must lie in [0, 1], got {alpha}")
        self.linear = nnx.Linear(
            in_features,
            out_features,
            use_bias=False,
            kernel_init=scaled_lecun(weight_scale),
            rngs=rngs,
        )
        self.alpha = Hyper(jnp.asarray(alpha, jnp.float32))

    def __call__(self, spikes: jax.Array) -> jax.Array:
        alpha = self.alpha[...]

        def step(v: jax.Array, current: jax.Array) -> tuple[jax.Array, jax.Array]:
            v = alpha * v + current
            return v, v

        currents = self.linear(spikes)
        _, voltages = lax.scan(step, jnp.zeros_like(currents[0]), currents)
        return voltages


def membrane_logits(voltages: jax.Array, readout: str) -> jax.Array:
    """Reduce integrator voltages ``(T, B, C)`` over time to logits ``(B, C)``."""
    if readout == "max_membrane":
        return voltages.max(axis=0)
    if readout == "mean_membrane":
        return voltages.mean(axis=0)
    raise ValueError(
        f"{readout!r} is not a membrane readout; valid: {', '.join(MEMBRANE_READOUTS)}"
    )
