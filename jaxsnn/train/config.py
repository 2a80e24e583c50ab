"""Typed, validated configurations of one training run: model, trainer and data.

Hydra hands over plain mappings; ``*.from_dict`` turns them into frozen dataclasses and every bad
value fails here, before any data is loaded or anything compiled, with a message naming the
option. The dataclasses are plain (no Hydra types) so that a ConfigStore schema can mirror them.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping, Sequence, TypeVar

from flax import nnx

from jaxsnn.core import Surrogate
from jaxsnn.data import DataSplits, load_dataset
from jaxsnn.nn import READOUTS, ConvSpec, LIFSpec, SpikingClassifier
from jaxsnn.train.sparsity import SparsitySchedule

OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd")
SCHEDULES: tuple[str, ...] = ("constant", "cosine")

_C = TypeVar("_C")


def from_mapping(
    cls: Callable[..., _C],
    mapping: Mapping[str, Any],
    what: str,
    nested: Mapping[str, Callable[[Any], Any]],
) -> _C:
    """Build dataclass ``cls`` from ``mapping``, converting ``nested`` fields; name unknown keys."""
    valid = [field.name for field in dataclasses.fields(cls)]
    unknown = sorted(set(mapping) - set(valid))
    if unknown:
        raise ValueError(f"unknown {what} option(s) {unknown}; valid: {valid}")
    values = dict(mapping)
    for key, convert in nested.items():
        if key in values and values[key] is not None:
            values[key] = convert(values[key])
    return cls(**values)


def require_positive(owner: str, cfg: Any, *, ints: Sequence[str] = (), numbers: Sequence[str] = ()) -> None:
    """Fail naming ``owner.<field>`` when an ``ints`` field (an int, or a tuple of ints) holds
    anything but positive integers, or a ``numbers`` field is not a finite number > 0."""
    for name in ints:
        value = getattr(cfg, name)
        values = value if isinstance(value, tuple) else (value,)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
            raise ValueError(f"{owner}.{name} must be positive integers, got {value!r}")
    for name in numbers:
        value = getattr(cfg, name)
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0):
            raise ValueError(f"{owner}.{name} must be a finite number > 0, got {value!r}")


def require_matching_kernels(owner: str, channels: tuple[int, ...], kernels: tuple[int, ...]) -> None:
    if len(kernels) != len(channels):
        raise ValueError(
            f"{owner}.conv_kernels {list(kernels)} must give one kernel size per conv layer "
            f"({owner}.conv_channels {list(channels)})"
        )


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """A ``SpikingClassifier``: conv stack (frames only), hidden LIF sizes, readout, neurons, SG."""

    hidden: tuple[int, ...] = (128,)
    recurrent: bool = False
    conv: tuple[ConvSpec, ...] = ()
    readout: str = "max_membrane"
    readout_alpha: float = 0.9
    weight_scale: float = 1.0
    rec_mean: float = 0.0
    rec_std: float | None = None
    neuron: LIFSpec = LIFSpec()
    surrogate: Surrogate = Surrogate()

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))
        object.__setattr__(self, "conv", tuple(self.conv))
        _require(
            all(_is_int(n) and n > 0 for n in self.hidden),
            f"model.hidden must be positive integer layer sizes, got {list(self.hidden)}",
        )
        _require(
            self.readout in READOUTS,
            f"unknown model.readout {self.readout!r}; valid readouts: {', '.join(READOUTS)}",
        )
        _require(
            self.readout == "spike_count" or bool(self.hidden or self.conv),
            f"model.readout={self.readout} needs at least one hidden or conv layer",
        )
        _require(
            _is_number(self.readout_alpha) and 0.0 <= self.readout_alpha <= 1.0,
            f"model.readout_alpha must lie in [0, 1], got {self.readout_alpha}",
        )
        _require(
            _is_number(self.weight_scale) and self.weight_scale > 0,
            f"model.weight_scale must be > 0, got {self.weight_scale}",
        )
        _require(_is_number(self.rec_mean), f"model.rec_mean must be a number, got {self.rec_mean}")
        _require(
            self.rec_std is None or (_is_number(self.rec_std) and self.rec_std >= 0),
            f"model.rec_std must be >= 0 or null (1/sqrt(n)), got {self.rec_std}",
        )

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> ModelConfig:
        return from_mapping(
            cls,
            mapping,
            "model",
            {
                "conv": lambda specs: tuple(
                    from_mapping(ConvSpec, s, "model.conv", {}) for s in specs
                ),
                "neuron": lambda spec: from_mapping(LIFSpec, spec, "model.neuron", {}),
                "surrogate": lambda spec: from_mapping(Surrogate, spec, "surrogate", {}),
            },
        )

    def build(
        self, input_shape: tuple[int, ...], n_classes: int, *, seed: int
    ) -> SpikingClassifier:
        """The network for inputs of per-step shape ``input_shape``, initialised from ``seed``."""
        return SpikingClassifier(
            input_shape,
            n_classes,
            hidden=self.hidden,
            recurrent=self.recurrent,
            conv=self.conv,
            readout=self.readout,
            readout_alpha=self.readout_alpha,
            neuron=self.neuron,
            surrogate=self.surrogate,
            weight_scale=self.weight_scale,
            rec_mean=self.rec_mean,
            rec_std=self.rec_std,
            rngs=nnx.Rngs(seed),
        )


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    """BPTT training: optimiser, learning-rate schedule, sparsity loss, batching, evaluation.

    ``lr`` is the peak learning rate; ``schedule`` shapes it (``cosine`` decays to 0 by the last
    step) after ``warmup_epochs`` of linear warm-up. ``grad_clip`` clips the global gradient norm.
    The shuffle order comes from ``shuffle_seed``, not the model seed, so that the members of a
    seed sweep see the same batches. The test set is evaluated every ``eval_every`` epochs and
    always after the last one.

    ``xla_optimizations=False`` compiles the train and test steps without XLA's optimisation
    passes (LLVM at -O0, as ``jax_disable_most_optimizations`` does, for these programs only):
    a new network shape compiles about twice as fast and then runs 1.4-1.7x slower. That is the
    trade for a study of short trials, where compilation is most of a trial (issue 17; measured in
    benchmarks/RESULTS.md, "Trial throughput"), not for a long training run. Unoptimised programs
    round differently, so the setting is part of the run: a record retrains exactly only with it
    (the programs then use XLA's classic CPU emitters whatever ``XLA_FLAGS`` says, see
    ``jaxsnn.train.sg.UNOPTIMIZED``).
    """

    epochs: int = 10
    batch_size: int = 64
    eval_batch_size: int = 256
    optimizer: str = "adam"
    lr: float = 2e-3
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    grad_clip: float | None = None
    sparsity: SparsitySchedule = SparsitySchedule()
    shuffle_seed: int = 0
    eval_every: int = 1
    xla_optimizations: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size", "eval_every"):
            value = getattr(self, name)
            _require(
                _is_int(value) and value > 0,
                f"trainer.{name} must be a positive integer, got {value!r}",
            )
        _require(
            isinstance(self.xla_optimizations, bool),
            f"trainer.xla_optimizations must be true or false, got {self.xla_optimizations!r}",
        )
        _require(
            _is_int(self.shuffle_seed),
            f"trainer.shuffle_seed must be an integer, got {self.shuffle_seed!r}",
        )
        _require(
            self.optimizer in OPTIMIZERS,
            f"unknown trainer.optimizer {self.optimizer!r}; valid: {', '.join(OPTIMIZERS)}",
        )
        _require(
            self.schedule in SCHEDULES,
            f"unknown trainer.schedule {self.schedule!r}; valid: {', '.join(SCHEDULES)}",
        )
        _require(_is_number(self.lr) and self.lr > 0, f"trainer.lr must be > 0, got {self.lr!r}")
        _require(
            _is_number(self.weight_decay) and self.weight_decay >= 0,
            f"trainer.weight_decay must be >= 0, got {self.weight_decay!r}",
        )
        _require(
            self.weight_decay == 0 or self.optimizer == "adamw",
            f"trainer.weight_decay={self.weight_decay} needs optimizer=adamw (decoupled decay)",
        )
        _require(
            _is_number(self.warmup_epochs) and 0 <= self.warmup_epochs < self.epochs,
            f"trainer.warmup_epochs must lie in [0, epochs={self.epochs}), "
            f"got {self.warmup_epochs!r}",
        )
        _require(
            self.grad_clip is None or (_is_number(self.grad_clip) and self.grad_clip > 0),
            f"trainer.grad_clip must be > 0 or null, got {self.grad_clip!r}",
        )

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> TrainerConfig:
        return from_mapping(
            cls,
            mapping,
            "trainer",
            {"sparsity": lambda spec: from_mapping(SparsitySchedule, spec, "trainer.sparsity", {})},
        )


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Arguments of ``jaxsnn.data.load_dataset``; ``options`` go to the dataset's loader."""

    name: str = "digits"
    time_steps: int = 25
    seed: int = 0
    root: str | None = None
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        _require(
            _is_int(self.time_steps) and self.time_steps > 0,
            f"data.time_steps must be a positive integer, got {self.time_steps!r}",
        )
        _require(_is_int(self.seed), f"data.seed must be an integer, got {self.seed!r}")

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> DataConfig:
        return from_mapping(cls, mapping, "data", {"options": dict})

    def load(self) -> DataSplits:
        return load_dataset(
            self.name, time_steps=self.time_steps, seed=self.seed, root=self.root, **self.options
        )


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything one surrogate-gradient run needs: model (with its surrogate), trainer, data, model
    seed; ``jaxsnn.train.run.Run.sg`` of a composed config (``jaxsnn.train.schema.run_config``)."""

    model: ModelConfig
    trainer: TrainerConfig
    data: DataConfig
    seed: int = 0
