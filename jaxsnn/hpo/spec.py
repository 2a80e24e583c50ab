"""What a study optimises: objective directions and constraint names, checked once, and what a
direction means.

Both the study file (:mod:`jaxsnn.hpo.study`, which workers import without JAX) and every
optimizer (:mod:`jaxsnn.hpo.optimizers`) are built from the same spec, so the check lives here,
in a module that imports nothing heavy. So does the one rule that turns a direction into an order
(:func:`signed`, :func:`signs`, :func:`improves`): the ranked table, the best trial, the Pareto
front, the progress bar and every model read an objective through it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from jaxsnn.record import EvaluationRecord

DIRECTIONS: tuple[str, ...] = ("max", "min")


def signed(direction: str, value: float) -> float:
    """``value`` of an objective with ``direction``, signed so that larger is better."""
    return float(value) if direction == "max" else -float(value)


def signs(objectives: Mapping[str, str]) -> np.ndarray:
    """+1 per maximised and -1 per minimised objective, in order: ``Y * signs(...)`` is maximised."""
    return np.array([signed(direction, 1.0) for direction in objectives.values()])


def improves(direction: str, value: float, best: float | None) -> bool:
    """Whether ``value`` beats ``best`` (``None``: nothing yet) under ``direction``."""
    return best is None or signed(direction, value) > signed(direction, best)


def check_spec(objectives: Mapping[str, str], constraints: Sequence[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """Objective directions and constraint names, validated; names must be unique across both."""
    if not isinstance(objectives, Mapping) or not objectives:
        raise ValueError(f"objectives must be a non-empty dict {{name: 'max'|'min'}}, got {objectives!r}")
    for name, direction in objectives.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"objective names must be non-empty strings, got {name!r}")
        if direction not in DIRECTIONS:
            raise ValueError(f"objective {name!r}: direction must be 'max' or 'min', got {direction!r}")
    if isinstance(constraints, (str, bytes)):
        raise ValueError(f"constraints must be a sequence of names, got the string {constraints!r}")
    constraints = tuple(constraints)
    for name in constraints:
        if not isinstance(name, str) or not name:
            raise ValueError(f"constraint names must be non-empty strings, got {name!r}")
    duplicates = sorted({c for c in constraints if constraints.count(c) > 1})
    if duplicates:
        raise ValueError(f"duplicate constraint names: {duplicates} (names must be unique)")
    clash = sorted(set(objectives) & set(constraints))
    if clash:
        raise ValueError(f"names used as both objective and constraint: {clash} (names must be unique)")
    return dict(objectives), constraints


def record_problems(record: EvaluationRecord, objectives: Mapping[str, str], constraints: Sequence[str]) -> list[str]:
    """How an informative record fails the spec: a declared objective or constraint it lacks, a
    constraint it reports that was never declared (it would be ignored without a word); an
    uninformative record (failed, pruned) owes no values."""
    if not record.informative:
        return []
    values = {**record.objectives, **record.constraints}
    problems = []
    missing = [n for n in (*objectives, *constraints) if n not in values]
    if missing:
        problems.append(f"missing declared objectives/constraints {missing}")
    undeclared = sorted(set(record.constraints) - set(constraints))
    if undeclared:
        problems.append(f"undeclared constraints {undeclared} (declared: {list(constraints)})")
    return problems
