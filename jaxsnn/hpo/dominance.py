"""Pareto dominance, with NumPy alone: the study file's front (imported by workers without JAX)
and the multi-objective optimizer's models use the same definition."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from jaxsnn.hpo.spec import signs
from jaxsnn.record import EvaluationRecord


def non_dominated(Y: np.ndarray) -> np.ndarray:
    """Boolean mask of rows of ``Y`` (maximised) that no other row dominates (>= in every
    column, > in one); identical rows do not dominate each other."""
    Y = np.asarray(Y, dtype=float)
    geq = np.all(Y[:, None, :] >= Y[None, :, :], axis=-1)
    gt = np.any(Y[:, None, :] > Y[None, :, :], axis=-1)
    dominated_by = geq & gt  # [i, j]: row i dominates row j
    return ~dominated_by.any(axis=0)


def front_indices(records: Sequence[EvaluationRecord], objectives: Mapping[str, str]) -> list[int]:
    """Positions of the feasible informative records that no other feasible record dominates."""
    feasible = [i for i, r in enumerate(records) if r.feasible]
    if not feasible:
        return []
    Y = np.array([[records[i].objectives[n] for n in objectives] for i in feasible]) * signs(objectives)
    return [i for i, keep in zip(feasible, non_dominated(Y)) if keep]


def pareto_front(records: Sequence[EvaluationRecord], objectives: Mapping[str, str]) -> list[EvaluationRecord]:
    """The feasible informative records that no other feasible record dominates."""
    return [records[i] for i in front_indices(records, objectives)]
