"""Search spaces of every trainer, and the map from a flat params dict to trainer configs.

The spaces are deliberately *wide*, as in Firmin et al.: thresholds far above any reachable
voltage, vanishing weights or input rates, tiny learning rates. Whole regions of them are silent
networks. Instead of carving those regions out by hand (and missing good configurations at their
border), the silent-network detector stops such runs early and the optimizer learns the silent
boundary from the ``silent`` constraint.

A point of a space is a flat ``{name: value}`` dict, what optimizers propose and records store.
Names a point leaves out take the trainer's default, so hand-written configs may be partial.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from jaxsnn.core import SHAPES, Surrogate
from jaxsnn.data import SPIKE_DATASETS
from jaxsnn.hpo.space import CategoricalParam, Condition, FloatParam, IntParam, Param, Space
from jaxsnn.nn.conversion import ENCODINGS
from jaxsnn.nn.neuron import LIFSpec
from jaxsnn.train.config import DataConfig, ModelConfig, TrainerConfig
from jaxsnn.train.hybrid import HybridConfig
from jaxsnn.train.slayer import SlayerConfig
from jaxsnn.train.stdp import STDPConfig

TRAINERS: tuple[str, ...] = ("sg", "stdp", "slayer", "hybrid")
_Config = TypeVar("_Config")

_SURROGATE_PARAMS: tuple[Param, ...] = (
    CategoricalParam("sg_shape", SHAPES),
    FloatParam("sg_gamma", 0.1, 2.0),
    FloatParam("sg_beta", 0.1, 10.0, log=True),
    FloatParam("sg_q", 1.1, 20.0, log=True, condition=Condition("sg_shape", ("q_pseudo_spike",))),
)
"""The surrogate gradient of every BPTT-trained network: shape, peak, sharpness, tail."""

_SG_PARAMS: tuple[Param, ...] = (
    IntParam("n_hidden", 8, 512, log=True),
    IntParam("n_layers", 1, 3),
    CategoricalParam("recurrent", (False, True)),
    FloatParam("alpha", 0.3, 0.99),
    FloatParam("theta", 0.05, 20.0, log=True),
    CategoricalParam("reset", ("subtract", "zero")),
    CategoricalParam("readout", ("max_membrane", "mean_membrane", "spike_count")),
    FloatParam("weight_scale", 0.05, 5.0, log=True),
    *_SURROGATE_PARAMS,
    FloatParam("lr", 1e-5, 1e-1, log=True),
    IntParam("batch_size", 16, 256, log=True),
    IntParam("epochs", 1, 20),
    IntParam("time_steps", 10, 100),
    FloatParam("input_rate", 0.01, 1.0, log=True),
)
"""17 dimensions: architecture, LIF neuron, SG shape/gamma/beta/q, optimisation, encoding.
``input_rate`` is the rate code's spikes per step at full intensity (rate-coded datasets only)."""

_STDP_PARAMS: tuple[Param, ...] = (
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
)
"""18 dimensions, the groups the paper searched for Diehl & Cook: neurons, threshold and its
adaptation, time constants, learning rates, inhibition / excitation strengths, input rate,
presentation time, epochs."""

_SLAYER_PARAMS: tuple[Param, ...] = (
    IntParam("n_hidden", 8, 512, log=True),
    IntParam("n_layers", 1, 2),
    FloatParam("tau_s", 0.5, 10.0, log=True),
    FloatParam("tau_r", 0.5, 10.0, log=True),
    FloatParam("theta", 0.05, 20.0, log=True),
    FloatParam("weight_scale", 0.1, 20.0, log=True),
    *_SURROGATE_PARAMS,
    FloatParam("true_count", 5.0, 60.0),
    FloatParam("false_count", 0.0, 4.0),
    FloatParam("lr", 1e-5, 1e-1, log=True),
    IntParam("batch_size", 8, 128, log=True),
    IntParam("epochs", 1, 30),
    IntParam("time_steps", 2, 50),
)
"""16 dimensions of SLAYER (Parsa et al. searched its neuron, kernel, target-count, optimisation
and latency settings): SRM dense width/depth, kernel time constants, threshold, weight scale, SG,
spike-count targets (``false_count`` stays below the smallest ``true_count``), Adam, batching,
epochs, and ``time_steps``, the presented window: the inference-latency objective."""

_HYBRID_PARAMS: tuple[Param, ...] = (
    IntParam("n_hidden", 16, 512, log=True),
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
    *_SURROGATE_PARAMS,
)
"""16 dimensions of HYBRID: the ANN (dense width, epochs, learning rate), the conversion
(normalisation percentile, threshold, initial membrane, input encoding), the window
``time_steps`` (the inference-latency objective) and the fine-tuning (epochs, 0 = conversion only;
learning rate; leak, 1 = IF as converted; SG)."""

_DATA_OPTIONS: dict[str, str] = {"input_rate": "max_rate"}
"""Searched parameters that are options of the dataset's loader (``input_rate`` sets the rate
code's ``max_rate``): they mean something only for datasets whose loader takes that option."""

_PARAMS = {"sg": _SG_PARAMS, "stdp": _STDP_PARAMS, "slayer": _SLAYER_PARAMS, "hybrid": _HYBRID_PARAMS}


def _check_trainer(trainer: str) -> None:
    if trainer not in TRAINERS:
        raise ValueError(f"unknown trainer {trainer!r}; valid trainers: {', '.join(TRAINERS)}")


def inapplicable(trainer: str, dataset: str) -> list[str]:
    """The parameters of ``trainer``'s space that ``dataset`` has no use for, in space order.

    ``input_rate`` sets the rate code's ``max_rate``: event datasets (SHD, N-MNIST, DVS Gesture)
    are spikes already and Randman is spike-time data, so their loaders take no such option and
    every trial searching it would fail. A study leaves such parameters out instead.
    """
    _check_trainer(trainer)
    if dataset not in SPIKE_DATASETS:
        return []
    accepted = inspect.signature(SPIKE_DATASETS[dataset]).parameters
    return [p.name for p in _PARAMS[trainer] if p.name in _DATA_OPTIONS and _DATA_OPTIONS[p.name] not in accepted]


def search_space(trainer: str, exclude: Sequence[str] = (), **bounds: tuple[float, float]) -> Space:
    """The wide space of ``trainer``; ``bounds`` narrow numeric ranges by name, e.g.
    ``search_space("sg", epochs=(1, 2))`` for a cheap study that keeps every other range wide.

    ``exclude`` leaves parameters out of the search (they take the trainer's default), which is
    how a study of a few dozen trials keeps a GP's dimension small. A parameter conditional on an
    excluded one must be excluded too: it could never be switched on.
    """
    _check_trainer(trainer)
    params = {p.name: p for p in _PARAMS[trainer]}
    unknown = sorted((set(bounds) | set(exclude)) - set(params))
    if unknown:
        raise ValueError(f"cannot narrow or exclude unknown {trainer} parameter(s) {unknown}; valid: {sorted(params)}")
    orphans = sorted(p.name for p in params.values() if p.condition and p.condition.parent in exclude
                     and p.name not in exclude)  # fmt: skip
    if orphans:
        raise ValueError(f"{orphans} depend on an excluded parameter: exclude them too")
    both = sorted(set(bounds) & set(exclude))
    if both:
        raise ValueError(f"{both} both narrowed and excluded")
    for name in exclude:
        del params[name]
    for name, (low, high) in bounds.items():
        if isinstance(params[name], CategoricalParam):
            raise ValueError(f"{name} is categorical: it has choices, not bounds")
        params[name] = dataclasses.replace(params[name], low=low, high=high)
    return Space(list(params.values()))


@dataclasses.dataclass(frozen=True)
class SGRun:
    """What a flat SG point becomes: the model and trainer configs and the data options."""

    model: ModelConfig
    trainer: TrainerConfig
    time_steps: int
    data_options: dict[str, Any]


def _check_names(trainer: str, params: Mapping[str, Any]) -> None:
    if not isinstance(params, Mapping):
        raise ValueError(f"params must be a dict, got {type(params).__name__}")
    valid = {p.name for p in _PARAMS[trainer]}
    unknown = sorted(set(params) - valid)
    if unknown:
        raise ValueError(f"unknown {trainer} hyperparameter(s) {unknown}; valid: {sorted(valid)}")


def _surrogate(params: Mapping[str, Any], default: Surrogate) -> Surrogate:
    """The surrogate of the ``sg_*`` entries of a flat point; missing ones take ``default``'s."""
    return Surrogate(
        params.get("sg_shape", default.shape),
        gamma=params.get("sg_gamma", default.gamma),
        beta=params.get("sg_beta", default.beta),
        q=params.get("sg_q", default.q),
    )


def sg_run(params: Mapping[str, Any], *, backend: str = "auto", xla_optimizations: bool = True) -> SGRun:
    """Configs of one SG run from a (possibly partial) flat point; bad values raise ValueError.
    ``backend`` and ``xla_optimizations`` are the study's, not searched."""
    _check_names("sg", params)
    model, trainer = ModelConfig(), TrainerConfig()
    get = params.get
    n_layers = get("n_layers", len(model.hidden))
    neuron = LIFSpec(
        alpha=get("alpha", model.neuron.alpha),
        theta=get("theta", model.neuron.theta),
        reset=get("reset", model.neuron.reset),
        backend=backend,
    )
    return SGRun(
        model=ModelConfig(
            hidden=(get("n_hidden", model.hidden[0]),) * n_layers,
            recurrent=get("recurrent", model.recurrent),
            readout=get("readout", model.readout),
            weight_scale=get("weight_scale", model.weight_scale),
            neuron=neuron,
            surrogate=_surrogate(params, Surrogate()),
        ),
        trainer=TrainerConfig(
            epochs=get("epochs", trainer.epochs),
            batch_size=get("batch_size", trainer.batch_size),
            lr=get("lr", trainer.lr),
            xla_optimizations=xla_optimizations,
        ),
        time_steps=get("time_steps", DataConfig().time_steps),
        data_options={option: params[name] for name, option in _DATA_OPTIONS.items() if name in params},
    )


def _fixed_config(
    trainer: str,
    build: Callable[[Mapping[str, Any]], _Config],
    params: Mapping[str, Any],
    fixed: Mapping[str, Any],
    derived: Mapping[str, Any],
) -> _Config:
    """``build(fixed)`` with the point's own-named fields and its ``derived`` ones replaced.

    A field both searched and fixed is a config mistake: which one wins would be a silent guess.
    """
    _check_names(trainer, params)
    clash = sorted(set(fixed) & (set(params) | set(derived)))
    if clash:
        raise ValueError(f"{clash} given both as searched {trainer} params and as fixed {trainer} options")
    base = build(fixed)
    fields = {f.name for f in dataclasses.fields(base)}
    own = {k: v for k, v in params.items() if k in fields}
    return dataclasses.replace(base, **own, **derived)


def stdp_config(params: Mapping[str, Any], **fixed: Any) -> STDPConfig:
    """``STDPConfig`` of a (possibly partial) flat point; ``fixed`` sets non-searched fields
    such as ``dt_ms`` or ``chunk``; bad values raise ValueError naming them."""
    return _fixed_config("stdp", lambda options: STDPConfig(**options), params, fixed, {})


def slayer_config(params: Mapping[str, Any], **fixed: Any) -> SlayerConfig:
    """``SlayerConfig`` of a (possibly partial) flat point; ``fixed`` sets non-searched fields
    (e.g. the conv layers of a DVS network). ``n_hidden`` x ``n_layers`` become ``hidden``."""
    default = SlayerConfig()
    derived: dict[str, Any] = {}
    if "n_hidden" in params or "n_layers" in params:
        width = params.get("n_hidden", default.hidden[0])
        derived["hidden"] = (width,) * params.get("n_layers", len(default.hidden))
    if any(name.startswith("sg_") for name in params):
        derived["surrogate"] = _surrogate(params, default.surrogate)
    return _fixed_config("slayer", SlayerConfig.from_dict, params, fixed, derived)


def hybrid_config(params: Mapping[str, Any], **fixed: Any) -> HybridConfig:
    """``HybridConfig`` of a (possibly partial) flat point; ``fixed`` sets non-searched fields
    (e.g. conv layers, ``backend``). ``n_hidden`` becomes the one dense layer ``hidden``."""
    derived: dict[str, Any] = {}
    if "n_hidden" in params:
        derived["hidden"] = (params["n_hidden"],)
    if any(name.startswith("sg_") for name in params):
        derived["surrogate"] = _surrogate(params, HybridConfig().surrogate)
    return _fixed_config("hybrid", HybridConfig.from_dict, params, fixed, derived)
