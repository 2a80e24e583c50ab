"""Spike encoders: rate statistics, seeding, latency ordering and the one-spike property."""

import numpy as np
import pytest

from jaxsnn.data import latency_encode, rate_encode


def test_rate_bernoulli_matches_intensity_times_max_rate():
    x = np.array([[0.0, 0.2, 0.5, 1.0]])
    spikes = rate_encode(np.repeat(x, 50, axis=0), 400, max_rate=0.8, seed=1)
    assert spikes.shape == (50, 400, 4) and spikes.dtype == np.float32
    assert set(np.unique(spikes)) <= {0.0, 1.0}
    np.testing.assert_allclose(spikes.mean(axis=(0, 1)), 0.8 * x[0], atol=0.01)


def test_rate_poisson_fires_with_probability_one_minus_exp_minus_rate():
    spikes = rate_encode(np.full((100, 2), [0.5, 1.0]), 500, max_rate=2.0, method="poisson")
    np.testing.assert_allclose(spikes.mean(axis=(0, 1)), 1 - np.exp([-1.0, -2.0]), atol=0.01)


def test_rate_is_seeded_and_keeps_feature_axes():
    x = np.random.default_rng(0).random((3, 1, 4, 4))
    a, b = rate_encode(x, 20, seed=7), rate_encode(x, 20, seed=7)
    assert a.shape == (3, 20, 1, 4, 4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, rate_encode(x, 20, seed=8))


@pytest.mark.parametrize(
    "kwargs", [{"max_rate": 1.5}, {"method": "gamma"}, {"max_rate": -1.0, "method": "poisson"}]
)
def test_rate_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        rate_encode(np.ones((1, 2)), 5, **kwargs)


@pytest.mark.parametrize("x", [np.array([[1.2]]), np.array([0.5]), np.array([[-0.1]])])
def test_encoders_reject_bad_intensities(x):
    for encode in (rate_encode, latency_encode):
        with pytest.raises(ValueError):
            encode(x, 5)


def test_latency_one_spike_brighter_earlier_blank_silent():
    x = np.array([[1.0, 0.75, 0.5, 0.1, 0.0]])
    spikes = latency_encode(x, 9)
    assert spikes.shape == (1, 9, 5)
    counts = spikes.sum(axis=1)[0]
    np.testing.assert_array_equal(counts, [1, 1, 1, 1, 0])
    first = spikes[0].argmax(axis=0)[:4]
    np.testing.assert_array_equal(first, [0, 2, 4, 7])  # rint((1 - x) * (T - 1))
    assert np.all(np.diff(first) > 0)


def test_latency_threshold_silences_dim_channels():
    spikes = latency_encode(np.array([[0.05, 0.3]]), 10, threshold=0.1)
    np.testing.assert_array_equal(spikes.sum(axis=1), [[0, 1]])
