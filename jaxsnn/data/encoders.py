"""Spike encoders: turn intensities in [0, 1] into binary spike trains over T time steps.

Both encoders map ``(N, *F)`` intensities to ``(N, T, *F)`` float32 spikes, so flat feature
vectors give the ``(N, T, C)`` layout of ``SpikeDataset`` and images keep their spatial axes.
They run in NumPy on the host because encoding happens once, when a dataset is built.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

RateMethod = Literal["bernoulli", "poisson"]


def _as_intensities(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"intensities must be batched (N, *features), got shape {x.shape}")
    if x.size and (x.min() < 0.0 or x.max() > 1.0):
        raise ValueError(f"intensities must lie in [0, 1], got [{x.min()}, {x.max()}]")
    return x


def _check_steps(time_steps: int) -> None:
    if time_steps < 1:
        raise ValueError(f"time_steps must be >= 1, got {time_steps}")


def rate_encode(
    intensities: np.ndarray,
    time_steps: int,
    *,
    max_rate: float = 0.5,
    method: RateMethod = "bernoulli",
    seed: int = 0,
) -> np.ndarray:
    """Rate code: each channel fires independently at every step, more often when brighter.

    ``max_rate`` is the rate of a channel of intensity 1, in spikes per time step.
    ``"bernoulli"``: spike with probability ``intensity * max_rate`` (needs ``max_rate <= 1``).
    ``"poisson"``: a Poisson process of ``intensity * max_rate`` events per step, binarized to
    at most one spike per step, i.e. probability ``1 - exp(-intensity * max_rate)``; this is the
    exact discretization of a Poisson neuron and admits ``max_rate > 1``.
    The same ``seed`` gives the same spikes.
    """
    _check_steps(time_steps)
    x = _as_intensities(intensities)
    if method == "bernoulli":
        if not 0.0 <= max_rate <= 1.0:
            raise ValueError(f"bernoulli rate coding needs 0 <= max_rate <= 1, got {max_rate}")
        p = x * max_rate
    elif method == "poisson":
        if max_rate < 0.0:
            raise ValueError(f"max_rate must be >= 0, got {max_rate}")
        p = -np.expm1(-x * max_rate)
    else:
        raise ValueError(f"unknown rate method {method!r}; valid: 'bernoulli', 'poisson'")
    rng = np.random.default_rng(seed)
    draws = rng.random((x.shape[0], time_steps, *x.shape[1:]), dtype=np.float32)
    return (draws < p[:, None].astype(np.float32)).astype(np.float32)


def latency_encode(
    intensities: np.ndarray, time_steps: int, *, threshold: float = 0.0
) -> np.ndarray:
    """Latency code (time to first spike): one spike per channel at most, brighter is earlier.

    A channel of intensity ``x > threshold`` fires once, at step ``round((1 - x) * (T - 1))``:
    intensity 1 fires at step 0, intensities just above ``threshold`` near step ``T - 1``.
    Channels at or below ``threshold`` stay silent, so blank pixels carry no spikes.
    Deterministic: all information is in the spike times.
    """
    _check_steps(time_steps)
    x = _as_intensities(intensities)
    fires = x > threshold
    step = np.rint((1.0 - x) * (time_steps - 1)).astype(np.int64)
    spikes = np.arange(time_steps).reshape(1, time_steps, *([1] * (x.ndim - 1))) == step[:, None]
    return (spikes & fires[:, None]).astype(np.float32)
