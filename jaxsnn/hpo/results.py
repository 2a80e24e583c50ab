"""Views of a study's results: the best trial, the Pareto front, flat table rows.

They only read a :class:`~jaxsnn.hpo.study.Study` through its trials, so the storage (SQLite,
locking, drivers) and what users ask of a study's outcome change independently. Like the study,
this module imports neither JAX nor plotting libraries: a worker or a notebook reads results
cheaply.
"""

from __future__ import annotations

import math
from typing import Any

from jaxsnn.hpo.dominance import front_indices
from jaxsnn.hpo.spec import signed
from jaxsnn.hpo.study import Study, Trial


def best_trial(study: Study, objective: str | None = None, *, feasible: bool = True) -> Trial | None:
    """The best finished trial for ``objective`` (required when there are several objectives).

    Only informative records count; with ``feasible`` (default) only those satisfying every
    constraint. ``None`` when no trial qualifies.
    """
    if objective is None:
        if len(study.objectives) > 1:
            raise ValueError(f"several objectives {list(study.objectives)}: name one, or use pareto_trials()")
        objective = next(iter(study.objectives))
    if objective not in study.objectives:
        raise ValueError(f"unknown objective {objective!r}; study objectives: {list(study.objectives)}")
    candidates = [t for t in study.finished() if t.record.informative and (t.record.feasible or not feasible)]
    direction = study.objectives[objective]
    return max(candidates, key=lambda t: signed(direction, t.record.objectives[objective]), default=None)


def pareto_trials(study: Study) -> list[Trial]:
    """Feasible trials no other feasible trial dominates in every objective, by id."""
    trials = study.finished()
    front = front_indices([t.record for t in trials], study.objectives)
    return sorted((trials[i] for i in front), key=lambda t: t.id)


def trial_rows(study: Study) -> list[dict[str, Any]]:
    """One flat row per trial (params, objectives, constraints, status, timing): for pandas or rich."""
    rows = []
    for t in study.trials():
        r = t.record
        row: dict[str, Any] = {
            "trial": t.id,
            "status": t.status,
            "worker": t.worker,
            "duration_s": t.duration_s,
            **{f"param.{k}": v for k, v in t.params.items()},
        }
        for name in study.objectives:
            row[name] = r.objectives.get(name, math.nan) if r else math.nan
        for name in study.constraints:
            row[name] = r.constraints.get(name, math.nan) if r else math.nan
        row["error"] = r.error if r else None
        rows.append(row)
    return rows
