"""Deterministic, stratified train/test splitting for datasets that ship without one."""

from __future__ import annotations

import numpy as np


def stratified_split(
    labels: np.ndarray, *, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return sorted ``(train_index, test_index)`` keeping class proportions in both parts.

    Stratification matters for small sets such as digits: a plain shuffle can leave a class
    under-represented in a test set of a few hundred samples and bias accuracy comparisons
    between hyperparameter configurations. The same ``seed`` always gives the same split.
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    train, test = train_test_split(
        np.arange(len(labels)), test_size=test_fraction, stratify=labels, random_state=seed
    )
    return np.sort(train), np.sort(test)
