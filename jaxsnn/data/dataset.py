"""In-memory dataset containers and the minibatch iterator shared by every trainer.

Datasets are small enough (after spike encoding / binning) to live as dense NumPy arrays, which
keeps the trainer free of any loader framework: a batch is just an index into two arrays.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


def _check_labels(labels: np.ndarray, n_samples: int, n_classes: int, name: str) -> None:
    """Fail early on label arrays that would only break much later, inside a jitted loss."""
    if labels.shape != (n_samples,):
        raise ValueError(f"{name}: labels have shape {labels.shape}, expected ({n_samples},)")
    if n_samples and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"{name}: labels span [{labels.min()}, {labels.max()}], outside [0, {n_classes})"
        )


@dataclass(frozen=True, eq=False)
class SpikeDataset:
    """Spike trains and their labels, batch-first.

    ``inputs`` is float32 with values in {0, 1}: ``(N, T, C)`` for channel data (audio cochlea,
    encoded images) and ``(N, T, P, H, W)`` for event-camera frames (polarity, height, width).
    ``labels`` is ``(N,)`` int32 in ``[0, n_classes)``.
    """

    inputs: np.ndarray
    labels: np.ndarray
    n_classes: int
    name: str

    def __post_init__(self) -> None:
        if self.inputs.ndim not in (3, 5):
            raise ValueError(
                f"{self.name}: inputs must be (N, T, C) or (N, T, P, H, W), got {self.inputs.shape}"
            )
        _check_labels(self.labels, len(self.inputs), self.n_classes, self.name)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def time_steps(self) -> int:
        """Number of simulation steps T of every sample."""
        return int(self.inputs.shape[1])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of the input at one time step: ``(C,)`` or ``(P, H, W)``."""
        return tuple(int(d) for d in self.inputs.shape[2:])


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """Static images for ANN training and ANN-to-SNN conversion (the HYBRID path).

    ``images`` is ``(N, C, H, W)`` float32 in [0, 1]; ``labels`` is ``(N,)`` int32.
    """

    images: np.ndarray
    labels: np.ndarray
    n_classes: int
    name: str

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"{self.name}: images must be (N, C, H, W), got {self.images.shape}")
        _check_labels(self.labels, len(self.images), self.n_classes, self.name)

    def __len__(self) -> int:
        return len(self.labels)


class DataSplits(NamedTuple):
    """The train and test parts of one dataset."""

    train: SpikeDataset
    test: SpikeDataset


def iterate_batches(
    dataset: SpikeDataset,
    batch_size: int,
    *,
    seed: int = 0,
    shuffle: bool = True,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(inputs, labels)`` minibatches covering every sample exactly once.

    The order is a permutation drawn from ``seed`` (pass the epoch number mixed into the seed for
    a new order each epoch). ``drop_last`` skips the final short batch, which keeps one compiled
    shape under ``jit`` at the price of not seeing up to ``batch_size - 1`` samples that epoch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(dataset)
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        index = order[start : start + batch_size]
        yield dataset.inputs[index], dataset.labels[index]
