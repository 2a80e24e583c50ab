"""Collect a Hydra multirun into one table: each job's command-line overrides and its record.

Hydra leaves, per job, ``<sweep dir>/<job>/.hydra/overrides.yaml`` (what was swept) and the
entry point writes ``record.json`` beside it; joining the two is all a sweep summary needs, and
it works for any launcher since it reads only files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from jaxsnn.record import EvaluationRecord

METRICS: tuple[str, ...] = ("status", "accuracy", "train_accuracy", "spikes", "epochs", "cost_s")


def job_row(record_path: Path) -> dict[str, Any]:
    """One job's overrides (``key=value``, none without an overrides file) and metrics."""
    record = EvaluationRecord.from_json(record_path.read_text())
    overrides_file = record_path.parent / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.exists() else []
    row: dict[str, Any] = dict(item.split("=", 1) for item in overrides or [])
    row.update(
        status=record.status,
        accuracy=record.objectives.get("accuracy"),
        train_accuracy=record.objectives.get("train_accuracy"),
        spikes=record.spikes,
        epochs=record.epochs_run,
        cost_s=record.cost_s,
    )
    return row


def collect(sweep_dir: Path, record_file: str = "record.json") -> tuple[list[str], list[list[Any]]]:
    """Headers (swept keys, then ``METRICS``) and one row per job, in job order."""
    job_order = lambda path: (len(path.parent.name), path.parent.name)  # noqa: E731 - 2 < 10
    paths = sorted(Path(sweep_dir).glob(f"*/{record_file}"), key=job_order)
    if not paths:
        raise FileNotFoundError(f"no */{record_file} under {sweep_dir}: not a finished multirun?")
    rows = [job_row(path) for path in paths]
    keys = sorted({key for row in rows for key in row} - set(METRICS))
    headers = keys + list(METRICS)
    return headers, [[row.get(key) for key in headers] for row in rows]
