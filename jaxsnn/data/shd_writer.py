"""Write binned spike datasets as Spiking Heidelberg Digits files, for the real SHD loader.

SHD cannot be downloaded on every machine, yet its loader (tonic's HDF5 reader plus
``binning.bin_events``) is part of what a study on SHD exercises: per-sample file reads, event
alignment, binning, 700-channel frames. Writing a generated task (e.g. ``conf/data/randman_shd``)
in SHD's exact layout runs that whole path at full size:

    root/SHD/shd_{train,test}.h5:  spikes/times  vlen float16 (seconds)
                                   spikes/units  vlen uint16 (channel)
                                   labels        uint8
                                   extra/keys, extra/speaker   (as in the release)

The SHD loader aligns every recording to its first event and bins it into ``T`` steps of
``duration / T``. A spike at step ``k`` of a sample whose first spike is at step ``k0`` is
therefore written at ``(k + 0.5) * step_s`` seconds, except the first step's spikes, written at
``k0 * step_s``: after alignment every later spike sits mid-bin, half a bin away from the edges,
so float16 rounding (relative 2**-11: 0.05 bins at T = 100) never moves it.
Loaded with ``duration = T * step_s``, each sample comes back as the original frames shifted
earlier by ``k0`` steps (unchanged when it has a spike at step 0).
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from jaxsnn.data.dataset import DataSplits, SpikeDataset

SHD_CHANNELS = 700
SHD_CLASSES = 20
MAX_STEPS = 1024
"""float16 spacing at ``t`` is ``t / 2048``: below half a bin while ``T <= 1024`` (any step)."""


def spike_times(frames: np.ndarray, step_s: float) -> tuple[np.ndarray, np.ndarray]:
    """One sample's ``(T, C)`` binary frames -> (times in s, channels), sorted by time."""
    steps, units = np.nonzero(frames)
    if steps.size == 0:
        return np.zeros(0, np.float16), np.zeros(0, np.uint16)
    times = (steps + 0.5 * (steps > steps.min())) * step_s
    return times.astype(np.float16), units.astype(np.uint16)


def write_shd_split(path: str | os.PathLike[str], dataset: SpikeDataset, step_s: float) -> Path:
    """Write one split to ``path`` in SHD's HDF5 layout; returns the path."""
    if dataset.inputs.ndim != 3 or dataset.inputs.shape[-1] > SHD_CHANNELS:
        raise ValueError(
            f"SHD holds (N, T, C <= {SHD_CHANNELS}) channel data, got {dataset.inputs.shape}"
        )
    if dataset.n_classes > SHD_CLASSES:
        raise ValueError(f"SHD has {SHD_CLASSES} classes, got {dataset.n_classes}")
    if step_s <= 0:
        raise ValueError(f"step_s must be positive, got {step_s}")
    if dataset.time_steps > MAX_STEPS:
        raise ValueError(
            f"float16 times resolve a mid-bin spike only for T <= {MAX_STEPS}, "
            f"got T = {dataset.time_steps}"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(dataset)
    with h5py.File(path, "w") as file:
        spikes = file.create_group("spikes")
        times = spikes.create_dataset("times", (n,), dtype=h5py.vlen_dtype(np.float16))
        units = spikes.create_dataset("units", (n,), dtype=h5py.vlen_dtype(np.uint16))
        for i, frames in enumerate(dataset.inputs):
            times[i], units[i] = spike_times(frames, step_s)
        file.create_dataset("labels", data=dataset.labels.astype(np.uint8))
        extra = file.create_group("extra")
        keys = [f"{dataset.name}-class-{c}".encode() for c in range(SHD_CLASSES)]
        extra.create_dataset("keys", data=np.array(keys))
        extra.create_dataset("speaker", data=np.zeros(n, np.uint8))
    return path


def write_shd(
    root: str | os.PathLike[str], splits: DataSplits, step_s: float = 0.01
) -> tuple[Path, Path]:
    """Write ``splits`` as ``root/SHD/shd_train.h5`` and ``shd_test.h5``.

    Load them back with ``load_dataset("shd", root=root, time_steps=T, duration=T * step_s)``
    (Hydra: ``data=shd data.root=<root> +data.options.duration=<T * step_s>``).
    """
    folder = Path(root) / "SHD"
    return (
        write_shd_split(folder / "shd_train.h5", splits.train, step_s),
        write_shd_split(folder / "shd_test.h5", splits.test, step_s),
    )
