"""Parameter, state and output containers of the LIF core, and their validation.

Kept apart from the two implementations (``reference.py`` and ``kernels/``) so that both consume
exactly the same, already-validated inputs.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxsnn.core.surrogate import concrete_value

Array = jax.Array

RESETS: tuple[str, ...] = ("subtract", "zero")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class LIFParams:
    """Parameters of one LIF population of ``N`` neurons.

    ``alpha`` (leak, in [0, 1]) and ``theta`` (threshold, > 0) are scalars or per-neuron ``(N,)``
    vectors; ``w_rec`` is the ``(N, N)`` recurrent matrix applied as ``z[t-1] @ w_rec`` or ``None``.
    All three are pytree leaves, hence differentiable and ``vmap``-able.
    """

    alpha: ArrayLike = 0.9
    theta: ArrayLike = 1.0
    w_rec: ArrayLike | None = None


class LIFState(NamedTuple):
    """Membrane voltage ``v`` and last spikes ``z``, each ``(B, N)``."""

    v: Array
    z: Array


class LIFOutput(NamedTuple):
    """Spikes ``(T, B, N)``, voltages ``(T, B, N)`` when asked for (else ``None``), final state."""

    spikes: Array
    voltages: Array | None
    state: LIFState


def zero_state(batch: int, neurons: int, dtype: jnp.dtype = jnp.float32) -> LIFState:
    """Resting state: no voltage, no spike."""
    zeros = jnp.zeros((batch, neurons), dtype)
    return LIFState(zeros, zeros)


def validate(params: LIFParams, currents: Array, state: LIFState | None, reset: str) -> LIFState:
    """Check shapes and known values; return the initial state (zeros when ``state`` is None)."""
    if reset not in RESETS:
        raise ValueError(f"unknown reset {reset!r}; valid resets: {', '.join(RESETS)}")
    if currents.ndim != 3:
        raise ValueError(
            f"LIF input currents must be (T, B, N) time-major, got shape {tuple(currents.shape)}"
        )
    _, batch, neurons = currents.shape
    for name in ("alpha", "theta"):
        value = jnp.shape(getattr(params, name))
        if value not in ((), (neurons,)):
            raise ValueError(f"LIF {name} must be a scalar or shape ({neurons},), got {value}")
    alpha, theta = concrete_value(params.alpha), concrete_value(params.theta)
    if alpha is not None and not ((alpha >= 0).all() and (alpha <= 1).all()):
        raise ValueError(f"LIF leak alpha must lie in [0, 1], got {params.alpha!r}")
    if theta is not None and not (theta > 0).all():
        raise ValueError(f"LIF threshold theta must be > 0, got {params.theta!r}")
    if params.w_rec is not None and jnp.shape(params.w_rec) != (neurons, neurons):
        raise ValueError(
            f"recurrent weights must be ({neurons}, {neurons}), got {jnp.shape(params.w_rec)}"
        )
    if state is None:
        return zero_state(batch, neurons, currents.dtype)
    for name, value in zip(LIFState._fields, state):
        if jnp.shape(value) != (batch, neurons):
            raise ValueError(f"LIF state {name} must be ({batch}, {neurons}), got {jnp.shape(value)}")
    return state
