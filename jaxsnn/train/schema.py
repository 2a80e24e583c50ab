"""Hydra ConfigStore schemas mirrored from the dataclasses of ``jaxsnn.train.config``.

Hydra composes YAML; without a schema a typo (``trainer.lrr``) or a wrong type
(``trainer.epochs=ten``) reaches the training code, or is silently ignored. The schemas here are
*derived* from ``ModelConfig``, ``TrainerConfig``, ``DataConfig`` and ``Surrogate`` (field names,
defaults, types) so they cannot drift from them: unknown keys and wrong types fail while
composing. Value checks (``lr > 0``, known surrogate shape, ...) stay where they live, in the
dataclasses' ``__post_init__``; ``run_config`` runs them right after composition, before any data
is loaded or anything compiled. (Choice strings stay ``str``, not enums, so that configs composed
without this module keep plain values.)

Each primary config puts its schema first in its defaults list (``- optional schema: train``).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import functools
import types
import typing
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from jaxsnn.core import Surrogate
from jaxsnn.train.config import DataConfig, ModelConfig, RunConfig, TrainerConfig
from jaxsnn.train.hybrid import HybridConfig
from jaxsnn.train.run import Run, run_keys
from jaxsnn.train.slayer import SlayerConfig
from jaxsnn.train.stdp import STDPConfig

_ARRAY_LIKE = typing.get_type_hints(Surrogate)["gamma"]  # jax ArrayLike: a float in a config


def _module_level(kind: type) -> type:
    """Make a generated class importable from this module under its name: the joblib and
    submitit launchers pickle the composed config, and pickle finds classes by module and name."""
    kind.__module__ = __name__
    kind.__qualname__ = kind.__name__
    globals()[kind.__name__] = kind
    return kind


def _omega_type(hint: Any) -> tuple[Any, Any]:
    """An OmegaConf-supported type for ``hint`` and how to convert a default to it.

    Tuples become lists, mappings ``Dict[str, Any]``, nested dataclasses their schemas, JAX
    ``ArrayLike`` scalars ``float``.
    """
    if hint == _ARRAY_LIKE:
        return float, float
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        inner_type, convert = _omega_type(inner)
        return Optional[inner_type], lambda v: None if v is None else convert(v)
    if origin is tuple:
        item_type, convert = _omega_type(args[0])
        return List[item_type], lambda v: [convert(x) for x in v]
    if origin in (collections.abc.Mapping, dict):
        return Dict[str, Any], dict
    if dataclasses.is_dataclass(hint):
        nested = schema_of(hint)
        names = [f.name for f in dataclasses.fields(nested)]
        return nested, lambda v: nested(**{name: getattr(v, name) for name in names})
    return hint, lambda v: v


@functools.cache  # one schema class per dataclass: a nested Surrogate is SurrogateSchema everywhere
def schema_of(cls: type, exclude: tuple[str, ...] = ()) -> type:
    """``<cls>Schema``: a dataclass with ``cls``'s fields (minus ``exclude``), OmegaConf-typed."""
    hints = typing.get_type_hints(cls)
    fields = []
    for field in dataclasses.fields(cls):
        if field.name in exclude:
            continue
        kind, convert = _omega_type(hints[field.name])
        if field.default is not dataclasses.MISSING:
            value = convert(field.default)
            spec = dataclasses.field(default_factory=lambda value=value: value)
        elif field.default_factory is not dataclasses.MISSING:
            make = field.default_factory
            spec = dataclasses.field(default_factory=lambda make=make, c=convert: c(make()))
        else:
            spec = dataclasses.field(default=MISSING)
        fields.append((field.name, kind, spec))
    return _module_level(dataclasses.make_dataclass(f"{cls.__name__}Schema", fields))


ModelConfigSchema = schema_of(ModelConfig, exclude=("surrogate",))  # surrogate: its own group
SurrogateSchema = schema_of(Surrogate)
TrainerConfigSchema = schema_of(TrainerConfig)
DataConfigSchema = schema_of(DataConfig)
STDPConfigSchema = schema_of(STDPConfig)
SlayerConfigSchema = schema_of(SlayerConfig)
HybridConfigSchema = schema_of(HybridConfig)


class Algorithm(enum.Enum):
    """What ``experiments/train.py`` trains: the trainers of an HPO trial (evaluate()'s ``trainer``)."""

    sg = "sg"  # BPTT with surrogate gradients: groups model, surrogate, trainer, data
    stdp = "stdp"  # Diehl & Cook STDP: node stdp; images data.name, data.root, data.seed
    slayer = "slayer"  # SLAYER SRM: node slayer; spike data as sg
    hybrid = "hybrid"  # ANN -> SNN conversion + SG fine-tuning: node hybrid; images as stdp


@dataclasses.dataclass
class TrainSchema:
    """``conf/train.yaml``: the four groups plus the entry point's own keys, and the configs of
    the other algorithms (``algorithm=stdp stdp.n_neurons=50``), checked like the groups."""

    algorithm: Algorithm = Algorithm.sg
    stdp: STDPConfigSchema = dataclasses.field(default_factory=STDPConfigSchema)
    slayer: SlayerConfigSchema = dataclasses.field(default_factory=SlayerConfigSchema)
    hybrid: HybridConfigSchema = dataclasses.field(default_factory=HybridConfigSchema)
    model: ModelConfigSchema = dataclasses.field(default_factory=ModelConfigSchema)
    surrogate: SurrogateSchema = dataclasses.field(default_factory=SurrogateSchema)
    trainer: TrainerConfigSchema = dataclasses.field(default_factory=TrainerConfigSchema)
    data: DataConfigSchema = dataclasses.field(default_factory=DataConfigSchema)
    task_name: str = "train"
    seed: int = 0
    progress: bool = True
    record_file: str = "record.json"


class Init(enum.Enum):
    """How the recurrent layer and the surrogate are chosen before training."""

    stable = "stable"  # conditions I-IV (jaxsnn.stability.stable_init)
    default = "default"  # the model config's own rec_mean / rec_std and the surrogate group


@dataclasses.dataclass
class StabilitySweepSchema(TrainSchema):
    """``conf/stability_sweep.yaml``: one training per job, stable or default initialisation."""

    init: Init = Init.stable
    sparsity: bool = True  # annealed sparsity loss on (trainer.sparsity) or off (weight 0)
    sample_size: int = 256  # training samples the stability conditions are measured on


class Size(enum.Enum):
    small = "small"  # seconds to a minute: tests and smoke runs
    full = "full"  # the paper-like grid: minutes


@dataclasses.dataclass
class ReproduceSchema(TrainSchema):
    """``conf/reproduce.yaml``: an ``experiment=`` preset names its study and grids per size."""

    study: str = MISSING
    size: Size = Size.small
    results_dir: Optional[str] = None  # null: the Hydra run directory
    grid: Dict[str, Any] = dataclasses.field(default_factory=dict)  # {small: {...}, full: {...}}
    progress: bool = False


SCHEMAS: dict[str, type] = {
    "train": TrainSchema,
    "stability_sweep": StabilitySweepSchema,
    "reproduce": ReproduceSchema,
}


def register() -> None:
    """Store the primary-config schemas as group ``schema`` (package ``_global_``); idempotent.

    Primary configs list them as ``- optional schema: <name>``: an entry point registers them
    first and gets the checks, while code that composes ``conf/`` without importing this module
    (plain ``hydra.compose``) still composes, unchecked.
    """
    store = ConfigStore.instance()
    for name, schema in SCHEMAS.items():
        store.store(group="schema", name=name, node=schema, package="_global_")


def plain(cfg: DictConfig) -> dict[str, Any]:
    """The composed config as plain Python values (enums as their strings)."""
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)


def run_config(cfg: DictConfig) -> RunConfig:
    """Validate a composed config into the SG trainer's ``RunConfig``: every range check, before any
    compute, by the code that checks every run (``Run.from_dict``: train.py's and a study's trials)."""
    return Run.from_dict(run_keys(plain(cfg))).sg()
