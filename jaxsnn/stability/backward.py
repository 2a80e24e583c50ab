"""An independent numerical check of condition IV: simulate the surrogate-gradient backward pass.

Condition IV (``sharpness.py``) predicts gradient growth through time from three summary
statistics and a *uniform* voltage distribution. This module measures the same thing directly:
run the network forward once, keep the centred voltages ``u[t] = v[t] - theta``, and push a
cotangent backward through the exact linearised recursion of the surrogate-gradient BPTT,

    v_j[t] = alpha v_j[t-1] + sum_i W_ij z_i[t-1] - theta z_j[t-1],  dz_i/dv_i := sigma'(u_i)

    g_i[t-1] = (alpha - theta s_i[t-1]) g_i[t] + s_i[t-1] sum_j W_ij g_j[t],  s = sigma'(u)

(the reset is differentiated, as in ``lif_scan`` without ``detach_reset``). The forward pass does
not depend on the surrogate, so one simulation serves every ``beta``/``gamma``. Two numbers per
surrogate come out:

- ``growth``: the geometric-mean factor by which ``||g||`` grows per backward step (a finite-time
  Lyapunov exponent of the gradient), what actually decides whether BPTT gradients explode;
- ``mean_square_gain``: the exact expected one-step gain ``E||J^T g||^2 / ||g||^2`` for an
  isotropic ``g`` under the *observed* voltages, i.e. condition IV's left side without its two
  approximations (uniform voltages, and the dropped cross term ``-2 alpha theta E[sigma']`` of
  the diagonal ``(alpha - theta sigma')^2``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxsnn.core import LIFParams, Surrogate, lif_scan

Array = jax.Array


def centred_voltages(params: LIFParams, w_in: ArrayLike, inputs: ArrayLike) -> Array:
    """Forward pass from rest on ``inputs`` ``(T, B, n_in)``: ``u = v - theta`` ``(T, B, N)``."""
    out = lif_scan(
        params, jnp.asarray(inputs) @ jnp.asarray(w_in), return_voltages=True, backend="xla"
    )
    return out.voltages - jnp.asarray(params.theta)


def _pull_one_step(params: LIFParams, slope: Array, g: Array) -> Array:
    """``g[t-1] = J[t]^T g[t]`` for cotangents ``g`` ``(B, N)`` and ``slope = sigma'(u[t-1])``."""
    alpha, theta = jnp.asarray(params.alpha), jnp.asarray(params.theta)
    return (alpha - theta * slope) * g + slope * (g @ jnp.asarray(params.w_rec).T)


def pullback(params: LIFParams, u: Array, surrogate: Surrogate, cotangent: Array) -> Array:
    """``d <cotangent, v[T-1]> / d v[0]`` by the recursion, ``(B, N)``: what BPTT computes."""

    def body(g: Array, u_prev: Array) -> tuple[Array, None]:
        return _pull_one_step(params, surrogate.derivative(u_prev), g), None

    g, _ = jax.lax.scan(body, cotangent, u[:-1], reverse=True)
    return g


def backward_growth(
    params: LIFParams, u: Array, surrogate: Surrogate, key: Array, burn_in: int = 10
) -> Array:
    """Geometric-mean growth of ``||g||`` per backward step, averaged (in log) over the batch.

    Starts from a random unit cotangent at the last step and renormalises every step (so long
    runs neither overflow nor underflow); the first ``burn_in`` backward steps, in which ``g``
    turns towards the most growing directions, are left out of the average.
    """
    if u.shape[0] <= burn_in + 1:
        raise ValueError(f"need more than burn_in + 1 = {burn_in + 1} steps, got {u.shape[0]}")
    g = jax.random.normal(key, u.shape[1:], u.dtype)
    g = g / jnp.linalg.norm(g, axis=-1, keepdims=True)

    def body(g: Array, u_prev: Array) -> tuple[Array, Array]:
        pulled = _pull_one_step(params, surrogate.derivative(u_prev), g)
        norm = jnp.linalg.norm(pulled, axis=-1, keepdims=True)
        return pulled / norm, jnp.log(norm[:, 0])

    _, log_norms = jax.lax.scan(body, g, u[:-1], reverse=True)  # log_norms[k]: step k+1 -> k
    steady = log_norms[: u.shape[0] - 1 - burn_in]
    return jnp.exp(jnp.mean(steady))


def mean_square_gain(params: LIFParams, u: Array, surrogate: Surrogate) -> Array:
    """Exact one-step gain of ``E||g||^2`` for an isotropic cotangent under the observed voltages.

    ``E_{t,b,i}[(alpha - theta s_i + s_i W_ii)^2 + s_i^2 sum_{j != i} W_ij^2]``; condition IV
    approximates it by ``E[alpha^2] + ((n_rec - 1) E[w^2] + E[theta^2]) E_uniform[s^2]``.
    """
    slope = surrogate.derivative(u[:-1])
    alpha, theta = jnp.asarray(params.alpha), jnp.asarray(params.theta)
    w_rec = jnp.asarray(params.w_rec)
    diagonal = jnp.diagonal(w_rec)
    off_diagonal_sq = jnp.sum(w_rec**2, axis=1) - diagonal**2  # sum_{j != i} W_ij^2, (N,)
    return jnp.mean((alpha - (theta - diagonal) * slope) ** 2 + slope**2 * off_diagonal_sq)


def crossing(xs: np.ndarray, gains: np.ndarray, level: float = 1.0) -> float:
    """The first ``x`` (increasing ``xs``) at which ``gains`` crosses ``level``; NaN if none.

    Interpolates ``log gain`` linearly in ``log x`` between the two grid points that bracket the
    crossing: the measured growth is a noisy, not always monotone, function of ``beta``, so a grid
    scan is safer than a root search that assumes one sign change.
    """
    log_x = np.log(np.asarray(xs, float))
    log_gain = np.log(np.asarray(gains, float) / level)
    changes = np.flatnonzero(np.sign(log_gain[:-1]) != np.sign(log_gain[1:]))
    if changes.size == 0:
        return float("nan")
    i = int(changes[0])
    weight = log_gain[i] / (log_gain[i] - log_gain[i + 1])
    return float(np.exp(log_x[i] + weight * (log_x[i + 1] - log_x[i])))
