"""Several objectives: Pareto fronts, hypervolume, expected hypervolume improvement, ParEGO.

All internals maximise (minimised objectives are negated by the optimizer). The region a new
point could add hypervolume to is split into axis-aligned cells on the grid of the front's
coordinates: a cell is either entirely dominated by one front point or not at all, so the
hypervolume improvement of a point ``y`` is ``sum over non-dominated cells of the volume of
cell ∩ [ref, y]`` — exact, vectorisable, and cheap for the 2-3 objectives EHVI is meant for.
EHVI averages that over Monte Carlo draws of the (independent) objective GPs; constraints weight
it by their probability of feasibility.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from jaxsnn.hpo.acquisition import maximize, total_log_pof, violation
from jaxsnn.hpo.dominance import non_dominated
from jaxsnn.hpo.gp import ScheduledGPs, believe, fit_gps, predict, predict_samples
from jaxsnn.hpo.optimizers import BayesianOptimizer, propose_logei
from jaxsnn.hpo.space import Space


def _cells(front: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid cells above ``ref``: lower corners, upper corners (``inf`` on the open side), dominated flag.

    A cell is dominated iff some front point is >= its upper corner; marking the cell just below
    each point and taking a reverse cumulative OR along every axis finds them all in O(#cells).
    """
    front = front[np.all(front > ref, axis=1)]
    m = len(ref)
    axes = [np.concatenate([np.unique(np.concatenate([[r], front[:, j]])), [np.inf]]) for j, r in enumerate(ref)]
    dominated = np.zeros(tuple(len(a) - 1 for a in axes), dtype=bool)
    if len(front):
        dominated[tuple(np.searchsorted(axes[j], front[:, j]) - 1 for j in range(m))] = True
    for axis in range(m):
        dominated = np.flip(np.logical_or.accumulate(np.flip(dominated, axis), axis=axis), axis)
    index = np.stack(np.meshgrid(*[np.arange(len(a) - 1) for a in axes], indexing="ij"), -1).reshape(-1, m)
    lower = np.stack([axes[j][index[:, j]] for j in range(m)], axis=1)
    upper = np.stack([axes[j][index[:, j] + 1] for j in range(m)], axis=1)
    return lower, upper, dominated.reshape(-1)


def hypervolume(Y: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume dominated by the rows of ``Y`` (maximised) above the reference point."""
    Y, ref = np.asarray(Y, dtype=float).reshape(-1, len(ref)), np.asarray(ref, dtype=float)
    if len(Y) == 0:
        return 0.0
    lower, upper, dominated = _cells(Y[non_dominated(Y)], ref)
    return float(np.sum(np.prod(upper[dominated] - lower[dominated], axis=1)))


def improvement_cells(front: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-dominated cells, padded with empty ones to a power-of-two count, at least 64 (stable jit
    shapes: a two-objective front of up to 8 points needs one EHVI program, not four; an empty
    cell adds exactly 0 to the improvement, so the padding changes no value)."""
    lower, upper, dominated = _cells(np.asarray(front, dtype=float).reshape(-1, len(ref)), np.asarray(ref, dtype=float))
    lower, upper = lower[~dominated], upper[~dominated]
    size = 1 << max(6, math.ceil(math.log2(len(lower))))
    pad = size - len(lower)
    return np.concatenate([lower, np.zeros((pad, len(ref)))]), np.concatenate([upper, np.zeros((pad, len(ref)))])


def hypervolume_improvement(Y: jax.Array, lower: jax.Array, upper: jax.Array) -> jax.Array:
    """Hypervolume each point of ``Y`` (shape ``(..., m)``) adds to the front the cells describe."""

    def add_cell(total: jax.Array, cell: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, None]:
        lo, hi = cell
        return total + jnp.prod(jnp.clip(jnp.minimum(Y, hi) - lo, 0.0), axis=-1), None

    # A scan over cells keeps memory at O(samples x candidates), whatever the front size.
    return jax.lax.scan(add_cell, jnp.zeros(Y.shape[:-1]), (lower, upper))[0]


def log_ehvi(args: tuple, X: jax.Array) -> jax.Array:
    """``log EHVI + sum log PoF``, or the total log PoF while nothing is feasible.

    ``args = (objectives, constraints, lower, upper, base_samples, any_feasible)`` with
    ``base_samples`` standard-normal draws ``(n_mc, m)`` fixed per ask (common random numbers, so
    the Monte Carlo estimate is a smooth deterministic function of ``X``).
    """
    objectives, constraints, lower, upper, base, any_feasible = args
    moments = [predict_samples(gp, X) for gp in objectives]
    mean = jnp.stack([m.mean(0) for m, _ in moments], axis=-1)  # (q, m): mixture moments
    var = jnp.stack([jnp.mean(v + m**2, 0) - m.mean(0) ** 2 for m, v in moments], axis=-1)
    Y = mean[None] + jnp.sqrt(jnp.maximum(var, 1e-12))[None] * base[:, None, :]  # (n_mc, q, m)
    ehvi = hypervolume_improvement(Y, lower, upper).mean(0)
    lpof = total_log_pof(constraints, X)
    return jnp.where(any_feasible, jnp.log(ehvi + 1e-300) + lpof, lpof)


def front_anchors(X: np.ndarray, Y: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Points to search around: every member of the feasible Pareto front, or the five least
    violating points while nothing is feasible.

    Not the best few by a sum of objectives: objectives in different units (an accuracy in
    [0, 1] beside a step count in the tens) would let the largest one pick every anchor, and the
    local search would never leave one end of the front.
    """
    feasible = violation(C) <= 0
    if feasible.any():
        return X[np.flatnonzero(feasible)[non_dominated(Y[feasible])]]
    return X[np.argsort(violation(C), kind="stable")[:5]]


class MOBO(BayesianOptimizer):
    """Constrained multi-objective BO: Monte Carlo EHVI (2-3 objectives) or ParEGO.

    Options beyond :class:`~jaxsnn.hpo.optimizers.BayesianOptimizer`'s:

    - ``parego``: scalarise with augmented Chebyshev ``min_i w_i y_i + 0.05 sum_i w_i y_i`` of
      objectives normalised to ``[0, 1]``, weights drawn uniformly from the simplex at each ask,
      and maximise constrained log-EI of one GP on that (Knowles 2006). Any number of objectives.
    - ``ref_point``: hypervolume reference ``{objective: value}`` in the objectives' own units;
      by default the nadir of the current feasible front minus 10 % of the front's range.
    - ``n_mc``: quasi-Monte Carlo samples for EHVI (64).

    Pending points are fantasised: their predicted objectives join the front when predicted
    feasible, so EHVI there drops to about zero.
    """

    def __init__(
        self,
        space: Space,
        objectives: Mapping[str, str],
        constraints: Sequence[str] = (),
        seed: int = 0,
        *,
        parego: bool = False,
        ref_point: Mapping[str, float] | None = None,
        n_mc: int = 64,
        **options: Any,
    ) -> None:
        super().__init__(space, objectives, constraints, seed, **options)
        if len(self.objectives) < 2:
            raise ValueError(f"mobo needs at least two objectives, got {list(self.objectives)}; use 'logei' or 'scbo'")
        if not parego and len(self.objectives) > 3:
            raise ValueError(f"EHVI supports 2-3 objectives, got {len(self.objectives)}; pass parego=True")
        if ref_point is not None and set(ref_point) != set(self.objectives):
            raise ValueError(f"ref_point must give a value for each objective {list(self.objectives)}, got {list(ref_point)}")
        self.parego = bool(parego)
        self.ref_point = None if ref_point is None else np.array([ref_point[n] for n in self.objectives]) * self._signs
        self.n_mc = int(n_mc)

    def reference(self, Y: np.ndarray, C: np.ndarray) -> np.ndarray:
        """The hypervolume reference point (maximisation form)."""
        if self.ref_point is not None:
            return self.ref_point
        feasible = Y[violation(C) <= 0]
        base = feasible if len(feasible) else Y
        front = base[non_dominated(base)]
        low, high = front.min(axis=0), front.max(axis=0)
        return low - 0.1 * np.maximum(high - low, 1e-6 * np.maximum(np.abs(low), 1.0))

    def model_data(self, X: np.ndarray, Y: np.ndarray, C: np.ndarray,
                   log_cost: np.ndarray) -> list[tuple[ScheduledGPs, np.ndarray, np.ndarray]]:
        """One chain of the objectives and constraints; with ``parego`` of the constraints only
        (each ask fits its own scalarisation). Hypervolume improvement is not weighed by cost."""
        if not self.parego:
            return super().model_data(X, Y, C, log_cost)
        return [(self.models, X, C)] if C.shape[1] else []

    def propose(self, X: np.ndarray, Y: np.ndarray, C: np.ndarray, X_pending: np.ndarray,
                rng: np.random.Generator, log_cost: np.ndarray) -> np.ndarray:
        if self.parego:
            return self._propose_parego(X, Y, C, X_pending, rng, log_cost)
        m = Y.shape[1]
        gps = [believe(g, X_pending) for g in self.fitted(X, Y, C, log_cost)]
        objectives, constraints = tuple(gps[:m]), tuple(gps[m:])
        Y_all, C_all = Y, C
        if len(X_pending):
            Y_all = np.concatenate([Y, np.stack([np.asarray(predict(g, X_pending)[0]) for g in objectives], 1)])
            C_pend = [np.asarray(predict(g, X_pending)[0]) for g in constraints]
            C_all = np.concatenate([C, np.stack(C_pend, 1) if C_pend else np.zeros((len(X_pending), 0))])
        feasible = violation(C_all) <= 0
        ref = self.reference(Y, C)
        lower, upper = improvement_cells(Y_all[feasible], ref)
        base = scipy.stats.norm.ppf(
            np.clip(scipy.stats.qmc.Sobol(m, seed=rng).random_base2(max(0, math.ceil(math.log2(self.n_mc)))), 1e-6, 1 - 1e-6)
        )
        args = (objectives, constraints, jnp.asarray(lower), jnp.asarray(upper), jnp.asarray(base), jnp.asarray(feasible.any()))
        return maximize(log_ehvi, args, self.space, rng, front_anchors(X, Y, C), n_candidates=512, n_local=128)[0]

    def _propose_parego(self, X: np.ndarray, Y: np.ndarray, C: np.ndarray, X_pending: np.ndarray,
                        rng: np.random.Generator, log_cost: np.ndarray) -> np.ndarray:
        low, high = Y.min(axis=0), Y.max(axis=0)
        Z = (Y - low) / np.where(high > low, high - low, 1.0)
        w = rng.dirichlet(np.ones(Y.shape[1]))
        s = np.min(w * Z, axis=1) + 0.05 * Z @ w
        key = jax.random.PRNGKey(int(rng.integers(2**31)))
        (objective,) = fit_gps(X, s[:, None], key, self.gp_config)
        constraints = self.fitted(X, Y, C, log_cost)
        return propose_logei(self.space, objective, constraints, X, s, C, X_pending, rng)
