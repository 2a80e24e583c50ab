"""SRM layers (SLAYER): kernels, membrane against an explicit NumPy loop, gradients, loss, trainer."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxsnn.core import Surrogate
from jaxsnn.data import DataSplits, SpikeDataset, load_dataset
from jaxsnn.nn.srm import (
    SRMConv,
    SRMDense,
    SRMNetwork,
    SRMParams,
    SRMPool,
    epsilon_kernel,
    epsilon_length,
    refractory_kernel,
    spike_count_loss,
    srm_response,
)
from jaxsnn.train.silent import SilentNetworkDetector
from jaxsnn.train.slayer import SlayerConfig, dvs_gesture_config, train_slayer

SG = Surrogate()


def eps(t: np.ndarray, tau: float) -> np.ndarray:
    """The closed form, zero before the spike."""
    t = np.asarray(t, dtype=np.float64)
    return np.where(t >= 0, t / tau * np.exp(1 - t / tau), 0.0)


def impulse(steps: int, t0: int, weight: float) -> jnp.ndarray:
    currents = np.zeros((steps, 1, 1), np.float32)
    currents[t0] = weight
    return jnp.asarray(currents)


def test_kernels_match_closed_forms():
    k = np.arange(12)
    np.testing.assert_allclose(epsilon_kernel(3.0, 12), eps(k, 3.0))
    np.testing.assert_allclose(refractory_kernel(2.0, 1.5, 12), -2 * 1.5 * eps(k, 2.0))
    length = epsilon_length(3.0, 1e-3)
    tail = epsilon_kernel(3.0, length + 200)
    assert tail[length - 1] >= 1e-3 and np.all(tail[length:] < 1e-3)


def test_input_spike_gives_scaled_epsilon_peaking_at_tau_s():
    tau_s, t0, w = 4.0, 3, 0.7
    params = SRMParams(tau_s=tau_s, theta=10.0)  # never fires: the membrane is pure PSP
    u = np.asarray(srm_response(impulse(40, t0, w), params, SG, return_voltages=True).voltages[:, 0, 0])
    truncated = np.arange(40) - t0 < epsilon_length(tau_s, params.tolerance)
    np.testing.assert_allclose(u, w * eps(np.arange(40) - t0, tau_s) * truncated, atol=1e-6)
    assert u[: t0 + 1].max() == 0.0  # eps(0) = 0: the effect starts one step later
    assert int(np.argmax(u)) == t0 + tau_s and u.max() == pytest.approx(w, abs=1e-6)


def test_output_spike_adds_refractory_kernel():
    tau_s, tau_r, theta, t0, w = 2.0, 3.0, 1.0, 2, 1.8
    params = SRMParams(tau_s=tau_s, tau_r=tau_r, theta=theta, tolerance=1e-9)
    out = srm_response(impulse(30, t0, w), params, SG, return_voltages=True)
    u, s = np.asarray(out.voltages[:, 0, 0]), np.asarray(out.spikes[:, 0, 0])
    t = np.arange(30)
    t1 = t0 + 1  # w * eps(1) = 1.8 * 0.82 > theta: first spike one step after the input
    assert s[t1] == 1 and s[:t1].sum() == 0
    fired = np.flatnonzero(s)
    expected = w * eps(t - t0, tau_s) + sum(-2 * theta * eps(t - tf, tau_r) * (t > tf) for tf in fired)
    np.testing.assert_allclose(u, expected, atol=1e-5)
    assert u[t1 + 1] < w * eps(t1 + 1 - t0, tau_s) - 0.5  # pulled down right after the spike
    assert s[t1 + 1 :].sum() < s.size - t1 - 1  # refractoriness: it cannot keep firing


def numpy_srm(x, weight, params):
    """Explicit double loop over (t, t') of u = eps * (x W) + nu * s, untruncated kernels."""
    steps = x.shape[0]
    a = x.astype(np.float64) @ weight.astype(np.float64)
    e, nu = epsilon_kernel(params.tau_s, steps), refractory_kernel(params.tau_r, params.theta, steps)
    u, s = np.zeros_like(a), np.zeros_like(a)
    for t in range(steps):
        for tp in range(t + 1):
            u[t] += e[t - tp] * a[tp] + nu[t - tp] * s[tp]
        s[t] = u[t] > params.theta
    return u, s


def test_dense_layer_matches_numpy_double_loop():
    rng = np.random.default_rng(0)
    x = (rng.random((30, 3, 5)) < 0.3).astype(np.float32)
    params = SRMParams(tau_s=3.0, tau_r=2.0, theta=1.0, tolerance=1e-7)  # eps kernel >= 30 steps
    layer = SRMDense(5, 4, srm=params, weight_scale=2.0, rngs=nnx.Rngs(1))
    weight = np.asarray(layer.weight[...])
    u_ref, s_ref = numpy_srm(x, weight, params)
    out = srm_response(jnp.asarray(x) @ layer.weight[...], params, SG, return_voltages=True)
    np.testing.assert_allclose(np.asarray(out.voltages), u_ref, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(layer(jnp.asarray(x))), s_ref)
    assert 0 < s_ref.sum() < s_ref.size  # the comparison exercised spikes and refractoriness


def test_conv_layer_with_1x1_kernel_is_a_dense_layer_per_pixel():
    rng = np.random.default_rng(1)
    x = jnp.asarray((rng.random((12, 2, 3, 4, 4)) < 0.3).astype(np.float32))
    conv = SRMConv(3, 5, 1, weight_scale=3.0, rngs=nnx.Rngs(0))
    dense = SRMDense(3, 5, rngs=nnx.Rngs(0))
    dense.weight[...] = conv.weight[...][:, :, 0, 0].T
    per_pixel = jnp.moveaxis(x, 2, -1).reshape(12, 2 * 16, 3)
    expected = jnp.moveaxis(dense(per_pixel).reshape(12, 2, 4, 4, 5), -1, 2)
    np.testing.assert_array_equal(np.asarray(conv(x)), np.asarray(expected))
    assert float(expected.sum()) > 0


def test_pool_layer_fires_for_one_input_spike_per_window():
    x = np.zeros((10, 1, 2, 4, 4), np.float32)
    x[1, 0, 0, 0, 1] = 1.0  # one spike in the top-left 2x2 window of channel 0
    out = np.asarray(SRMPool(2)(jnp.asarray(x)))
    assert out.shape == (10, 1, 2, 2, 2)
    assert out[:, 0, 0, 0, 0].sum() >= 1 and out.sum() == out[:, 0, 0, 0, 0].sum()


def test_gradients_reach_every_weight():
    rng = np.random.default_rng(2)
    x = jnp.asarray((rng.random((20, 4, 2, 8, 8)) < 0.2).astype(np.float32))
    srm = SRMParams(tau_s=2.0, tau_r=2.0)
    net = SRMNetwork([
        SRMConv(2, 4, 3, srm=srm, weight_scale=3.0, rngs=nnx.Rngs(0)),
        SRMPool(2, srm=srm),
        SRMDense(4 * 4 * 4, 3, srm=srm, weight_scale=3.0, rngs=nnx.Rngs(1)),
    ])  # fmt: skip
    labels = jnp.asarray([0, 1, 2, 0])
    grads = nnx.grad(lambda n: spike_count_loss(n(x)[-1], labels, 5.0, 1.0))(net)
    leaves = jax.tree.leaves(grads)
    assert len(leaves) == 2  # the pool layer has no trainable weight
    for g in leaves:
        assert np.all(np.isfinite(g)) and np.abs(g).max() > 0


def test_spike_count_loss_value_and_error_signal():
    spikes = np.zeros((10, 2, 3), np.float32)
    spikes[:4, 0, 0] = 1  # sample 0: counts (4, 0, 0), label 0
    spikes[:2, 1, 2] = 1  # sample 1: counts (0, 0, 2), label 1
    labels = jnp.asarray([0, 1])
    loss, grad = jax.value_and_grad(spike_count_loss)(jnp.asarray(spikes), labels, 6.0, 1.0)
    expected = 0.5 * np.mean([(4 - 6) ** 2 + 1 + 1, 1 + (0 - 6) ** 2 + (2 - 1) ** 2])
    assert float(loss) == pytest.approx(expected)
    # d loss / d s[t] is the count error over the batch size, the same at every step
    np.testing.assert_allclose(np.asarray(grad[3, 0]), np.array([-2.0, -1.0, -1.0]) / 2)
    np.testing.assert_allclose(np.asarray(grad[0]), np.asarray(grad[9]))


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", time_steps=30, seed=0)


def test_train_slayer_learns_digits(digits):
    record = train_slayer(SlayerConfig(epochs=4, time_steps=25), digits, seed=0)
    assert record.status == "complete" and record.epochs_run == 4
    assert set(record.objectives) == {"accuracy", "train_time_s", "inference_steps", "spikes_per_sample"}
    assert record.objectives["accuracy"] > 0.8
    assert record.objectives["inference_steps"] == 25
    assert record.objectives["spikes_per_sample"] > record.spikes > 0
    assert record.metrics["history"][-1]["loss"] < record.metrics["history"][0]["loss"]


def test_silent_network_is_stopped_and_recorded(digits):
    detector = SilentNetworkDetector(k=1, p=0.3, update_interval=64)
    cfg = SlayerConfig(epochs=2, weight_scale=0.05)  # too weak to ever reach threshold
    record = train_slayer(cfg, digits, stoppers=[detector], seed=0)
    assert record.status == "silent_stopped" and record.informative
    assert record.constraints["silent"] == pytest.approx(1.0 - 0.3)
    assert record.spikes == 0 and "silent network" in record.metrics["stop_reason"]
    assert record.epochs_run == 0 and detector.seen == 32  # batch 1's 32 silent samples lose the check at 64


def test_nan_loss_gives_failed_record(digits):
    train = digits.train
    broken = SpikeDataset(np.full_like(train.inputs, np.nan), train.labels, train.n_classes, "nan")
    record = train_slayer(SlayerConfig(epochs=1), DataSplits(broken, digits.test))
    assert record.status == "failed" and "non-finite loss" in record.error


def test_conv_network_on_event_frames():
    """The SLAYER conv pipeline (input pooling, two conv + pool stages, dense) runs on event frames
    and its spike-count loss falls: 7.6 -> 4.6 measured, flat with lr 1e-9.

    It asserts no accuracy: on held-out frames of this toy the untrained network scores 0.58-0.67
    (chance 1/3) and the trained one 0.21-0.54 (issue 16 note), so an accuracy bound would pass
    without learning. Learning itself is checked on digits (``test_train_slayer_learns_digits``)."""
    rng = np.random.default_rng(3)
    labels = np.arange(24, dtype=np.int32) % 3
    frames = (rng.random((24, 8, 2, 8, 8)) < 0.05).astype(np.float32)
    for k in range(3):
        frames[labels == k, :, 0, :, 2 * k : 2 * k + 3] = rng.random(((labels == k).sum(), 8, 8, 3)) < 0.8
    ds = SpikeDataset(frames, labels, 3, "frames")
    cfg = dvs_gesture_config(input_pool=2, conv_channels=(4, 8), hidden=(16,), epochs=4, batch_size=8,
                             true_count=4.0, false_count=1.0, weight_scale=10.0, theta=0.3, lr=1e-1)  # fmt: skip
    record = train_slayer(cfg, DataSplits(ds, ds))
    assert record.status == "complete"
    assert record.metrics["layers"] == ["pool_in", "conv0", "pool0", "conv1", "pool1", "hidden0", "output"]
    history = [h["loss"] for h in record.metrics["history"]]
    assert history[-1] < history[0] - 1.0 and record.spikes > 0


def test_config_errors_name_the_option():
    with pytest.raises(ValueError, match="conv_kernels"):
        SlayerConfig(conv_channels=(4,), conv_kernels=())
    with pytest.raises(ValueError, match="false_count"):
        SlayerConfig(true_count=2.0, false_count=3.0)
    with pytest.raises(ValueError, match="unknown slayer option"):
        SlayerConfig.from_dict({"tau": 2.0})
    with pytest.raises(ValueError, match=r"\(P, H, W\) frames"):
        train_slayer(SlayerConfig(conv_channels=(4,), conv_kernels=(3,)), load_dataset("digits", time_steps=5))
