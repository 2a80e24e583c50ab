"""scikit-learn's 8x8 handwritten digits: the embedded dataset that needs no download.

1797 grey-level images (values 0..16), 10 classes. They serve two paths: spike-encoded as 64
input channels for SNN training, and as 1x8x8 static images for ANN-to-SNN conversion. Both use
the same stratified split for a given seed, so results of the two paths are comparable.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from jaxsnn.data.dataset import DataSplits, ImageDataset, SpikeDataset
from jaxsnn.data.encoders import latency_encode, rate_encode
from jaxsnn.data.splits import stratified_split

N_CLASSES = 10
IMAGE_SHAPE = (1, 8, 8)
_MAX_GREY = 16.0

Encoding = Literal["rate", "latency"]


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """Intensities ``(1797, 64)`` in [0, 1] and labels ``(1797,)`` int32."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return (bunch.data / _MAX_GREY).astype(np.float32), bunch.target.astype(np.int32)


def load_digits_spikes(
    *,
    time_steps: int = 50,
    seed: int = 0,
    encoding: Encoding = "rate",
    max_rate: float = 0.5,
    test_fraction: float = 0.2,
) -> DataSplits:
    """Digits as ``(N, T, 64)`` spike trains, rate- or latency-coded (see ``encoders``).

    ``max_rate`` (spikes per step at full intensity) only applies to rate coding. The seed fixes
    both the split and the rate-code noise.
    """
    x, y = _digits()
    if encoding == "rate":
        spikes = rate_encode(x, time_steps, max_rate=max_rate, seed=seed)
    elif encoding == "latency":
        spikes = latency_encode(x, time_steps)
    else:
        raise ValueError(f"unknown encoding {encoding!r}; valid: 'rate', 'latency'")
    train, test = stratified_split(y, test_fraction=test_fraction, seed=seed)
    return DataSplits(
        SpikeDataset(spikes[train], y[train], N_CLASSES, "digits"),
        SpikeDataset(spikes[test], y[test], N_CLASSES, "digits"),
    )


def load_digits_images(
    *, seed: int = 0, test_fraction: float = 0.2
) -> tuple[ImageDataset, ImageDataset]:
    """Digits as ``(N, 1, 8, 8)`` images in [0, 1], split as in ``load_digits_spikes``."""
    x, y = _digits()
    images = x.reshape(-1, *IMAGE_SHAPE)
    train, test = stratified_split(y, test_fraction=test_fraction, seed=seed)
    return (
        ImageDataset(images[train], y[train], N_CLASSES, "digits"),
        ImageDataset(images[test], y[test], N_CLASSES, "digits"),
    )
