"""Train what a composed ``conf/train.yaml`` describes, with any of the four algorithms.

``experiments/train.py`` is a thin Hydra shell around ``train``; tests call it on configs they
compose, so the entry point's path is the one under test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from jaxsnn.record import EvaluationRecord
from jaxsnn.train.run import Run, run_keys
from jaxsnn.tuning.evaluate import evaluate


def train(cfg: Mapping[str, Any]) -> EvaluationRecord:
    """Train a composed train.yaml (plain values) through ``evaluate``, the path an HPO trial of
    the same run takes, without a silent-network detector (train.py trains to the end). The
    record's params are the whole resolved run (train.yaml's shape)."""
    run = Run.from_dict(run_keys(cfg))
    record = evaluate({"run": run, "silent": None, "progress": bool(cfg.get("progress", False))})
    return dataclasses.replace(record, params=run.to_dict())
