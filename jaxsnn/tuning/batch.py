"""Batched trials: SG trials of one compiled shape train together, as members of one vmapped call.

In a space of traced hyperparameters (leak, threshold, surrogate gamma/beta/q, learning rate,
weight scale) every trial of a study builds the same network shape. Run one by one, each pays
its own setup (data, network build, the programs' lookup or compilation) and runs a train step
sized for one small network, which leaves most of a core's vector width, or a GPU, idle.
``train.sg.fit`` trains a *population* in one vmapped step, each member with its own stoppers and
record; this module hands it the trials of a batch that can share one.

Each member keeps its own silent detector and stops alone (its updates masked from then on); its
``cost_s`` is its share of the batch's wall time (``train.sg._SharedClock``: data loading and
setup split evenly, every step among the members still training), so compute budgets stay honest
and the shares add up to what the worker spent. A member that diverges fails alone inside the
population; a batch whose population cannot be built or raises is run again trial by trial, so
whatever went wrong is each trial's own failure and no other member's record is lost.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from jaxsnn.compile_cache import compilation_counts
from jaxsnn.record import EvaluationRecord
from jaxsnn.train.sg import Member, fit
from jaxsnn.tuning.evaluate import Trial, Watch, compiled_since, evaluate, validate


def evaluate_batch(configs: Sequence[Mapping[str, Any]]) -> list[EvaluationRecord]:
    """One record per ``evaluate`` config, in order; SG trials that can share a population train
    as one, every other trial alone. Raises ``ValueError`` for a malformed config, before any
    trial runs (as ``evaluate`` does)."""
    trials = [validate(config) for config in configs]
    groups: dict[str, list[int]] = {}
    for i, trial in enumerate(trials):
        key = trial.population_key() or f"alone {i}"
        groups.setdefault(key, []).append(i)
    records: list[EvaluationRecord | None] = [None] * len(trials)
    for members in groups.values():
        together = _train_together([trials[i] for i in members]) if len(members) > 1 else None
        for i, record in zip(members, together or [evaluate(configs[i]) for i in members]):
            records[i] = record
    return records  # type: ignore[return-value]


def _train_together(trials: Sequence[Trial]) -> list[EvaluationRecord] | None:
    """The validated SG trials as one population; ``None`` when the population could not be
    trained (its members then run alone through ``evaluate``, from fresh stoppers)."""
    start = time.perf_counter()
    before = compilation_counts()
    watches = [Watch(trial, start) for trial in trials]
    try:
        data = trials[0].load()
        load_s = time.perf_counter() - start
        members = [Member(t.run.model, t.run.seed, t.run.trainer.lr) for t in trials]
        records = fit(members, trials[0].run.trainer, data, stoppers=[w.stoppers() for w in watches], progress=False)
    except Exception:  # e.g. members that do not build one structure after all: each alone
        return None
    compiled = {**compiled_since(before), "batch_trials": len(trials)}
    return [watch.finish(trial.recorded(record), load_s / len(trials) + record.cost_s, compiled)
            for watch, trial, record in zip(watches, trials, records)]  # fmt: skip
