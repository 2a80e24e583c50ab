"""The surrogate-gradient (SG) family of Herranz-Celotti & Rouat.

A spike is a Heaviside step of the centred voltage ``u = v - theta``; its true derivative is zero
almost everywhere, so training replaces it by a smooth bump ``gamma * f(beta * u)``. Every shape
here is normalised to the same peak ``gamma`` and the same area ``gamma / beta`` so that shapes can
be compared at equal ``(gamma, beta)``: that is what makes SG-shape sweeps meaningful.

``Surrogate`` is a pytree whose ``shape`` is static and whose ``gamma``, ``beta`` and ``q`` are
leaves, so one compiled function serves a whole ``vmap``-ped sweep of SG parameters.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

Array = jax.Array

SHAPES: tuple[str, ...] = (
    "triangular",
    "exponential",
    "fast_sigmoid",
    "rectangular",
    "sigmoid_derivative",
    "gaussian",
    "q_pseudo_spike",
)


def _triangular(u: Array, gamma: Array, beta: Array, q: Array) -> Array:
    return gamma * jnp.maximum(1.0 - beta * jnp.abs(u), 0.0)


def _exponential(u: Array, gamma: Array, beta: Array, q: Array) -> Array:
    return gamma * jnp.exp(-2.0 * beta * jnp.abs(u))


def _fast_sigmoid(u: Array, gamma: Array, beta: Array, q: Array) -> Array:
    return gamma / (1.0 + 2.0 * beta * jnp.abs(u)) ** 2


def _rectangular(u: Array, gamma: Array, beta: Array, q: Array) -> Array:
    return gamma * (jnp.abs(2.0 * beta * u) < 1.0).astype(jnp.result_type(u))


def _sigmoid_derivative(u: Array, gamma: Array, beta: Array, q: Array) -> Array:
    # sigmoid(x) * sigmoid(-x) == s * (1 - s) without float32 cancellation in the tails.
    x = 4.0 * beta * u
    return 4.0 * gamma * jax.nn.sigmoid(x) * jax.nn.sigmoid(-x)


def _gaussian(u: Array, gamma: Array, beta: Array, q: Array) -> Array:
    return gamma * jnp.exp(-jnp.pi * beta**2 * u**2)


def _q_pseudo_spike(u: Array, gamma: Array, beta: Array, q: Array) -> Array:
    return gamma / (1.0 + 2.0 * beta * jnp.abs(u) / (q - 1.0)) ** q


_DERIVATIVES: dict[str, Callable[[Array, Array, Array, Array], Array]] = {
    "triangular": _triangular,
    "exponential": _exponential,
    "fast_sigmoid": _fast_sigmoid,
    "rectangular": _rectangular,
    "sigmoid_derivative": _sigmoid_derivative,
    "gaussian": _gaussian,
    "q_pseudo_spike": _q_pseudo_spike,
}
SHAPE_INDEX: dict[str, int] = {name: i for i, name in enumerate(SHAPES)}
"""Stable integer code per shape, shared with the compiled kernels."""


def concrete_value(value: Any) -> np.ndarray | None:
    """Return ``value`` as a NumPy array when it is a known number, ``None`` when it is traced.

    Parameters built inside ``jit``/``vmap`` are tracers whose values are unknown until run time;
    validation can only judge values that are actually known.
    """
    if isinstance(value, (bool, int, float, np.ndarray, np.generic)):
        return np.asarray(value, dtype=np.float64)
    if isinstance(value, jax.Array) and not isinstance(value, jax.core.Tracer):
        try:
            return np.asarray(value, dtype=np.float64)
        except Exception:  # non-addressable arrays: leave them to the caller
            return None
    return None


@dataclasses.dataclass(frozen=True)
class Surrogate:
    """One surrogate gradient: ``shape`` (static) with peak ``gamma``, sharpness ``beta``, tail ``q``.

    ``q`` is used only by ``q_pseudo_spike`` (``q = 2`` is the fast sigmoid, ``q -> inf`` the
    exponential); the other shapes ignore it.
    """

    shape: str = "fast_sigmoid"
    gamma: ArrayLike = 1.0
    beta: ArrayLike = 1.0
    q: ArrayLike = 2.0

    def __post_init__(self) -> None:
        if self.shape not in _DERIVATIVES:
            raise ValueError(
                f"unknown surrogate shape {self.shape!r}; valid shapes: {', '.join(SHAPES)}"
            )
        for name, low in (("gamma", 0.0), ("beta", 0.0)):
            value = concrete_value(getattr(self, name))
            if value is not None and not np.all(value > low):
                raise ValueError(f"surrogate {name} must be > {low}, got {getattr(self, name)!r}")
        q = concrete_value(self.q)
        if self.shape == "q_pseudo_spike" and q is not None and not np.all(q > 1.0):
            raise ValueError(f"surrogate tail q must be > 1 for q_pseudo_spike, got {self.q!r}")

    def derivative(self, u: ArrayLike) -> Array:
        """The surrogate ``dz/du`` evaluated at centred voltage ``u``."""
        u = jnp.asarray(u)
        dtype = jnp.result_type(u, jnp.float32)
        cast = lambda x: jnp.asarray(x, dtype=dtype)  # noqa: E731 - keep float32 end to end
        return _DERIVATIVES[self.shape](u.astype(dtype), cast(self.gamma), cast(self.beta), cast(self.q))

    def spike(self, u: ArrayLike) -> Array:
        """Heaviside of ``u`` forward, this surrogate backward."""
        return spike(jnp.asarray(u), self)


_LEAVES = ("gamma", "beta", "q")


def _flatten_with_keys(sg: Surrogate) -> tuple[list[tuple[Any, Any]], str]:
    return [(jax.tree_util.GetAttrKey(name), getattr(sg, name)) for name in _LEAVES], sg.shape


def _unflatten(shape: str, leaves: Any) -> Surrogate:
    """Rebuild without ``__init__``: JAX rebuilds surrogates whose leaves are cotangents, zeros or
    placeholders, which are not parameter values and must not be validated as such."""
    sg = object.__new__(Surrogate)
    object.__setattr__(sg, "shape", shape)
    for name, value in zip(_LEAVES, leaves):
        object.__setattr__(sg, name, value)
    return sg


jax.tree_util.register_pytree_with_keys(Surrogate, _flatten_with_keys, _unflatten)


@jax.custom_vjp
def spike(u: Array, surrogate: Surrogate) -> Array:
    """``H(u)`` (1 where ``u > 0``) whose VJP is ``surrogate.derivative(u)``.

    The forward pass does not depend on ``gamma``/``beta``/``q``, so their cotangents are exactly
    zero: SG parameters are swept or searched, not learned by gradient.
    """
    return (u > 0).astype(jnp.result_type(u, jnp.float32))


def _spike_fwd(u: Array, surrogate: Surrogate) -> tuple[Array, tuple[Array, Surrogate]]:
    return spike(u, surrogate), (u, surrogate)


def _spike_bwd(residual: tuple[Array, Surrogate], g: Array) -> tuple[Array, Surrogate]:
    u, surrogate = residual
    zero_params = jax.tree.map(jnp.zeros_like, surrogate)
    return g * surrogate.derivative(u), zero_params


spike.defvjp(_spike_fwd, _spike_bwd)
