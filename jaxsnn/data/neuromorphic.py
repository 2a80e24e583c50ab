"""Event datasets read through tonic from local files: SHD, N-MNIST, DVS Gesture.

Layout under the data root ``R`` is tonic's own (tonic stores dataset ``X`` under ``R/X``)::

    R/SHD/shd_train.h5, R/SHD/shd_test.h5            HDF5: spikes/times, spikes/units, labels
    R/NMNIST/Train/<digit>/<id>.bin, R/NMNIST/Test/... 40-bit binary events
    R/DVSGesture/ibmGestureTrain/user<NN>_<lighting>/<label>.npy   tonic's preprocessed release

so a folder tonic has already filled can be reused as is. tonic itself would re-download unless
it finds the downloaded *archive* next to a complete extraction (e.g. at least 10 000 N-MNIST
files); here only the extracted data is required, and any attempt of tonic to download raises
``DatasetNotFoundError`` instead. Each recording is binned into T binary frames (``binning``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tonic

from jaxsnn.data.binning import US_PER_S, bin_events, frame_shape
from jaxsnn.data.dataset import DataSplits, SpikeDataset
from jaxsnn.data.errors import DatasetCorruptError, DatasetError, DatasetNotFoundError
from jaxsnn.data.paths import require, resolve_root

_READ_ERRORS = (OSError, ValueError, KeyError, IndexError, EOFError)
"""What h5py, NumPy and tonic's readers raise on a damaged file."""


@dataclass(frozen=True)
class EventSource:
    """How one tonic dataset is found on disk and where a user gets it."""

    name: str
    tonic_class: type[tonic.Dataset]
    n_classes: int
    split_paths: tuple[str, str]
    """(train, test) file or folder that must exist, relative to ``root/<tonic class name>``."""
    archive_urls: tuple[str, str]
    """(train, test) archives whose extraction yields ``split_paths``."""
    homepage: str

    def location(self, root: Path, train: bool) -> Path:
        return root / self.tonic_class.__name__ / self.split_paths[0 if train else 1]

    def how_to_get(self, root: Path, train: bool) -> str:
        return (
            f"Download {self.archive_urls[0 if train else 1]} and extract it into "
            f"{root / self.tonic_class.__name__} (dataset page: {self.homepage}); "
            "jaxsnn never downloads."
        )

    @property
    def has_y(self) -> bool:
        """True for cameras (frames ``(P, H, W)``), False for channel data (``(C,)``)."""
        return "y" in self.tonic_class.dtype.names


SHD = EventSource(
    "shd",
    tonic.datasets.SHD,
    20,
    ("shd_train.h5", "shd_test.h5"),
    (
        tonic.datasets.SHD.base_url + tonic.datasets.SHD.train_zip,
        tonic.datasets.SHD.base_url + tonic.datasets.SHD.test_zip,
    ),
    "https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/",
)
NMNIST = EventSource(
    "nmnist",
    tonic.datasets.NMNIST,
    10,
    ("Train", "Test"),
    (tonic.datasets.NMNIST.train_url, tonic.datasets.NMNIST.test_url),
    "https://www.garrickorchard.com/datasets/n-mnist",
)
DVS_GESTURE = EventSource(
    "dvs_gesture",
    tonic.datasets.DVSGesture,
    11,
    ("ibmGestureTrain", "ibmGestureTest"),
    (tonic.datasets.DVSGesture.train_url, tonic.datasets.DVSGesture.test_url),
    "https://research.ibm.com/interactive/dvsgesture/",
)


@functools.cache
def _offline(tonic_class: type[tonic.Dataset]) -> type[tonic.Dataset]:
    """A subclass of ``tonic_class`` that reads local files and never downloads.

    It keeps the class name because tonic derives the data folder (``root/<name>``) from it.
    """

    def download(self: tonic.Dataset) -> None:
        raise DatasetNotFoundError(
            f"tonic wanted to download {self.url} into {self.location_on_system}; "
            "jaxsnn never downloads: put the extracted data there"
        )

    # Presence of the extracted data is checked by ``require`` before construction.
    return type(
        tonic_class.__name__,
        (tonic_class,),
        {"_check_exists": lambda self: True, "download": download},
    )


def _sample_order(dataset: tonic.Dataset) -> np.ndarray:
    """A machine-independent order of the samples.

    tonic lists DVS Gesture files in ``os.walk`` order, which varies between file systems, so
    file-per-sample datasets are sorted by path. SHD indexes one HDF5 file (``data`` is empty).
    """
    paths = dataset.data
    if len(paths) == len(dataset):
        return np.argsort(paths, kind="stable")
    return np.arange(len(dataset))


def _sample_path(dataset: tonic.Dataset, index: int, split_path: Path) -> Path | str:
    return dataset.data[index] if len(dataset.data) > index else split_path


def _open(source: EventSource, root: Path, train: bool) -> tonic.Dataset:
    path = source.location(root, train)
    split = "train" if train else "test"
    require(path, f"{source.name} {split} data", source.how_to_get(root, train))
    try:
        dataset = _offline(source.tonic_class)(os.fspath(root), train=train)
        n_samples = len(dataset)
    except DatasetError:  # a DatasetNotFoundError is an OSError too: keep it as it is
        raise
    except _READ_ERRORS as err:
        raise DatasetCorruptError(f"cannot read {source.name} data at {path}: {err}") from err
    if n_samples == 0:
        raise DatasetNotFoundError(
            f"{source.name}: no samples under {path}. {source.how_to_get(root, train)}"
        )
    return dataset


def load_event_split(
    source: EventSource,
    *,
    root: Path,
    train: bool,
    time_steps: int,
    target_size: tuple[int, int] | None,
    duration: float | None,
    max_samples: int | None,
    seed: int,
) -> SpikeDataset:
    """Read and bin one split. ``max_samples`` keeps a random subset drawn from ``seed``."""
    if max_samples is not None and max_samples < 1:
        raise ValueError(f"max_samples must be >= 1 or None, got {max_samples}")
    dataset = _open(source, root, train)
    order = _sample_order(dataset)
    if max_samples is not None and max_samples < len(order):
        keep = np.random.default_rng(seed).choice(len(order), max_samples, replace=False)
        order = order[np.sort(keep)]
    sensor_size = source.tonic_class.sensor_size
    shape = frame_shape(sensor_size, source.has_y, target_size)
    inputs = np.zeros((len(order), time_steps, *shape), dtype=np.float32)
    labels = np.zeros(len(order), dtype=np.int32)
    duration_us = None if duration is None else duration * US_PER_S
    for row, index in enumerate(order):
        try:
            events, label = dataset[int(index)]
            inputs[row] = bin_events(
                events, sensor_size, time_steps, target_size=target_size, duration_us=duration_us
            )
        except _READ_ERRORS as err:
            where = _sample_path(dataset, int(index), source.location(root, train))
            raise DatasetCorruptError(f"cannot read {source.name} sample {where}: {err}") from err
        if not 0 <= label < source.n_classes:
            raise DatasetCorruptError(
                f"{source.name}: label {label} of sample {index} in {source.location(root, train)} "
                f"is outside [0, {source.n_classes})"
            )
        labels[row] = label
    return SpikeDataset(inputs, labels, source.n_classes, source.name)


def _load_splits(
    source: EventSource,
    *,
    time_steps: int,
    seed: int,
    root: str | os.PathLike[str] | None,
    target_size: tuple[int, int] | None,
    duration: float | None,
    max_samples: int | None,
) -> DataSplits:
    def split(train: bool) -> SpikeDataset:
        return load_event_split(
            source,
            root=resolve_root(root),
            train=train,
            time_steps=time_steps,
            target_size=target_size,
            duration=duration,
            max_samples=max_samples,
            seed=seed,
        )

    return DataSplits(split(train=True), split(train=False))


def _square(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    width, height = (size, size) if isinstance(size, int) else size
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive, got {size}")
    return int(width), int(height)


def load_shd(
    *,
    time_steps: int = 50,
    seed: int = 0,
    root: str | os.PathLike[str] | None = None,
    n_channels: int = 700,
    duration: float | None = None,
    max_samples: int | None = None,
) -> DataSplits:
    """Spiking Heidelberg Digits: ``(N, T, n_channels)`` spikes, 20 classes.

    ``n_channels < 700`` merges neighbouring cochlea channels. ``duration`` (seconds) fixes the
    time window (SHD digits last up to about 1.4 s); ``None`` stretches each recording.
    """
    if not 1 <= n_channels <= SHD.tonic_class.sensor_size[0]:
        raise ValueError(f"n_channels must lie in [1, 700], got {n_channels}")
    return _load_splits(
        SHD,
        time_steps=time_steps,
        seed=seed,
        root=root,
        target_size=None if n_channels == 700 else (n_channels, 1),
        duration=duration,
        max_samples=max_samples,
    )


def load_nmnist(
    *,
    time_steps: int = 50,
    seed: int = 0,
    root: str | os.PathLike[str] | None = None,
    size: int | tuple[int, int] | None = None,
    duration: float | None = None,
    max_samples: int | None = None,
) -> DataSplits:
    """N-MNIST: ``(N, T, 2, H, W)`` spikes from the 34x34 sensor, 10 classes.

    ``size`` (``W`` or ``(W, H)``) downsamples space. Dense float32 frames take
    ``N * T * 2 * H * W * 4`` bytes (60 000 x 50 x 2 x 34 x 34 is 28 GB): use ``max_samples``,
    ``size`` or fewer time steps for the full set.
    """
    return _load_splits(
        NMNIST,
        time_steps=time_steps,
        seed=seed,
        root=root,
        target_size=_square(size),
        duration=duration,
        max_samples=max_samples,
    )


def load_dvs_gesture(
    *,
    time_steps: int = 50,
    seed: int = 0,
    root: str | os.PathLike[str] | None = None,
    size: int | tuple[int, int] | None = None,
    duration: float | None = None,
    max_samples: int | None = None,
) -> DataSplits:
    """IBM DVS Gesture: ``(N, T, 2, H, W)`` spikes from the 128x128 sensor, 11 classes.

    ``size=32`` (4x downsampling) is the usual choice for SNNs; at full resolution the 1077
    training recordings take 3.5 GB at T=50. ``duration`` (seconds) keeps only the start.
    """
    return _load_splits(
        DVS_GESTURE,
        time_steps=time_steps,
        seed=seed,
        root=root,
        target_size=_square(size),
        duration=duration,
        max_samples=max_samples,
    )
