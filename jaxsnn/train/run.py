"""One run of ``experiments/train.py``, typed, for every algorithm: what a trial of a study is too.

``conf/train.yaml`` composes an ``algorithm``, the surrogate-gradient groups (``model``,
``surrogate``, ``trainer``, ``data``), the other algorithms' nodes (``stdp``, ``slayer``,
``hybrid``) and the model ``seed``. ``Run`` holds exactly that, as the validated config
dataclasses, so that a train.py command and an HPO trial (a base run plus the point's values at
their paths) are one object checked by one piece of code: a bad value fails in ``from_dict``,
naming the option, before any data is loaded or anything compiled.

Which data an algorithm reads: ``sg`` and ``slayer`` a spike dataset (``data.name``,
``data.time_steps``, ``data.options`` go to ``jaxsnn.data.load_dataset``); ``stdp`` and
``hybrid`` images (``data.name``, ``data.root``, ``data.seed``): the spike encoding's window and
loader options (which ``conf/data/digits.yaml`` sets for SG) mean nothing to them and are not
part of their record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from jaxsnn.train.config import DataConfig, ModelConfig, RunConfig, TrainerConfig, from_mapping
from jaxsnn.train.hybrid import HybridConfig
from jaxsnn.train.slayer import SlayerConfig
from jaxsnn.train.stdp import STDPConfig

ALGORITHMS: tuple[str, ...] = ("sg", "stdp", "slayer", "hybrid")
IMAGE_ALGORITHMS: tuple[str, ...] = ("stdp", "hybrid")
"""Algorithms that read images, not spike datasets: no window, no loader options."""


@dataclasses.dataclass(frozen=True)
class Run:
    """A composed ``conf/train.yaml`` as config objects; ``model.surrogate`` is its ``surrogate`` group."""

    algorithm: str = "sg"
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    stdp: STDPConfig = dataclasses.field(default_factory=STDPConfig)
    slayer: SlayerConfig = dataclasses.field(default_factory=SlayerConfig)
    hybrid: HybridConfig = dataclasses.field(default_factory=HybridConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {list(ALGORITHMS)}, got {self.algorithm!r}")
        if not (isinstance(self.seed, int) and not isinstance(self.seed, bool)):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> Run:
        """From a composed train.yaml, or any part of one (a study's base run): a group left out
        takes its defaults. Keys that are not part of a run (train.py's ``progress``, ...) are
        refused; ``experiments/train.py`` hands over ``run_keys(cfg)``."""
        unknown = sorted(set(cfg) - set(_GROUPS))
        if unknown:
            raise ValueError(f"unknown run config key(s) {unknown}; valid: {list(_GROUPS)}")
        model = {**(cfg.get("model") or {}), **({"surrogate": cfg["surrogate"]} if cfg.get("surrogate") else {})}
        return cls(
            algorithm=cfg.get("algorithm", "sg"),
            model=ModelConfig.from_dict(model),
            trainer=TrainerConfig.from_dict(cfg.get("trainer") or {}),
            data=DataConfig.from_dict(cfg.get("data") or {}),
            stdp=from_mapping(STDPConfig, cfg.get("stdp") or {}, "stdp", {}),
            slayer=SlayerConfig.from_dict(cfg.get("slayer") or {}),
            hybrid=HybridConfig.from_dict(cfg.get("hybrid") or {}),
            seed=cfg.get("seed", 0),
        )

    def configs(self) -> dict[str, Any]:
        """The configs by the first part of a run-config path (``surrogate`` for ``model.surrogate``)."""
        return {"model": self.model, "surrogate": self.model.surrogate, "trainer": self.trainer, "data": self.data,
                "stdp": self.stdp, "slayer": self.slayer, "hybrid": self.hybrid}  # fmt: skip

    def with_configs(self, configs: Mapping[str, Any]) -> Run:
        """This run with ``configs`` (as ``configs()`` names them) in place of its own."""
        model = dataclasses.replace(configs.get("model", self.model),
                                    surrogate=configs.get("surrogate", self.model.surrogate))  # fmt: skip
        fields = {name: value for name, value in configs.items() if name not in ("model", "surrogate")}
        return dataclasses.replace(self, model=model, **fields)

    def sg(self) -> RunConfig:
        """The surrogate-gradient trainer's part of the run."""
        return RunConfig(self.model, self.trainer, self.data, self.seed)

    def to_dict(self) -> dict[str, Any]:
        """The run as plain values in train.yaml's shape: what a record keeps of how it was trained.
        Only the algorithm's own configs are written (an STDP run has no use for ``trainer``)."""
        data = dataclasses.asdict(self.data)
        if self.algorithm in IMAGE_ALGORITHMS:
            data = {key: data[key] for key in ("name", "root", "seed")}
        out: dict[str, Any] = {"algorithm": self.algorithm, "data": data, "seed": self.seed}
        if self.algorithm == "sg":
            model = dataclasses.asdict(self.model)
            out.update(model=model, surrogate=model.pop("surrogate"), trainer=dataclasses.asdict(self.trainer))
        else:
            out[self.algorithm] = dataclasses.asdict(getattr(self, self.algorithm))
        return out


_GROUPS: tuple[str, ...] = ("surrogate", *(field.name for field in dataclasses.fields(Run)))
"""The keys of a run in train.yaml: ``Run``'s fields, and its model's surrogate as a group of its own."""


def run_keys(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a composed entry-point config (train.yaml and the configs that extend it) that
    is the run: its groups, nodes and seed, without the entry point's own keys."""
    return {key: cfg[key] for key in _GROUPS if key in cfg}
