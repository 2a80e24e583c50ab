"""The contract between trainers and early-stopping rules (silent-network detector, activity guard).

Trainers know nothing about *why* a run should stop; they feed every stopper the per-sample output
spike counts of each batch and ask whether to go on. Stoppers report their current constraint
values so a stopped run still becomes a complete evaluation record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from jaxsnn.record import EvaluationRecord


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


def consult(stoppers: Sequence[EarlyStopper], output_spike_counts: np.ndarray,
            mean_rates: Mapping[str, float]) -> StopDecision | None:
    """Feed one batch to every stopper and return the first decision to stop, if any.

    Every stopper sees the batch, even after an earlier one has decided: each keeps its own
    running statistics, and the constraint values it reports must cover the same batches.
    """
    counts = np.asarray(output_spike_counts)
    rates = {name: float(rate) for name, rate in mean_rates.items()}
    decisions = [stopper.update(counts, rates) for stopper in stoppers]
    return next((d for d in decisions if d is not None), None)


def merged_constraints(stoppers: Sequence[EarlyStopper]) -> dict[str, float]:
    """Every stopper's constraints in one dict, for the record (a later stopper wins a name clash)."""
    return {name: float(value) for stopper in stoppers for name, value in stopper.constraints().items()}


def run_record(
    params: dict[str, Any],
    status: str,
    objectives: Mapping[str, float],
    stoppers: Sequence[EarlyStopper],
    *,
    cost_s: float,
    spikes: float | None = None,
    epochs_run: int = 0,
    metrics: dict[str, Any] | None = None,
    error: str | None = None,
) -> EvaluationRecord:
    """The record of a training run that ended with ``status``, the one builder of every trainer.

    A ``failed`` run keeps its error and seconds and no objectives; any other run (complete, or
    stopped by a stopper) carries every stopper's constraints, so a stopped network is constraint
    data for the optimizer like a trained one.
    """
    metrics = metrics or {}
    if status == "failed":
        return EvaluationRecord.failure(params, error or "unknown failure", cost_s, epochs_run=epochs_run, metrics=metrics)
    return EvaluationRecord(
        params=params,
        objectives={name: float(value) for name, value in objectives.items()},
        constraints=merged_constraints(stoppers),
        cost_s=cost_s,
        status=status,
        spikes=spikes,
        epochs_run=epochs_run,
        metrics=metrics,
    )
