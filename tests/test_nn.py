"""Spiking layers and the classifier: shapes, gradient flow, and gradients against an independent
NumPy BPTT (``numpy_lif``) and finite differences on the smooth membrane-readout path."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpy_lif
import pytest
from flax import nnx

from jaxsnn.core import Surrogate
from jaxsnn.nn import (
    OUTPUT_LAYER,
    ConvSpec,
    Hyper,
    LIFConv,
    LIFDense,
    LIFRecurrent,
    LIFSpec,
    SpikingClassifier,
)

XLA = LIFSpec(backend="xla")


def spikes_in(shape: tuple[int, ...], rate: float = 0.3, seed: int = 0) -> jax.Array:
    """Bernoulli input spikes, drawn by NumPy: a JAX draw compiles anew for every shape (~1 s)."""
    return jnp.asarray(np.random.default_rng(seed).random(shape) < rate, jnp.float32)


def param_grads(model: nnx.Module, loss) -> dict[str, jax.Array]:
    """Gradient of ``loss(model)`` w.r.t. every ``nnx.Param``, keyed by path."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    grads = jax.grad(lambda p: loss(nnx.merge(graphdef, p, rest)))(params)
    return {
        jax.tree_util.keystr(path): leaf
        for path, leaf in jax.tree_util.tree_leaves_with_path(grads)
    }


@pytest.mark.parametrize(
    "layer, x_shape, spike_shape",
    [
        (
            lambda r: LIFDense(6, 5, XLA, Surrogate(), rngs=r, weight_scale=3.0),
            (7, 4, 6),
            (7, 4, 5),
        ),
        (
            lambda r: LIFRecurrent(6, 5, XLA, Surrogate(), rngs=r, weight_scale=3.0),
            (7, 4, 6),
            (7, 4, 5),
        ),
        (
            lambda r: LIFConv(
                2,
                3,
                LIFSpec(backend="xla", per_neuron_alpha=True, train_alpha=True),
                Surrogate(),
                kernel_size=3,
                stride=2,
                rngs=r,
                weight_scale=3.0,
            ),
            (7, 4, 9, 9, 2),
            (7, 4, 5, 5, 3),
        ),
    ],
    ids=["dense", "recurrent", "conv"],
)
def test_layer_shapes_and_gradient_flow(layer, x_shape, spike_shape):
    model = layer(nnx.Rngs(0))
    out = model(spikes_in(x_shape))
    assert out.spikes.shape == spike_shape
    assert 0 < float(out.spikes.mean()) < 1
    assert out.state.v.shape == (x_shape[1], int(np.prod(spike_shape[2:])))
    grads = param_grads(
        model, lambda m: (m(spikes_in(x_shape)).spikes * jnp.arange(spike_shape[-1])).sum()
    )
    for path, grad in grads.items():
        assert jnp.all(jnp.isfinite(grad)) and jnp.any(grad != 0), f"no gradient reaches {path}"


def test_conv_layer_folds_time_into_batch_exactly():
    """One conv over (T*B) maps equals the conv applied at every time step separately."""
    layer = LIFConv(2, 3, XLA, Surrogate(), stride=2, rngs=nnx.Rngs(1), weight_scale=3.0)
    x = spikes_in((5, 2, 8, 8, 2))
    per_step = jnp.stack([layer.conv(x[t]) for t in range(5)])  # (T, B, 4, 4, 3)
    expected = layer.neurons(per_step.reshape(5, 2, -1)).spikes.reshape(per_step.shape)
    np.testing.assert_array_equal(layer(x).spikes, expected)


def test_per_channel_leak_is_shared_across_positions():
    spec = LIFSpec(alpha=0.5, backend="xla", per_neuron_alpha=True)
    layer = LIFConv(1, 2, spec, Surrogate(), rngs=nnx.Rngs(0))
    layer.neurons.alpha[...] = jnp.array([0.0, 1.0])  # channel 0 forgets at once, channel 1 never
    currents = jnp.full((3, 1, 2 * 2 * 2), 0.4)  # (T, B, H*W*C) with C last
    v = layer.neurons(currents).state.v.reshape(2, 2, 2)
    np.testing.assert_allclose(v[..., 0], 0.4)
    np.testing.assert_allclose(v[..., 1], 1.2)


@pytest.mark.parametrize(
    "kwargs, input_shape, names",
    [
        ({"hidden": (8, 6)}, (10,), ("hidden0", "hidden1")),
        ({"hidden": (8,), "recurrent": True, "readout": "mean_membrane"}, (10,), ("hidden0",)),
        ({"hidden": (), "readout": "spike_count"}, (2, 4, 4), (OUTPUT_LAYER,)),  # frames flattened
        (
            {"conv": (ConvSpec(4, 3, 2),), "hidden": (8,), "readout": "spike_count"},
            (2, 8, 8),
            ("conv0", "hidden0", OUTPUT_LAYER),
        ),
    ],
)
def test_classifier_outputs_and_gradient_flow(kwargs, input_shape, names):
    model = SpikingClassifier(
        input_shape, 3, neuron=XLA, weight_scale=3.0, rngs=nnx.Rngs(0), **kwargs
    )
    x = spikes_in((5, 9, *input_shape))  # batch-first (B, T, ...)
    out = model(x)
    assert model.layer_names == names and tuple(out.spikes) == names
    assert out.logits.shape == (5, 3) and out.output_counts.shape == (5,)
    for z in out.spikes.values():
        assert z.shape[:2] == (9, 5)
    last = out.spikes[names[-1]]
    np.testing.assert_allclose(out.output_counts, last.reshape(9, 5, -1).sum(axis=(0, 2)))
    assert OUTPUT_LAYER not in out.hidden_spikes
    grads = param_grads(model, lambda m: jax.nn.log_softmax(m(x).logits)[:, 0].sum())
    assert grads
    for path, grad in grads.items():
        assert jnp.any(grad != 0), f"no gradient reaches {path}"


def test_hyperparameters_are_state_not_params():
    """Leaks, thresholds and SG settings can be swept by vmap but are never trained."""
    model = SpikingClassifier(
        (4,), 2, hidden=(3,), surrogate=Surrogate("gaussian", 0.5, 2.0), rngs=nnx.Rngs(0)
    )
    _, params, hypers = nnx.split(model, nnx.Param, Hyper)
    param_paths = {jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(params)}
    assert all("kernel" in path for path in param_paths)
    sg = model.hidden[0].neurons.surrogate()
    assert (sg.shape, float(sg.gamma), float(sg.beta)) == ("gaussian", 0.5, 2.0)
    assert len(jax.tree.leaves(hypers)) == 6  # alpha, theta, gamma, beta, q + readout alpha


def test_invalid_network_configs_fail_clearly():
    with pytest.raises(ValueError, match="unknown readout"):
        SpikingClassifier((4,), 2, readout="softmax", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="conv layers need event-camera frames"):
        SpikingClassifier((4,), 2, conv=(ConvSpec(2),), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="needs at least one spiking"):
        SpikingClassifier((4,), 2, hidden=(), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="alpha"):
        LIFSpec(alpha=1.5)
    with pytest.raises(ValueError, match="backend"):
        LIFSpec(backend="cuda")


def fast_sigmoid(u: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + 2.0 * np.abs(u)) ** 2


def numpy_loss_and_grads(x, labels, w_in, w_rec, w_out, alpha, theta, alpha_out):
    """CE of a mean-membrane readout and its gradients, by hand, on top of ``numpy_lif``."""
    x = np.swapaxes(x, 0, 1).astype(np.float64)  # (T, B, C)
    steps, batch = x.shape[:2]
    currents = x @ w_in
    _, z = numpy_lif.forward(currents, alpha, theta, w_rec)
    v_out, v = [], np.zeros((batch, w_out.shape[1]))
    for t in range(steps):
        v = alpha_out * v + z[t] @ w_out
        v_out.append(v)
    logits = np.mean(v_out, axis=0)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    loss = -np.log(p[np.arange(batch), labels]).mean()
    d_logits = (p - np.eye(w_out.shape[1])[labels]) / batch
    # v_out[t] = sum_{s<=t} a^(t-s) J[s]  =>  dL/dJ[s] = d_logits / T * sum_{t>=s} a^(t-s)
    d_j = np.stack(
        [
            d_logits / steps * sum(alpha_out ** (t - s) for t in range(s, steps))
            for s in range(steps)
        ]
    )
    d_w_out = np.einsum("tbn,tbk->nk", z, d_j)
    d_cur, d_w_rec, _, _ = numpy_lif.backward(
        currents, alpha, theta, w_rec, d_j @ w_out.T, fast_sigmoid
    )
    d_w_in = np.einsum("tbc,tbn->cn", x, d_cur)
    return loss, z, d_w_in, d_w_rec, d_w_out


@pytest.mark.parametrize("recurrent", [False, True], ids=["dense", "recurrent"])
def test_network_gradients_match_independent_numpy_bptt(recurrent):
    model = SpikingClassifier(
        (6,),
        3,
        hidden=(5,),
        recurrent=recurrent,
        readout="mean_membrane",
        readout_alpha=0.8,
        neuron=LIFSpec(alpha=0.9, theta=1.0, backend="xla"),
        weight_scale=2.5,
        rngs=nnx.Rngs(3),
    )
    x, labels = spikes_in((4, 12, 6), rate=0.4), jnp.array([0, 1, 2, 1])
    hidden = model.hidden[0]
    w_rec = np.asarray(hidden.w_rec[...], np.float64) if recurrent else None
    loss, z, d_w_in, d_w_rec, d_w_out = numpy_loss_and_grads(
        np.asarray(x),
        np.asarray(labels),
        np.asarray(hidden.linear.kernel[...], np.float64),
        w_rec,
        np.asarray(model.output.linear.kernel[...], np.float64),
        0.9,
        1.0,
        0.8,
    )
    np.testing.assert_array_equal(
        np.swapaxes(model(x).spikes["hidden0"], 0, 1), np.swapaxes(z, 0, 1)
    )
    assert 0.05 < z.mean() < 0.95, "the check needs a network that spikes, but not always"

    def ce(m):
        return -jax.nn.log_softmax(m(x).logits)[jnp.arange(4), labels].mean()

    grads = param_grads(model, ce)
    np.testing.assert_allclose(ce(model), loss, rtol=1e-5)
    np.testing.assert_allclose(
        grads["['output']['linear']['kernel'].value"], d_w_out, rtol=1e-4, atol=1e-6
    )
    np.testing.assert_allclose(
        grads["['hidden'][0]['linear']['kernel'].value"], d_w_in, rtol=1e-4, atol=1e-6
    )
    if recurrent:
        np.testing.assert_allclose(
            grads["['hidden'][0]['w_rec'].value"], d_w_rec, rtol=1e-4, atol=1e-6
        )


def test_readout_gradient_matches_finite_differences():
    """The membrane readout is smooth in its weights (no threshold on that path)."""
    model = SpikingClassifier(
        (6,), 3, hidden=(5,), readout="max_membrane", neuron=XLA, weight_scale=2.5, rngs=nnx.Rngs(0)
    )
    x, labels = spikes_in((4, 10, 6), rate=0.4), jnp.array([0, 1, 2, 1])
    kernel = model.output.linear.kernel

    def loss_at(w):
        kernel[...] = w
        return float(-jax.nn.log_softmax(model(x).logits)[jnp.arange(4), labels].mean())

    w0 = kernel[...]
    grad = param_grads(
        model, lambda m: -jax.nn.log_softmax(m(x).logits)[jnp.arange(4), labels].mean()
    )
    analytic = grad["['output']['linear']['kernel'].value"]
    direction = jnp.asarray(np.random.default_rng(5).normal(size=w0.shape), w0.dtype)
    eps = 1e-2
    numeric = (loss_at(w0 + eps * direction) - loss_at(w0 - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(numeric, float((analytic * direction).sum()), rtol=2e-3)
