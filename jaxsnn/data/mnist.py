"""MNIST in its original IDX files (the Diehl & Cook STDP experiment's data). Nothing is
downloaded: the four files (optionally gzip-compressed) must already be in the folder given."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from jaxsnn.data.dataset import ImageDataset
from jaxsnn.data.errors import DatasetCorruptError, DatasetNotFoundError

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_SOURCE = "http://yann.lecun.com/exdb/mnist/ (mirror: https://ossci-datasets.s3.amazonaws.com/mnist/)"
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Parse one IDX file (optionally gzip-compressed, by ``.gz`` suffix) into an array."""
    path = Path(path)
    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetCorruptError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], ">u4")) if ndim else ()
    expected = header + dtype.itemsize * int(np.prod(shape))
    if len(raw) != expected:
        raise DatasetCorruptError(f"{path}: IDX header promises shape {shape} ({expected} bytes), file has {len(raw)}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def _find(root: Path, name: str) -> Path:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DatasetNotFoundError(
        f"MNIST file {root / name} (or {name}.gz) not found. jaxsnn does not download data: get the "
        f"four IDX files from {MNIST_SOURCE} and put them in {root}"
    )


def load_mnist(root: str | Path) -> tuple[ImageDataset, ImageDataset]:
    """MNIST train and test sets from the IDX files in ``root``, images ``(N, 1, 28, 28)`` in [0, 1]."""
    root = Path(root).expanduser()
    splits = []
    for split, (image_file, label_file) in MNIST_FILES.items():
        images = read_idx(_find(root, image_file))
        labels = read_idx(_find(root, label_file))
        if images.ndim != 3 or labels.shape != images.shape[:1]:
            raise DatasetCorruptError(f"MNIST {split}: images {images.shape} and labels {labels.shape} do not match")
        scaled = images[:, None].astype(np.float32) / 255.0
        splits.append(ImageDataset(scaled, labels.astype(np.int32), 10, f"mnist-{split}"))
    return splits[0], splits[1]
