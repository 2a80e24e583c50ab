"""Reading a multi-objective study the way Parsa et al. (2021) report it: against a reference.

Their claim is not "here is a front" but "this configuration keeps the published setting's
accuracy at a fraction of its training / inference time". A :class:`Reference` states that
comparison up front (the documented default to beat, the cost objective to cut, the accuracy that
may be given up); :func:`select` applies it to a Pareto front, and :func:`savings_rows` puts the
reference and the chosen point side by side with the factors saved. The rule is fixed before the
study runs, so the reported point is not picked by eye.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from jaxsnn.hpo.results import pareto_trials
from jaxsnn.hpo.study import Study, Trial
from jaxsnn.record import EvaluationRecord
from jaxsnn.train.config import from_mapping


@dataclasses.dataclass(frozen=True)
class Reference:
    """The documented default a study must beat, and how a front point is chosen against it.

    ``params``: the reference's flat point, a full point of the study's space (it runs as a
    trial of the study, under the same conditions as the points it is compared with).
    ``minimize``: the cost objective to cut (``train_time_s``, ``inference_steps``, ...).
    ``max_accuracy_drop``: how far below the reference's ``accuracy`` a chosen point may lie
    (0: equal or better).
    """

    params: Mapping[str, Any]
    minimize: str
    max_accuracy_drop: float = 0.0
    accuracy: str = "accuracy"

    def __post_init__(self) -> None:
        if not isinstance(self.params, Mapping):
            raise ValueError(f"reference.params must be a dict of hyperparameters, got {self.params!r}")
        if not (isinstance(self.max_accuracy_drop, (int, float)) and self.max_accuracy_drop >= 0):
            raise ValueError(f"reference.max_accuracy_drop must be a number >= 0, got {self.max_accuracy_drop!r}")

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any], objectives: Mapping[str, str]) -> "Reference":
        """From a preset's ``reference`` block; both named objectives must be study objectives
        with the right directions, else the comparison would be meaningless."""
        as_dict = {"params": lambda p: dict(p) if isinstance(p, Mapping) else p}
        reference = from_mapping(cls, {**mapping, "params": mapping.get("params") or {}}, "reference", as_dict)
        for name, direction in ((reference.minimize, "min"), (reference.accuracy, "max")):
            if objectives.get(name) != direction:
                raise ValueError(
                    f"reference compares objective {name!r}, which must be a study objective to "
                    f"{direction}imize; study objectives: {dict(objectives)}"
                )
        return reference


def eligible(front: Sequence[EvaluationRecord], reference: EvaluationRecord, rule: Reference) -> list[EvaluationRecord]:
    """The front points that cut ``rule.minimize`` below the reference's while their accuracy is
    at most ``rule.max_accuracy_drop`` below the reference's, cheapest first (ties: the more
    accurate first). The reference itself never qualifies."""
    floor = reference.objectives[rule.accuracy] - rule.max_accuracy_drop
    cost = reference.objectives[rule.minimize]
    qualified = [r for r in front if r.feasible and r.objectives[rule.accuracy] >= floor
                 and r.objectives[rule.minimize] < cost]  # fmt: skip
    return sorted(qualified, key=lambda r: (r.objectives[rule.minimize], -r.objectives[rule.accuracy]))


def select(front: Sequence[EvaluationRecord], reference: EvaluationRecord, rule: Reference) -> EvaluationRecord | None:
    """The first of :func:`eligible`: the point the rule reports; ``None`` if none qualifies."""
    return next(iter(eligible(front, reference, rule)), None)


def seed_with_reference(study: Study, rule: Reference) -> Trial | None:
    """Enqueue the reference as the study's next trial unless the study holds it already (a
    resumed study), so that it is measured under the same load as every other trial and informs
    the optimizer. Returns the enqueued trial, ``None`` when it was there."""
    trial_id = study.enqueue_new(rule.params)
    return None if trial_id is None else study.trial(trial_id)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The finished reference trial and the front trials that qualify against it, the rule's
    pick (``chosen``) first."""

    reference: Trial
    eligible: tuple[Trial, ...]

    @property
    def chosen(self) -> Trial | None:
        return self.eligible[0] if self.eligible else None

    def summary(self, rule: Reference) -> dict[str, Any]:
        """JSON-ready: the rule, the trial ids and the full records of the reference and the pick."""
        return {
            "rule": {"minimize": rule.minimize, "max_accuracy_drop": rule.max_accuracy_drop},
            "reference_trial": self.reference.id,
            "reference": json.loads(self.reference.record.to_json()),
            "chosen_trial": self.chosen.id if self.chosen else None,
            "chosen": json.loads(self.chosen.record.to_json()) if self.chosen else None,
            "eligible_trials": [t.id for t in self.eligible],
        }


def compare_with_reference(study: Study, rule: Reference) -> Comparison | None:
    """The reference trial of ``study`` and the front trials :func:`eligible` against it;
    ``None`` while the reference has not finished."""
    reference = next((t for t in study.finished() if t.params == dict(rule.params)), None)
    if reference is None:
        return None
    if not reference.record.informative:
        return Comparison(reference, ())
    front = pareto_trials(study)
    qualified = eligible([t.record for t in front], reference.record, rule)
    return Comparison(reference, tuple(next(t for t in front if t.record is r) for r in qualified))


def savings_rows(
    reference: EvaluationRecord, chosen: EvaluationRecord | None, objectives: Sequence[str]
) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows: the reference, the chosen point, and ``reference / chosen`` per objective
    (a factor > 1 on a minimised objective is the saving)."""
    headers = ["configuration", "status", *objectives]
    rows: list[list[Any]] = [["reference", reference.status, *(reference.objectives.get(n) for n in objectives)]]
    if chosen is None:
        rows.append(["no front point qualifies", "-", *("-" for _ in objectives)])
        return headers, rows
    rows.append(["chosen from the front", chosen.status, *(chosen.objectives[n] for n in objectives)])
    rows.append(["reference / chosen", "-", *(_ratio(reference.objectives.get(n), chosen.objectives[n]) for n in objectives)])
    return headers, rows


def _ratio(numerator: float | None, denominator: float) -> float | None:
    if numerator is None or denominator == 0:
        return None
    return float(numerator) / float(denominator)
