"""Condition IV against the simulated surrogate-gradient backward pass (``stability.backward``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.core import LIFParams, Surrogate, lif_scan
from jaxsnn.stability import solve_sharpness
from jaxsnn.stability.backward import (
    backward_growth,
    centred_voltages,
    crossing,
    mean_square_gain,
    pullback,
)

N_IN, N, T, B = 40, 32, 80, 8
BETAS = np.geomspace(0.05, 20.0, 19)


@pytest.fixture(scope="module")
def network() -> tuple[LIFParams, jax.Array, jax.Array, jax.Array]:
    """A small random recurrent LIF net driven to fire: params, w_in, voltages u, inputs."""
    k_in, k_rec, k_x = jax.random.split(jax.random.key(0), 3)
    w_in = 3.0 * jax.random.normal(k_in, (N_IN, N)) / np.sqrt(N_IN)
    w_rec = jax.random.normal(k_rec, (N, N)) / np.sqrt(N)
    inputs = jax.random.bernoulli(k_x, 0.1, (T, B, N_IN)).astype(jnp.float32)
    params = LIFParams(0.9, 1.0, w_rec)
    return params, w_in, centred_voltages(params, w_in, inputs), inputs


def test_pullback_is_the_surrogate_gradient_of_lif_scan(network) -> None:
    """The recursion is exactly what autodiff of ``lif_scan`` (reset differentiated) computes."""
    params, w_in, u, inputs = network
    sg = Surrogate("fast_sigmoid", 1.5, 0.3)
    cotangent = jax.random.normal(jax.random.key(1), (B, N))

    def last_voltage(kick: jax.Array) -> jax.Array:
        currents = (inputs @ w_in).at[0].add(kick)  # a kick at step 0 moves v[0] one for one
        out = lif_scan(params, currents, surrogate=sg, return_voltages=True, backend="xla")
        return out.voltages[-1]

    _, vjp = jax.vjp(last_voltage, jnp.zeros((B, N)))
    (expected,) = vjp(cotangent)
    got = pullback(params, u, sg, cotangent)
    assert float(jnp.linalg.norm(expected)) > 1e-3  # a vanished gradient would compare trivially
    scale = float(jnp.max(jnp.abs(expected)))
    np.testing.assert_allclose(got, expected, rtol=2e-3, atol=1e-5 * scale)


def test_growth_is_the_norm_ratio_of_the_pullback(network) -> None:
    """Renormalising every step changes nothing: growth^(T-1) is the pulled-back norm ratio."""
    params, _, u, _ = network
    sg = Surrogate("fast_sigmoid", 1.0, 1.0)
    key = jax.random.key(2)
    g = jax.random.normal(key, (B, N))
    g = g / jnp.linalg.norm(g, axis=-1, keepdims=True)
    ratio = jnp.linalg.norm(pullback(params, u, sg, g), axis=-1)
    expected = float(jnp.exp(jnp.mean(jnp.log(ratio)) / (T - 1)))
    assert backward_growth(params, u, sg, key, burn_in=0) == pytest.approx(expected, rel=1e-4)


def test_mean_square_gain_is_the_isotropic_one_step_gain(network) -> None:
    """E||J^T g||^2 over random unit g, averaged over steps and samples, by Monte Carlo."""
    params, _, u, _ = network
    sg = Surrogate("fast_sigmoid", 1.5, 0.5)
    g = jax.random.normal(jax.random.key(3), (600, N))  # E[g g^T] = I: isotropic, ||g||^2 ~ N
    slope = sg.derivative(u[:-1]).reshape(-1, N)  # every (step, sample) as one row
    pulled = (0.9 - slope[:, None] * 1.0) * g + slope[:, None] * (g @ params.w_rec.T)
    monte_carlo = float(jnp.mean(jnp.sum(pulled**2, -1))) / N
    assert float(mean_square_gain(params, u, sg)) == pytest.approx(monte_carlo, rel=0.03)


def test_condition_iv_root_is_not_where_growth_crosses_one(network) -> None:
    """The finding of benchmarks/sg_stability.py, on a small net: IV puts the root at a much
    sharper surrogate than the one at which gradients stop exploding, and at IV's root the
    measured growth is the leak floor ~alpha, not 1."""
    params, _, u, _ = network
    w = np.asarray(params.w_rec)
    stats = dict(
        alpha_sq_mean=0.81,
        n_rec=N,
        w_sq_mean=float((np.sum(w**2) - np.sum(np.diag(w) ** 2)) / (N * (N - 1))),
        theta_sq_mean=1.0,
        v_range=(float(jnp.min(u)), float(jnp.max(u))),
    )
    key = jax.random.key(4)
    for gamma in (1.5, 3.0):
        iv_root = float(solve_sharpness("fast_sigmoid", **stats, gamma=gamma).beta)
        growth = jax.vmap(
            lambda b: backward_growth(params, u, Surrogate("fast_sigmoid", gamma, b), key)
        )(jnp.asarray(BETAS, jnp.float32))
        measured_root = crossing(BETAS, np.asarray(growth))
        assert iv_root > 2.0 * measured_root, (gamma, iv_root, measured_root)
        at_iv = float(backward_growth(params, u, Surrogate("fast_sigmoid", gamma, iv_root), key))
        assert 0.8 < at_iv < 0.95, (gamma, at_iv)


def test_crossing_interpolates_and_reports_none() -> None:
    xs = np.array([0.1, 1.0, 10.0])
    assert crossing(xs, np.array([4.0, 0.25, 0.5])) == pytest.approx(np.sqrt(0.1 * 1.0))
    assert np.isnan(crossing(xs, np.array([0.9, 0.8, 0.7])))
