"""Search spaces: typed, validated hyperparameters and their unit-cube encoding.

Optimizers never see raw parameter values. Every surrogate works on ``Space.encode`` features:
numeric parameters mapped to ``[0, 1]`` (on a log scale when ``log=True``), categoricals one-hot.
A conditional parameter that is inactive is absent from the params dict and encoded as a fixed
default, so the GP sees one constant value instead of noise. ``Space.project`` snaps any point of
the relaxed cube (what a continuous acquisition optimizer produces) onto a valid encoding.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Union

import numpy as np

INACTIVE_NUMERIC = 0.5
"""Encoded value of an inactive numeric parameter: the centre of its range."""


@dataclasses.dataclass(frozen=True)
class Condition:
    """A parameter is active only when ``params[parent]`` is one of ``values``.

    The parent must be a categorical parameter: conditions on continuous values would make the
    active set depend on a threshold the optimizer cannot see in the encoding.
    """

    parent: str
    values: tuple

    def __post_init__(self) -> None:
        values = tuple(self.values) if not isinstance(self.values, (str, bytes)) else (self.values,)
        if not values:
            raise ValueError(f"condition on {self.parent!r} has no values")
        object.__setattr__(self, "values", values)

    def to_dict(self) -> dict[str, Any]:
        return {"parent": self.parent, "values": list(self.values)}


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"parameter name must be a non-empty string, got {name!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


@dataclasses.dataclass(frozen=True)
class _NumericParam:
    """Shared unit-interval mapping of float and int parameters (linear or log scale)."""

    name: str
    low: float
    high: float
    log: bool = False
    condition: Condition | None = None

    width: ClassVar[int] = 1

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not (_is_number(self.low) and _is_number(self.high)):
            raise ValueError(f"{self.name}: low and high must be numbers, got {self.low!r}, {self.high!r}")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"{self.name}: bounds must be finite, got [{self.low}, {self.high}]")
        if self.low >= self.high:
            raise ValueError(f"{self.name}: low must be < high, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"{self.name}: a log-scale parameter needs low > 0, got low={self.low}")

    def _bounds(self) -> tuple[float, float]:
        return (math.log(self.low), math.log(self.high)) if self.log else (float(self.low), float(self.high))

    def to_unit(self, value: np.ndarray | float) -> np.ndarray:
        lo, hi = self._bounds()
        v = np.log(value) if self.log else np.asarray(value, dtype=float)
        return (v - lo) / (hi - lo)

    def from_unit(self, u: np.ndarray | float) -> np.ndarray:
        lo, hi = self._bounds()
        v = lo + np.clip(u, 0.0, 1.0) * (hi - lo)
        return np.clip(np.exp(v) if self.log else v, self.low, self.high)

    def validate_value(self, value: Any) -> None:
        if not _is_number(value) or not (self.low <= value <= self.high):
            raise ValueError(f"{self.name}={value!r} outside [{self.low}, {self.high}]")

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "name": self.name,
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "condition": self.condition.to_dict() if self.condition else None,
        }


@dataclasses.dataclass(frozen=True)
class FloatParam(_NumericParam):
    """A real-valued parameter in ``[low, high]``."""

    kind: ClassVar[str] = "float"

    def sample(self, rng: np.random.Generator) -> float:
        return float(self.from_unit(rng.uniform()))

    def decode(self, u: float) -> float:
        return float(self.from_unit(u))


@dataclasses.dataclass(frozen=True)
class IntParam(_NumericParam):
    """An integer parameter in ``[low, high]`` (both inclusive)."""

    kind: ClassVar[str] = "int"

    def __post_init__(self) -> None:
        super().__post_init__()
        for bound in (self.low, self.high):
            if float(bound) != int(bound):
                raise ValueError(f"{self.name}: integer bounds must be integers, got {bound!r}")

    def from_unit(self, u: np.ndarray | float) -> np.ndarray:
        return np.clip(np.round(super().from_unit(u)), self.low, self.high)

    def sample(self, rng: np.random.Generator) -> int:
        # Log-uniform over the *continuous* range, then rounding: every integer stays reachable.
        return int(self.from_unit(rng.uniform()))

    def decode(self, u: float) -> int:
        return int(self.from_unit(u))

    def validate_value(self, value: Any) -> None:
        super().validate_value(value)
        if float(value) != int(value):
            raise ValueError(f"{self.name}={value!r} is not an integer")


@dataclasses.dataclass(frozen=True)
class CategoricalParam:
    """One of a finite set of JSON-able ``choices``, one-hot encoded."""

    name: str
    choices: tuple
    condition: Condition | None = None

    kind: ClassVar[str] = "categorical"

    def __post_init__(self) -> None:
        _check_name(self.name)
        if isinstance(self.choices, (str, bytes)):
            raise ValueError(f"{self.name}: choices must be a sequence, got the string {self.choices!r}")
        choices = tuple(self.choices)
        if not choices:
            raise ValueError(f"{self.name}: a categorical parameter needs at least one choice")
        bad = [c for c in choices if c is not None and not isinstance(c, (str, int, float, bool))]
        if bad:
            raise ValueError(f"{self.name}: choices must be JSON scalars (str, int, float, bool, None), got {bad!r}")
        object.__setattr__(self, "choices", choices)
        if any(self.index(c) != i for i, c in enumerate(choices)):
            raise ValueError(f"{self.name}: duplicate choices in {choices!r}")

    @property
    def width(self) -> int:
        return len(self.choices)

    def index(self, value: Any) -> int:
        # ``True == 1`` in Python: keep booleans distinct from numbers.
        for i, choice in enumerate(self.choices):
            if choice == value and isinstance(choice, bool) == isinstance(value, (bool, np.bool_)):
                return i
        raise ValueError(f"{self.name}={value!r} is not one of {self.choices!r}")

    def sample(self, rng: np.random.Generator) -> Any:
        return self.choices[int(rng.integers(len(self.choices)))]

    def decode(self, x: np.ndarray) -> Any:
        return self.choices[int(np.argmax(x))]

    def validate_value(self, value: Any) -> None:
        self.index(value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "name": self.name,
            "choices": list(self.choices),
            "condition": self.condition.to_dict() if self.condition else None,
        }


Param = Union[FloatParam, IntParam, CategoricalParam]
_PARAM_TYPES: dict[str, type] = {"float": FloatParam, "int": IntParam, "categorical": CategoricalParam}


class Space:
    """An ordered set of parameters, possibly conditional on categorical parents.

    The encoded layout follows declaration order; activity is resolved in dependency order
    (parents before children), so a child may be declared before its parent.
    """

    def __init__(self, params: Sequence[Param]) -> None:
        params = tuple(params)
        if not params:
            raise ValueError("a search space needs at least one parameter")
        for p in params:
            if not isinstance(p, (FloatParam, IntParam, CategoricalParam)):
                raise ValueError(
                    f"unknown parameter type {type(p).__name__}; use FloatParam, IntParam or CategoricalParam"
                )
        names = [p.name for p in params]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate parameter names: {duplicates}")
        self.params: tuple[Param, ...] = params
        self._by_name: dict[str, Param] = {p.name: p for p in params}
        self._check_conditions()
        self._order: tuple[Param, ...] = self._dependency_order()
        self._allowed: dict[str, list[int]] = {
            p.name: [self._by_name[p.condition.parent].index(v) for v in p.condition.values]
            for p in params
            if p.condition is not None
        }
        offsets = np.cumsum([0] + [p.width for p in params])
        self._slices: dict[str, slice] = {p.name: slice(int(offsets[i]), int(offsets[i + 1])) for i, p in enumerate(params)}
        self.dim: int = int(offsets[-1])

    # --- construction helpers -------------------------------------------------------------------
    def _check_conditions(self) -> None:
        for p in self.params:
            c = p.condition
            if c is None:
                continue
            if not isinstance(c, Condition):
                raise ValueError(f"{p.name}: condition must be a Condition, got {c!r}")
            parent = self._by_name.get(c.parent)
            if parent is None:
                raise ValueError(f"{p.name}: condition refers to unknown parameter {c.parent!r}")
            if not isinstance(parent, CategoricalParam):
                raise ValueError(f"{p.name}: condition parent {c.parent!r} must be categorical")
            for v in c.values:
                try:
                    parent.index(v)
                except ValueError:
                    raise ValueError(
                        f"{p.name}: condition value {v!r} is not a choice of {c.parent!r} {parent.choices!r}"
                    ) from None

    def _dependency_order(self) -> tuple[Param, ...]:
        order: list[Param] = []
        placed: set[str] = set()
        remaining = list(self.params)
        while remaining:
            ready = [p for p in remaining if p.condition is None or p.condition.parent in placed]
            if not ready:
                raise ValueError(f"cyclic conditions among {[p.name for p in remaining]}")
            order += ready
            placed |= {p.name for p in ready}
            remaining = [p for p in remaining if p.name not in placed]
        return tuple(order)

    # --- basic queries --------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def __getitem__(self, name: str) -> Param:
        return self._by_name[name]

    def column(self, name: str) -> int:
        """The encoded column of the numeric parameter ``name`` (categoricals span several)."""
        if isinstance(self._by_name[name], CategoricalParam):
            raise ValueError(f"{name} is categorical: its encoding spans {self._by_name[name].width} columns")
        return self._slices[name].start

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.params == other.params

    def __hash__(self) -> int:
        return hash(self.params)

    def __repr__(self) -> str:
        return f"Space({list(self.params)!r})"

    def _active(self, p: Param, params: Mapping[str, Any]) -> bool:
        c = p.condition
        if c is None:
            return True
        if c.parent not in params:
            return False
        try:
            return self._by_name[c.parent].index(params[c.parent]) in self._allowed[p.name]
        except ValueError:  # an invalid parent value; validate() reports it
            return False

    # --- sampling, validation -------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
        """``n`` independent draws: uniform (log-uniform for ``log``) over each active parameter."""
        out = []
        for _ in range(n):
            params: dict[str, Any] = {}
            for p in self._order:
                if self._active(p, params):
                    params[p.name] = p.sample(rng)
            out.append({name: params[name] for name in self.names if name in params})
        return out

    def validate(self, params: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming every problem: unknown, missing, inactive-but-set, bad values."""
        if not isinstance(params, Mapping):
            raise ValueError(f"params must be a dict, got {type(params).__name__}")
        problems = [f"unknown parameter {k!r}" for k in params if k not in self._by_name]
        for p in self._order:
            active = self._active(p, params)
            if active and p.name not in params:
                problems.append(f"missing parameter {p.name!r}")
            elif not active and p.name in params:
                problems.append(f"{p.name!r} is set but inactive ({p.condition.parent} not in {p.condition.values})")
            elif active:
                try:
                    p.validate_value(params[p.name])
                except ValueError as e:
                    problems.append(str(e))
        if problems:
            raise ValueError("invalid params: " + "; ".join(problems))

    # --- encoding -------------------------------------------------------------------------------
    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """Unit-cube features of a valid params dict (inactive parameters at fixed defaults)."""
        self.validate(params)
        x = self._inactive_encoding()
        for p in self.params:
            if p.name not in params:
                continue
            s = self._slices[p.name]
            if isinstance(p, CategoricalParam):
                x[s] = 0.0
                x[s.start + p.index(params[p.name])] = 1.0
            else:
                x[s] = p.to_unit(params[p.name])
        return x

    def encode_many(self, params: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """``encode`` of each dict, stacked to shape ``(len(params), dim)``."""
        return np.stack([self.encode(p) for p in params]) if params else np.zeros((0, self.dim))

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        """Params dict of a (possibly relaxed) encoding: ints rounded, categoricals by argmax."""
        x = np.asarray(x, dtype=float)
        if x.shape != (self.dim,):
            raise ValueError(f"expected an encoding of shape ({self.dim},), got {x.shape}")
        params: dict[str, Any] = {}
        for p in self._order:
            if self._active(p, params):
                s = self._slices[p.name]
                params[p.name] = p.decode(x[s] if isinstance(p, CategoricalParam) else x[s.start])
        return {name: params[name] for name in self.names if name in params}

    def project(self, X: np.ndarray) -> np.ndarray:
        """Snap rows of the relaxed cube onto valid encodings; equals ``encode(decode(x))`` per row.

        Vectorised because acquisition optimizers project thousands of candidates per ``ask``.
        """
        X = np.atleast_2d(np.asarray(X, dtype=float))
        out = np.empty_like(X)
        chosen: dict[str, np.ndarray] = {}  # categorical name -> chosen index, -1 when inactive
        for p in self._order:
            s = self._slices[p.name]
            if p.condition is None:
                active = np.ones(len(X), dtype=bool)
            else:
                active = np.isin(chosen[p.condition.parent], self._allowed[p.name])
            if isinstance(p, CategoricalParam):
                idx = np.argmax(X[:, s], axis=1)
                out[:, s] = np.where(active[:, None], np.eye(p.width)[idx], 0.0)
                chosen[p.name] = np.where(active, idx, -1)
            else:
                u = p.to_unit(p.from_unit(X[:, s.start]))
                out[:, s.start] = np.where(active, u, INACTIVE_NUMERIC)
        return out

    def redraw_choices(self, X: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Valid encodings with ``counts[i]`` of row ``i``'s categorical parameters moved to another
        choice (which parameters and which choices uniform), the rest of the row kept.

        A trust region's box cannot move a one-hot block: a row's chosen column sits at 1 and the
        others at 0, so another choice wins ``argmax`` only when the box is wider than 1 along
        them. Moving a few parameters per candidate is the categorical half of a trust region, a
        Hamming ball around the incumbent (CASMOPOLITAN, Wan et al. 2021).
        """
        X = np.array(self.project(X))
        movable = [p for p in self.params if isinstance(p, CategoricalParam) and p.width > 1]
        if not movable:
            return X
        # Row i moves the parameters whose random rank is below counts[i].
        ranks = rng.random((len(X), len(movable))).argsort(axis=1).argsort(axis=1)
        moved = ranks < np.asarray(counts).reshape(-1, 1)
        for j, p in enumerate(movable):
            s, rows = self._slices[p.name], np.flatnonzero(moved[:, j])
            current = np.argmax(X[rows, s], axis=1)
            X[rows, s] = np.eye(p.width)[(current + rng.integers(1, p.width, size=len(rows))) % p.width]
        return self.project(X)

    @property
    def n_categorical(self) -> int:
        """Categorical parameters with more than one choice (what :meth:`redraw_choices` moves)."""
        return sum(isinstance(p, CategoricalParam) and p.width > 1 for p in self.params)

    def _inactive_encoding(self) -> np.ndarray:
        x = np.full(self.dim, INACTIVE_NUMERIC)
        for p in self.params:
            if isinstance(p, CategoricalParam):
                x[self._slices[p.name]] = 0.0
        return x

    # --- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-able description; ``Space.from_dict(space.to_dict()) == space``."""
        return {"params": [p.to_dict() for p in self.params]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Space":
        return cls([param_from_dict(entry) for entry in d["params"]])


def param_from_dict(entry: Mapping[str, Any]) -> Param:
    """One parameter of ``Space.to_dict``'s form: ``{"type", "name", "low", "high"[, "log"] |
    "choices"[, "condition": {"parent", "values"}]}``."""
    entry = dict(entry)
    kind = entry.pop("type", None)
    if kind not in _PARAM_TYPES:
        raise ValueError(f"unknown parameter type {kind!r}; valid: {', '.join(_PARAM_TYPES)}")
    cond = entry.pop("condition", None)
    if kind == "categorical":
        entry["choices"] = tuple(entry.get("choices") or ())
    return _PARAM_TYPES[kind](**entry, condition=Condition(**cond) if cond else None)
