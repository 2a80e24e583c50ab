"""Event-driven input projection: ``x @ w_in`` that only visits the nonzero entries of ``x``.

Spike inputs are ~95 % zeros. ``event_project`` computes exactly the dense product (summed in a
different order, so equal to float32 rounding) but its forward pass adds only the rows of ``w_in``
selected by active inputs and its weight gradient ``x^T g`` accumulates only over active inputs:
~1/density fewer multiply-adds than a dense matmul, for any real-valued ``x``. The input gradient
``g @ w_in^T`` is dense anyway and stays an XLA dot, which XLA drops when ``x`` is data.

``lif_dense_event`` chains it with the compiled LIF scan: a dense (fully connected) LIF layer
driven by sparse spikes. Composition rather than one fused kernel keeps each kernel to one job;
the (T, B, N) currents it materializes cost one memory pass, small next to the projection.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxsnn.core.kernels._loader import require_built
from jaxsnn.core.kernels.lif_op import lif_scan_ffi
from jaxsnn.core.params import LIFOutput, LIFParams, LIFState, validate
from jaxsnn.core.surrogate import Surrogate

Array = jax.Array
_VMAP = "broadcast_all"


def _check(x: Array, w: Array) -> None:
    for name, value in (("inputs", x), ("w_in", w)):
        if jnp.result_type(value) != jnp.float32:
            raise TypeError(f"event_project is float32-only, got {name} of dtype {jnp.result_type(value)}")
    if w.ndim != 2 or x.ndim < 1 or x.shape[-1] != w.shape[0]:
        raise ValueError(
            f"event_project needs inputs (..., K) and w_in (K, N), got {tuple(x.shape)} and {tuple(w.shape)}"
        )


@jax.custom_vjp
def event_project(x: Array, w: Array) -> Array:
    """``x @ w`` for ``x`` ``(..., K)`` and ``w`` ``(K, N)``, skipping zero entries of ``x``."""
    require_built()
    _check(x, w)
    call = jax.ffi.ffi_call(
        "jaxsnn_event_project",
        jax.ShapeDtypeStruct((*x.shape[:-1], w.shape[1]), jnp.float32),
        vmap_method=_VMAP,
    )
    return call(x, w)


def _event_project_fwd(x: Array, w: Array) -> tuple[Array, tuple[Array, Array]]:
    return event_project(x, w), (x, w)


def _event_project_bwd(residuals: tuple[Array, Array], g: Array) -> tuple[Array, Array]:
    x, w = residuals
    grad_w = jax.ffi.ffi_call(
        "jaxsnn_event_project_grad_w",
        jax.ShapeDtypeStruct(w.shape, jnp.float32),
        vmap_method=_VMAP,
    )
    return g @ w.T, grad_w(x, g)


event_project.defvjp(_event_project_fwd, _event_project_bwd)


def lif_dense_event(
    params: LIFParams,
    w_in: ArrayLike,
    inputs: ArrayLike,
    state: LIFState | None = None,
    surrogate: Surrogate = Surrogate(),
    *,
    reset: str = "subtract",
    detach_reset: bool = False,
    return_voltages: bool = False,
) -> LIFOutput:
    """A dense LIF layer on sparse inputs: ``lif_scan(params, inputs @ w_in, ...)`` on the kernels.

    ``inputs`` are ``(T, B, K)`` time-major (typically binary spikes) and ``w_in`` is ``(K, N)``;
    the rest is as in ``jaxsnn.core.lif_scan``. Same numbers as the dense path up to float32
    summation order, and the gradient w.r.t. ``w_in`` costs in proportion to the active inputs.
    """
    currents = event_project(jnp.asarray(inputs), jnp.asarray(w_in))
    initial = validate(params, currents, state, reset)
    return lif_scan_ffi(params, currents, initial, surrogate, reset, detach_reset, return_voltages)
