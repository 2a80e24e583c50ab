"""The compiled LIF kernels (C++ XLA FFI) against the ``lax.scan`` reference.

Tolerances. Spikes must be identical. Voltages and gradients are float32 results that XLA and the
kernel round differently: XLA contracts ``alpha*v + I`` into a fused multiply-add on FMA hosts and
sums matrix products and the T*B terms of every parameter gradient in its own order. A gradient
element is a sum of products of adjoints with O(1) quantities (voltages, alpha, theta, weights),
so its rounding error scales with the largest adjoint, not with the element itself, which
cancellation can make arbitrarily small: the zero reset's ``alpha*v - alpha*v`` is exactly 0 in
the kernel but leaves a ~1e-8 FMA residue in XLA. So values are compared at ``rtol=1e-5`` plus
``atol = 1e-5 * scale``, the scale being the largest reference value of the same kind (all
gradients together, or all voltages).

Near-ties. A voltage within rounding of the threshold (or of a jump of the rectangular surrogate)
may resolve either way in two correct implementations, after which trajectories diverge. Random
draws put one within 1e-4 of such a point only rarely; those draws are rejected (``assume``) so
that "spikes identical" is a meaningful assertion rather than a coin flip.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from jaxsnn.core import SHAPES, LIFParams, LIFState, Surrogate, kernels, lif_scan
from jaxsnn.core import lif as lif_api
from jaxsnn.core.reference import lif_scan_xla

# conftest sets JAXSNN_REQUIRE_KERNELS=1 unless the runner set it to 0: then a missing build fails
# these tests instead of skipping them.
KERNELS_REQUIRED = os.environ.get("JAXSNN_REQUIRE_KERNELS") != "0"
needs_kernels = pytest.mark.skipif(
    not KERNELS_REQUIRED and not kernels.available(),
    reason=f"compiled LIF kernels unavailable: {kernels.unavailable_reason()}",
)
RTOL = 1e-5
TIE_MARGIN = 1e-4
SETTINGS = settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@dataclasses.dataclass(frozen=True)
class Case:
    """One random LIF problem: sizes, static options and the seed of its numbers."""

    steps: int
    batch: int
    neurons: int
    recurrent: bool
    reset: str
    detach_reset: bool
    per_neuron_alpha: bool
    per_neuron_theta: bool
    seed: int


cases = st.builds(
    Case,
    steps=st.integers(1, 12),
    batch=st.integers(1, 3),
    neurons=st.integers(1, 9),
    recurrent=st.booleans(),
    reset=st.sampled_from(["subtract", "zero"]),
    detach_reset=st.booleans(),
    per_neuron_alpha=st.booleans(),
    per_neuron_theta=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)


def _problem(case: Case, shape: str):
    """Params, currents, initial state, surrogate and loss weights (one per output) for ``case``."""
    rng = np.random.default_rng(case.seed)
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    n = case.neurons
    alpha = rng.uniform(0.5, 1.0, n) if case.per_neuron_alpha else rng.uniform(0.5, 1.0)
    theta = rng.uniform(0.5, 1.5, n) if case.per_neuron_theta else rng.uniform(0.5, 1.5)
    w_rec = f32(rng.normal(0.0, 0.4, (n, n))) if case.recurrent else None
    params = LIFParams(f32(alpha), f32(theta), w_rec)
    currents = f32(rng.normal(0.4, 0.8, (case.steps, case.batch, n)))
    state = LIFState(f32(rng.normal(0.0, 0.5, (case.batch, n))), f32(rng.integers(0, 2, (case.batch, n))))
    surrogate = Surrogate(shape, *(float(x) for x in rng.uniform(0.25, 1.5, 2)), q=float(rng.uniform(1.1, 5.0)))
    weights = [f32(rng.normal(size=s)) for s in (currents.shape, currents.shape, state.v.shape, state.z.shape)]
    return params, currents, state, surrogate, weights


def _loss(scan, params, currents, state, surrogate, weights, case: Case):
    """A loss that sends a cotangent into every output: spikes, voltages, final v and z."""
    out = scan(params, currents, state, surrogate, case.reset, case.detach_reset, True)
    parts = (out.spikes, out.voltages, out.state.v, out.state.z)
    return sum(jnp.sum(w * x) for w, x in zip(weights, parts))


def _decisive(voltages: jax.Array, theta, surrogate: Surrogate) -> bool:
    """True if no voltage lies within TIE_MARGIN of a threshold or surrogate discontinuity."""
    u = np.asarray(voltages - theta)
    if u.size and np.min(np.abs(u)) < TIE_MARGIN:
        return False
    edge = np.abs(np.abs(2.0 * surrogate.beta * u) - 1.0)
    return not (surrogate.shape == "rectangular" and u.size and np.min(edge) < TIE_MARGIN)


def _scale(tree) -> float:
    """The largest magnitude in a pytree of arrays (0 if all are empty)."""
    return max((float(np.max(np.abs(x))) for x in jax.tree.leaves(tree) if np.size(x)), default=0.0)


def assert_close(actual, desired, what: str = "", scale: float | None = None) -> None:
    """Float32 parity at RTOL, with an absolute floor at RTOL times ``scale`` (default: desired's)."""
    atol = RTOL * (_scale(desired) if scale is None else scale)
    for a, d in zip(jax.tree.leaves(actual), jax.tree.leaves(desired)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(d), rtol=RTOL, atol=atol, err_msg=what)


def _rich(shape: str, seed: int) -> dict:
    """A recurrent case with per-neuron leak and threshold; odd seeds take the zero reset, even
    ones the subtractive reset with a detached reset (the seeds are ones without near-ties)."""
    odd = seed % 2 == 1
    return {"shape": shape, "case": Case(12, 3, 9, True, "zero" if odd else "subtract", not odd, True, True, seed)}


@functools.partial(jax.jit, static_argnames="case")
def _forward_and_gradients(params, currents, state, surrogate, weights, case: Case):
    """Both forward passes and both gradients of one problem as one compiled program per example
    (run op by op, the two gradients compiled dozens of small programs each)."""
    args = (params, currents, state, surrogate, case.reset, case.detach_reset, True)
    grads = {
        name: jax.grad(_loss, argnums=(1, 2, 3))(scan, params, currents, state, surrogate, weights, case)
        for name, scan in (("ffi", kernels.lif_scan_ffi), ("xla", lif_scan_xla))
    }
    return lif_scan_xla(*args), kernels.lif_scan_ffi(*args), grads


@needs_kernels
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(shape=st.sampled_from(SHAPES), case=cases)
@example(**_rich("gaussian", 1))
@example(**_rich("fast_sigmoid", 2))
@example(**_rich("triangular", 3))
@example(**_rich("q_pseudo_spike", 4))
@example(**_rich("rectangular", 5))
@example(**_rich("sigmoid_derivative", 6))
@example(**_rich("exponential", 7))
def test_forward_and_gradients_match_reference(shape: str, case: Case) -> None:
    """Random problems, the surrogate shape drawn with them (a parametrization would repeat the
    same derandomized cases for every shape); the explicit examples cover every shape."""
    params, currents, state, surrogate, weights = _problem(case, shape)
    ref, out, grads = _forward_and_gradients(params, currents, state, surrogate, weights, case)
    assume(_decisive(ref.voltages, params.theta, surrogate))
    np.testing.assert_array_equal(out.spikes, ref.spikes)
    np.testing.assert_array_equal(out.state.z, ref.state.z)
    assert_close((out.voltages, out.state.v), (ref.voltages, ref.state.v), "voltages")

    (p_ffi, c_ffi, s_ffi), (p_xla, c_xla, s_xla) = grads["ffi"], grads["xla"]
    scale = _scale(grads["xla"])
    assert_close(c_ffi, c_xla, "dL/dcurrents", scale)
    assert_close(p_ffi.alpha, p_xla.alpha, "dL/dalpha", scale)
    assert_close(p_ffi.theta, p_xla.theta, "dL/dtheta", scale)
    if case.recurrent:
        assert_close(p_ffi.w_rec, p_xla.w_rec, "dL/dw_rec", scale)
    assert_close(s_ffi.v, s_xla.v, "dL/dv0", scale)
    assert_close(s_ffi.z, s_xla.z, "dL/dz0", scale)


@needs_kernels
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_large_recurrent_layer_matches_reference_exactly(reset: str) -> None:
    """T=40, B=32, N=160: the threaded multi-chunk path and the blocked recurrent products
    (blocks of 16 rows, N past 128), which the small random cases above never reach.

    Every number is a multiple of 1/64 and the leak is 1, so every forward sum is exact in any
    order: voltages and spikes must then be bit-identical, with no near-tie to excuse."""
    rng = np.random.default_rng(11)
    steps, batch, n = 40, 32, 160
    dyadic = lambda x: jnp.asarray(np.round(np.asarray(x) * 64) / 64, jnp.float32)  # noqa: E731
    params = LIFParams(jnp.ones(n, jnp.float32), dyadic(rng.uniform(0.5, 1.5, n)), dyadic(rng.normal(0.0, 0.1, (n, n))))
    currents = dyadic(rng.normal(0.1, 0.5, (steps, batch, n)))
    state = LIFState(dyadic(rng.normal(0.0, 0.5, (batch, n))), jnp.asarray(rng.integers(0, 2, (batch, n)), jnp.float32))
    surrogate = Surrogate("fast_sigmoid", 0.8, 1.2)
    ref = lif_scan_xla(params, currents, state, surrogate, reset, False, True)
    out = kernels.lif_scan_ffi(params, currents, state, surrogate, reset, False, True)
    rate = float(ref.spikes.mean())
    assert 0.05 < rate < 0.6, rate  # a layer that neither sleeps nor saturates
    np.testing.assert_array_equal(out.spikes, ref.spikes)
    np.testing.assert_array_equal(out.voltages, ref.voltages)
    np.testing.assert_array_equal(out.state.v, ref.state.v)

    case = Case(steps, batch, n, True, reset, False, True, True, 0)
    weights = [jnp.asarray(rng.normal(size=s), jnp.float32) for s in (currents.shape, currents.shape, (batch, n), (batch, n))]
    grads = {
        name: jax.grad(_loss, argnums=(1, 2, 3))(scan, params, currents, state, surrogate, weights, case)
        for name, scan in (("ffi", kernels.lif_scan_ffi), ("xla", lif_scan_xla))
    }
    assert_close(grads["ffi"], grads["xla"], "large-case gradients", _scale(grads["xla"]))


def _sweep_loss(backend: str, gamma, beta, alpha, currents, w_rec, q=1.6):
    """Spike-count loss of a recurrent layer, differentiated w.r.t. alpha, currents and w_rec."""
    surrogate = Surrogate("q_pseudo_spike", gamma, beta, q=q)

    def loss(alpha, currents, w_rec):
        out = lif_scan(LIFParams(alpha, 1.0, w_rec), currents, None, surrogate, backend=backend)
        return jnp.sum(out.spikes * jnp.linspace(0.5, 1.5, currents.shape[0])[:, None, None])

    return jax.grad(loss, argnums=(0, 1, 2))(alpha, currents, w_rec)


@needs_kernels
def test_jit_vmap_over_surrogate_and_params_equals_loop() -> None:
    rng = np.random.default_rng(1)
    currents = jnp.asarray(rng.normal(0.4, 0.8, (15, 2, 6)), jnp.float32)
    w_rec = jnp.asarray(rng.normal(0.0, 0.4, (6, 6)), jnp.float32)
    gammas, betas = jnp.array([0.25, 0.75, 1.5]), jnp.array([1.5, 1.0, 0.5])
    alphas = jnp.array([0.6, 0.8, 0.95])
    swept = {
        backend: jax.jit(
            jax.vmap(lambda g, b, a: _sweep_loss(backend, g, b, a, currents, w_rec))  # noqa: B023
        )(gammas, betas, alphas)
        for backend in ("ffi", "xla")
    }
    loop = [_sweep_loss("ffi", g, b, a, currents, w_rec) for g, b, a in zip(gammas, betas, alphas)]
    for i, single in enumerate(loop):  # the kernels run each vmap element exactly as a lone call
        for batched, one in zip(swept["ffi"], single):
            np.testing.assert_array_equal(batched[i], one)
    assert_close(swept["ffi"], swept["xla"], "vmap-ed gradients")


@needs_kernels
@pytest.mark.parametrize("backend", ["ffi", "xla"])
def test_one_compilation_serves_every_surrogate_setting(backend: str) -> None:
    """gamma, beta and q are traced: a sweep over them, vmapped or one value at a time, compiles
    its program once (a static surrogate parameter would compile once per value)."""
    rng = np.random.default_rng(7)
    currents = jnp.asarray(rng.normal(0.4, 0.8, (6, 2, 5)), jnp.float32)
    w_rec = jnp.asarray(rng.normal(0.0, 0.4, (5, 5)), jnp.float32)
    grads = lambda g, b, q: _sweep_loss(backend, g, b, 0.9, currents, w_rec, q)  # noqa: E731
    swept, single = jax.jit(jax.vmap(grads)), jax.jit(grads)
    first = None
    for gammas, betas, qs in [([0.25, 0.5, 1.0], [1.0, 2.0, 0.5], [1.2, 2.0, 4.0]),
                              ([1.5, 0.75, 0.3], [0.5, 1.5, 1.0], [3.0, 1.6, 1.1])]:  # fmt: skip
        out = swept(jnp.array(gammas), jnp.array(betas), jnp.array(qs))
        first = out if first is None else first
        for g, b, q in zip(gammas, betas, qs):
            single(jnp.float32(g), jnp.float32(b), jnp.float32(q))
    assert swept._cache_size() == 1 and single._cache_size() == 1
    assert not np.array_equal(first[1], out[1])  # the settings reached the gradient


@needs_kernels
def test_vmap_over_inputs_and_state_equals_loop() -> None:
    rng = np.random.default_rng(2)
    currents = jnp.asarray(rng.normal(0.4, 0.8, (4, 10, 3, 5)), jnp.float32)
    v0 = jnp.asarray(rng.normal(0.0, 0.5, (4, 3, 5)), jnp.float32)

    def run(c, v):
        out = lif_scan(LIFParams(0.9, 1.0), c, LIFState(v, jnp.zeros_like(v)), backend="ffi", return_voltages=True)
        return out.spikes, out.voltages

    batched = jax.vmap(run)(currents, v0)
    for i in range(currents.shape[0]):
        for b, one in zip(batched, run(currents[i], v0[i])):
            np.testing.assert_array_equal(b[i], one)


@needs_kernels
def test_jit_matches_eager_and_surrogate_cotangent_is_zero() -> None:
    rng = np.random.default_rng(3)
    currents = jnp.asarray(rng.normal(0.4, 0.8, (8, 2, 4)), jnp.float32)

    def spikes(c, gamma):
        return lif_scan(LIFParams(), c, surrogate=Surrogate("gaussian", gamma), backend="ffi").spikes

    np.testing.assert_array_equal(jax.jit(spikes)(currents, 1.0), spikes(currents, 1.0))
    d_gamma = jax.grad(lambda g: jnp.sum(spikes(currents, g) * currents))(1.0)
    assert d_gamma == 0.0  # like `spike`'s custom_vjp: SG parameters are swept, not learned


@needs_kernels
def test_zero_time_steps_return_initial_state() -> None:
    state = LIFState(jnp.ones((2, 3)), jnp.zeros((2, 3)))
    out = lif_scan(LIFParams(), jnp.zeros((0, 2, 3)), state, backend="ffi", return_voltages=True)
    assert out.spikes.shape == out.voltages.shape == (0, 2, 3)
    np.testing.assert_array_equal(out.state.v, state.v)


@needs_kernels
def test_unsupported_inputs_raise_clear_errors() -> None:
    currents = jnp.zeros((3, 2, 4), jnp.float32)
    with pytest.raises(ValueError, match="gamma as a scalar or \\(4,\\) vector"):
        lif_scan(LIFParams(), currents, surrogate=Surrogate(gamma=jnp.ones((2, 4))), backend="ffi")
    with pytest.raises(TypeError, match="float32-only"):
        lif_scan(LIFParams(), currents.astype(jnp.float16), backend="ffi")


# --- event-driven projection ------------------------------------------------------------------


@jax.jit
def _projections_and_gradients(x, w, g):
    """The kernel's projection and the kernel's and XLA's gradients, one program per example."""
    loss = lambda project, x, w: jnp.sum(g * project(x, w))  # noqa: E731
    event = jax.grad(loss, argnums=(1, 2))(kernels.event_project, x, w)
    dense = jax.grad(loss, argnums=(1, 2))(jnp.matmul, x, w)
    return kernels.event_project(x, w), event, dense


@needs_kernels
@SETTINGS
@given(
    rows=st.integers(1, 40),
    k=st.integers(1, 50),
    n=st.integers(1, 20),
    density=st.sampled_from([0.0, 0.05, 0.3, 1.0]),
    binary=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_event_project_matches_dense_matmul(rows, k, n, density, binary, seed) -> None:
    rng = np.random.default_rng(seed)
    active = rng.random((rows, 2, k)) < density
    x = jnp.asarray(active * (1.0 if binary else rng.normal(size=active.shape)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(k, n)), jnp.float32)
    g = jnp.asarray(rng.normal(size=(rows, 2, n)), jnp.float32)
    projected, event, dense = _projections_and_gradients(x, w, g)
    assert_close(projected, x @ w, "x @ w")
    assert_close(event, dense, "dx, dw")


@needs_kernels
def test_large_event_projection_matches_dense_matmul() -> None:
    """The event kernels' large paths, which the property test above never reaches: 256 rows of
    (256 + 600) columns of work cut the forward pass into 6 chunks for the thread pool
    (parallel.h), x's nonzeros are gathered in 2 pieces, and dw's 600 columns are two full
    256-column register blocks and a partial one (event_kernels.h)."""
    rng = np.random.default_rng(11)
    x = jnp.asarray(rng.random((128, 2, 256)) < 0.05, jnp.float32)
    w = jnp.asarray(rng.normal(size=(256, 600)), jnp.float32)
    g = jnp.asarray(rng.normal(size=(128, 2, 600)), jnp.float32)
    projected, event, dense = _projections_and_gradients(x, w, g)
    assert_close(projected, x @ w, "x @ w")
    assert_close(event, dense, "dx, dw")


@needs_kernels
def test_event_project_vmap_over_weights_equals_loop() -> None:
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.random((6, 3, 20)) < 0.1, jnp.float32)
    ws = jnp.asarray(rng.normal(size=(3, 20, 7)), jnp.float32)
    g = jnp.asarray(rng.normal(size=(6, 3, 7)), jnp.float32)
    # A linear loss, so that the gradient is the kernel's x^T g and no XLA elementwise op whose
    # fusion (and rounding) differs between the batched and the single program.
    value_and_grad = jax.value_and_grad(lambda w: jnp.sum(g * kernels.event_project(x, w)))
    batched = jax.jit(jax.vmap(lambda w: (kernels.event_project(x, w), value_and_grad(w)[1])))(ws)
    for i in range(ws.shape[0]):
        np.testing.assert_array_equal(batched[0][i], kernels.event_project(x, ws[i]))
        np.testing.assert_array_equal(batched[1][i], value_and_grad(ws[i])[1])


@needs_kernels
def test_lif_dense_event_matches_dense_path() -> None:
    """Dyadic weights make every sum exact in any order, so even spikes must agree exactly."""
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.random((30, 4, 64)) < 0.05, jnp.float32)
    w_in = jnp.asarray(np.round(rng.normal(0.0, 1.0, (64, 16)) * 32) / 32, jnp.float32)
    params = LIFParams(0.875, 0.75)

    def loss(layer, w):
        return jnp.sum(layer(w).spikes * jnp.linspace(0.5, 1.5, 30)[:, None, None])

    event = lambda w: kernels.lif_dense_event(params, w, x)  # noqa: E731
    dense = lambda w: lif_scan(params, x @ w, backend="ffi")  # noqa: E731
    reference = lambda w: lif_scan(params, x @ w, backend="xla")  # noqa: E731
    np.testing.assert_array_equal(event(w_in).spikes, reference(w_in).spikes)
    g_event = jax.jit(jax.grad(lambda w: loss(event, w)))(w_in)
    assert_close(g_event, jax.grad(lambda w: loss(dense, w))(w_in), "dw_in vs dense kernel path")
    assert_close(g_event, jax.grad(lambda w: loss(reference, w))(w_in), "dw_in vs reference")


# --- availability and backend choice ---------------------------------------------------------


@pytest.mark.skipif(not KERNELS_REQUIRED, reason="JAXSNN_REQUIRE_KERNELS=0 lets a run without the kernels pass")
def test_kernels_are_built_when_required() -> None:
    assert kernels.available(), kernels.unavailable_reason()


def test_unavailable_without_build_or_off_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from jaxsnn.core.kernels import _loader

    monkeypatch.setattr(_loader, "_MODULE", object())  # built, whether or not it really is
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert not kernels.available() and "CPU-only" in kernels.unavailable_reason()
    monkeypatch.setattr(_loader, "_MODULE", None)
    monkeypatch.setattr(_loader, "_BUILD_ERROR", "the compiled LIF kernel is not built (test)")
    assert not kernels.available() and "not built" in kernels.unavailable_reason()
    with pytest.raises(RuntimeError, match="not built"):
        kernels.lif_scan_ffi(LIFParams(), jnp.zeros((2, 1, 1)), LIFState(jnp.zeros((1, 1)), jnp.zeros((1, 1))),
                             Surrogate(), "subtract", False, False)


def test_auto_falls_back_to_reference_with_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lif_api, "_kernels", lambda: (None, "kernels disabled by the test"))
    lif_api._warn_fallback.cache_clear()
    currents = jnp.asarray(np.random.default_rng(6).normal(0.4, 0.8, (5, 2, 3)), jnp.float32)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            runs = [lif_scan(LIFParams(), currents, backend="auto") for _ in range(2)]
        assert [str(w.message) for w in caught] == [
            "backend='auto' falls back to the lax.scan LIF reference: kernels disabled by the test"
        ]
        for run in runs:
            np.testing.assert_array_equal(run.spikes, lif_scan(LIFParams(), currents, backend="xla").spikes)
        with pytest.raises(RuntimeError, match="kernels disabled by the test"):
            lif_scan(LIFParams(), currents, backend="ffi")
    finally:
        lif_api._warn_fallback.cache_clear()
