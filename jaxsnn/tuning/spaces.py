"""Search spaces of every trainer, named in the vocabulary of ``experiments/train.py``.

A searched parameter is named by its dotted path in the run config it sets: ``model.neuron.theta``,
``surrogate.gamma``, ``trainer.lr``, ``data.options.max_rate`` for the SG trainer (the paths of
``conf/train.yaml``), ``stdp.tau_mem_ms``, ``slayer.surrogate.beta``, ``hybrid.ann_lr`` for the
others (their schema nodes). A trial is the run config plus its point as overrides: the same name
in a preset's bounds, the optimizer's proposals, a study's records and a train.py command.

One thing the override grammar cannot say is a layer stack of searched width *and* depth:
``model.hidden`` is a list. The two coordinates ``<config>.hidden.width`` and
``<config>.hidden.depth`` stand for it (``hidden = [width] * depth``); ``train_overrides`` writes
the list.

Each trainer's space is YAML, ``jaxsnn/conf/space/<trainer>.yaml`` (inside the package, so an
installed wheel has it), in the form a study's ``hpo.add`` takes: ``{path: {type, low, high, log |
choices, condition}}``, nested as Hydra nests paths; a study narrows it with ``hpo.bounds``, drops
parameters with ``hpo.exclude`` and searches more fields with ``hpo.add``. What YAML cannot say
stays here: the width / depth pair, and which parameters a dataset has no use for
(``inapplicable``).

The spaces are deliberately *wide*, as in Firmin et al.: thresholds far above any reachable
voltage, vanishing weights or input rates, tiny learning rates. Whole regions of them are silent
networks. Instead of carving those regions out by hand (and missing good configurations at their
border), the silent-network detector stops such runs early and the optimizer learns the silent
boundary from the ``silent`` constraint.

A point of a space is a ``{path: value}`` dict, what optimizers propose and records store. Paths a
point leaves out take the trainer's default, so hand-written points may be partial. Presets may
write a point nested (``{"trainer": {"lr": 1e-3}}``, what Hydra makes of ``hpo.bounds.trainer.lr``):
``dotted`` flattens it.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import OmegaConf

from jaxsnn.data import SPIKE_DATASETS, loader_options
from jaxsnn.hpo.space import CategoricalParam, Param, Space, param_from_dict
from jaxsnn.train.run import ALGORITHMS, Run

DATA_OPTIONS = "data.options."
"""Prefix of searched options of the dataset's loader (``data.options.max_rate``, the rate code's
spikes per step): they mean something only for datasets whose loader takes that option."""
WIDTH, DEPTH = "hidden.width", "hidden.depth"
"""Suffixes of the two coordinates of a searched layer stack ``hidden = [width] * depth``."""


@functools.cache
def _builtin(trainer: str) -> tuple[Param, ...]:
    """The trainer's space as ``jaxsnn/conf/space/<trainer>.yaml`` writes it, parsed like
    ``hpo.add``, in file order (a study's encoding and samples follow it)."""
    text = (importlib.resources.files("jaxsnn.conf") / "space" / f"{trainer}.yaml").read_text()
    return tuple(added_params(OmegaConf.to_container(OmegaConf.create(text))))


def dotted(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"trainer": {"lr": 1e-3}}`` -> ``{"trainer.lr": 1e-3}``; dotted keys pass as they are.

    Hydra nests ``hpo.bounds.trainer.lr=[1e-4,1e-2]`` into blocks, a preset may write either form:
    a point, bounds or a feature's exponents all mean the same flattened names. Lists are leaves
    (a pair of bounds), and so are empty blocks.
    """
    if not isinstance(tree, Mapping):
        raise ValueError(f"expected a dict of parameter paths, got {tree!r}")
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        leaves = dotted(value, f"{path}.") if isinstance(value, Mapping) and value else {path: value}
        for leaf, leaf_value in leaves.items():
            if leaf in flat:
                raise ValueError(f"{leaf} is given twice (nested and dotted)")
            flat[leaf] = leaf_value
    return flat


def _check_trainer(trainer: str) -> None:
    if trainer not in ALGORITHMS:
        raise ValueError(f"unknown trainer {trainer!r}; valid: {', '.join(ALGORITHMS)}")


def inapplicable(trainer: str, dataset: str) -> list[str]:
    """The parameters of ``trainer``'s space that ``dataset`` has no use for, in space order.

    ``data.options.max_rate`` sets the rate code's ``max_rate``: event datasets (SHD, N-MNIST,
    DVS Gesture) are spikes already and Randman is spike-time data, so their loaders take no such
    option and every trial searching it would fail. A study leaves such parameters out instead.
    """
    _check_trainer(trainer)
    if dataset not in SPIKE_DATASETS:
        return []
    accepted = loader_options(dataset)
    return [p.name for p in _builtin(trainer)
            if p.name.startswith(DATA_OPTIONS) and p.name[len(DATA_OPTIONS):] not in accepted]  # fmt: skip


def added_params(specs: Mapping[str, Any]) -> list[Param]:
    """Parameters a study adds to its trainer's space, ``{path: {"type": "float" | "int" |
    "categorical", "low", "high", "log" | "choices", "condition": {"parent", "values"}}}``: any
    field of the run config, e.g. ``{"trainer.weight_decay": {"type": "float", "low": 1e-6,
    "high": 1e-2, "log": True}}``. Paths may be nested as Hydra writes them; a block with a
    ``type`` is one parameter."""

    def walk(tree: Mapping[str, Any], prefix: str) -> dict[str, Mapping[str, Any]]:
        if not isinstance(tree, Mapping):
            raise ValueError(f"{prefix or 'add'}: expected a parameter {{type: ...}} or a block of them, got {tree!r}")
        if "type" in tree:
            return {prefix: tree}
        return {path: spec for key, value in tree.items()
                for path, spec in walk(value, f"{prefix}.{key}" if prefix else key).items()}  # fmt: skip

    params = []
    for name, spec in walk(specs, "").items():
        try:
            params.append(param_from_dict({**spec, "name": name}))
        except TypeError as error:  # a missing or unknown key of the parameter's spec
            raise ValueError(f"{name}: {error}") from None
    return params


def search_space(
    trainer: str, exclude: Sequence[str] = (), bounds: Mapping[str, Any] | None = None,
    add: Mapping[str, Any] | None = None,
) -> Space:  # fmt: skip
    """The wide space of ``trainer``; ``bounds`` (``{path: (low, high)}``, flat or nested) narrow
    numeric ranges, e.g. ``search_space("sg", bounds={"trainer.epochs": (1, 2)})`` for a cheap study
    that keeps every other range wide; ``add`` searches more fields of the run config
    (``added_params``).

    ``exclude`` leaves parameters out of the search (they take the trainer's default), which is
    how a study of a few dozen trials keeps a GP's dimension small. A parameter conditional on an
    excluded one must be excluded too: it could never be switched on.
    """
    _check_trainer(trainer)
    bounds = dotted(bounds or {})
    params = {p.name: p for p in _builtin(trainer)}
    for param in added_params(add or {}):
        if param.name in params:
            raise ValueError(f"{param.name} is searched already: narrow it with bounds instead of adding it")
        _check_names(trainer, {param.name: None})
        params[param.name] = param
    unknown = sorted((set(bounds) | set(exclude)) - set(params))
    if unknown:
        raise ValueError(f"cannot narrow or exclude unknown {trainer} parameter(s) {unknown}; valid: {list(params)}")
    orphans = sorted(p.name for p in params.values() if p.condition and p.condition.parent in exclude
                     and p.name not in exclude)  # fmt: skip
    if orphans:
        raise ValueError(f"{orphans} depend on an excluded parameter: exclude them too")
    both = sorted(set(bounds) & set(exclude))
    if both:
        raise ValueError(f"{both} both narrowed and excluded")
    for name in exclude:
        del params[name]
    for name, pair in bounds.items():
        if isinstance(params[name], CategoricalParam):
            raise ValueError(f"{name} is categorical: it has choices, not bounds")
        low, high = pair
        params[name] = dataclasses.replace(params[name], low=low, high=high)
    return Space(list(params.values()))


_ROOTS = {"sg": ("model", "surrogate", "trainer", "data"), "stdp": ("stdp",), "slayer": ("slayer",),
          "hybrid": ("hybrid",)}  # fmt: skip
"""The configs a point of each trainer sets, by the first part of its paths."""
_STUDY_DATA = "data.time_steps", DATA_OPTIONS
"""The SG data paths a point may set; the dataset, its root and seed are the study's."""


def _check_names(trainer: str, params: Mapping[str, Any]) -> None:
    """Every name is a parameter of the trainer's space or a path into one of its configs (a
    field the space does not search, e.g. ``trainer.weight_decay``; ``_assign`` names a field the
    config lacks)."""
    if not isinstance(params, Mapping):
        raise ValueError(f"params must be a dict, got {type(params).__name__}")
    valid = [p.name for p in _builtin(trainer)]
    unknown = sorted(name for name in set(params) - set(valid)
                     if name.split(".")[0] not in _ROOTS[trainer] or "." not in name
                     or (name.startswith("data.") and not name.startswith(_STUDY_DATA)))  # fmt: skip
    if unknown:
        raise ValueError(f"unknown {trainer} hyperparameter(s) {unknown}: a parameter is a path into "
                         f"{', '.join(_ROOTS[trainer])} (searched: {valid})")


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "a.c": 2}`` -> ``{"a": {"b": 1, "c": 2}}`` (searched values are never dicts)."""
    tree: dict[str, Any] = {}
    for name, value in flat.items():
        *parents, leaf = name.split(".")
        node = tree
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return tree


def _assign(config: Any, values: Mapping[str, Any], where: str) -> Any:
    """``config`` with the nested ``values`` set. A frozen dataclass is replaced once per level, so
    its checks run on the new values together (``slayer.false_count`` against ``true_count``) and
    a bad one fails naming the field; a dict (``data.options``) is updated."""
    if isinstance(config, Mapping):
        return {**config, **values}
    fields = {f.name for f in dataclasses.fields(config)} if dataclasses.is_dataclass(config) else set()
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ValueError(f"{where} has no field(s) {unknown}")
    return dataclasses.replace(config, **{
        key: _assign(getattr(config, key), value, f"{where}.{key}") if isinstance(value, dict) else value
        for key, value in values.items()
    })  # fmt: skip


def _layers(params: Mapping[str, Any], configs: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with each ``<config>.hidden.width`` / ``.depth`` pair written as ``<config>.hidden``;
    a coordinate left out keeps what the config's default stack has."""
    out = {k: v for k, v in params.items() if not k.endswith((WIDTH, DEPTH))}
    for root in {k.split(".")[0] for k in params if k.endswith((WIDTH, DEPTH))}:
        default = configs[root].hidden
        width = params.get(f"{root}.{WIDTH}", default[0])
        out[f"{root}.hidden"] = (width,) * params.get(f"{root}.{DEPTH}", len(default))
    return out


def apply_point(run: Run, params: Mapping[str, Any]) -> Run:
    """``run`` with the point's values set at their paths; a name that is no path into the
    algorithm's configs, or a value a config rejects, raises ``ValueError`` naming it."""
    _check_names(run.algorithm, params)
    configs = run.configs()
    for root, values in _nest(_layers(params, configs)).items():
        configs[root] = _assign(configs[root], values, root)
    return run.with_configs(configs)
