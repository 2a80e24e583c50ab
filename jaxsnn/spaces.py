"""Search spaces of both trainers, and the map from a flat params dict to trainer configs.

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
from collections.abc import Mapping
from typing import Any

from jaxsnn.core import SHAPES, Surrogate
from jaxsnn.hpo.space import CategoricalParam, Condition, FloatParam, IntParam, Param, Space
from jaxsnn.nn.neuron import LIFSpec
from jaxsnn.train.config import DataConfig, ModelConfig, TrainerConfig
from jaxsnn.train.stdp import STDPConfig

TRAINERS: tuple[str, ...] = ("sg", "stdp")

_SG_PARAMS: tuple[Param, ...] = (
    IntParam("n_hidden", 8, 512, log=True),
    IntParam("n_layers", 1, 3),
    CategoricalParam("recurrent", (False, True)),
    FloatParam("alpha", 0.3, 0.99),
    FloatParam("theta", 0.05, 20.0, log=True),
    CategoricalParam("reset", ("subtract", "zero")),
    CategoricalParam("readout", ("max_membrane", "mean_membrane", "spike_count")),
    FloatParam("weight_scale", 0.05, 5.0, log=True),
    CategoricalParam("sg_shape", SHAPES),
    FloatParam("sg_gamma", 0.1, 2.0),
    FloatParam("sg_beta", 0.1, 10.0, log=True),
    FloatParam("sg_q", 1.1, 20.0, log=True, condition=Condition("sg_shape", ("q_pseudo_spike",))),
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

_PARAMS = {"sg": _SG_PARAMS, "stdp": _STDP_PARAMS}


def _check_trainer(trainer: str) -> None:
    if trainer not in TRAINERS:
        raise ValueError(f"unknown trainer {trainer!r}; valid trainers: {', '.join(TRAINERS)}")


def search_space(trainer: str, **bounds: tuple[float, float]) -> Space:
    """The wide space of ``trainer``; ``bounds`` narrow numeric ranges by name, e.g.
    ``search_space("sg", epochs=(1, 2))`` for a cheap study that keeps every other range wide."""
    _check_trainer(trainer)
    params = {p.name: p for p in _PARAMS[trainer]}
    unknown = sorted(set(bounds) - set(params))
    if unknown:
        raise ValueError(f"cannot narrow unknown {trainer} parameter(s) {unknown}; valid: {sorted(params)}")
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


def sg_run(params: Mapping[str, Any], *, backend: str = "auto") -> SGRun:
    """Configs of one SG run from a (possibly partial) flat point; bad values raise ValueError."""
    _check_names("sg", params)
    model, trainer, surrogate = ModelConfig(), TrainerConfig(), Surrogate()
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
            surrogate=Surrogate(
                get("sg_shape", surrogate.shape),
                gamma=get("sg_gamma", surrogate.gamma),
                beta=get("sg_beta", surrogate.beta),
                q=get("sg_q", surrogate.q),
            ),
        ),
        trainer=TrainerConfig(
            epochs=get("epochs", trainer.epochs),
            batch_size=get("batch_size", trainer.batch_size),
            lr=get("lr", trainer.lr),
        ),
        time_steps=get("time_steps", DataConfig().time_steps),
        data_options={"max_rate": params["input_rate"]} if "input_rate" in params else {},
    )


def stdp_config(params: Mapping[str, Any], **fixed: Any) -> STDPConfig:
    """``STDPConfig`` of a (possibly partial) flat point; ``fixed`` sets non-searched fields
    such as ``dt_ms`` or ``chunk``; bad values raise ValueError naming them."""
    _check_names("stdp", params)
    return STDPConfig(**{**fixed, **params})
