"""The study's objective: a trial's point of the search space in, its record out."""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from jaxsnn.record import EvaluationRecord
from jaxsnn.tuning.batch import evaluate_batch
from jaxsnn.tuning.evaluate import evaluate, validate
from jaxsnn.tuning.overrides import train_overrides


@dataclasses.dataclass(frozen=True)
class TrialObjective:
    """``params -> record`` for the optimizer loop: ``base`` is an ``evaluate`` config whose
    ``params`` are filled in per trial. A picklable object (not a closure) because process and
    Dask workers must import it by name."""

    base: Mapping[str, Any]

    def __post_init__(self) -> None:
        validate({**self.base, "params": {}})  # a bad base config fails before any trial runs

    def check(self, params: Mapping[str, Any]) -> None:
        """Build the trial of ``params`` without running it: ``ValueError`` naming what a config
        class rejects, so a study can test its bounds before any worker starts."""
        validate({**self.base, "params": dict(params)})

    def __call__(self, params: dict[str, Any]) -> EvaluationRecord:
        return evaluate({**self.base, "params": params})

    def batch(self, points: Sequence[dict[str, Any]]) -> list[EvaluationRecord]:
        """Several trials in one task (``run_study``'s ``batch_trials``): those that build one
        network shape train together as one vmapped population (:mod:`jaxsnn.tuning.batch`)."""
        return evaluate_batch([{**self.base, "params": params} for params in points])

    def retrain_command(self, params: Mapping[str, Any]) -> str:
        """The ``experiments/train.py`` command that retrains the trial of ``params`` exactly."""
        run = validate({**self.base, "params": dict(params)}).run
        return " ".join(["python experiments/train.py", *map(shlex.quote, train_overrides(run))])
