"""The one function the optimizer calls: a trial config in, one ``EvaluationRecord`` out.

``evaluate`` splits errors in two. A malformed *config* (unknown keys or hyperparameters, wrong
types, values a config class rejects) is the caller's bug: it raises ``ValueError`` at once,
before any data is loaded or anything compiled. Everything that goes wrong *while running* a
trial (an exception, a NaN, the time budget) is a property of that point of the search space:
it becomes a ``failed`` record with the reason, and the study goes on.

Config keys (only ``trainer`` is required)::

    trainer        "sg" | "stdp" | "slayer" | "hybrid"
    params         a point of ``jaxsnn.tuning.spaces.search_space(trainer)``: run-config paths
                   (``model.neuron.theta``, ``trainer.lr``, ``stdp.tau_mem_ms``) and their values;
                   missing paths take the trainer's defaults
    dataset        sg, slayer: a spike dataset of ``jaxsnn.data.load_dataset`` (default "digits");
                   stdp: "digits", "cifar10" (``load_images``) or "mnist" (IDX files in data_root);
                   hybrid: "digits" or "cifar10" (``load_images``)
    data_root      folder of file-based datasets
    data_options   sg, slayer: extra options of the spike dataset's loader, e.g. {"size": 32}
                   to downsample DVS Gesture frames
    data_seed      split / encoding seed (default 0)
    data_time_steps  slayer: steps of the loaded samples (default 50); the searched
                   ``time_steps`` presents their first steps, so a shorter window is lower latency
                   on the same data
    seed           model initialisation seed (default 0)
    silent         detector settings {"k", "p", "update_interval"[, "window", "grace"]}, a preset name of
                   ``jaxsnn.train.silent.PRESETS``, or None to disable; default: the paper's
                   preset for the trainer ("mnist_stdp" for stdp, "dvs_slayer" for the others)
    activity       None (default) or {"max_rate", "update_interval", "layer"} for ActivityGuard
    time_budget_s  None (default) or seconds: training stops at the first batch boundary past
                   the budget and the trial is recorded as failed ("time budget exceeded")
    stdp, slayer, hybrid  non-searched fields of that trainer's config, e.g. stdp: {"dt_ms": 0.5},
                   slayer: {"conv_channels": [16, 32], "conv_kernels": [5, 3], "input_pool": 4}
    backend        LIF backend of the sg and hybrid trainers (default "auto")
    xla_optimizations  sg: compile the train step with XLA's optimisations (default True); False
                   compiles each new shape about twice as fast and trains 1.4-1.7x slower, the
                   trade for studies of short trials (``TrainerConfig.xla_optimizations``)
    progress       show a progress bar (sg and stdp; default False)
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import numpy as np

from jaxsnn.compile_cache import compilation_counts
from jaxsnn.core import BACKENDS
from jaxsnn.data import EMBEDDED, IMAGE_DATASETS, SPIKE_DATASETS, DataSplits, load_dataset, load_images
from jaxsnn.data.mnist import load_mnist
from jaxsnn.record import EvaluationRecord
from jaxsnn.train.hybrid import train_hybrid
from jaxsnn.train.sg import train_sg
from jaxsnn.train.silent import PRESETS, ActivityGuard, SilentNetworkDetector
from jaxsnn.train.slayer import train_slayer
from jaxsnn.train.stdp import train_stdp
from jaxsnn.train.stopping import EarlyStopper, StopDecision
from jaxsnn.tuning.spaces import TRAINERS, SGRun, hybrid_config, sg_run, slayer_config, stdp_config

DEFAULT_PRESET = {"sg": "dvs_slayer", "stdp": "mnist_stdp", "slayer": "dvs_slayer", "hybrid": "dvs_slayer"}
STDP_DATASETS: tuple[str, ...] = (*IMAGE_DATASETS, "mnist")
OBJECTIVES: dict[str, tuple[str, ...]] = {
    "sg": ("accuracy", "train_accuracy", "train_time_s"),
    "stdp": ("accuracy", "train_accuracy"),
    "slayer": ("accuracy", "train_time_s", "inference_steps", "spikes_per_sample"),
    "hybrid": ("accuracy", "train_time_s", "inference_steps", "spikes_per_sample"),
}
"""The objectives every informative record of each trainer carries: what a study of it may declare."""
_TRAINER_KEYS: dict[str, tuple[str, ...]] = {
    "stdp": ("stdp",), "slayer": ("slayer",), "hybrid": ("hybrid",), "backend": ("sg", "hybrid"),
    "xla_optimizations": ("sg",), "progress": ("sg", "stdp"), "data_time_steps": ("slayer",),
    "data_options": ("sg", "slayer"),
}  # fmt: skip
"""Keys that only make sense for some trainers: given for another, they are a config mistake."""
_KEYS = frozenset(
    {"trainer", "params", "dataset", "data_root", "data_seed", "seed", "silent", "activity", "time_budget_s",
     *_TRAINER_KEYS}
)  # fmt: skip
_TIMEOUT = "time budget exceeded"


class _Deadline:
    """A stopper that ends training at the first batch boundary past ``budget_s`` of wall time.

    Its decision uses status ``pruned`` so that no trainer has to know about budgets; ``evaluate``
    turns a run it stopped into a ``failed`` record, because an unfinished run measured nothing.
    """

    def __init__(self, budget_s: float, start: float) -> None:
        self.budget_s, self.start = budget_s, start
        self.decision: StopDecision | None = None

    def update(self, output_spike_counts: np.ndarray, mean_rates: dict[str, float]) -> StopDecision | None:
        elapsed = time.perf_counter() - self.start
        if self.decision is None and elapsed > self.budget_s:
            reason = f"{_TIMEOUT}: {elapsed:.1f} s > time_budget_s={self.budget_s:g}"
            self.decision = StopDecision("pruned", reason)
        return self.decision

    def ended(self, record: EvaluationRecord) -> bool:
        """Whether this deadline (not another stopper deciding at the same batch) ended the run."""
        return self.decision is not None and record.metrics.get("stop_reason") == self.decision.reason

    def constraints(self) -> dict[str, float]:
        return {}


class _FirstBatch:
    """A stopper that never stops: it notes when the first training batch ended.

    The time from the trial's start to then is its *setup* (data, network, compilation), the
    part that a warm worker and the compilation cache shrink; it is kept in the record as
    ``metrics["first_batch_s"]``.
    """

    def __init__(self, start: float) -> None:
        self.start = start
        self.elapsed_s: float | None = None

    def update(self, output_spike_counts: np.ndarray, mean_rates: dict[str, float]) -> None:
        if self.elapsed_s is None:
            self.elapsed_s = time.perf_counter() - self.start

    def constraints(self) -> dict[str, float]:
        return {}


@dataclasses.dataclass(frozen=True)
class SGPlan:
    """An SG trial's data and configs, resolved: what a batch needs to train trials together."""

    dataset: str
    data_seed: int
    root: str | None
    options: dict[str, Any]
    run: SGRun
    seed: int
    progress: bool

    def load(self) -> DataSplits:
        return load_dataset(self.dataset, time_steps=self.run.time_steps, seed=self.data_seed, root=self.root,
                            **self.options)  # fmt: skip

    def population_key(self) -> str:
        """Equal for trials that can train as members of one population (``train.sg.fit``): the
        same data and trainer but for the learning rate, and the same network but for the values
        it keeps as traced state or only draws its weights with (leak, threshold, surrogate
        gamma/beta/q, weight scale)."""
        model = self.run.model
        shape = dataclasses.replace(
            model, weight_scale=1.0, neuron=dataclasses.replace(model.neuron, alpha=0.5, theta=1.0),
            surrogate=dataclasses.replace(model.surrogate, gamma=1.0, beta=1.0, q=2.0))  # fmt: skip
        trainer = dataclasses.replace(self.run.trainer, lr=1.0)
        return repr((self.dataset, self.data_seed, self.root, sorted(self.options.items()), self.run.time_steps,
                     trainer, shape, self.progress))  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Trial:
    """A validated config: everything needed to run, nothing run yet (``sg``: an SG trial's plan)."""

    params: dict[str, Any]
    run: Callable[[Sequence[EarlyStopper]], EvaluationRecord]
    stoppers: tuple[EarlyStopper, ...]
    budget_s: float | None
    sg: SGPlan | None = None


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(f"bad evaluate() config: {message}")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _silent_detector(spec: Any) -> tuple[EarlyStopper, ...]:
    if spec is None:
        return ()
    if isinstance(spec, str):
        _require(spec in PRESETS, f"unknown silent preset {spec!r}; valid: {sorted(PRESETS)}")
        return (SilentNetworkDetector.preset(spec),)
    _require(isinstance(spec, Mapping), f"silent must be a dict, a preset name or None, got {spec!r}")
    required, optional = {"k", "p", "update_interval"}, {"window", "grace"}
    _require(required <= set(spec) <= required | optional,
             f"silent needs keys k, p, update_interval (optional: window, grace), got {sorted(spec)}")
    return (SilentNetworkDetector(**spec),)


def _activity_guard(spec: Any) -> tuple[EarlyStopper, ...]:
    if spec is None:
        return ()
    _require(isinstance(spec, Mapping) and "max_rate" in spec,
             f"activity must be None or a dict with max_rate, got {spec!r}")
    unknown = set(spec) - {"max_rate", "update_interval", "layer"}
    _require(not unknown, f"unknown activity option(s) {sorted(unknown)}")
    return (ActivityGuard(**spec),)


def _sg_plan(config: Mapping[str, Any], params: dict[str, Any]) -> SGPlan:
    dataset = config.get("dataset", "digits")
    _require(dataset in SPIKE_DATASETS, f"unknown sg dataset {dataset!r}; valid: {sorted(SPIKE_DATASETS)}")
    backend = config.get("backend", "auto")
    _require(backend in BACKENDS, f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    run = sg_run(params, backend=backend, xla_optimizations=config.get("xla_optimizations", True))
    return SGPlan(dataset, config.get("data_seed", 0), config.get("data_root"),
                  _loader_options(config, dataset, run.data_options), run, config.get("seed", 0),
                  config.get("progress", False))  # fmt: skip


def _sg_runner(plan: SGPlan, params: dict[str, Any]) -> Callable:
    def execute(stoppers: Sequence[EarlyStopper]) -> EvaluationRecord:
        record = train_sg(plan.run.model, plan.run.trainer, plan.load(), stoppers=stoppers, seed=plan.seed,
                          progress=plan.progress)  # fmt: skip
        return with_point(record, params)

    return execute


def _loader_options(config: Mapping[str, Any], dataset: str, searched: Mapping[str, Any]) -> dict[str, Any]:
    """Options of the spike dataset's loader: the fixed ``data_options`` and those a searched
    ``data.options.*`` parameter sets; each must be one the loader takes."""
    fixed = config.get("data_options", {})
    _require(isinstance(fixed, Mapping), f"data_options must be a dict of loader options, got {fixed!r}")
    clash = sorted(set(fixed) & set(searched))
    _require(not clash, f"data option(s) {clash} set both in data_options and by a searched hyperparameter")
    accepted = set(inspect.signature(SPIKE_DATASETS[dataset]).parameters) - {"time_steps", "seed", "root"}
    unsupported = sorted(set(searched) - accepted)
    _require(not unsupported, f"dataset {dataset!r} has no option {unsupported}: searched "
             f"{', '.join('data.options.' + name for name in unsupported)} applies to rate-coded datasets only")
    unknown = sorted(set(fixed) - accepted)
    _require(not unknown, f"dataset {dataset!r} has no option(s) {unknown}; valid: {sorted(accepted)}")
    return {**fixed, **searched}


def with_point(record: EvaluationRecord, params: dict[str, Any]) -> EvaluationRecord:
    """The record under the searched point (what the optimizer told apart trials by), keeping
    the trainer's fully resolved configuration in ``metrics["resolved"]``."""
    return dataclasses.replace(record, params=params, metrics={**record.metrics, "resolved": record.params})


def _fixed_options(config: Mapping[str, Any], trainer: str) -> Mapping[str, Any]:
    fixed = config.get(trainer, {})
    _require(isinstance(fixed, Mapping), f"{trainer} must be a dict of its config's fields, got {fixed!r}")
    return fixed


def _slayer_runner(config: Mapping[str, Any], params: dict[str, Any]) -> Callable:
    dataset = config.get("dataset", "digits")
    _require(dataset in SPIKE_DATASETS, f"unknown slayer dataset {dataset!r}; valid: {sorted(SPIKE_DATASETS)}")
    window = config.get("data_time_steps", 50)
    _require(_is_int(window) and window > 0, f"data_time_steps must be a positive integer, got {window!r}")
    cfg = slayer_config(params, **_fixed_options(config, "slayer"))
    options = _loader_options(config, dataset, {})

    def execute(stoppers: Sequence[EarlyStopper]) -> EvaluationRecord:
        data = load_dataset(dataset, time_steps=window, seed=config.get("data_seed", 0), root=config.get("data_root"),
                            **options)
        return with_point(train_slayer(cfg, data, stoppers=stoppers, seed=config.get("seed", 0)), params)

    return execute


def _hybrid_runner(config: Mapping[str, Any], params: dict[str, Any]) -> Callable:
    dataset = config.get("dataset", "digits")
    _require(dataset in IMAGE_DATASETS, f"unknown hybrid dataset {dataset!r}; valid: {list(IMAGE_DATASETS)}")
    fixed = dict(_fixed_options(config, "hybrid"))
    if "backend" in config:
        _require("backend" not in fixed, "backend given both as a key and as a fixed hybrid option")
        fixed["backend"] = config["backend"]
    cfg = hybrid_config(params, **fixed)

    def execute(stoppers: Sequence[EarlyStopper]) -> EvaluationRecord:
        data = load_images(dataset, root=config.get("data_root"), seed=config.get("data_seed", 0))
        return with_point(train_hybrid(cfg, data, stoppers=stoppers, seed=config.get("seed", 0)), params)

    return execute


def _stdp_runner(config: Mapping[str, Any], params: dict[str, Any]) -> Callable:
    dataset = config.get("dataset", "digits")
    _require(dataset in STDP_DATASETS, f"unknown stdp dataset {dataset!r}; valid: {list(STDP_DATASETS)}")
    _require(dataset != "mnist" or config.get("data_root") is not None,
             "dataset 'mnist' needs data_root, the folder of the four IDX files")
    cfg = stdp_config(params, **_fixed_options(config, "stdp"))

    def execute(stoppers: Sequence[EarlyStopper]) -> EvaluationRecord:
        if dataset == "mnist":
            train, test = load_mnist(config["data_root"])
        else:
            train, test = load_images(dataset, root=config.get("data_root"), seed=config.get("data_seed", 0))
        return train_stdp(cfg, train, test, stoppers=stoppers, seed=config.get("seed", 0),
                          progress=config.get("progress", False), params=params)

    return execute


_RUNNERS: dict[str, Callable[[Mapping[str, Any], dict[str, Any]], Callable]] = {
    "stdp": _stdp_runner, "slayer": _slayer_runner, "hybrid": _hybrid_runner,
}  # fmt: skip


def validate(config: Mapping[str, Any]) -> Trial:
    """Check the whole config and build every config object, touching no data."""
    _require(isinstance(config, Mapping), f"config must be a dict, got {type(config).__name__}")
    unknown = sorted(set(config) - _KEYS)
    _require(not unknown, f"unknown key(s) {unknown}; valid: {sorted(_KEYS)}")
    trainer = config.get("trainer")
    _require(trainer in TRAINERS, f"trainer must be one of {list(TRAINERS)}, got {trainer!r}")
    foreign = sorted(k for k in set(config) & set(_TRAINER_KEYS) if trainer not in _TRAINER_KEYS[k])
    _require(not foreign, f"key(s) {foreign} do not apply to trainer {trainer!r}")
    progress = config.get("progress", False)
    _require(isinstance(progress, bool), f"progress must be a bool, got {progress!r}")
    params = config.get("params", {})
    _require(isinstance(params, Mapping), f"params must be a dict, got {type(params).__name__}")
    for key in ("seed", "data_seed"):
        _require(_is_int(config.get(key, 0)), f"{key} must be an integer, got {config.get(key)!r}")
    budget = config.get("time_budget_s")
    _require(budget is None or (isinstance(budget, (int, float)) and not isinstance(budget, bool)
                                and math.isfinite(budget) and budget > 0),
             f"time_budget_s must be a positive number or None, got {budget!r}")
    params = dict(params)
    try:
        plan = _sg_plan(config, params) if trainer == "sg" else None
        run = _sg_runner(plan, params) if plan is not None else _RUNNERS[trainer](config, params)
        stoppers = _silent_detector(config.get("silent", DEFAULT_PRESET[trainer]))
        stoppers += _activity_guard(config.get("activity"))
    except (TypeError, ValueError) as error:
        message = str(error)
        prefix = "" if message.startswith("bad evaluate() config") else "bad evaluate() config: "
        raise ValueError(prefix + message) from error
    return Trial(params, run, stoppers, budget, plan)


def reported(config: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The objective and constraint names an informative trial of ``config`` records.

    Constraints come from the configured stoppers (``silent``, ``activity``), so a study can
    check the names it declares before any trial runs instead of failing every trial on them.
    """
    trial = validate({**config, "params": {}})
    return OBJECTIVES[config["trainer"]], tuple(name for s in trial.stoppers for name in s.constraints())


def probe_data(config: Mapping[str, Any]) -> None:
    """Read ``config``'s dataset once, as little of it as its loader allows (one sample per split
    of a file spike dataset), so a missing or unreadable dataset raises its ``DatasetError``
    (naming the path and how to get the data) before a study starts, not once per trial.
    Embedded datasets need no check."""
    validate({**config, "params": {}})
    trainer, dataset, root = config["trainer"], config.get("dataset", "digits"), config.get("data_root")
    if dataset in EMBEDDED:
        return
    if trainer in ("sg", "slayer"):
        load_dataset(dataset, time_steps=1, root=root, **{**config.get("data_options", {}), "max_samples": 1})
    elif dataset == "mnist":
        load_mnist(root)
    else:
        load_images(dataset, root=root)


def _summary(error: BaseException, frames: int = 3) -> str:
    """``Type: message`` and the innermost frames: enough to tell bugs apart in a study table."""
    where = traceback.extract_tb(error.__traceback__)[-frames:]
    trail = " <- ".join(f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}" for f in reversed(where))
    head = "".join(traceback.format_exception_only(type(error), error)).strip()
    return f"{head} (at {trail})" if trail else head


class Watch:
    """A trial's own instruments beside its configured stoppers: when its first batch ended and
    its time budget; ``finish`` turns what its trainer returned into the trial's record."""

    def __init__(self, trial: Trial, start: float) -> None:
        self.trial = trial
        self.first = _FirstBatch(start)
        self.deadline = [_Deadline(trial.budget_s, start)] if trial.budget_s is not None else []

    def stoppers(self, extra: Sequence[EarlyStopper] = ()) -> list[EarlyStopper]:
        return [*self.trial.stoppers, *extra, self.first, *self.deadline]

    def finish(self, record: EvaluationRecord, cost_s: float, compiled: Mapping[str, int]) -> EvaluationRecord:
        """``record`` with the setup metrics and ``cost_s``; ``failed`` if the budget stopped it."""
        record = dataclasses.replace(record, metrics={
            **(record.metrics or {}), "first_batch_s": self.first.elapsed_s, **compiled})  # fmt: skip
        if self.deadline and self.deadline[0].ended(record):
            return EvaluationRecord.failure(self.trial.params, record.metrics["stop_reason"], cost_s,
                                            epochs_run=record.epochs_run, metrics=record.metrics, spikes=record.spikes)
        return dataclasses.replace(record, cost_s=cost_s)


def compiled_since(before: Mapping[str, int]) -> dict[str, int]:
    """What XLA compiled or loaded from the persistent cache since ``before`` (``xla_compiled``,
    ``xla_loaded``): where a trial's setup went."""
    after = compilation_counts()
    return {f"xla_{kind}": after[kind] - before[kind] for kind in after}


def evaluate(config: Mapping[str, Any], *, stoppers: Sequence[EarlyStopper] = ()) -> EvaluationRecord:
    """Run one trial and return its record; raise ``ValueError`` only for a malformed config.

    ``stoppers`` are extra stoppers (e.g. a recorder of per-batch spike counts) consulted after
    the configured ones. ``cost_s`` is the trial's whole wall time: data, compilation, training
    and testing, which is what a worker actually spends on it. ``metrics`` tell where setup time
    went: ``first_batch_s`` (start to the end of the first training batch) and the executables
    XLA ``compiled`` or ``loaded`` from the persistent cache meanwhile (``xla_compiled``,
    ``xla_loaded``).
    """
    trial = validate(config)
    start = time.perf_counter()
    before = compilation_counts()
    watch = Watch(trial, start)
    try:
        record = trial.run(watch.stoppers(stoppers))
    except Exception as error:  # a bad trial, never a reason to stop the study
        return EvaluationRecord.failure(trial.params, _summary(error), time.perf_counter() - start)
    return watch.finish(record, time.perf_counter() - start, compiled_since(before))
