"""A trial and an ``experiments/train.py`` run are one thing (a ``Run``); this writes it as
train.py's command-line overrides.

The best trial of a study can then be retrained, inspected or varied from the command line. The
overrides are written out in full (every field of the algorithm's resolved configs and every
option of the data loader), so the pasted command cannot drift from the trial when a group's
YAML defaults change.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from jaxsnn.data import loader_options
from jaxsnn.train.run import IMAGE_ALGORITHMS, Run
from jaxsnn.tuning.spaces import dotted


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
    accepted = loader_options(dataset)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"dataset {dataset!r} has no option(s) {unknown}: no run loads it with them")
    return {
        name: options.get(name, parameter.default)
        for name, parameter in accepted.items()
        if name in options or parameter.default is not inspect.Parameter.empty
    }


def train_overrides(run: Run) -> list[str]:
    """``experiments/train.py`` overrides that train ``run`` exactly: its algorithm, its data and
    seeds, and every field of the configs its algorithm uses (``Run.to_dict``)."""
    data = run.data
    values: dict[str, Any] = {}
    if run.algorithm not in IMAGE_ALGORITHMS:  # its conf/data group, then every value the trial loaded with
        values.update({"data": data.name, "data.time_steps": data.time_steps})
        options = _loader_options(data.name, data.options)
        values.update({f"++data.options.{name}": value for name, value in options.items()})
    else:  # images: stdp and hybrid read data.name, data.root, data.seed only
        values["data.name"] = data.name
    values["data.seed"] = data.seed
    if data.root is not None:
        values["data.root"] = data.root
    values.update(dotted({key: value for key, value in run.to_dict().items() if key != "data"}))
    return [f"{key}={_override_value(value)}" for key, value in values.items()]
