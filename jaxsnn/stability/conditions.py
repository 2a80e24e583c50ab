"""Closed-form stability conditions I-III of Herranz-Celotti & Rouat for a recurrent LIF layer.

The layer is ``v[t] = alpha*v[t-1] + W_in x[t] + z[t-1] @ W_rec - theta*z[t-1]`` (reset by
subtraction), ``z[t] = H(v[t] - theta)``; ``W_rec[i, j]`` carries a spike of neuron ``i`` to neuron
``j``. All functions are plain ``jax.numpy`` arithmetic, so they accept scalars or per-neuron
``(N,)`` vectors and work under ``jit``/``vmap``; condition IV (a root search) lives in
``sharpness.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Array = jax.Array

TARGET_RATE = 0.5
"""The initial firing rate condition I aims at: half the neurons fire at any step, which maximises
the variance of ``z`` and therefore the amount of gradient the surrogate can pass."""


def recurrent_weight_mean(alpha: ArrayLike, theta: ArrayLike, n_rec: int) -> Array:
    """Condition I: ``mu_rec = (3 - 2*alpha) * theta / (n_rec - 1)``.

    Why: averaging the LIF update at a stationary rate ``r`` with zero-mean input weights gives
    ``(1 - alpha) E[v] = r * ((n_rec - 1) mu_rec - theta)``. With this ``mu_rec`` that is
    ``E[v] = 2 r theta``, so at ``r = 1/2`` the mean voltage sits exactly on the threshold: the
    recurrent drive of the half of the population that fires pays for the leak and for the
    subtractive reset, and rate 1/2 is self-consistent. ``n_rec - 1`` presynaptic neurons because
    the diagonal of ``W_rec`` is zero.
    """
    if n_rec < 2:
        raise ValueError(f"condition I needs at least 2 recurrent neurons, got n_rec={n_rec}")
    return (3.0 - 2.0 * jnp.asarray(alpha)) * jnp.asarray(theta) / (n_rec - 1)


def recurrent_weight_variance(
    input_mean: ArrayLike,
    input_var: ArrayLike,
    w_in_var: ArrayLike,
    n_in: int,
    n_rec: int,
    mu_rec: ArrayLike,
) -> Array:
    """Condition II: ``sigma_rec^2 = (Var x + (E x)^2) Var(W_in) n_in / (n_rec-1) - mu_rec^2 / 2``.

    Why: the recurrent current should fluctuate as much as the feed-forward one, so that neither
    path drowns the other at initialization. The feed-forward current ``sum_i W_in[i, j] x_i`` of
    zero-mean weights has variance ``n_in Var(W_in) E[x^2]``; the recurrent one, with ``n_rec - 1``
    presynaptic neurons firing at rate 1/2 (condition I), carries ``sigma_rec^2 + mu_rec^2 / 2`` per
    synapse, the ``mu_rec^2 / 2`` being what the mean weight already contributes.

    Degenerate case (a decision, not a clip): when the feed-forward variance is no larger than
    ``mu_rec^2 / 2`` the condition has no positive solution, because the mean recurrent weight
    alone already fluctuates more than the whole input. Clipping to a tiny variance would silently
    return a constant, symmetric ``W_rec`` that violates the condition anyway, so this raises
    ``ValueError`` naming both sides and what to change. Under ``jit`` the value is unknown at
    trace time and cannot be checked: a traced non-positive result is returned as is (its square
    root is NaN downstream).
    """
    if n_rec < 2:
        raise ValueError(f"condition II needs at least 2 recurrent neurons, got n_rec={n_rec}")
    feedforward = (
        (jnp.asarray(input_var) + jnp.asarray(input_mean) ** 2)
        * jnp.asarray(w_in_var)
        * n_in
        / (n_rec - 1)
    )
    from_mean = jnp.asarray(mu_rec) ** 2 / 2.0
    variance = feedforward - from_mean
    if not isinstance(variance, jax.core.Tracer) and bool(jnp.any(variance <= 0)):
        raise ValueError(
            "condition II has no solution: the feed-forward drive (Var x + (E x)^2) Var(W_in) "
            f"n_in / (n_rec - 1) = {float(jnp.min(feedforward)):.6g} is not larger than "
            f"mu_rec^2 / 2 = {float(jnp.max(from_mean)):.6g}: the mean recurrent weight alone "
            "already makes the recurrent input fluctuate more than the feed-forward input. "
            "Use denser or stronger inputs, a larger input-weight variance or more inputs, or "
            "fewer recurrent neurons."
        )
    return variance


def dampening_gamma(
    alpha: ArrayLike, theta: ArrayLike, s_minus: ArrayLike, s_plus: ArrayLike
) -> Array:
    """Condition III: ``gamma_j = (1 - alpha) |S-_j| / (S+_j (|S-_j| + theta))``.

    ``S+_j >= 0`` and ``S-_j <= 0`` are the positive and negative parts of the recurrent input
    (in volts) that neuron ``j`` receives in one step: the largest rise that excitatory
    presynaptic spikes push it up by, and the deepest drop that inhibitory ones push it down by.
    The authors' code takes the worst case of every presynaptic neuron firing at once,
    ``S+_j = sum_i max(W_rec[i, j], 0)`` and ``S-_j = sum_i min(W_rec[i, j], 0)``;
    ``measure_voltage_range`` measures the extremes actually reached in a forward pass instead.

    Why: the one-step gradient gain of neuron ``j`` (the Jacobian row ``dv_j[t] / dv[t-1]`` summed
    over same-sign perturbations, surrogate at its peak ``gamma``) ranges from
    ``alpha - gamma (|S-_j| + theta)`` (inhibition plus its own reset) to ``alpha + gamma S+_j``
    (excitation). This ``gamma`` makes the upward excursion ``gamma S+_j`` equal to
    ``(1 - alpha) |S-_j| / (|S-_j| + theta) <= 1 - alpha``, so the largest gain never exceeds 1,
    and the downward one ``gamma (|S-_j| + theta)`` equal to ``(1 - alpha) |S-_j| / S+_j``: the two
    excursions keep the ratio of inhibition to excitation, and a balanced neuron's smallest gain
    ``2 alpha - 1`` never drops below -1. Gradients through time then neither explode nor
    oscillate.
    """
    magnitude = jnp.abs(jnp.asarray(s_minus))
    return (1.0 - jnp.asarray(alpha)) * magnitude / (jnp.asarray(s_plus) * (magnitude + theta))
