"""An independent NumPy LIF: explicit forward loop and hand-derived BPTT backward pass.

Written from the update equations only (no JAX), so agreement with the JAX core checks both the
forward semantics and the surrogate backward pass rather than the same code twice.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def forward(currents, alpha, theta, w_rec, reset="subtract"):
    """Return voltages and spikes ``(T, B, N)`` from rest."""
    steps, batch, n = currents.shape
    v_prev, z_prev = np.zeros((batch, n)), np.zeros((batch, n))
    vs, zs = np.zeros_like(currents), np.zeros_like(currents)
    for t in range(steps):
        rec = z_prev @ w_rec if w_rec is not None else 0.0
        if reset == "subtract":
            v = alpha * v_prev + currents[t] + rec - theta * z_prev
        else:
            v = alpha * v_prev * (1 - z_prev) + currents[t] + rec
        z = (v - theta > 0).astype(float)
        vs[t], zs[t] = v, z
        v_prev, z_prev = v, z
    return vs, zs


def backward(currents, alpha, theta, w_rec, grad_z, sg: Callable[[np.ndarray], np.ndarray],
             reset="subtract", detach_reset=False):
    """Gradients of ``sum(grad_z * z)`` w.r.t. currents, w_rec, alpha and theta (per neuron)."""
    vs, zs = forward(currents, alpha, theta, w_rec, reset)
    steps, batch, n = currents.shape
    alpha_b, theta_b = np.broadcast_to(alpha, (n,)), np.broadcast_to(theta, (n,))
    d_cur = np.zeros_like(currents)
    d_w = np.zeros((n, n)) if w_rec is not None else None
    d_alpha, d_theta = np.zeros(n), np.zeros(n)
    dv_next = np.zeros((batch, n))  # dL/dv[t+1]
    for t in reversed(range(steps)):
        v, z = vs[t], zs[t]
        v_prev = vs[t - 1] if t > 0 else np.zeros((batch, n))
        z_prev_next = z  # z[t] as seen by step t+1
        # dL/dz[t]: direct + through step t+1 (recurrence and reset)
        dz = grad_z[t].copy()
        if t + 1 < steps:
            if w_rec is not None:
                dz += dv_next @ w_rec.T
            if not detach_reset:
                if reset == "subtract":
                    dz += -theta_b * dv_next
                else:
                    dz += -alpha_b * v * dv_next
        surrogate = sg(v - theta_b)
        dv = dz * surrogate
        # through v[t+1] = alpha*v[t]*(1 - z[t] if zero-reset) + ...
        if t + 1 < steps:
            keep = (1 - z_prev_next) if reset == "zero" else 1.0
            dv += alpha_b * keep * dv_next
        d_theta += (-dz * surrogate).sum(0)
        d_cur[t] = dv
        z_prev = zs[t - 1] if t > 0 else np.zeros((batch, n))
        keep_prev = (1 - z_prev) if reset == "zero" else 1.0
        d_alpha += (v_prev * keep_prev * dv).sum(0)
        if reset == "subtract":
            d_theta += (-z_prev * dv).sum(0)
        if w_rec is not None:
            d_w += z_prev.T @ dv
        dv_next = dv
    return d_cur, d_w, d_alpha, d_theta
