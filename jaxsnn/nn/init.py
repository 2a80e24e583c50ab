"""Random initial weights without one XLA compilation per weight shape.

JAX compiles a ``jax.random`` draw once per output shape, about 0.4 s each on two cores. In a
hyperparameter study nearly every trial has its own layer widths, so building a network paid
one such compilation per weight matrix before the first batch (issue 17). Here a draw is made at
a bucketed *length* and cut to the weight's shape on the host: with partitionable threefry (JAX's
default) element ``i`` of a draw depends only on the key and ``i``, so the values are
bit-identical to a draw of the exact shape (tested). Every weight of up to :data:`MIN_LENGTH`
elements (a 256 x 256 layer) comes from one program per distribution, larger ones from the next
power of two: a study compiles two or three draw programs per worker, where one per power of two
cost a new trial 0.1 s now and then (a draw of the full bucket takes 0.6 ms), and the persistent
compilation cache keeps them across processes.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

Distribution = Literal["truncated_normal", "normal", "uniform"]

MIN_LENGTH = 1 << 16
"""The shortest draw: drawing 65,536 numbers costs 0.6 ms on a CPU core, compiling another
length 0.12 s."""

_TRUNCATED_STD = 0.87962566103423978
"""Standard deviation of a standard normal truncated to (-2, 2), as ``jax.nn.initializers``."""


@functools.partial(jax.jit, static_argnames=("length", "distribution", "dtype"))
def _draw(key: jax.Array, *, length: int, distribution: Distribution, dtype: jnp.dtype) -> jax.Array:
    """``length`` samples of the standard distribution (``truncated_normal``: cut at +-2;
    ``uniform``: on [0, 1))."""
    if distribution == "truncated_normal":
        return jax.random.truncated_normal(key, -2, 2, (length,), dtype)
    if distribution == "uniform":
        return jax.random.uniform(key, (length,), dtype)
    return jax.random.normal(key, (length,), dtype)


def draw(
    key: jax.Array,
    shape: tuple[int, ...],
    distribution: Distribution,
    scale: jax.Array | float,
    shift: float = 0.0,
    dtype: jnp.dtype = jnp.float32,
) -> jax.Array:
    """``shift + scale * jax.random.<distribution>(key, shape)`` from a bucketed draw
    (``"uniform"`` with ``shift=0``: ``jax.random.uniform(key, shape, dtype, 0, scale)``).

    Scaling and shifting are single IEEE operations on the host: done inside the compiled draw,
    XLA would fuse them into the sampler and round differently from JAX's eager arithmetic.
    """
    size = math.prod(shape)
    length = max(MIN_LENGTH, 1 << max(size - 1, 0).bit_length())
    flat = np.asarray(_draw(key, length=length, distribution=distribution, dtype=jnp.dtype(dtype)))
    values = flat[:size].reshape(shape) * np.asarray(scale, dtype)
    return jax.device_put(values + np.asarray(shift, dtype) if shift else values)


def scaled_lecun(weight_scale: float) -> nnx.Initializer:
    """LeCun-normal weights times ``weight_scale``: the knob that sets the initial firing rate.

    The values of ``nnx.initializers.variance_scaling(weight_scale**2, "fan_in",
    "truncated_normal")`` (dense ``(in, out)`` and conv ``(..., in, out)`` kernels), drawn
    through ``draw``.
    """

    def init(key: jax.Array, shape: tuple[int, ...], dtype: jnp.dtype = jnp.float32) -> jax.Array:
        fan_in = shape[-2] * (math.prod(shape) / shape[-2] / shape[-1])
        variance = jnp.array(weight_scale**2 / fan_in, dtype=dtype)
        stddev = jnp.sqrt(variance) / jnp.array(_TRUNCATED_STD, dtype)
        return draw(key, tuple(shape), "truncated_normal", stddev, dtype=dtype)

    return init
