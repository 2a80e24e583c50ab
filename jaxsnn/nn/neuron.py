"""LIF neuron populations as flax.nnx modules: the part every spiking layer shares.

A layer computes input currents (dense, recurrent or convolutional); the population turns them
into spikes with the LIF core. Values that are *hyperparameters* rather than weights (threshold,
fixed leak, surrogate ``gamma``/``beta``/``q``) are stored as ``Hyper`` variables: they are part
of the model state, so stacking the states of several models and ``vmap``-ping one compiled
training step over them sweeps those values too, yet the optimizer never touches them (it only
updates ``nnx.Param``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from jaxsnn.core import BACKENDS, RESETS, LIFOutput, LIFParams, Surrogate, lif_scan


class Hyper(nnx.Variable):
    """A non-trainable, per-model value that vmapped sweeps may vary (leak, threshold, SG)."""


@dataclasses.dataclass(frozen=True)
class LIFSpec:
    """How the neurons of every spiking layer behave.

    ``alpha`` is the leak in ``[0, 1]`` (one scalar, or one value per neuron / per conv channel
    with ``per_neuron_alpha``), trained by gradient when ``train_alpha`` (kept in ``[0, 1]`` by
    clipping); ``theta`` the threshold; ``reset``, ``detach_reset`` and ``backend`` are passed to
    ``lif_scan`` unchanged.
    """

    alpha: float = 0.9
    theta: float = 1.0
    per_neuron_alpha: bool = False
    train_alpha: bool = False
    reset: str = "subtract"
    detach_reset: bool = False
    backend: str = "auto"

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"neuron leak alpha must lie in [0, 1], got {self.alpha}")
        if not self.theta > 0.0:
            raise ValueError(f"neuron threshold theta must be > 0, got {self.theta}")
        if self.reset not in RESETS:
            raise ValueError(f"unknown reset {self.reset!r}; valid resets: {', '.join(RESETS)}")
        if self.backend not in BACKENDS:
            raise ValueError(
                f"unknown LIF backend {self.backend!r}; valid backends: {', '.join(BACKENDS)}"
            )


class SurrogateState(nnx.Module):
    """A ``Surrogate`` kept as model state: ``shape`` static, ``gamma``/``beta``/``q`` traced."""

    def __init__(self, surrogate: Surrogate) -> None:
        self.shape = surrogate.shape
        self.gamma = Hyper(jnp.asarray(surrogate.gamma, jnp.float32))
        self.beta = Hyper(jnp.asarray(surrogate.beta, jnp.float32))
        self.q = Hyper(jnp.asarray(surrogate.q, jnp.float32))

    def __call__(self) -> Surrogate:
        return Surrogate(self.shape, self.gamma[...], self.beta[...], self.q[...])


class LIFNeurons(nnx.Module):
    """``size`` LIF neurons (or conv channels) driven by time-major currents ``(T, B, N)``.

    With per-neuron leaks and ``N`` a multiple of ``size`` (a flattened ``H*W*C`` feature map with
    ``C = size`` channels last), each channel's leak is shared by all its spatial positions.
    """

    def __init__(self, size: int, spec: LIFSpec, surrogate: Surrogate) -> None:
        alpha = jnp.full((size,) if spec.per_neuron_alpha else (), spec.alpha, jnp.float32)
        self.alpha = nnx.Param(alpha) if spec.train_alpha else Hyper(alpha)
        self.theta = Hyper(jnp.asarray(spec.theta, jnp.float32))
        self.surrogate = SurrogateState(surrogate)
        self.reset = spec.reset
        self.detach_reset = spec.detach_reset
        self.backend = spec.backend

    def __call__(self, currents: jax.Array, w_rec: jax.Array | None = None) -> LIFOutput:
        alpha = jnp.clip(self.alpha[...], 0.0, 1.0)
        if alpha.ndim:
            alpha = jnp.tile(alpha, currents.shape[-1] // alpha.shape[0])
        return lif_scan(
            LIFParams(alpha, self.theta[...], w_rec),
            currents,
            surrogate=self.surrogate(),
            reset=self.reset,
            detach_reset=self.detach_reset,
            backend=self.backend,
        )
