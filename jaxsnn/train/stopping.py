"""The contract between trainers and early-stopping rules (silent-network detector, activity guard).

Trainers know nothing about *why* a run should stop; they feed every stopper the per-sample output
spike counts of each batch and ask whether to go on. Stoppers report their current constraint
values so a stopped run still becomes a complete evaluation record.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np


@dataclasses.dataclass(frozen=True)
class StopDecision:
    """Why a run must end now: the record ``status`` to use and a human-readable ``reason``."""

    status: str
    reason: str


class EarlyStopper(Protocol):
    """Anything a trainer consults after each training batch."""

    def update(self, output_spike_counts: np.ndarray, mean_rates: dict[str, float]) -> StopDecision | None:
        """Consume one batch: ``output_spike_counts`` is ``(B,)`` spikes of the output layer per
        sample, ``mean_rates`` the mean firing rate per layer name. Return a decision to stop."""
        ...

    def constraints(self) -> dict[str, float]:
        """Constraint values so far (``<= 0`` feasible), to be stored in the record."""
        ...
