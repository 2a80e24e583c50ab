"""Pareto dominance, with NumPy alone: the study file's front (imported by workers without JAX)
and the multi-objective optimizer's models use the same definition."""

from __future__ import annotations

import numpy as np


def non_dominated(Y: np.ndarray) -> np.ndarray:
    """Boolean mask of rows of ``Y`` (maximised) that no other row dominates (>= in every
    column, > in one); identical rows do not dominate each other."""
    Y = np.asarray(Y, dtype=float)
    geq = np.all(Y[:, None, :] >= Y[None, :, :], axis=-1)
    gt = np.any(Y[:, None, :] > Y[None, :, :], axis=-1)
    dominated_by = geq & gt  # [i, j]: row i dominates row j
    return ~dominated_by.any(axis=0)
