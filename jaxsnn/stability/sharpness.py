"""Condition IV of Herranz-Celotti & Rouat: choose the surrogate's sharpness (or tail) so that
gradients through time keep unit mean-square gain.

    E[alpha^2] + ((n_rec - 1) E[w^2] + E[theta^2]) E_v[sigma'(v)^2] = 1

The left side is the expected sum of squares of one row of the Jacobian ``dv_j[t] / dv[t-1]``:
the leak ``alpha`` on the diagonal, then the ``n_rec - 1`` recurrent weights and the subtractive
reset ``theta``, both multiplied by the surrogate derivative. ``E_v`` averages
``sigma'(v - theta)^2`` with ``v`` uniform over the voltage range observed at initialization.
Below 1 gradients vanish through time, above 1 they explode.

The left side falls monotonically with the sharpness ``beta`` (every shape is ``gamma f(beta u)``
with ``f`` decreasing in ``|u|``), so a sign change over the bracket pins a unique root. It rises
with the tail ``q`` of ``q_pseudo_spike``: over the whole line the squared bump integrates to
``(q - 1) / (2q - 1)``, growing towards the exponential limit 1/2, and over finite voltage ranges
it rose in every case we checked. ``scipy.optimize.brentq`` finds the root.
"""

from __future__ import annotations

import functools
from typing import Callable, Literal

import jax
import numpy as np
from scipy import integrate, optimize

from jaxsnn.core import Surrogate

BRACKETS: dict[str, tuple[float, float]] = {
    "beta": (0.1, 10.0),
    "q": (1.01, 1.0 + 10.0**1.2),
}
"""Default search intervals. ``beta``: a decade either side of ``beta = 1``, enclosing the paper's
sweep ``{0.25, ..., 1.5}`` with room. ``q``: exactly the paper's sweep ``1 + 10**[-2, 1.2]``; at
its top end the tail is already within a few percent of the exponential limit."""


class NoSolutionError(ValueError):
    """Condition IV has no root in the bracket.

    ``side`` (``"low"``/``"high"``) is the end of the bracket beyond which the root would lie,
    ``nearest`` the value at that end (the closest the bracket gets, which the authors' own
    search settles for) and ``residual`` the left side minus 1 there.
    """

    def __init__(self, message: str, *, side: str, nearest: float, residual: float) -> None:
        super().__init__(message)
        self.side = side
        self.nearest = nearest
        self.residual = residual


@functools.cache
def _squared_derivative(shape: str) -> Callable[..., jax.Array]:
    """Compiled ``sigma'(u)^2`` of one shape, so the quadrature's many scalar calls stay cheap."""
    return jax.jit(lambda u, gamma, beta, q: Surrogate(shape, gamma, beta, q).derivative(u) ** 2)


def surrogate_mean_square(surrogate: Surrogate, v_range: tuple[float, float]) -> float:
    """``E_v[sigma'(v)^2]`` for the centred voltage ``v - theta`` uniform over ``v_range``.

    ``v_range = (low, high)`` is already centred on the threshold (``VoltageRange.centred_range``),
    the argument the surrogate sees. Adaptive Gauss-Kronrod quadrature (``scipy.integrate.quad``)
    of the library's own ``Surrogate.derivative``, evaluated in float64 so that the result is a
    smooth function of ``beta``/``q`` for the root search; the interval is split at the peak
    ``u = 0`` where every shape has its kink, and the adaptive refinement handles the edges of the
    compact shapes (rectangular, triangular). A zero-width range gives the value at that point.
    """
    low, high = (float(x) for x in v_range)
    if not np.isfinite(low) or not np.isfinite(high) or low > high:
        raise ValueError(f"v_range must be a finite (low, high) with low <= high, got {v_range}")
    squared = _squared_derivative(surrogate.shape)
    leaves = tuple(
        np.asarray(x, dtype=np.float64) for x in (surrogate.gamma, surrogate.beta, surrogate.q)
    )
    if any(leaf.size != 1 for leaf in leaves):
        raise ValueError(
            "condition IV averages over one population-wide surrogate: gamma, beta and q must be "
            f"scalars, got shapes {[leaf.shape for leaf in leaves]}"
        )
    with jax.enable_x64(True):
        # np.float64, not a Python float: derivative() would take a weakly typed scalar as float32.
        value = lambda u: float(squared(np.float64(u), *leaves))  # noqa: E731 - quad: scalar fn
        if high == low:
            return value(low)
        integral, _ = integrate.quad(
            value,
            low,
            high,
            points=[0.0] if low < 0.0 < high else None,
            epsabs=1e-14,
            epsrel=1e-11,
            limit=200,
        )
    return integral / (high - low)


def sharpness_residual(
    surrogate: Surrogate,
    alpha_sq_mean: float,
    n_rec: int,
    w_sq_mean: float,
    theta_sq_mean: float,
    v_range: tuple[float, float],
) -> float:
    """Left side of condition IV minus 1 for this surrogate: 0 on the condition, < 0 vanishing."""
    weight = (n_rec - 1) * w_sq_mean + theta_sq_mean
    return alpha_sq_mean + weight * surrogate_mean_square(surrogate, v_range) - 1.0


def solve_sharpness(
    surrogate_shape: str,
    alpha_sq_mean: float,
    n_rec: int,
    w_sq_mean: float,
    theta_sq_mean: float,
    v_range: tuple[float, float],
    gamma: float,
    solve_for: Literal["beta", "q"] = "beta",
    *,
    beta: float = 1.0,
    q: float = 2.0,
    bracket: tuple[float, float] | None = None,
) -> Surrogate:
    """Solve condition IV for ``beta`` (any shape) or ``q`` (``q_pseudo_spike``) with ``brentq``.

    ``gamma`` is the dampening (condition III); ``beta`` is held fixed when solving for ``q`` and
    ``q`` when solving for ``beta``. ``v_range`` is the centred voltage range (see
    ``surrogate_mean_square``); ``bracket`` defaults to ``BRACKETS[solve_for]``. Returns the
    ``Surrogate`` that satisfies the condition; raises ``NoSolutionError`` naming the failing end
    when the left side stays on one side of 1 over the whole bracket.
    """
    if solve_for not in BRACKETS:
        raise ValueError(f"solve_for must be 'beta' or 'q', got {solve_for!r}")
    if solve_for == "q" and surrogate_shape != "q_pseudo_spike":
        raise ValueError(
            f"only q_pseudo_spike has a tail q to solve for, got shape {surrogate_shape!r}"
        )
    low, high = BRACKETS[solve_for] if bracket is None else (float(x) for x in bracket)
    if not low < high:
        raise ValueError(f"bracket must be (low, high) with low < high, got {(low, high)}")
    fixed = {"gamma": float(gamma), "beta": float(beta), "q": float(q)}

    def build(x: float) -> Surrogate:
        return Surrogate(surrogate_shape, **{**fixed, solve_for: x})

    def residual(x: float) -> float:
        return sharpness_residual(
            build(x), alpha_sq_mean, n_rec, w_sq_mean, theta_sq_mean, v_range
        )

    at_low, at_high = residual(low), residual(high)
    if at_low * at_high > 0:
        raise _no_solution(surrogate_shape, solve_for, (low, high), (at_low, at_high))
    return build(optimize.brentq(residual, low, high, xtol=1e-12, rtol=1e-12))


def _no_solution(
    shape: str, name: str, bracket: tuple[float, float], residuals: tuple[float, float]
) -> NoSolutionError:
    """Explain which end of the bracket fails: the root lies beyond the end nearer to it."""
    (low, high), (at_low, at_high) = bracket, residuals
    above = at_low > 0
    beyond_high = (at_high - at_low) * (1.0 if above else -1.0) < 0
    side, nearest, residual = ("high", high, at_high) if beyond_high else ("low", low, at_low)
    cause = (
        "too much gradient: gradients would explode through time"
        if above
        else "too little gradient: gradients would vanish through time"
    )
    return NoSolutionError(
        f"condition IV has no solution for {name} in [{low:g}, {high:g}] ({shape}): the gain "
        f"E[alpha^2] + ((n_rec-1) E[w^2] + E[theta^2]) E_v[sigma'^2] is {1 + at_low:.6g} at "
        f"{name}={low:g} and {1 + at_high:.6g} at {name}={high:g}, both "
        f"{'above' if above else 'below'} 1 ({cause}). The {side} end fails even at "
        f"{name}={nearest:g}; the root would lie beyond it. Widen the bracket past that end, or "
        f"change gamma (condition III), the weights or the leak.",
        side=side,
        nearest=nearest,
        residual=residual,
    )
