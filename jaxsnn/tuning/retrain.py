"""Train what a composed ``conf/train.yaml`` describes, with any of the four algorithms.

``experiments/train.py`` is a thin Hydra shell around ``train``; tests call it on configs they
compose, so the entry point's path is the one under test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from jaxsnn.record import EvaluationRecord
from jaxsnn.train.config import RunConfig
from jaxsnn.train.sg import train_sg
from jaxsnn.tuning.evaluate import evaluate
from jaxsnn.tuning.overrides import trial_config


def train(cfg: Mapping[str, Any]) -> EvaluationRecord:
    """Train a composed train.yaml (plain values).

    SG runs train through ``RunConfig`` (its range checks, and the data config kept in the
    record); stdp, slayer and hybrid runs go through the ``evaluate()`` path their HPO trials ran,
    so a pasted trial retrains through the code that ran it.
    """
    algorithm = cfg.get("algorithm", "sg")
    if algorithm != "sg":
        return evaluate(trial_config(cfg))
    run = RunConfig.from_dict(cfg)
    record = train_sg(run.model, run.trainer, run.data.load(), seed=run.seed, progress=bool(cfg.get("progress")))
    record.params["data"] = dataclasses.asdict(run.data)
    return record
