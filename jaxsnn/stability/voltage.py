"""Measure what conditions III and IV need from a short forward pass of a recurrent LIF layer.

Both conditions are stated over quantities that depend on the network's actual activity: the
voltage range the surrogate is evaluated over (IV) and the recurrent input each neuron receives
(III). The authors bound both from the weights alone, assuming every presynaptic neuron fires at
once; measuring them on sample inputs gives the range the network really visits at initialization.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxsnn.core import LIFParams, Surrogate, lif_scan

Array = jax.Array


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class VoltageRange:
    """Activity statistics of one forward pass (all leaves, so it can leave a ``jit``).

    ``u_min``/``u_max``: lowest and highest centred voltage ``u = v - theta`` over every neuron,
    step and sample, i.e. the interval over which condition IV averages ``sigma'(u)^2``.
    ``s_minus``/``s_plus`` ``(N,)``: per neuron, the deepest negative and the highest positive part
    of the recurrent input ``z[t-1] @ W_rec`` seen in the pass (the measured ``S-_j``, ``S+_j`` of
    condition III). ``rate``: mean firing rate, to compare with condition I's target 1/2.
    """

    u_min: Array
    u_max: Array
    s_minus: Array
    s_plus: Array
    rate: Array

    @property
    def centred_range(self) -> tuple[float, float]:
        """``(u_min, u_max)`` as Python floats, the ``v_range`` argument of ``solve_sharpness``."""
        return float(self.u_min), float(self.u_max)


def measure_voltage_range(
    params: LIFParams, w_in: ArrayLike, inputs: ArrayLike, surrogate: Surrogate
) -> VoltageRange:
    """Run the layer on ``inputs`` ``(T, B, n_in)`` from rest and collect ``VoltageRange``.

    ``S+_j`` / ``S-_j`` are split by weight sign: ``S+_j = max_{t,b} sum_i z_i[t-1] max(W_ij, 0)``
    and ``S-_j = min_{t,b} sum_i z_i[t-1] min(W_ij, 0)``. With ``z = 1`` everywhere they reduce to
    the authors' weight-only bounds, so the measured values are never larger in magnitude; unlike
    the net input ``z[t-1] @ W_rec`` they keep their signs, which condition III needs.

    Uses the ``lax.scan`` reference (``backend="xla"``): this is a short, one-off pass, and the
    forward values do not depend on ``surrogate`` (it is passed through for the LIF contract).
    Pure JAX, so it can be ``jit``-ted.
    """
    if params.w_rec is None:
        raise ValueError(
            "measure_voltage_range needs a recurrent layer: conditions III and IV are about the "
            "recurrent input, but params.w_rec is None"
        )
    inputs = jnp.asarray(inputs)
    if inputs.ndim != 3:
        raise ValueError(f"inputs must be (T, B, n_in) time-major, got shape {inputs.shape}")
    w_rec = jnp.asarray(params.w_rec)
    out = lif_scan(
        params, inputs @ jnp.asarray(w_in), None, surrogate, return_voltages=True, backend="xla"
    )
    previous = jnp.concatenate([jnp.zeros_like(out.spikes[:1]), out.spikes[:-1]])
    centred = out.voltages - jnp.asarray(params.theta)
    return VoltageRange(
        u_min=jnp.min(centred),
        u_max=jnp.max(centred),
        s_minus=jnp.min(previous @ jnp.minimum(w_rec, 0.0), axis=(0, 1)),
        s_plus=jnp.max(previous @ jnp.maximum(w_rec, 0.0), axis=(0, 1)),
        rate=jnp.mean(out.spikes),
    )
