"""Writers of tiny dataset files in the real on-disk formats, for the data loader tests.

Each writer produces exactly what the official release (or tonic's preprocessed release) contains,
at the path tonic expects under a data root, so the loaders are tested against the formats and not
against mocks.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np


def write_shd(
    root: Path,
    split: str,
    times: Sequence[np.ndarray],
    units: Sequence[np.ndarray],
    labels: Sequence[int],
) -> Path:
    """``root/SHD/shd_<split>.h5`` as released by Zenke's lab (spike times in s, float16)."""
    path = root / "SHD" / f"shd_{split}.h5"
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as file:
        spikes = file.create_group("spikes")
        for key, values, dtype in (("times", times, np.float16), ("units", units, np.uint16)):
            ragged = spikes.create_dataset(key, shape=(len(labels),), dtype=h5py.vlen_dtype(dtype))
            for i, sample in enumerate(values):
                ragged[i] = np.asarray(sample, dtype)
        file.create_dataset("labels", data=np.asarray(labels, np.uint8))
        extra = file.create_group("extra")
        extra.create_dataset("keys", data=np.array([f"digit-{i}".encode() for i in range(20)]))
        extra.create_dataset("speaker", data=np.zeros(len(labels), np.uint8))
    return path


def nmnist_bytes(x: np.ndarray, y: np.ndarray, t_us: np.ndarray, p: np.ndarray) -> bytes:
    """N-MNIST 40-bit events: x (8 bit), y (8 bit), polarity (1 bit), timestamp (23 bit, us)."""
    x, y, t, p = (np.asarray(a, np.uint32) for a in (x, y, t_us, p))
    if t.max(initial=0) >= 2**23:
        raise ValueError("timestamps need overflow events beyond 2**23 us; keep fixtures short")
    record = np.stack([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF], axis=1)
    return record.astype(np.uint8).tobytes()


def write_nmnist(root: Path, split: str, label: int, name: str, events: dict) -> Path:
    """``root/NMNIST/<Train|Test>/<label>/<name>.bin``: the layout of the extracted zips."""
    path = root / "NMNIST" / split / str(label) / f"{name}.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(nmnist_bytes(events["x"], events["y"], events["t"], events["p"]))
    return path


def write_dvs_gesture(
    root: Path, split: str, user_lighting: str, label: int, events: dict
) -> Path:
    """``root/DVSGesture/ibmGesture<Train|Test>/<user_lighting>/<label>.npy``: tonic's release.

    One ``(n, 4)`` integer array per gesture with columns x, y, p, t (t in milliseconds).
    """
    path = root / "DVSGesture" / f"ibmGesture{split}" / user_lighting / f"{label}.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = [events[k] for k in ("x", "y", "p", "t")]
    np.save(path, np.stack(columns, axis=1).astype(np.int64))
    return path


def write_cifar10_batch(path: Path, images: np.ndarray, labels: Sequence[int]) -> Path:
    """One pickled batch: dict with bytes keys, ``b"data"`` (n, 3072) uint8, ``b"labels"`` list.

    Protocol 2 with NumPy 1.x's ``numpy.core.multiarray`` global, as in the official files.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = {
        b"batch_label": path.name.encode(),
        b"labels": [int(label) for label in labels],
        b"data": np.asarray(images, np.uint8).reshape(len(labels), -1),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }
    payload = pickle.dumps(batch, protocol=2)
    path.write_bytes(payload.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))
    return path


def write_cifar10(root: Path, per_batch: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``root/cifar-10-batches-py`` with 5 train batches, a test batch and ``batches.meta``.

    Returns the written (uint8 images ``(N, 3, 32, 32)``, labels) of all six batches in order.
    """
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    images = rng.integers(0, 256, (len(names) * per_batch, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, len(names) * per_batch)
    for b, name in enumerate(names):
        part = slice(b * per_batch, (b + 1) * per_batch)
        write_cifar10_batch(folder / name, images[part], labels[part])
    meta = {b"label_names": [f"class{i}".encode() for i in range(10)], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return images, labels
