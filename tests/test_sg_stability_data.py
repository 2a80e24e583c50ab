"""The hard Randman task at SHD's dimensions and its SHD-format writer (issue 18)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from omegaconf import OmegaConf

from jaxsnn.data import load_dataset
from jaxsnn.data.dataset import DataSplits, SpikeDataset
from jaxsnn.data.shd_writer import write_shd
from jaxsnn.data.splits import stratified_split

PRESET = Path(__file__).parents[1] / "conf" / "data" / "randman_shd.yaml"


def shifted_to_first_spike(inputs: np.ndarray) -> np.ndarray:
    """What the SHD loader's alignment to the first event makes of ``(N, T, C)`` frames."""
    out = np.zeros_like(inputs)
    for i, frames in enumerate(inputs):
        active = np.flatnonzero(frames.any(axis=1))
        if active.size:
            out[i, : len(frames) - active[0]] = frames[active[0] :]
    return out


def test_writer_round_trips_through_the_shd_loader(tmp_path: Path) -> None:
    """Randman at the preset's 700 channels / T = 100, written as SHD, read by ``load_shd``."""
    preset = OmegaConf.to_container(OmegaConf.load(PRESET))
    options = {**preset["options"], "n_classes": 4, "samples_per_class": 6, "test_fraction": 0.34}
    original = load_dataset("randman", time_steps=100, seed=1, **options)
    rng = np.random.default_rng(0)
    late = original.train.inputs[:3].copy()  # a sample whose first spike is late, one empty
    late[0, :17] = 0
    late[1] = 0
    late[2, :, rng.integers(700)] = 0
    train = SpikeDataset(
        np.concatenate([original.train.inputs, late]),
        np.concatenate([original.train.labels, original.train.labels[:3]]),
        4,
        "randman",
    )
    paths = write_shd(tmp_path, DataSplits(train, original.test), step_s=0.01)
    with h5py.File(paths[0]) as file:
        assert file["spikes/times"].dtype.metadata["vlen"] == np.float16  # as released
        assert file["labels"].dtype == np.uint8
    loaded = load_dataset("shd", root=tmp_path, time_steps=100, duration=1.0)
    for mine, theirs in ((train, loaded.train), (original.test, loaded.test)):
        assert theirs.inputs.shape == mine.inputs.shape
        np.testing.assert_array_equal(theirs.labels, mine.labels)
        np.testing.assert_array_equal(theirs.inputs, shifted_to_first_spike(mine.inputs))
    assert not np.array_equal(loaded.train.inputs[-3], train.inputs[-3])  # the late one moved


def test_preset_has_shd_dimensions_and_split() -> None:
    """700 channels, 20 classes, T = 100 and, at full size, SHD's 8,156 / 2,264 split."""
    preset = OmegaConf.to_container(OmegaConf.load(PRESET))
    options = preset["options"]
    assert (preset["name"], preset["time_steps"]) == ("randman", 100)
    assert (options["n_channels"], options["n_classes"]) == (700, 20)
    labels = np.repeat(np.arange(20), options["samples_per_class"])
    train, test = stratified_split(labels, test_fraction=options["test_fraction"], seed=0)
    assert (len(train), len(test)) == (8156, 2264)


def test_jitter_moves_spikes_but_keeps_one_per_channel() -> None:
    options = dict(n_classes=3, n_channels=50, samples_per_class=10)
    plain = load_dataset("randman", time_steps=100, seed=2, **options)
    zero = load_dataset("randman", time_steps=100, seed=2, jitter=0.0, **options)
    noisy = load_dataset("randman", time_steps=100, seed=2, jitter=0.2, **options)
    again = load_dataset("randman", time_steps=100, seed=2, jitter=0.2, **options)
    np.testing.assert_array_equal(zero.train.inputs, plain.train.inputs)  # 0: data unchanged
    np.testing.assert_array_equal(noisy.train.inputs, again.train.inputs)  # seeded
    np.testing.assert_array_equal(noisy.train.labels, plain.train.labels)
    assert np.all(noisy.train.inputs.sum(axis=1) == 1)
    moved = np.abs(noisy.train.inputs.argmax(1) - plain.train.inputs.argmax(1)) * 0.01
    assert 0.1 < np.mean(moved) < 0.2  # E|N(0, 0.2)| = 0.16 of the window, less the clipping
    with pytest.raises(ValueError, match="jitter"):
        load_dataset("randman", time_steps=10, jitter=-0.1, **options)
