"""The SG family against closed forms written independently in NumPy (RESEARCH.md section B)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import expit

from jaxsnn.core.surrogate import SHAPES, Surrogate, spike


def closed_form(shape: str, u: np.ndarray, gamma: float, beta: float, q: float) -> np.ndarray:
    a = np.abs(u)
    if shape == "triangular":
        return gamma * np.maximum(1 - beta * a, 0)
    if shape == "exponential":
        return gamma * np.exp(-2 * beta * a)
    if shape == "fast_sigmoid":
        return gamma / (1 + 2 * beta * a) ** 2
    if shape == "rectangular":
        return gamma * (np.abs(2 * beta * u) < 1)
    if shape == "sigmoid_derivative":
        s = expit(4 * beta * u)
        return 4 * gamma * s * (1 - s)
    if shape == "gaussian":
        return gamma * np.exp(-np.pi * beta**2 * u**2)
    assert shape == "q_pseudo_spike"
    return gamma / (1 + 2 * beta * a / (q - 1)) ** q


PARAMS = [(1.0, 1.0, 2.0), (0.5, 1.5, 1.6), (1.25, 0.25, 5.0)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("gamma,beta,q", PARAMS)
def test_derivative_matches_closed_form(shape, gamma, beta, q):
    u = np.linspace(-6, 6, 1201).astype(np.float32)
    got = np.asarray(Surrogate(shape, gamma, beta, q).derivative(u))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, closed_form(shape, u.astype(np.float64), gamma, beta, q), rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("gamma,beta,q", PARAMS)
def test_peak_is_gamma_and_area_is_gamma_over_beta(shape, gamma, beta, q):
    sg = Surrogate(shape, gamma, beta, q)
    assert float(sg.derivative(jnp.float32(0.0))) == pytest.approx(gamma, rel=1e-6)
    # Every shape is symmetric; a log-spaced grid up to 1e6 captures the slow q-tails (u**-q).
    u = np.concatenate([[0.0], np.logspace(-6, 6, 400001)]).astype(np.float32)
    values = np.asarray(sg.derivative(u), dtype=np.float64)
    assert values.max() == pytest.approx(gamma, rel=1e-6)
    area = 2 * np.trapezoid(values, u.astype(np.float64))
    assert area == pytest.approx(gamma / beta, rel=2e-3)


def test_q_pseudo_spike_limits():
    u = np.linspace(-4, 4, 401, dtype=np.float32)
    q2 = Surrogate("q_pseudo_spike", 1.0, 0.75, 2.0).derivative(u)
    fast = Surrogate("fast_sigmoid", 1.0, 0.75).derivative(u)
    np.testing.assert_allclose(q2, fast, rtol=1e-6)
    exp = np.asarray(Surrogate("exponential", 1.0, 0.75).derivative(u))
    gaps = [np.max(np.abs(Surrogate("q_pseudo_spike", 1.0, 0.75, q).derivative(u) - exp)) for q in (2, 10, 100, 1e4)]
    assert all(a > b for a, b in zip(gaps, gaps[1:])), gaps
    assert gaps[-1] < 1e-3


@pytest.mark.parametrize("shape", SHAPES)
def test_grad_of_spike_is_surrogate(shape):
    sg = Surrogate(shape, 0.8, 1.3, 1.7)
    u = jnp.linspace(-2, 2, 81)
    np.testing.assert_array_equal(spike(u, sg), (np.asarray(u) > 0).astype(np.float32))
    grads = jax.vmap(jax.grad(lambda x: spike(x, sg)))(u)
    np.testing.assert_allclose(grads, closed_form(shape, np.asarray(u, np.float64), 0.8, 1.3, 1.7), rtol=2e-5, atol=1e-7)


def test_surrogate_parameters_get_zero_cotangent():
    grad = jax.grad(lambda s: spike(jnp.float32(0.1), s).sum())(Surrogate("gaussian", 1.0, 1.0))
    assert float(grad.gamma) == 0.0 and float(grad.beta) == 0.0


def test_vmap_over_gamma_beta_equals_python_loop():
    u = jnp.linspace(-1.5, 1.5, 31)
    gammas = jnp.array([0.25, 0.5, 1.0, 1.5])
    betas = jnp.array([0.5, 1.0, 1.25, 1.5])

    def grads(gamma, beta):
        return jax.vmap(jax.grad(lambda x: spike(x, Surrogate("triangular", gamma, beta))))(u)

    swept = jax.jit(jax.vmap(grads))(gammas, betas)
    looped = np.stack([grads(float(g), float(b)) for g, b in zip(gammas, betas)])
    np.testing.assert_allclose(swept, looped, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"shape": "sigmoid"}, "valid shapes: triangular"),
        ({"gamma": 0.0}, "gamma must be > 0"),
        ({"beta": -1.0}, "beta must be > 0"),
        ({"shape": "q_pseudo_spike", "q": 1.0}, "q must be > 1"),
    ],
)
def test_bad_surrogate_values_give_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Surrogate(**kwargs)
