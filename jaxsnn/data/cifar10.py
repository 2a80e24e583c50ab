"""CIFAR-10 from the official "python version" pickle batches, without torchvision.

Expected layout (the extracted ``cifar-10-python.tar.gz``)::

    <root>/cifar-10-batches-py/{data_batch_1..5, test_batch}  (batches.meta is not needed)

``root`` may also be the ``cifar-10-batches-py`` folder itself. Each batch is a pickled dict with
``b"data"`` (10000 x 3072 uint8, channel-major rows of 32x32 images) and ``b"labels"``.
Pickle can run arbitrary code, so batches are read with an unpickler that only resolves the few
globals these files contain (NumPy array reconstruction); anything else is reported as corrupt.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from jaxsnn.data.dataset import ImageDataset
from jaxsnn.data.errors import DatasetCorruptError
from jaxsnn.data.paths import require, resolve_root

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
IMAGE_SHAPE = (3, 32, 32)
N_CLASSES = 10
HOW_TO_GET = (
    "Download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and "
    "extract it there; jaxsnn never downloads."
)

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),  # files written by NumPy 1.x (the official ones)
    ("numpy._core.multiarray", "_reconstruct"),  # files re-pickled by NumPy 2.x
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
}


class _BatchUnpickler(pickle.Unpickler):
    """Resolves only the globals of a CIFAR batch, so a crafted file cannot execute code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"unexpected global {module}.{name} in a CIFAR-10 batch")
        return super().find_class(module, name)


def _batch_folder(root: Path) -> Path:
    return root if (root / TEST_BATCH).exists() else root / FOLDER


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 3, 32, 32)`` float32 in [0, 1] and labels ``(n,)`` int32 of one batch."""
    require(path, "CIFAR-10 batch", HOW_TO_GET)
    try:
        with path.open("rb") as file:
            batch = _BatchUnpickler(file, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int32)
        images = data.reshape(-1, *IMAGE_SHAPE)
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if labels.size and (labels.min() < 0 or labels.max() >= N_CLASSES):
            raise ValueError(f"labels outside [0, {N_CLASSES})")
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as err:
        raise DatasetCorruptError(f"cannot read CIFAR-10 batch {path}: {err}") from err
    return images.astype(np.float32) / 255.0, labels


def _read_split(folder: Path, batches: tuple[str, ...]) -> ImageDataset:
    parts = [_read_batch(folder / name) for name in batches]
    images = np.concatenate([images for images, _ in parts])
    labels = np.concatenate([labels for _, labels in parts])
    return ImageDataset(images, labels, N_CLASSES, "cifar10")


def load_cifar10(
    *, root: str | os.PathLike[str] | None = None
) -> tuple[ImageDataset, ImageDataset]:
    """The official 50 000 / 10 000 train/test split as ``(N, 3, 32, 32)`` float32 in [0, 1]."""
    folder = _batch_folder(resolve_root(root))
    require(folder, "CIFAR-10 folder", HOW_TO_GET)
    return _read_split(folder, TRAIN_BATCHES), _read_split(folder, (TEST_BATCH,))
