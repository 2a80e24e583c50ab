"""Embedded datasets (digits, Randman), the registry and the batch iterator."""

import socket

import numpy as np
import pytest

from jaxsnn.data import (
    SPIKE_DATASETS,
    DataSplits,
    SpikeDataset,
    iterate_batches,
    load_dataset,
    load_images,
)


def _assert_spikes(dataset: SpikeDataset, n_channels: int, time_steps: int) -> None:
    assert dataset.inputs.dtype == np.float32 and dataset.labels.dtype == np.int32
    assert dataset.inputs.shape == (len(dataset), time_steps, n_channels)
    assert set(np.unique(dataset.inputs)) <= {0.0, 1.0}


def test_digits_shapes_labels_and_no_download(monkeypatch):
    def offline(*args, **kwargs):
        raise AssertionError("the embedded dataset tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", offline)
    monkeypatch.setattr(socket, "create_connection", offline)
    train, test = load_dataset("digits", time_steps=50, seed=0)
    assert len(train) + len(test) == 1797 and len(test) == 360
    for part in (train, test):
        _assert_spikes(part, 64, 50)
        assert part.n_classes == 10 and part.name == "digits"
        assert part.time_steps == 50 and part.sample_shape == (64,)
    assert set(np.unique(train.labels)) == set(range(10))


def test_digits_split_is_stratified_and_seeded():
    a, b, c = (load_dataset("digits", time_steps=4, seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(a.train.inputs, b.train.inputs)
    np.testing.assert_array_equal(a.test.labels, b.test.labels)
    assert not np.array_equal(a.test.labels, c.test.labels)
    train_share = np.bincount(a.train.labels) / len(a.train)
    test_share = np.bincount(a.test.labels) / len(a.test)
    np.testing.assert_allclose(train_share, test_share, atol=0.01)


def test_digits_latency_encoding_has_at_most_one_spike_per_channel():
    train, _ = load_dataset("digits", time_steps=20, encoding="latency")
    assert train.inputs.sum(axis=1).max() == 1.0
    assert 0 < train.inputs.mean() < 1 / 20  # blank pixels stay silent


def test_digits_images_share_the_spike_split():
    images_train, images_test = load_images("digits", seed=5)
    spikes = load_dataset("digits", time_steps=2, seed=5)
    assert images_train.images.shape == (len(spikes.train), 1, 8, 8)
    assert images_train.images.dtype == np.float32
    assert 0.0 <= images_train.images.min() and images_train.images.max() == 1.0
    np.testing.assert_array_equal(images_test.labels, spikes.test.labels)


def test_randman_is_deterministic_and_one_spike_per_channel():
    options = dict(n_classes=3, n_channels=12, samples_per_class=30, manifold_dim=2)
    a = load_dataset("randman", time_steps=25, seed=11, **options)
    b = load_dataset("randman", time_steps=25, seed=11, **options)
    c = load_dataset("randman", time_steps=25, seed=12, **options)
    np.testing.assert_array_equal(a.train.inputs, b.train.inputs)
    np.testing.assert_array_equal(a.test.labels, b.test.labels)
    assert not np.array_equal(a.train.inputs, c.train.inputs)
    _assert_spikes(a.train, 12, 25)
    assert len(a.train) + len(a.test) == 90 and a.train.n_classes == 3
    np.testing.assert_array_equal(a.train.inputs.sum(axis=1), 1.0)


def test_randman_classes_are_separable_by_spike_timing():
    train, test = load_dataset("randman", time_steps=50, seed=0, n_classes=10, n_channels=30)

    def first_spike(data: SpikeDataset) -> np.ndarray:
        return data.inputs.argmax(axis=1).astype(float)

    x_train, x_test = first_spike(train), first_spike(test)
    centroids = np.stack([x_train[train.labels == k].mean(axis=0) for k in range(10)])
    distance = ((x_test[:, None, :] - centroids[None]) ** 2).sum(axis=-1)
    accuracy = np.mean(distance.argmin(axis=1) == test.labels)
    assert accuracy > 0.3  # chance is 0.1


def test_unknown_dataset_and_option_are_named():
    with pytest.raises(ValueError, match="valid: .*'digits'.*'dvs_gesture'.*'nmnist'"):
        load_dataset("mnist")
    with pytest.raises(TypeError, match="'bogus'.*'digits'.*encoding"):
        load_dataset("digits", bogus=1)
    with pytest.raises(ValueError, match="cifar10"):
        load_images("svhn")
    assert set(SPIKE_DATASETS) == {"digits", "randman", "shd", "nmnist", "dvs_gesture"}


def test_spike_dataset_rejects_inconsistent_labels():
    with pytest.raises(ValueError, match="labels"):
        SpikeDataset(np.zeros((3, 2, 4), np.float32), np.zeros(2, np.int32), 2, "x")
    with pytest.raises(ValueError, match="outside"):
        SpikeDataset(np.zeros((2, 2, 4), np.float32), np.array([0, 2], np.int32), 2, "x")


@pytest.fixture(scope="module")
def small() -> SpikeDataset:
    inputs = np.zeros((23, 2, 3), np.float32)
    inputs[:, 0, 0] = np.arange(23)  # tag each sample with its index
    return SpikeDataset(inputs, np.arange(23, dtype=np.int32) % 4, 4, "small")


@pytest.mark.parametrize("batch_size", [1, 5, 23, 40])
def test_iterate_batches_covers_every_sample_once(small, batch_size):
    batches = list(iterate_batches(small, batch_size, seed=3))
    seen = np.concatenate([x[:, 0, 0] for x, _ in batches]).astype(int)
    assert sorted(seen) == list(range(23))
    assert all(len(x) == len(y) <= batch_size for x, y in batches)
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), seen % 4)


def test_iterate_batches_drop_last_seed_and_order(small):
    dropped = list(iterate_batches(small, 5, drop_last=True))
    assert [len(x) for x, _ in dropped] == [5, 5, 5, 5]
    assert len(np.unique(np.concatenate([x[:, 0, 0] for x, _ in dropped]))) == 20
    ordered = np.concatenate([x[:, 0, 0] for x, _ in iterate_batches(small, 4, shuffle=False)])
    np.testing.assert_array_equal(ordered, np.arange(23))

    def order(seed: int) -> np.ndarray:
        return np.concatenate([x[:, 0, 0] for x, _ in iterate_batches(small, 4, seed=seed)])

    np.testing.assert_array_equal(order(1), order(1))
    assert not np.array_equal(order(1), order(2))
    with pytest.raises(ValueError):
        next(iterate_batches(small, 0))


def test_data_splits_is_a_named_pair():
    splits = load_dataset("randman", time_steps=5, n_classes=2, samples_per_class=10)
    assert isinstance(splits, DataSplits) and splits.train is splits[0]
