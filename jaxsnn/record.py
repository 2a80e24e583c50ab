"""The evaluation record: the one thing a trial hands to the optimizer and the study.

Every trial ends as exactly one record, whatever happened. A ``silent_stopped`` trial is complete
data with a violated constraint (``constraints[name] > 0``) and must reach the optimizer; only
``failed`` and ``pruned`` trials carry no trustworthy objective values.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

STATUSES: tuple[str, ...] = ("complete", "silent_stopped", "failed", "pruned")
INFORMATIVE_STATUSES: tuple[str, ...] = ("complete", "silent_stopped")
"""Statuses whose objectives and constraints are measurements the optimizer should model."""


def non_finite(values: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``values`` that are NaN or infinite: an informative record must have none
    (a model fitted on them breaks), so a record holding one is refused or turned ``failed``."""
    return {k: v for k, v in values.items() if not math.isfinite(float(v))}


@dataclasses.dataclass
class EvaluationRecord:
    """Outcome of one trial.

    ``objectives`` hold raw values (directions live in the study's objective spec);
    ``constraints`` follow the ``g(x) <= 0`` feasible convention; ``cost_s`` is wall time spent;
    ``spikes`` the mean output spikes per sample (an energy proxy, ``None`` when not measured);
    ``metrics`` free-form extras such as the per-epoch history.
    """

    params: dict[str, Any]
    objectives: dict[str, float]
    constraints: dict[str, float] = dataclasses.field(default_factory=dict)
    cost_s: float = 0.0
    status: str = "complete"
    error: str | None = None
    spikes: float | None = None
    epochs_run: int = 0
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown record status {self.status!r}; valid: {', '.join(STATUSES)}")
        if self.status == "failed" and not self.error:
            raise ValueError("a failed record must say why in `error`")
        if self.status in INFORMATIVE_STATUSES:
            bad = non_finite({**self.objectives, **self.constraints})
            if bad:
                raise ValueError(f"{self.status} record has non-finite values {bad}; mark it failed")

    @property
    def informative(self) -> bool:
        """Whether the optimizer should model this record's objectives and constraints."""
        return self.status in INFORMATIVE_STATUSES

    @property
    def feasible(self) -> bool:
        """All constraints satisfied (``<= 0``) on an informative record."""
        return self.informative and all(v <= 0 for v in self.constraints.values())

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), allow_nan=True, default=float)

    @classmethod
    def from_json(cls, text: str) -> "EvaluationRecord":
        return cls(**json.loads(text))

    @classmethod
    def failure(cls, params: dict[str, Any], error: str, cost_s: float = 0.0, **extra: Any) -> "EvaluationRecord":
        """A ``failed`` record: the study goes on and the reason is kept."""
        return cls(params=params, objectives={}, status="failed", error=error, cost_s=cost_s, **extra)
