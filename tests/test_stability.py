"""Stability conditions I-IV (RESEARCH.md section B): formulas on hand-computed numbers, the root
search of condition IV, and the initial firing rate of a network initialized by them."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.core import SHAPES, LIFParams, Surrogate, lif_scan
from jaxsnn.stability import (
    BRACKETS,
    NoSolutionError,
    dampening_gamma,
    draw_weights,
    measure_voltage_range,
    recurrent_weight_mean,
    recurrent_weight_variance,
    sharpness_residual,
    solve_sharpness,
    stable_init,
    surrogate_mean_square,
)

# ---------------------------------------------------------------- conditions I-III, by hand


def test_condition_i_mean_weight():
    # (3 - 2*0.9) * 1 / (11 - 1) = 1.2 / 10
    assert float(recurrent_weight_mean(0.9, 1.0, 11)) == pytest.approx(0.12)
    # per neuron: (3 - 1) * 2 / 4 = 1 and (3 - 0) * 1 / 4 = 0.75
    got = recurrent_weight_mean(jnp.array([0.5, 0.0]), jnp.array([2.0, 1.0]), 5)
    np.testing.assert_allclose(got, [1.0, 0.75], rtol=1e-6)
    with pytest.raises(ValueError, match="at least 2 recurrent neurons"):
        recurrent_weight_mean(0.9, 1.0, 1)


def test_condition_ii_variance():
    # E[x^2] = 0.25 + 0.5^2 = 0.5; 0.5 * 0.02 * 100 / 10 = 0.1; minus 0.12^2 / 2 = 0.0072
    got = recurrent_weight_variance(0.5, 0.25, 0.02, 100, 11, 0.12)
    assert float(got) == pytest.approx(0.0928, rel=1e-6)


@pytest.mark.parametrize(
    "input_mean,input_var,w_in_var,n_in,n_rec,mu_rec",
    [
        (0.1, 0.01, 0.01, 10, 101, 0.012),  # 0.02 * 0.01 * 10 / 100 = 2e-5 < 0.012^2 / 2 = 7.2e-5
        (1.0, 0.0, 0.5, 1, 2, 1.0),  # exactly 0: 1 * 0.5 * 1 / 1 == 1^2 / 2
    ],
)
def test_condition_ii_degenerate_raises(input_mean, input_var, w_in_var, n_in, n_rec, mu_rec):
    with pytest.raises(ValueError, match="condition II has no solution.*mu_rec\\^2 / 2"):
        recurrent_weight_variance(input_mean, input_var, w_in_var, n_in, n_rec, mu_rec)


def test_condition_ii_under_jit_returns_the_unchecked_value():
    fn = jax.jit(recurrent_weight_variance, static_argnums=(3, 4))
    assert float(fn(0.1, 0.01, 0.01, 10, 101, 0.012)) == pytest.approx(2e-5 - 7.2e-5, rel=1e-4)


def test_condition_iii_dampening():
    # (1 - 0.9) * 2 / (4 * (2 + 1)) = 0.2 / 12; the sign of S- does not matter
    assert float(dampening_gamma(0.9, 1.0, -2.0, 4.0)) == pytest.approx(1 / 60, rel=1e-6)
    assert float(dampening_gamma(0.9, 1.0, 2.0, 4.0)) == pytest.approx(1 / 60, rel=1e-6)
    # per neuron: 0.5 * 1 / (1 * 2) = 0.25, 0.5 * 3 / (2 * 4) = 0.1875
    got = dampening_gamma(0.5, 1.0, jnp.array([-1.0, -3.0]), jnp.array([1.0, 2.0]))
    np.testing.assert_allclose(got, [0.25, 0.1875], rtol=1e-6)


def test_condition_iii_keeps_the_largest_gain_at_most_one():
    s_minus, s_plus = jnp.array([-0.5, -2.0, -8.0]), jnp.array([3.0, 2.0, 0.5])
    gamma = dampening_gamma(0.8, 1.0, s_minus, s_plus)
    assert bool(jnp.all(0.8 + gamma * s_plus <= 1.0))


# ---------------------------------------------------------------- condition IV


@pytest.mark.parametrize(
    "surrogate,v_range,expected",
    [
        # indicator of |u| < 1/2: width 1 out of 2
        (Surrogate("rectangular", 1.0, 1.0), (-1.0, 1.0), 0.5),
        # 2 * int_0^1 (2 (1 - u))^2 du / 2 = 4/3
        (Surrogate("triangular", 2.0, 1.0), (-1.0, 1.0), 4 / 3),
        # int_0^1 (1 + 2u)^-4 du = (1 - 3^-3) / 6
        (Surrogate("fast_sigmoid", 1.0, 1.0), (0.0, 1.0), (1 - 1 / 27) / 6),
        # 0.25 * int_0^2 exp(-2u) du / 2 = 0.25 (1 - e^-4) / 4
        (Surrogate("exponential", 0.5, 0.5), (0.0, 2.0), 0.25 * (1 - np.exp(-4)) / 4),
        # a zero-width range is the value at that point: 1 / (1 + 2 * 0.5)^4
        (Surrogate("fast_sigmoid", 1.0, 1.0), (0.5, 0.5), 1 / 16),
    ],
)
def test_mean_square_on_closed_forms(surrogate, v_range, expected):
    assert surrogate_mean_square(surrogate, v_range) == pytest.approx(expected, rel=1e-9)


# 0.81 + (99 * 0.002 + 1) * E = 1 needs E = 0.1586: between gamma^2 = 1 (flat) and ~0 (sharp).
IV = dict(alpha_sq_mean=0.81, n_rec=100, w_sq_mean=0.002, theta_sq_mean=1.0, v_range=(-2.0, 2.0))


@pytest.mark.parametrize("shape", SHAPES)
def test_solved_beta_satisfies_condition_iv(shape):
    surrogate = solve_sharpness(shape, **IV, gamma=1.0, solve_for="beta", q=1.6)
    assert BRACKETS["beta"][0] < float(surrogate.beta) < BRACKETS["beta"][1]
    assert (surrogate.shape, surrogate.gamma, surrogate.q) == (shape, 1.0, 1.6)
    assert abs(sharpness_residual(surrogate, **IV)) < 1e-6


def test_solved_q_satisfies_condition_iv():
    v_range = (-1.0, 1.0)
    iv = {**IV, "v_range": v_range}
    surrogate = solve_sharpness("q_pseudo_spike", **iv, gamma=1.0, solve_for="q", beta=1.0)
    assert BRACKETS["q"][0] < float(surrogate.q) < BRACKETS["q"][1]
    assert float(surrogate.beta) == 1.0
    assert abs(sharpness_residual(surrogate, **iv)) < 1e-6


def test_no_solution_names_the_failing_low_end():
    # gamma = 0.01: at most 0.81 + 1.198 * 1e-4 < 1 even for the widest surrogate
    with pytest.raises(NoSolutionError, match="both below 1.*The low end fails") as info:
        solve_sharpness("fast_sigmoid", **IV, gamma=0.01)
    assert (info.value.side, info.value.nearest) == ("low", BRACKETS["beta"][0])
    assert info.value.residual < 0


def test_no_solution_names_the_failing_high_end():
    # E[w^2] = 1: (99 + 1) * E stays far above 0.19 even for the sharpest surrogate
    with pytest.raises(NoSolutionError, match="both above 1.*The high end fails") as info:
        solve_sharpness("fast_sigmoid", **{**IV, "w_sq_mean": 1.0}, gamma=1.0)
    assert (info.value.side, info.value.nearest) == ("high", BRACKETS["beta"][1])
    # the tail: even the thinnest tail q = 1.01 passes too much gradient
    with pytest.raises(NoSolutionError, match="The low end fails"):
        solve_sharpness("q_pseudo_spike", **{**IV, "w_sq_mean": 1.0}, gamma=1.0, solve_for="q")


def test_q_only_for_q_pseudo_spike():
    with pytest.raises(ValueError, match="only q_pseudo_spike"):
        solve_sharpness("fast_sigmoid", **IV, gamma=1.0, solve_for="q")


# ---------------------------------------------------------------- measuring a forward pass


def test_measure_voltage_range_on_a_hand_simulated_pair():
    """Neuron 0 is driven by 2 per step and fires always; neuron 1 by 0.6 plus 0.5 per spike of
    neuron 0, so its voltage runs 0.6, 1.4 (spike), 0.8, 1.5 (spike); neuron 0 runs 2, 2, 1.7
    (-0.3 from neuron 1's spike), 1.85."""
    params = LIFParams(0.5, 1.0, jnp.array([[0.0, 0.5], [-0.3, 0.0]]))
    measured = measure_voltage_range(
        params, jnp.array([[2.0, 0.6]]), jnp.ones((4, 1, 1)), Surrogate()
    )
    assert measured.centred_range == pytest.approx((-0.4, 1.0), abs=1e-6)
    np.testing.assert_allclose(measured.s_minus, [-0.3, 0.0], atol=1e-7)
    np.testing.assert_allclose(measured.s_plus, [0.0, 0.5], atol=1e-7)
    assert float(measured.rate) == pytest.approx(6 / 8)


def test_measure_voltage_range_under_jit_and_needs_recurrence():
    key = jax.random.PRNGKey(0)
    x = jnp.asarray(np.random.default_rng(0).random((20, 4, 10)) < 0.5, jnp.float32)  # NumPy: no per-shape compile
    weights = draw_weights(key, 10, 16, 0.9, 1.0, 0.5, 0.25)
    params = LIFParams(0.9, 1.0, weights.w_rec)
    eager = measure_voltage_range(params, weights.w_in, x, Surrogate())
    jitted = jax.jit(measure_voltage_range)(params, weights.w_in, x, Surrogate())
    jax.tree.map(np.testing.assert_allclose, eager, jitted)
    with pytest.raises(ValueError, match="w_rec is None"):
        measure_voltage_range(LIFParams(0.9, 1.0), weights.w_in, x, Surrogate())


def test_draw_weights_statistics_under_jit_and_vmap():
    n = 200
    draw = jax.jit(draw_weights, static_argnums=(1, 2, 7))
    weights = draw(jax.random.PRNGKey(1), 100, n, 0.9, 1.0, 0.5, 0.25, "glorot")
    off = np.asarray(weights.w_rec)[~np.eye(n, dtype=bool)]
    assert np.all(np.diag(weights.w_rec) == 0)
    assert float(weights.mu_rec) == pytest.approx(1.2 / (n - 1))
    # II on the drawn W_in: 0.5 * Var(W_in) * 100 / 199 - mu^2 / 2
    var = 0.5 * float(jnp.var(weights.w_in)) * 100 / (n - 1) - float(weights.mu_rec) ** 2 / 2
    assert float(weights.sigma_rec) == pytest.approx(np.sqrt(var), rel=1e-5)
    # 39800 samples: the mean is within 4 standard errors, the std within 2 %
    standard_error = float(weights.sigma_rec) / np.sqrt(off.size)
    assert abs(off.mean() - float(weights.mu_rec)) < 4 * standard_error
    assert off.std() == pytest.approx(float(weights.sigma_rec), rel=0.02)
    keys = jax.random.split(jax.random.PRNGKey(2), 3)
    batch = jax.vmap(lambda k: draw_weights(k, 10, 8, 0.9, 1.0, 0.5, 0.25))(keys)
    assert batch.w_rec.shape == (3, 8, 8) and len({float(w.sum()) for w in batch.w_rec}) == 3


# ---------------------------------------------------------------- the initialized network

N_IN, N_REC, ALPHA, THETA, T, B = 100, 128, 0.9, 1.0, 100, 16


def _bernoulli(key: jax.Array) -> jax.Array:
    return jax.random.bernoulli(key, 0.5, (T, B, N_IN)).astype(jnp.float32)


@jax.jit
def _rate(params: LIFParams, w_in: jax.Array, x: jax.Array) -> jax.Array:
    return jnp.mean(lif_scan(params, x @ w_in, backend="xla").spikes)


def test_stable_init_fires_near_one_half_and_naive_init_does_not():
    """Condition I puts the mean voltage on the threshold at rate 1/2, but in a finite network
    that rate is only marginally stable, so single networks scatter: over seeds 0-29 of exactly
    this protocol the stable init fired at 0.30-0.64 (mean 0.44, std 0.075) and the naive one
    (same weights minus their mean mu_rec) at 0.13-0.22 (mean 0.17, std 0.02). The test averages
    4 seeds and asks for [0.3, 0.7] around the target 1/2 (0.3 is 3.6 standard errors below the
    observed mean), and for the naive init to stay below 0.25, on fresh inputs not used for
    initialization."""
    stable, naive = [], []
    for seed in range(4):
        k_sample, k_init, k_test = jax.random.split(jax.random.PRNGKey(seed), 3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # IV's fallback, tested below
            init = stable_init(k_init, N_IN, N_REC, ALPHA, THETA, _bernoulli(k_sample))
        x = _bernoulli(k_test)
        stable.append(float(_rate(init.params, init.w_in, x)))
        zero_mean = init.w_rec - init.mu_rec * (1.0 - jnp.eye(N_REC))
        naive.append(float(_rate(LIFParams(ALPHA, THETA, zero_mean), init.w_in, x)))
    assert 0.3 <= np.mean(stable) <= 0.7, f"stable-init rates {stable}"
    assert np.mean(naive) < 0.25, f"naive-init rates {naive}"


def test_stable_init_applies_conditions_in_order():
    k_sample, k_init = jax.random.split(jax.random.PRNGKey(7))
    x = _bernoulli(k_sample)
    with pytest.warns(UserWarning, match="condition IV has no solution.*Using beta=0.1"):
        init = stable_init(k_init, N_IN, N_REC, ALPHA, THETA, x, "gaussian")
    assert float(init.mu_rec) == pytest.approx(1.2 / (N_REC - 1))
    assert init.w_in.shape == (N_IN, N_REC) and init.w_rec.shape == (N_REC, N_REC)
    # III per neuron from the measured S-/S+, and the surrogate carries their mean
    expected = dampening_gamma(ALPHA, THETA, init.voltage.s_minus, init.voltage.s_plus)
    np.testing.assert_allclose(init.gamma_per_neuron, expected, rtol=1e-6)
    assert init.surrogate.gamma == pytest.approx(float(jnp.mean(expected)), rel=1e-6)
    # IV: with gamma this small no beta reaches gain 1, so beta sits at the wide end of the
    # bracket and the gap is reported, not hidden
    assert init.surrogate.shape == "gaussian" and init.surrogate.beta == BRACKETS["beta"][0]
    assert init.sharpness_residual < 0
    assert init.target_rate == 0.5 and 0.2 < float(init.voltage.rate) < 0.8
    with pytest.raises(NoSolutionError, match="The low end fails"):
        stable_init(k_init, N_IN, N_REC, ALPHA, THETA, x, "gaussian", strict=True)


def test_stable_init_rejects_mismatched_inputs_and_leak():
    x = jnp.zeros((5, 2, 3))
    with pytest.raises(ValueError, match="n_in=4"):
        stable_init(jax.random.PRNGKey(0), 4, 8, 0.9, 1.0, x)
    with pytest.raises(ValueError, match="alpha must lie in"):
        stable_init(jax.random.PRNGKey(0), 3, 8, 1.0, 1.0, x)
