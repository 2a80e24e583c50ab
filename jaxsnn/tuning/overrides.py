"""A trial and an ``experiments/train.py`` run are one thing written two ways; this maps them.

An HPO trial is an ``evaluate()`` config (``trainer``, ``dataset``, ``seed``, fixed trainer
fields) plus a point of run-config paths; a train.py run is a composed ``conf/train.yaml`` (``algorithm``,
``data``, ``seed``, the trainer's config group). ``train_overrides`` writes a trial as train.py
overrides, so the best trial of a study can be retrained, inspected or varied from the command
line, and ``trial_config`` reads a composed train.yaml back as a trial. The overrides are written
out in full (every field of the trainer's resolved config and every option of the data loader),
so the pasted command cannot drift from the trial when a group's YAML defaults change.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from typing import Any

from jaxsnn.data import SPIKE_DATASETS
from jaxsnn.tuning.spaces import dotted, hybrid_config, sg_run, slayer_config, stdp_config

_CONFIG_OF = {"stdp": stdp_config, "slayer": slayer_config, "hybrid": hybrid_config}
_LOADER_ARGUMENTS = {"time_steps", "seed", "root"}  # set by data.*, not by data.options


def _override_value(value: Any) -> str:
    """A value in Hydra's override grammar (lists in brackets, booleans lower case)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_override_value(v) for v in value) + "]"
    return "null" if value is None else str(value)


def _loader_options(dataset: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Every option of the spike dataset's loader with the value the trial loaded with: the
    trial's own, else the loader's default (which a ``conf/data`` YAML may not share)."""
    accepted = inspect.signature(SPIKE_DATASETS[dataset]).parameters
    unknown = sorted(set(options) - set(accepted) | set(options) & _LOADER_ARGUMENTS)
    if unknown:
        raise ValueError(f"dataset {dataset!r} has no option(s) {unknown}: no run loads it with them")
    return {
        name: options.get(name, parameter.default)
        for name, parameter in accepted.items()
        if name not in _LOADER_ARGUMENTS and (name in options or parameter.default is not inspect.Parameter.empty)
    }


def _sg_values(params: Mapping[str, Any], evaluation: Mapping[str, Any]) -> dict[str, Any]:
    run = sg_run(params, backend=evaluation.get("backend", "auto"),
                 xla_optimizations=evaluation.get("xla_optimizations", True))
    dataset = evaluation.get("dataset", "digits")
    options = _loader_options(dataset, {**evaluation.get("data_options", {}), **run.data_options})
    model = {k: v for k, v in dataclasses.asdict(run.model).items() if k != "surrogate"}
    return {  # every field, so that a field a study added to its space (trainer.weight_decay) is kept
        "data": dataset,
        "data.time_steps": run.time_steps,
        **dotted(model, "model."),
        **dotted(dataclasses.asdict(run.model.surrogate), "surrogate."),
        **dotted(dataclasses.asdict(run.trainer), "trainer."),
        **{f"++data.options.{name}": value for name, value in options.items()},
    }


def _trainer_values(trainer: str, params: Mapping[str, Any], evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """A stdp, slayer or hybrid trial: the algorithm, its data, and its whole resolved config."""
    fixed = dict(evaluation.get(trainer, {}))
    if trainer == "hybrid" and "backend" in evaluation:
        fixed["backend"] = evaluation["backend"]
    config = _CONFIG_OF[trainer](params, **fixed)
    values: dict[str, Any] = {"algorithm": trainer, "data.name": evaluation.get("dataset", "digits")}
    if trainer == "slayer":
        values["data.time_steps"] = evaluation.get("data_time_steps", 50)
        options = _loader_options(values["data.name"], evaluation.get("data_options", {}))
        values.update({f"++data.options.{name}": value for name, value in options.items()})
    return {**values, **dotted(dataclasses.asdict(config), f"{trainer}.")}


def train_overrides(params: Mapping[str, Any], evaluation: Mapping[str, Any] | None = None) -> list[str]:
    """``experiments/train.py`` overrides that retrain the trial of ``params`` exactly.

    ``evaluation`` is the trial's ``evaluate`` config (trainer, dataset, data_root, data_seed,
    data_options, seed, backend, fixed trainer fields). Every field the point maps onto is written
    out, taken from the configs the trial itself builds, so a name the point leaves out gets the
    trainer's default here as well.
    """
    evaluation = evaluation or {}
    trainer = evaluation.get("trainer", "sg")
    values = _sg_values(params, evaluation) if trainer == "sg" else _trainer_values(trainer, params, evaluation)
    values["data.seed"] = evaluation.get("data_seed", 0)
    values["seed"] = evaluation.get("seed", 0)
    if evaluation.get("data_root") is not None:
        values["data.root"] = evaluation["data_root"]
    return [f"{key}={_override_value(value)}" for key, value in values.items()]


def trial_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The ``evaluate()`` config of a composed train.yaml (plain values) whose algorithm is stdp,
    slayer or hybrid: the inverse of ``train_overrides``. No detector: train.py trains to the end.

    STDP and HYBRID read images (``data.name``, ``data.root``, ``data.seed``); ``data.time_steps``
    and ``data.options`` are the spike encoding of SLAYER (and SG) inputs only.
    """
    trainer, data = cfg["algorithm"], cfg["data"]
    config: dict[str, Any] = {
        "trainer": trainer, "dataset": data["name"], "data_seed": data["seed"], "seed": cfg.get("seed", 0),
        "silent": None, trainer: dict(cfg.get(trainer) or {}),
    }  # fmt: skip
    if data.get("root") is not None:
        config["data_root"] = data["root"]
    if trainer == "slayer":
        config["data_time_steps"] = data["time_steps"]
        config["data_options"] = dict(data.get("options") or {})
    if trainer == "stdp":
        config["progress"] = bool(cfg.get("progress", False))
    return config
