"""Acquisitions: stable log-EI, constrained log-EI edge cases, feasibility ranking, the optimiser.

The acquisitions are evaluated through ``jax.jit`` (as ``maximize`` does): one compiled program
per call instead of one per primitive. Their GP models are posteriors at fixed hyperparameters
(the MAP fits of the same data, rounded): fitting is test_gp's business, and a fit costs seconds
of compilation per shape.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erfcx
from scipy.stats import norm

from jaxsnn.hpo.acquisition import (
    best_feasible,
    constrained_log_ei,
    feasibility_order,
    log_ei,
    log_ei_per_second,
    log_h,
    maximize,
    total_log_pof,
    violation,
)
from jaxsnn.hpo.gp import Hyper, posterior, predict
from jaxsnn.hpo.space import CategoricalParam, FloatParam, Space


def gp_at(X, y, lengthscale, outputscale, noise, mean):
    """The GP posterior of ``(X, y)`` at the given hyperparameters (standardised units)."""
    d = X.shape[1]
    hyper = Hyper(jnp.asarray([lengthscale], jnp.float64).reshape(1, d), jnp.asarray([outputscale], jnp.float64),
                  jnp.asarray([noise], jnp.float64), jnp.asarray([mean], jnp.float64), jnp.ones((1, d)), jnp.ones((1, d)))
    return posterior(hyper, X, y)


def test_log_h_matches_closed_form_and_stays_finite_far_out():
    with jax.enable_x64(True):
        z = np.linspace(-8.0, 5.0, 200)
        far = jnp.asarray([-1e12, -1e9, -1e5, -300.0, -40.0, -1.0 - 1e-9, -1.0, 40.0])
        np.testing.assert_allclose(jax.jit(log_h)(jnp.asarray(z)), np.log(norm.pdf(z) + z * norm.cdf(z)), rtol=1e-9)
        values = np.asarray(jax.jit(log_h)(far))
        grads = np.asarray(jax.jit(jax.vmap(jax.grad(log_h)))(far))
    assert np.all(np.isfinite(values)) and np.all(np.isfinite(grads))
    assert np.all(np.diff(values) > 0)  # h is increasing
    assert values[3] == pytest.approx(-0.5 * 300**2 - 0.5 * np.log(2 * np.pi) - 2 * np.log(300), rel=1e-6)


def test_log_h_is_accurate_with_finite_gradients_through_every_regime():
    """Dense grids across the regime boundaries, where erfcx's derivative overflowed (NaN
    gradients at z in [-13.3, -13.0] in float32 and [-37.7, -37.5] in float64)."""
    z = np.linspace(-60.0, -0.5, 5901)
    # log phi(z) + log(1 - |z| Mills(z)), the Mills ratio Phi(z) / phi(z) through scipy's erfcx
    reference = norm.logpdf(z) + np.log1p(-np.abs(z) * np.sqrt(np.pi / 2) * erfcx(-z / np.sqrt(2)))
    with jax.enable_x64(True):
        values = np.asarray(jax.jit(log_h)(jnp.asarray(z)))
        grads64 = np.asarray(jax.jit(jax.vmap(jax.grad(log_h)))(jnp.asarray(z)))
    grads32 = np.asarray(jax.jit(jax.vmap(jax.grad(log_h)))(jnp.asarray(z[z > -20.0], jnp.float32)))
    np.testing.assert_allclose(values, reference, rtol=1e-7)
    assert np.all(np.isfinite(grads64)) and np.all(np.isfinite(grads32))
    np.testing.assert_allclose(grads64[1:-1], np.gradient(reference, z)[1:-1], rtol=1e-3)  # central differences


def test_log_ei_equals_log_of_analytic_ei():
    mean, var, best = np.array([0.0, 1.0, -2.0]), np.array([1.0, 0.25, 4.0]), 0.5
    s = np.sqrt(var)
    z = (mean - best) / s
    with jax.enable_x64(True):
        ours = np.asarray(jax.jit(log_ei)(jnp.asarray(mean), jnp.asarray(var), best))
    np.testing.assert_allclose(ours, np.log(s * (norm.pdf(z) + z * norm.cdf(z))), rtol=1e-10)


def test_violation_sums_positive_parts_and_ranking_is_feasible_first():
    C = np.array([[-100.0, 0.5], [0.1, 0.1], [-1.0, -1.0], [-2.0, -0.5]])
    np.testing.assert_allclose(violation(C), [0.5, 0.2, 0.0, 0.0])
    y = np.array([10.0, 5.0, 1.0, 2.0])
    assert list(feasibility_order(y, C)) == [3, 2, 1, 0]
    assert best_feasible(y, C) == (2.0, True)
    assert best_feasible(y[:2], C[:2])[1] is False


@pytest.fixture(scope="module")
def infeasible_models():
    """1-D data on [0.5, 1] only, all violating ``c(x) = x - 0.3 <= 0``."""
    X = np.linspace(0.5, 1.0, 8)[:, None]
    y = np.sin(5 * X[:, 0])
    c = X[:, 0] - 0.3
    with jax.enable_x64(True):
        objective = gp_at(X, y, 0.4136, 1.2324, 0.002, 0.3977)
        constraint = gp_at(X, c, 0.634, 1.9592, 0.0015, 0.0001)
    return objective, constraint, y, c


def test_no_feasible_point_gives_finite_log_pof_preferring_feasible_region(infeasible_models):
    objective, constraint, y, c = infeasible_models
    grid = np.linspace(0.0, 1.0, 101)[:, None]
    with jax.enable_x64(True):
        args = (objective, (constraint,), jnp.asarray(0.0), jnp.asarray(False))
        acq = np.asarray(jax.jit(constrained_log_ei)(args, jnp.asarray(grid)))
        lpof = np.asarray(jax.jit(total_log_pof)((constraint,), jnp.asarray(grid)))
        grad = np.asarray(jax.jit(jax.grad(lambda args, X: constrained_log_ei(args, X).sum(), argnums=1))(args, jnp.asarray(grid)))
    assert np.all(np.isfinite(acq)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(acq, lpof)
    assert grid[np.argmax(acq), 0] < 0.3  # the predicted feasible side
    assert acq[-1] < -5  # deep in the violated region: very unlikely feasible, still finite


def test_all_feasible_equals_unconstrained_log_ei():
    X = np.linspace(0.0, 1.0, 8)[:, None]
    y = np.sin(5 * X[:, 0])
    c = -100.0 - X[:, 0]  # satisfied everywhere, by far
    grid = jnp.asarray(np.linspace(0.0, 1.0, 51)[:, None])
    with jax.enable_x64(True):
        objective, constraint = gp_at(X, y, 0.3891, 0.8636, 0.0043, -0.3234), gp_at(X, c, 1.211, 1.8543, 0.0015, 0.0)
        best = jnp.asarray(y.max())
        acquisition = jax.jit(constrained_log_ei)
        constrained = acquisition((objective, (constraint,), best, jnp.asarray(True)), grid)
        plain = acquisition((objective, (), best, jnp.asarray(True)), grid)
    np.testing.assert_allclose(constrained, plain, atol=1e-9)
    assert np.all(np.isfinite(np.asarray(plain)))


def _negative_distance(target, X):
    """A known acquisition: maximal at ``target``."""
    return -jnp.sum((X - target) ** 2, axis=-1)


def test_maximize_returns_valid_points_best_first():
    space = Space([FloatParam("a", 0.0, 1.0), CategoricalParam("c", ("x", "y", "z")), FloatParam("b", 0.0, 1.0)])
    target = space.encode({"a": 0.37, "c": "z", "b": 0.81})
    X, values = maximize(_negative_distance, jnp.asarray(target), space, np.random.default_rng(0),
                         anchors=np.zeros((0, space.dim)))
    assert np.all(np.diff(values) <= 0)
    np.testing.assert_allclose(space.project(X[:50]), X[:50])
    best = space.decode(X[0])
    assert best["c"] == "z" and best["a"] == pytest.approx(0.37, abs=1e-3) and best["b"] == pytest.approx(0.81, abs=1e-3)


def test_log_ei_per_second_divides_ei_by_the_predicted_seconds():
    """Per-second ranking: the same constrained log-EI, less the cost GP's mean log seconds, so a
    point predicted e times dearer needs e times the improvement to rank equal."""
    with jax.enable_x64(True):
        X = np.random.default_rng(0).uniform(size=(12, 2))
        y, g, log_cost = np.sin(4 * X[:, 0]), X[:, 1] - 0.7, 3.0 * X[:, 0]
        objective = gp_at(X, y, [0.3924, 14.27], 1.4075, 0.0012, -0.4363)
        constraint = gp_at(X, g, [20.80, 1.239], 1.5737, 0.0005, 0.0826)
        cost = gp_at(X, log_cost, [0.9885, 17.17], 1.5067, 0.0004, -0.1817)
        Xq = jnp.asarray([[0.1, 0.2], [0.9, 0.2], [0.5, 0.9]])
        args = (objective, (constraint,), jnp.asarray(float(y.max())), jnp.asarray(True))
        plain = np.asarray(jax.jit(constrained_log_ei)(args, Xq))
        per_second = np.asarray(jax.jit(log_ei_per_second)((*args, cost), Xq))
        np.testing.assert_allclose(plain - per_second, np.asarray(predict(cost, Xq)[0]), rtol=1e-9)
    assert per_second[0] - plain[0] > per_second[1] - plain[1]  # the cheap end gains on the dear one
