"""Sweeps trained as one compiled program: seeds x surrogate settings x learning rates.

Surrogate-gradient studies (Herranz-Celotti & Rouat sweep gamma, beta, q, learning rates and
seeds) usually run every setting as its own training: one compilation and one Python loop each,
with small matrix products that leave the cores idle. Here the members' model states are stacked
and ``sg.fit`` advances them with one ``vmap``-ped step: surrogate ``gamma``/``beta``/``q`` live
in the model state as ``Hyper`` values and the learning rate is a traced argument, so the whole
sweep shares one compiled program and one pass over the data. Members are independent: each
trains exactly as ``train_sg`` would train it alone (tested), may be stopped or fail on its own,
and gets its own record.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Callable, Sequence

from jaxsnn.core import Surrogate
from jaxsnn.data import DataSplits
from jaxsnn.record import EvaluationRecord
from jaxsnn.train.config import ModelConfig, TrainerConfig
from jaxsnn.train.sg import Member, fit
from jaxsnn.train.stopping import EarlyStopper


def sweep(
    model_cfg: ModelConfig,
    *,
    seeds: Sequence[int] = (0,),
    surrogates: Sequence[Surrogate] | None = None,
    lrs: Sequence[float | None] = (None,),
) -> list[Member]:
    """The members of a grid: every combination of seed, surrogate and learning rate.

    ``surrogates`` default to the model's own; they must share one ``shape`` (the shape selects
    code, so it is compiled in). ``lrs`` entries ``None`` mean the trainer's learning rate.
    """
    surrogates = [model_cfg.surrogate] if surrogates is None else list(surrogates)
    shapes = {sg.shape for sg in surrogates}
    if len(shapes) > 1:
        raise ValueError(
            f"one vmapped sweep needs one surrogate shape, got {sorted(shapes)}; "
            "run one sweep per shape"
        )
    return [
        Member(dataclasses.replace(model_cfg, surrogate=sg), seed, lr)
        for sg, lr, seed in itertools.product(surrogates, lrs, seeds)
    ]


def train_multi(
    members: Sequence[Member],
    trainer_cfg: TrainerConfig,
    data: DataSplits,
    *,
    stoppers: Callable[[Member], Sequence[EarlyStopper]] | None = None,
    progress: bool = True,
) -> list[EvaluationRecord]:
    """Train all ``members`` at once; one record per member, in order.

    ``stoppers(member)`` makes that member's early stoppers (called once per member, since
    stoppers keep state); records are as ``train_sg`` writes them.
    """
    if not members:
        raise ValueError("train_multi needs at least one member")
    per_member = None if stoppers is None else [stoppers(member) for member in members]
    return fit(members, trainer_cfg, data, stoppers=per_member, progress=progress)
