"""Acquisition functions and their optimisation over a (mixed) search space.

Constrained log expected improvement: ``log EI(x) + sum_j log P(g_j(x) <= 0)``, all objectives
maximised. Plain EI underflows to exactly zero far from the incumbent, which leaves gradient-based
optimisers on a flat plateau; the log-EI of Ament et al. 2023 ("Unexpected improvements to expected
improvement") evaluates ``log h(z)``, ``h(z) = phi(z) + z Phi(z)``, stably for any ``z``. When no
observation is feasible yet, improvement is undefined and the acquisition is the total log
probability of feasibility, which steers the search into the feasible region first.

Fully Bayesian GPs (several hyperparameter samples) are handled by averaging EI and each PoF over
the samples in probability space (``logsumexp - log S``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
import scipy.stats
from jax.scipy.special import erfcx, log_ndtr, logsumexp, ndtr

from jaxsnn.hpo.gp import GP, float64, gp_jit, predict_samples
from jaxsnn.hpo.space import Space

_C1 = 0.5 * math.log(2 * math.pi)
_C2 = 0.5 * math.log(math.pi / 2)


def _log1mexp(x: jax.Array) -> jax.Array:
    """``log(1 - exp(x))`` for ``x < 0`` without cancellation (Mächler 2012)."""
    return jnp.where(x > -math.log(2.0), jnp.log(-jnp.expm1(x)), jnp.log1p(-jnp.exp(x)))


_TAIL = -12.0
"""Below this ``z`` log_h uses its asymptotic series. ``erfcx``'s derivative overflows where
``exp(x^2)`` does (``z`` about -13.3 in float32, -37.6 in float64) and gave NaN gradients there;
at ``|z| >= 12`` the first omitted term, ``945 / z^8``, is below 2.2e-6 of ``h``."""


def log_h(z: jax.Array) -> jax.Array:
    """``log(phi(z) + z Phi(z))``, accurate and with finite gradients for every finite ``z``.

    Three regimes (after Ament et al. 2023, eq. 9): direct for ``z > -1``; via the scaled
    complementary error function ``erfcx`` down to :data:`_TAIL`; below it the asymptotic series
    ``h(z) = phi(z) / z^2 (1 - 3/z^2 + 15/z^4 - 105/z^6 + ...)``. Each branch sees a clamped input
    so the unused ones stay finite and ``jnp.where`` does not leak NaN gradients.
    """
    z_hi = jnp.maximum(z, -1.0)
    direct = jnp.log(jnp.exp(-0.5 * z_hi**2 - _C1) + z_hi * ndtr(z_hi))
    z_mid = jnp.clip(z, _TAIL, -1.0)
    mid = -0.5 * z_mid**2 - _C1 + _log1mexp(jnp.log(erfcx(-z_mid / math.sqrt(2)) * jnp.abs(z_mid)) + _C2)
    z_lo = jnp.minimum(z, _TAIL)
    u = 1.0 / z_lo**2
    tail = -0.5 * z_lo**2 - _C1 + jnp.log(u) + jnp.log1p(u * (-3.0 + u * (15.0 - 105.0 * u)))
    return jnp.where(z > -1.0, direct, jnp.where(z > _TAIL, mid, tail))


def log_ei(mean: jax.Array, var: jax.Array, best: jax.Array) -> jax.Array:
    """Log expected improvement over ``best`` of a Gaussian ``N(mean, var)`` (maximisation)."""
    sigma = jnp.sqrt(var)
    return log_h((mean - best) / sigma) + jnp.log(sigma)


def log_pof(mean: jax.Array, var: jax.Array) -> jax.Array:
    """Log probability that a Gaussian constraint value ``N(mean, var)`` is ``<= 0``."""
    return log_ndtr(-mean / jnp.sqrt(var))


def _mixture(log_values: jax.Array) -> jax.Array:
    """Log of the mean over the leading hyperparameter-sample axis."""
    return logsumexp(log_values, axis=0) - math.log(log_values.shape[0])


def total_log_pof(constraints: Sequence[GP], X: jax.Array) -> jax.Array:
    """``sum_j log P(g_j(x) <= 0)`` at rows of ``X`` (zero without constraints)."""
    total = jnp.zeros(X.shape[0])
    for gp in constraints:
        total = total + _mixture(log_pof(*predict_samples(gp, X)))
    return total


def constrained_log_ei(args: tuple[GP, tuple[GP, ...], jax.Array, jax.Array], X: jax.Array) -> jax.Array:
    """Constrained log-EI at rows of ``X``; ``args = (objective, constraints, best, any_feasible)``.

    ``best`` is the best feasible objective value; with ``any_feasible`` false the result is the
    total log PoF alone (``best`` is then ignored).
    """
    objective, constraints, best, any_feasible = args
    lpof = total_log_pof(constraints, X)
    mean, var = predict_samples(objective, X)
    lei = _mixture(log_ei(mean, var, jnp.where(any_feasible, best, 0.0)))
    return jnp.where(any_feasible, lei + lpof, lpof)


def log_ei_per_second(args: tuple[GP, tuple[GP, ...], jax.Array, jax.Array, GP], X: jax.Array) -> jax.Array:
    """Constrained log-EI minus the predicted log trial seconds: expected improvement per second
    (Snoek et al. 2012), for budgets counted in compute rather than in trials.

    ``args = (objective, constraints, best, any_feasible, log_cost)``; ``log_cost`` models
    ``log(cost_s)``. The mean over hyperparameter samples of its posterior mean is the penalty.
    """
    *rest, log_cost = args
    return constrained_log_ei(tuple(rest), X) - jnp.mean(predict_samples(log_cost, X)[0], axis=0)


def violation(C: np.ndarray) -> np.ndarray:
    """Total violation per row: the sum of the *positive parts* ``max(g_j, 0)``.

    Summing raw values (one of the SCBO-tutorial defects) lets a very negative, satisfied
    constraint hide a violated one.
    """
    C = np.asarray(C, dtype=float)
    return np.maximum(C, 0.0).sum(axis=-1)


def feasibility_order(y: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Indices sorted best first: feasible rows by decreasing ``y``, then the rest by violation."""
    v = violation(C).reshape(len(y))
    feasible = v <= 0
    return np.lexsort((np.where(feasible, -np.asarray(y, dtype=float), v), ~feasible))


def best_feasible(y: np.ndarray, C: np.ndarray) -> tuple[float, bool]:
    """Largest ``y`` among rows with every constraint ``<= 0``; ``(nan, False)`` when none is feasible."""
    feasible = violation(C).reshape(len(y)) <= 0
    return (float(np.max(y[feasible])), True) if feasible.any() else (math.nan, False)


# --- optimisation over the space ----------------------------------------------------------------
AcquisitionFn = Callable[[Any, jax.Array], jax.Array]


@functools.lru_cache(maxsize=None)
def _compiled(fn: AcquisitionFn) -> tuple[Callable, Callable]:
    """Jitted values and value-and-gradient (of the sum) of a module-level acquisition function.

    The fitted models are passed as pytree *arguments*, so a new ask with new data reuses the
    compiled code whenever the padded shapes are unchanged.
    """
    values = gp_jit(fn)
    value_and_grad = gp_jit(jax.value_and_grad(lambda X, args: jnp.sum(fn(args, X))))
    return values, value_and_grad


def design_size(space: Space, cap: int) -> int:
    """The default initial-design size: the space's encoded dimension, between 5 and ``cap``."""
    return max(5, min(space.dim, cap))


def sobol(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """The first ``n`` points of a scrambled Sobol sequence in ``[0, 1]^d`` seeded by ``rng``."""
    m = max(0, math.ceil(math.log2(n)))
    return scipy.stats.qmc.Sobol(d, scramble=True, seed=rng).random_base2(m)[:n]


@float64
def maximize(
    fn: AcquisitionFn,
    args: Any,
    space: Space,
    rng: np.random.Generator,
    anchors: np.ndarray,
    n_candidates: int = 1024,
    n_local: int = 256,
    n_refine: int = 4,
    refine_steps: int = 30,
) -> tuple[np.ndarray, np.ndarray]:
    """Valid encodings sorted by decreasing acquisition value, and those values.

    Candidates: a Sobol design over the cube plus Gaussian perturbations of ``anchors`` (typically
    the best observed points), all projected onto the space. The ``n_refine`` best are then polished
    by L-BFGS-B in the relaxed cube (integer and one-hot coordinates relax to ``[0, 1]``) and
    projected again; the caller takes the first that is not a duplicate.
    """
    values_fn, value_and_grad = _compiled(fn)
    d = space.dim
    X = [sobol(rng, n_candidates, d)]
    anchors = np.asarray(anchors, dtype=float).reshape(-1, d)
    if len(anchors):
        centres = anchors[rng.integers(len(anchors), size=n_local)]
        X.append(np.clip(centres + rng.normal(scale=0.05, size=(n_local, d)), 0.0, 1.0))
    X = space.project(np.concatenate(X))
    values = np.asarray(values_fn(args, jnp.asarray(X)))
    values = np.where(np.isfinite(values), values, -np.inf)

    starts = X[np.argsort(-values)[:n_refine]]
    shape = starts.shape

    def fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = value_and_grad(jnp.asarray(flat.reshape(shape)), args)
        grad = np.nan_to_num(np.asarray(grad).ravel())
        return (-float(value), -grad) if np.isfinite(value) else (1e30, np.zeros_like(grad))

    res = scipy.optimize.minimize(
        fun, starts.ravel(), jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * starts.size,
        options={"maxiter": refine_steps},
    )
    refined = space.project(res.x.reshape(shape))
    refined_values = np.asarray(values_fn(args, jnp.asarray(refined)))
    X = np.concatenate([refined, X])
    values = np.concatenate([np.where(np.isfinite(refined_values), refined_values, -np.inf), values])
    order = np.argsort(-values, kind="stable")
    return X[order], values[order]
