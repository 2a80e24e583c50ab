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
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from jaxsnn.core import SHAPES
from jaxsnn.data import SPIKE_DATASETS
from jaxsnn.hpo.space import CategoricalParam, Condition, FloatParam, IntParam, Param, Space, param_from_dict
from jaxsnn.nn.conversion import ENCODINGS
from jaxsnn.train.run import ALGORITHMS, Run

DATA_OPTIONS = "data.options."
"""Prefix of searched options of the dataset's loader (``data.options.max_rate``, the rate code's
spikes per step): they mean something only for datasets whose loader takes that option."""
WIDTH, DEPTH = "hidden.width", "hidden.depth"
"""Suffixes of the two coordinates of a searched layer stack ``hidden = [width] * depth``."""


def _surrogate_params(prefix: str) -> tuple[Param, ...]:
    """The surrogate gradient of a BPTT-trained network, under ``prefix``: shape, peak, sharpness, tail."""
    shape = f"{prefix}.shape"
    return (
        CategoricalParam(shape, SHAPES),
        FloatParam(f"{prefix}.gamma", 0.1, 2.0),
        FloatParam(f"{prefix}.beta", 0.1, 10.0, log=True),
        FloatParam(f"{prefix}.q", 1.1, 20.0, log=True, condition=Condition(shape, ("q_pseudo_spike",))),
    )


def _prefixed(prefix: str, params: Sequence[Param]) -> tuple[Param, ...]:
    """``params`` as fields of the config ``prefix`` (their names and their conditions' parents)."""
    return tuple(
        dataclasses.replace(p, name=f"{prefix}.{p.name}", condition=p.condition and dataclasses.replace(
            p.condition, parent=f"{prefix}.{p.condition.parent}"))
        for p in params
    )  # fmt: skip


_SG_PARAMS: tuple[Param, ...] = (
    IntParam(f"model.{WIDTH}", 8, 512, log=True),
    IntParam(f"model.{DEPTH}", 1, 3),
    CategoricalParam("model.recurrent", (False, True)),
    FloatParam("model.neuron.alpha", 0.3, 0.99),
    FloatParam("model.neuron.theta", 0.05, 20.0, log=True),
    CategoricalParam("model.neuron.reset", ("subtract", "zero")),
    CategoricalParam("model.readout", ("max_membrane", "mean_membrane", "spike_count")),
    FloatParam("model.weight_scale", 0.05, 5.0, log=True),
    *_surrogate_params("surrogate"),
    FloatParam("trainer.lr", 1e-5, 1e-1, log=True),
    IntParam("trainer.batch_size", 16, 256, log=True),
    IntParam("trainer.epochs", 1, 20),
    IntParam("data.time_steps", 10, 100),
    FloatParam(f"{DATA_OPTIONS}max_rate", 0.01, 1.0, log=True),
)
"""17 dimensions: architecture, LIF neuron, SG shape/gamma/beta/q, optimisation, encoding.
``data.options.max_rate`` is the rate code's spikes per step at full intensity (rate-coded datasets
only)."""

_STDP_PARAMS: tuple[Param, ...] = _prefixed("stdp", (
    IntParam("n_neurons", 10, 1600, log=True),
    FloatParam("threshold_mv", 1.0, 50.0),
    FloatParam("theta_plus_mv", 1e-3, 5.0, log=True),
    FloatParam("tau_theta_ms", 1e3, 1e8, log=True),
    FloatParam("tau_mem_ms", 5.0, 500.0, log=True),
    FloatParam("tau_ge_ms", 0.5, 20.0, log=True),
    FloatParam("tau_gi_ms", 0.5, 50.0, log=True),
    FloatParam("refractory_ms", 0.0, 20.0),
    FloatParam("tau_pre_ms", 2.0, 100.0, log=True),
    FloatParam("tau_post_ms", 2.0, 100.0, log=True),
    FloatParam("nu_pre", 1e-6, 1e-1, log=True),
    FloatParam("nu_post", 1e-5, 1.0, log=True),
    FloatParam("x_tar", 0.0, 1.0),
    FloatParam("w_inh", 0.1, 100.0, log=True),
    FloatParam("w_norm", 0.01, 1.0, log=True),
    FloatParam("input_rate_hz", 5.0, 1000.0, log=True),
    FloatParam("presentation_ms", 50.0, 500.0),
    IntParam("epochs", 1, 5),
))  # fmt: skip
"""18 dimensions, the groups the paper searched for Diehl & Cook: neurons, threshold and its
adaptation, time constants, learning rates, inhibition / excitation strengths, input rate,
presentation time, epochs."""

_SLAYER_PARAMS: tuple[Param, ...] = _prefixed("slayer", (
    IntParam(WIDTH, 8, 512, log=True),
    IntParam(DEPTH, 1, 2),
    FloatParam("tau_s", 0.5, 10.0, log=True),
    FloatParam("tau_r", 0.5, 10.0, log=True),
    FloatParam("theta", 0.05, 20.0, log=True),
    FloatParam("weight_scale", 0.1, 20.0, log=True),
    *_surrogate_params("surrogate"),
    FloatParam("true_count", 5.0, 60.0),
    FloatParam("false_count", 0.0, 4.0),
    FloatParam("lr", 1e-5, 1e-1, log=True),
    IntParam("batch_size", 8, 128, log=True),
    IntParam("epochs", 1, 30),
    IntParam("time_steps", 2, 50),
))  # fmt: skip
"""16 dimensions of SLAYER (Parsa et al. searched its neuron, kernel, target-count, optimisation
and latency settings): SRM dense width/depth, kernel time constants, threshold, weight scale, SG,
spike-count targets (``false_count`` stays below the smallest ``true_count``), Adam, batching,
epochs, and ``time_steps``, the presented window: the inference-latency objective."""

_HYBRID_PARAMS: tuple[Param, ...] = _prefixed("hybrid", (
    IntParam(WIDTH, 16, 512, log=True),
    IntParam("ann_epochs", 1, 30),
    FloatParam("ann_lr", 1e-4, 1e-2, log=True),
    IntParam("batch_size", 16, 128, log=True),
    FloatParam("percentile", 90.0, 100.0),
    FloatParam("threshold", 0.1, 10.0, log=True),
    FloatParam("initial_potential", 0.0, 0.9),
    CategoricalParam("encoding", ENCODINGS),
    IntParam("time_steps", 1, 32),
    FloatParam("leak", 0.5, 1.0),
    IntParam("finetune_epochs", 0, 10),
    FloatParam("finetune_lr", 1e-5, 1e-2, log=True),
    *_surrogate_params("surrogate"),
))  # fmt: skip
"""16 dimensions of HYBRID: the ANN (one dense layer's width, epochs, learning rate), the conversion
(normalisation percentile, threshold, initial membrane, input encoding), the window
``time_steps`` (the inference-latency objective) and the fine-tuning (epochs, 0 = conversion only;
learning rate; leak, 1 = IF as converted; SG)."""

_PARAMS = {"sg": _SG_PARAMS, "stdp": _STDP_PARAMS, "slayer": _SLAYER_PARAMS, "hybrid": _HYBRID_PARAMS}


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
    accepted = inspect.signature(SPIKE_DATASETS[dataset]).parameters
    return [p.name for p in _PARAMS[trainer]
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
    params = {p.name: p for p in _PARAMS[trainer]}
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
    valid = [p.name for p in _PARAMS[trainer]]
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
