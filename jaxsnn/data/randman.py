"""Randman: a generated spike-timing task of tunable difficulty (Cramer et al. 2020 / Zenke).

Each class is a random smooth manifold: a ``manifold_dim``-dimensional latent point ``u`` in
``[0, 1]^D`` is mapped by ``n_channels`` random smooth functions to one firing time per input
channel. A sample is one latent point, so it is a spike pattern with exactly one spike per channel
and all information lies in spike *timing* (rates are identical across classes). Harder tasks come
from more classes, higher manifold dimension or rougher functions (lower ``smoothness``).

Every random function is a product over latent dimensions of 1-D Fourier series
``f(u) = sum_k a_k / (1 + k)**smoothness * sin(2 pi (k * u * b_k + c_k))`` with ``a, b, c``
uniform in [0, 1]; the series is cut where the spectrum falls below ``precision``.
"""

from __future__ import annotations

import math

import numpy as np

from jaxsnn.data.dataset import DataSplits, SpikeDataset
from jaxsnn.data.splits import stratified_split

_MAX_FREQUENCIES = 1000
"""Cap on Fourier terms: rough manifolds (small smoothness) would otherwise need millions."""


def _n_frequencies(smoothness: float, precision: float) -> int:
    return int(min(math.ceil(precision ** (-1.0 / smoothness)), _MAX_FREQUENCIES))


def _embed(latent: np.ndarray, coeffs: np.ndarray, smoothness: float) -> np.ndarray:
    """Evaluate one manifold: latent ``(S, D)`` and coefficients ``(C, D, 3, F)`` -> ``(S, C)``."""
    n_freq = coeffs.shape[-1]
    k = np.arange(n_freq)
    spectrum = 1.0 / (1.0 + k) ** smoothness
    values = np.ones((latent.shape[0], coeffs.shape[0]))
    for d in range(latent.shape[1]):  # a loop keeps memory at S*C*F instead of S*C*D*F
        amp, scale, phase = coeffs[:, d, 0], coeffs[:, d, 1], coeffs[:, d, 2]  # (C, F) each
        arg = 2.0 * np.pi * (k * latent[:, d, None, None] * scale + phase)  # (S, C, F)
        values *= np.einsum("scf,cf->sc", np.sin(arg), amp * spectrum)
    return values


def _to_unit_interval(values: np.ndarray) -> np.ndarray:
    """Rescale each channel to [0, 1] over the class's samples, so it uses the whole window."""
    low, high = values.min(axis=0), values.max(axis=0)
    return (values - low) / np.maximum(high - low, 1e-12)


def randman_spike_times(
    *,
    n_classes: int,
    n_channels: int,
    manifold_dim: int,
    smoothness: float,
    samples_per_class: int,
    precision: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Firing times in [0, 1] ``(n_classes * samples_per_class, n_channels)`` and int32 labels."""
    if min(n_classes, n_channels, manifold_dim, samples_per_class) < 1:
        raise ValueError("n_classes, n_channels, manifold_dim and samples_per_class must be >= 1")
    if smoothness <= 0 or not 0 < precision < 1:
        raise ValueError(
            f"need smoothness > 0 and 0 < precision < 1, got {smoothness} and {precision}"
        )
    rng = np.random.default_rng(seed)
    n_freq = _n_frequencies(smoothness, precision)
    times = []
    for _ in range(n_classes):
        coeffs = rng.random((n_channels, manifold_dim, 3, n_freq))
        latent = rng.random((samples_per_class, manifold_dim))
        times.append(_to_unit_interval(_embed(latent, coeffs, smoothness)))
    labels = np.repeat(np.arange(n_classes, dtype=np.int32), samples_per_class)
    return np.concatenate(times), labels


def load_randman(
    *,
    time_steps: int = 50,
    seed: int = 0,
    n_classes: int = 10,
    n_channels: int = 50,
    manifold_dim: int = 1,
    smoothness: float = 2.0,
    samples_per_class: int = 200,
    precision: float = 1e-3,
    test_fraction: float = 0.2,
    jitter: float = 0.0,
) -> DataSplits:
    """Randman spike trains ``(N, T, n_channels)``, one spike per channel at ``rint(t * (T-1))``.

    ``jitter`` adds Gaussian noise of that standard deviation (a fraction of the window) to every
    firing time, clipped to the window. With hundreds of channels the class is encoded many times
    over and even rough, high-dimensional manifolds are learned to ~100 %; timing noise is what
    lowers the ceiling. The seed fixes the manifolds, the samples, the noise and the split.
    """
    if time_steps < 1:
        raise ValueError(f"time_steps must be >= 1, got {time_steps}")
    if jitter < 0:
        raise ValueError(f"jitter must be >= 0, got {jitter}")
    times, labels = randman_spike_times(
        n_classes=n_classes,
        n_channels=n_channels,
        manifold_dim=manifold_dim,
        smoothness=smoothness,
        samples_per_class=samples_per_class,
        precision=precision,
        seed=seed,
    )
    if jitter > 0:  # its own stream: jitter=0 keeps the data of earlier versions bit for bit
        noise = np.random.default_rng([seed, 1]).normal(0.0, jitter, times.shape)
        times = np.clip(times + noise, 0.0, 1.0)
    steps = np.rint(times * (time_steps - 1)).astype(np.int64)  # (N, C)
    spikes = (np.arange(time_steps)[None, :, None] == steps[:, None, :]).astype(np.float32)
    train, test = stratified_split(labels, test_fraction=test_fraction, seed=seed)
    return DataSplits(
        SpikeDataset(spikes[train], labels[train], n_classes, "randman"),
        SpikeDataset(spikes[test], labels[test], n_classes, "randman"),
    )
