"""The ``lax.scan`` LIF reference: the semantics every other backend must reproduce.

Discrete-time LIF (Herranz-Celotti & Rouat), per step ``t`` with ``I[t]`` the input currents:

    reset="subtract":  v[t] = alpha*v[t-1] + I[t] + z[t-1] @ w_rec - theta*z[t-1]
    reset="zero":      v[t] = alpha*v[t-1]*(1 - z[t-1]) + I[t] + z[t-1] @ w_rec
    z[t] = spike(v[t] - theta)     (Heaviside forward, surrogate backward)

With ``detach_reset`` the ``z[t-1]`` inside the reset term is treated as a constant in the
backward pass (the snnTorch convention); without it the reset is differentiated as well.
Gradients come from JAX autodiff through the scan, so this file is also the gradient reference.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxsnn.core.params import LIFOutput, LIFParams, LIFState
from jaxsnn.core.surrogate import Surrogate


def lif_step(
    params: LIFParams,
    state: LIFState,
    current: jax.Array,
    surrogate: Surrogate,
    reset: str,
    detach_reset: bool,
) -> LIFState:
    """Advance one time step; ``current`` is ``(B, N)``."""
    v_prev, z_prev = state
    z_reset = lax.stop_gradient(z_prev) if detach_reset else z_prev
    v = params.alpha * v_prev + current
    if params.w_rec is not None:
        v = v + z_prev @ params.w_rec
    if reset == "subtract":
        v = v - params.theta * z_reset
    else:
        v = v - params.alpha * v_prev * z_reset
    z = surrogate.spike(v - params.theta)
    return LIFState(v, z)


def lif_scan_xla(
    params: LIFParams,
    currents: jax.Array,
    state: LIFState,
    surrogate: Surrogate,
    reset: str = "subtract",
    detach_reset: bool = False,
    return_voltages: bool = False,
) -> LIFOutput:
    """Run ``lif_step`` over the leading time axis of ``currents`` ``(T, B, N)``."""

    def body(carry: LIFState, current: jax.Array) -> tuple[LIFState, tuple[jax.Array, jax.Array]]:
        new = lif_step(params, carry, current, surrogate, reset, detach_reset)
        return new, (new.z, new.v if return_voltages else jnp.zeros((), currents.dtype))

    final, (spikes, voltages) = lax.scan(body, state, currents)
    return LIFOutput(spikes, voltages if return_voltages else None, final)
