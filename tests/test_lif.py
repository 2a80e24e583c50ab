"""The LIF reference core against an independent NumPy forward loop and BPTT backward pass."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import numpy_lif
from jaxsnn.core import LIFParams, LIFState, Surrogate, lif_scan

SG = Surrogate("fast_sigmoid", gamma=0.7, beta=1.3)


def numpy_sg(u):
    return 0.7 / (1 + 2 * 1.3 * np.abs(u)) ** 2


def problem(seed=0, steps=12, batch=3, n=5, recurrent=True, per_neuron=False):
    rng = np.random.default_rng(seed)
    currents = rng.normal(0.4, 0.8, (steps, batch, n)).astype(np.float32)
    alpha = rng.uniform(0.7, 0.95, n).astype(np.float32) if per_neuron else np.float32(0.85)
    theta = rng.uniform(0.8, 1.2, n).astype(np.float32) if per_neuron else np.float32(1.0)
    w_rec = rng.normal(0, 0.4, (n, n)).astype(np.float32) if recurrent else None
    grad_z = rng.normal(size=(steps, batch, n)).astype(np.float32)
    return currents, alpha, theta, w_rec, grad_z


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("recurrent", [False, True])
def test_forward_matches_numpy_loop(reset, recurrent):
    currents, alpha, theta, w_rec, _ = problem(recurrent=recurrent, per_neuron=True)
    out = lif_scan(LIFParams(alpha, theta, w_rec), jnp.asarray(currents), surrogate=SG, reset=reset,
                   return_voltages=True, backend="xla")
    v_ref, z_ref = numpy_lif.forward(currents.astype(np.float64), alpha, theta, w_rec, reset)
    np.testing.assert_array_equal(out.spikes, z_ref)
    np.testing.assert_allclose(out.voltages, v_ref, rtol=1e-5, atol=1e-5)
    assert out.spikes.mean() > 0.05  # the case must actually spike to test resets
    np.testing.assert_array_equal(out.state.z, out.spikes[-1])


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("per_neuron", [False, True])
def test_bptt_matches_numpy_backward(reset, detach_reset, per_neuron):
    currents, alpha, theta, w_rec, grad_z = problem(seed=1, per_neuron=per_neuron)

    def loss(cur, w, a, th):
        out = lif_scan(LIFParams(a, th, w), cur, surrogate=SG, reset=reset, detach_reset=detach_reset,
                       backend="xla")
        return jnp.sum(out.spikes * grad_z)

    grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))(currents, w_rec, alpha, theta)
    ref = numpy_lif.backward(currents.astype(np.float64), alpha, theta, w_rec, grad_z, numpy_sg,
                             reset, detach_reset)
    for name, got, want in zip(("currents", "w_rec", "alpha", "theta"), grads, ref):
        want = want if per_neuron or name in ("currents", "w_rec") else want.sum()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=name)
        assert np.abs(want).max() > 1e-3, f"{name} gradient is trivially zero: the check proves nothing"


def test_vmap_over_surrogate_and_params_equals_loop():
    currents, alpha, theta, w_rec, grad_z = problem(seed=2)
    gammas = jnp.array([0.5, 1.0, 1.5])
    betas = jnp.array([0.5, 1.0, 2.0])

    def grad_currents(gamma, beta):
        sg = Surrogate("exponential", gamma, beta)
        return jax.grad(lambda c: jnp.sum(lif_scan(LIFParams(alpha, theta, w_rec), c, surrogate=sg,
                                                   backend="xla").spikes * grad_z))(currents)

    swept = jax.jit(jax.vmap(grad_currents))(gammas, betas)
    looped = np.stack([grad_currents(float(g), float(b)) for g, b in zip(gammas, betas)])
    np.testing.assert_allclose(swept, looped, rtol=1e-5, atol=1e-6)


def test_initial_state_is_used_and_differentiable():
    currents, alpha, theta, w_rec, grad_z = problem(seed=3, recurrent=False)
    state = LIFState(jnp.full((3, 5), 0.9), jnp.zeros((3, 5)))
    grad_v0 = jax.grad(lambda v0: jnp.sum(lif_scan(LIFParams(alpha, theta), currents,
                                                   LIFState(v0, state.z), SG, backend="xla").spikes * grad_z))(state.v)
    assert jnp.abs(grad_v0).sum() > 0
    rest = lif_scan(LIFParams(alpha, theta), currents, surrogate=SG, backend="xla").spikes
    primed = lif_scan(LIFParams(alpha, theta), currents, state, SG, backend="xla").spikes
    assert not np.array_equal(rest, primed)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"currents": np.zeros((4, 3))}, r"\(T, B, N\) time-major"),
        ({"params": LIFParams(alpha=np.ones(4))}, r"alpha must be a scalar or shape \(5,\)"),
        ({"params": LIFParams(alpha=1.5)}, r"alpha must lie in \[0, 1\]"),
        ({"params": LIFParams(theta=0.0)}, "theta must be > 0"),
        ({"params": LIFParams(w_rec=np.zeros((5, 4)))}, r"recurrent weights must be \(5, 5\)"),
        ({"state": LIFState(np.zeros((2, 5)), np.zeros((2, 5)))}, r"state v must be \(3, 5\)"),
        ({"reset": "hard"}, "valid resets: subtract, zero"),
        ({"backend": "cuda"}, "valid backends: auto, xla, ffi"),
    ],
)
def test_bad_inputs_give_clear_errors(kwargs, message):
    call = {"params": LIFParams(), "currents": np.zeros((4, 3, 5), np.float32), "state": None, **kwargs}
    options = {k: call.pop(k) for k in ("reset", "backend") if k in call}
    with pytest.raises(ValueError, match=message):
        lif_scan(call["params"], jnp.asarray(call["currents"]), call["state"], SG, **options)
