"""The LIF scan as two XLA FFI calls (forward, backward) tied together by ``jax.custom_vjp``.

The kernels see plain float32 arrays: ``alpha``/``theta`` and the surrogate's ``gamma``/``beta``/``q``
are broadcast to per-neuron vectors here, so JAX's autodiff of the broadcast sums per-neuron
gradients back to scalars. Surrogate parameters are runtime operands (never attributes), so a
sweep over them reuses one compiled program, and their cotangent is zero like ``spike``'s.
Under ``vmap`` every call is batched with ``vmap_method="broadcast_all"``: the handlers loop over
(and parallelize across) the vmap dimensions, giving exactly the numbers of a Python loop.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxsnn.core.kernels._loader import require_built
from jaxsnn.core.params import LIFOutput, LIFParams, LIFState
from jaxsnn.core.surrogate import SHAPE_INDEX, Surrogate

Array = jax.Array
_RESET_CODE = {"subtract": 0, "zero": 1}
_VMAP = "broadcast_all"


@dataclasses.dataclass(frozen=True)
class _Config:
    """Static (compile-time) choices; everything numeric is an operand."""

    shape: int
    reset: int
    detach_reset: bool
    return_voltages: bool


def _forward(config: _Config, store_voltages: bool, currents, alpha, theta, w_rec, v0, z0):
    t, b, n = currents.shape
    f32 = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32)  # noqa: E731
    call = jax.ffi.ffi_call(
        "jaxsnn_lif_forward",
        (f32(t, b, n), f32(t if store_voltages else 0, b, n), f32(b, n), f32(b, n)),
        vmap_method=_VMAP,
    )
    return call(currents, alpha, theta, w_rec, v0, z0, reset=np.int64(config.reset))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _lif(config: _Config, currents, alpha, theta, w_rec, v0, z0, sg):
    """(spikes, voltages or (0, B, N), v_final, z_final); ``sg`` rows are gamma, beta, q."""
    return tuple(_forward(config, config.return_voltages, currents, alpha, theta, w_rec, v0, z0))


def _lif_fwd(config: _Config, currents, alpha, theta, w_rec, v0, z0, sg):
    spikes, voltages, v, z = _forward(config, True, currents, alpha, theta, w_rec, v0, z0)
    shown = voltages if config.return_voltages else voltages[:0]
    return (spikes, shown, v, z), (alpha, theta, w_rec, v0, z0, sg, spikes, voltages)


def _lif_bwd(config: _Config, residuals, cotangents):
    alpha, theta, w_rec, v0, z0, sg, spikes, voltages = residuals
    g_spikes, g_voltages, g_v, g_z = cotangents
    call = jax.ffi.ffi_call(
        "jaxsnn_lif_backward",
        tuple(jax.ShapeDtypeStruct(x.shape, jnp.float32) for x in (spikes, alpha, theta, w_rec, v0, z0)),
        vmap_method=_VMAP,
    )
    grads = call(
        alpha, theta, w_rec, v0, z0, sg, spikes, voltages, g_spikes, g_voltages, g_v, g_z,
        shape=np.int64(config.shape), reset=np.int64(config.reset),
        detach_reset=bool(config.detach_reset),
    )
    return (*grads, jnp.zeros_like(sg))


_lif.defvjp(_lif_fwd, _lif_bwd)


def _per_neuron(name: str, value, neurons: int) -> Array:
    """``value`` as a float32 ``(N,)`` vector; scalars are broadcast, anything else is an error."""
    if jnp.shape(value) not in ((), (neurons,)):
        raise ValueError(
            f"the compiled LIF kernel takes {name} as a scalar or ({neurons},) vector, got shape "
            f"{jnp.shape(value)}; use backend='xla' for other shapes"
        )
    return jnp.broadcast_to(jnp.asarray(value, jnp.float32), (neurons,))


def lif_scan_ffi(
    params: LIFParams,
    currents: Array,
    state: LIFState,
    surrogate: Surrogate,
    reset: str,
    detach_reset: bool,
    return_voltages: bool,
) -> LIFOutput:
    """The compiled equivalent of ``reference.lif_scan_xla`` (inputs already validated)."""
    require_built()
    if jnp.result_type(currents) != jnp.float32:
        raise TypeError(
            f"the compiled LIF kernel is float32-only, got currents of dtype {jnp.result_type(currents)}; "
            "cast them or use backend='xla'"
        )
    _, batch, neurons = currents.shape
    alpha = _per_neuron("alpha", params.alpha, neurons)
    theta = _per_neuron("theta", params.theta, neurons)
    w_rec = (
        jnp.zeros((0, neurons), jnp.float32)
        if params.w_rec is None
        else jnp.asarray(params.w_rec, jnp.float32)
    )
    sg = jnp.stack([_per_neuron(name, getattr(surrogate, name), neurons) for name in ("gamma", "beta", "q")])
    config = _Config(SHAPE_INDEX[surrogate.shape], _RESET_CODE[reset], detach_reset, return_voltages)
    v0, z0 = (jnp.asarray(x, jnp.float32) for x in state)
    spikes, voltages, v, z = _lif(config, currents, alpha, theta, w_rec, v0, z0, sg)
    return LIFOutput(spikes, voltages if return_voltages else None, LIFState(v, z))
