"""The ask/tell optimizer contract, shared bookkeeping, random search and the factory.

Resuming: an optimizer holds no state that is not a function of ``(constructor arguments, the
sequence of told records)``. Randomness in ``ask`` is seeded from ``(seed, number of records told,
number of pending points)``, and model fits are recomputed from the records. Constructing an
optimizer with the same seed and telling it the stored records in order therefore reproduces the
state it had, and the next ``ask`` proposes what the original would have proposed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from jaxsnn.hpo.space import Space
from jaxsnn.record import EvaluationRecord

DIRECTIONS = ("max", "min")


@runtime_checkable
class Optimizer(Protocol):
    """What the asynchronous loop talks to."""

    def ask(self, pending: Sequence[dict] = ()) -> dict:
        """A new configuration; ``pending`` are those other workers are evaluating right now."""
        ...

    def tell(self, record: EvaluationRecord) -> None:
        """Every finished trial, whatever its status."""
        ...


def check_spec(objectives: Mapping[str, str], constraints: Sequence[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """Validate the objective directions and constraint names every optimizer is built from."""
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
        raise ValueError(f"duplicate constraint names: {duplicates}")
    return dict(objectives), constraints


def _key(x: np.ndarray) -> tuple:
    """Hashable identity of an encoded point (tolerant to float round-off)."""
    return tuple(np.round(x, 9).tolist())


class BaseOptimizer:
    """Bookkeeping every optimizer shares: the spec, the told records, seeding, duplicate checks.

    Objectives are stored sign-flipped so that every model *maximises*; constraints keep the
    ``g(x) <= 0`` feasible convention of :class:`~jaxsnn.record.EvaluationRecord`.
    """

    def __init__(
        self, space: Space, objectives: Mapping[str, str], constraints: Sequence[str] = (), seed: int = 0
    ) -> None:
        if not isinstance(space, Space):
            raise ValueError(f"space must be a jaxsnn.hpo.Space, got {type(space).__name__}")
        self.space = space
        self.objectives, self.constraints = check_spec(objectives, constraints)
        self.seed = int(seed)
        self.records: list[EvaluationRecord] = []
        self._told: set[tuple] = set()
        self._signs = np.array([1.0 if d == "max" else -1.0 for d in self.objectives.values()])

    # --- tell -----------------------------------------------------------------------------------
    def tell(self, record: EvaluationRecord) -> None:
        """Store a record; informative ones must carry every declared objective and constraint."""
        if not isinstance(record, EvaluationRecord):
            raise ValueError(f"tell() takes an EvaluationRecord, got {type(record).__name__}")
        self.space.validate(record.params)
        if record.informative:
            missing = [n for n in (*self.objectives, *self.constraints) if n not in {**record.objectives, **record.constraints}]
            if missing:
                raise ValueError(f"{record.status} record lacks declared objectives/constraints {missing}")
            unknown = sorted(set(record.constraints) - set(self.constraints))
            if unknown:
                raise ValueError(
                    f"record has undeclared constraints {unknown} (declared: {list(self.constraints)}); "
                    "declare them so the optimizer models them instead of silently ignoring them"
                )
        self.records.append(record)
        self._told.add(_key(self.space.encode(record.params)))

    # --- data for the models --------------------------------------------------------------------
    def data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``X (n, dim)``, ``Y (n, n_objectives)`` to maximise, ``C (n, n_constraints)`` over informative records."""
        informative = [r for r in self.records if r.informative]
        X = self.space.encode_many([r.params for r in informative])
        Y = np.array([[r.objectives[n] for n in self.objectives] for r in informative], dtype=float).reshape(
            len(informative), len(self.objectives)
        )
        C = np.array([[r.constraints[n] for n in self.constraints] for r in informative], dtype=float).reshape(
            len(informative), len(self.constraints)
        )
        return X, Y * self._signs, C

    # --- helpers for ask ------------------------------------------------------------------------
    def rng(self, pending: Sequence[dict]) -> np.random.Generator:
        """Randomness of one ``ask``: a function of the seed and the told/pending counts only."""
        return np.random.default_rng([self.seed, len(self.records), len(pending)])

    def taboo(self, pending: Sequence[dict]) -> set[tuple]:
        """Keys of points that must not be proposed again: every told point and every pending one."""
        for p in pending:
            self.space.validate(p)
        return self._told | {_key(self.space.encode(p)) for p in pending}

    def first_new(self, X: np.ndarray, pending: Sequence[dict]) -> dict | None:
        """Decode the first row of ``X`` (valid encodings, best first) not already told or pending."""
        taboo = self.taboo(pending)
        for x in X:
            if _key(x) not in taboo:
                return self.space.decode(x)
        return None


class RandomSearch(BaseOptimizer):
    """Independent uniform draws from the space; the baseline and the initial design of BO."""

    def ask(self, pending: Sequence[dict] = ()) -> dict:
        rng = self.rng(pending)
        draws = self.space.sample(rng, 64)
        chosen = self.first_new(self.space.encode_many(draws), pending)
        # A tiny discrete space can be exhausted: then repeating a point is the only option.
        return chosen if chosen is not None else draws[0]


def make_optimizer(
    name: str,
    space: Space,
    objectives: dict[str, str],
    constraints: Sequence[str] = (),
    seed: int = 0,
    **options: Any,
) -> Optimizer:
    """Build an optimizer by name: ``random``."""
    registry = {"random": RandomSearch}
    if name not in registry:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(registry)}")
    if options:
        raise ValueError(f"optimizer {name!r} takes no options, got {sorted(options)}")
    return registry[name](space, objectives, constraints, seed=seed, **options)
