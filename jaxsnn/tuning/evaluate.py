"""The one function the optimizer calls: a trial config in, one ``EvaluationRecord`` out.

``evaluate`` splits errors in two. A malformed *config* (unknown keys or hyperparameters, wrong
types, values a config class rejects) is the caller's bug: it raises ``ValueError`` at once,
before any data is loaded or anything compiled. Everything that goes wrong *while running* a
trial (an exception, a NaN, the time budget) is a property of that point of the search space:
it becomes a ``failed`` record with the reason, and the study goes on.

A trial is a run of ``experiments/train.py`` plus the point's values at their paths. Config keys::

    run            the base run: a ``jaxsnn.train.run.Run``, or a composed ``conf/train.yaml`` or
                   any part of one (``{"algorithm": "stdp", "data": {"name": "mnist", "root": ...},
                   "stdp": {"dt_ms": 0.5}}``); a group left out takes its defaults
    params         a point of ``jaxsnn.tuning.spaces.search_space(algorithm)``: run-config paths
                   (``model.neuron.theta``, ``trainer.lr``, ``stdp.tau_mem_ms``) and their values,
                   set on the base run (paths the point leaves out keep the base run's values)
    silent         detector settings {"k", "p", "update_interval"[, "window", "grace"]}, a preset name of
                   ``jaxsnn.train.silent.PRESETS``, or None to disable; default: the paper's
                   preset for the algorithm ("mnist_stdp" for stdp, "dvs_slayer" for the others)
    activity       None (default) or {"max_rate", "update_interval", "layer"} for ActivityGuard
    time_budget_s  None (default) or seconds: training stops at the first batch boundary past
                   the budget and the trial is recorded as failed ("time budget exceeded")
    progress       show a progress bar (sg and stdp; default False)

Which data an algorithm reads: sg and slayer a spike dataset of ``jaxsnn.data.load_dataset``
(``data.name``, ``data.time_steps``, ``data.options``: a slayer point's ``slayer.time_steps``
presents the first steps of that window, so a shorter one is lower latency on the same data);
stdp "digits", "cifar10" (``load_images``) or "mnist" (IDX files in ``data.root``); hybrid
"digits" or "cifar10". The LIF backend is ``model.neuron.backend`` (sg) or ``hybrid.backend``;
``trainer.xla_optimizations=false`` compiles each new SG shape about twice as fast and trains
1.4-1.7x slower, the trade for studies of short trials.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxsnn.compile_cache import compilation_counts
from jaxsnn.data import EMBEDDED, IMAGE_DATASETS, SPIKE_DATASETS, DataSplits, load_dataset, load_images, loader_options
from jaxsnn.data.mnist import load_mnist
from jaxsnn.record import EvaluationRecord
from jaxsnn.train.hybrid import train_hybrid
from jaxsnn.train.run import IMAGE_ALGORITHMS, Run
from jaxsnn.train.sg import train_sg
from jaxsnn.train.silent import PRESETS, ActivityGuard, SilentNetworkDetector
from jaxsnn.train.slayer import train_slayer
from jaxsnn.train.stdp import train_stdp
from jaxsnn.train.stopping import EarlyStopper, StopDecision
from jaxsnn.tuning.spaces import DATA_OPTIONS, apply_point

DEFAULT_PRESET = {"sg": "dvs_slayer", "stdp": "mnist_stdp", "slayer": "dvs_slayer", "hybrid": "dvs_slayer"}
DATASETS: dict[str, tuple[str, ...]] = {
    "sg": tuple(SPIKE_DATASETS), "slayer": tuple(SPIKE_DATASETS), "stdp": (*IMAGE_DATASETS, "mnist"),
    "hybrid": IMAGE_DATASETS,
}  # fmt: skip
"""The datasets each algorithm reads (``data.name``)."""
OBJECTIVES: dict[str, tuple[str, ...]] = {
    "sg": ("accuracy", "train_accuracy", "train_time_s"),
    "stdp": ("accuracy", "train_accuracy"),
    "slayer": ("accuracy", "train_time_s", "inference_steps", "spikes_per_sample"),
    "hybrid": ("accuracy", "train_time_s", "inference_steps", "spikes_per_sample"),
}
"""The objectives every informative record of each algorithm carries: what a study of it may declare."""
_KEYS = frozenset({"run", "params", "silent", "activity", "time_budget_s", "progress"})
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
class Trial:
    """A validated config: everything needed to run, nothing run yet."""

    params: dict[str, Any]
    run: Run
    """The base run with the point set: what this trial trains."""
    stoppers: tuple[EarlyStopper, ...]
    budget_s: float | None
    progress: bool = False

    def load(self) -> DataSplits:
        """A spike dataset's splits (sg, slayer)."""
        return self.run.data.load()

    def recorded(self, record: EvaluationRecord) -> EvaluationRecord:
        """The trainer's record under the searched point (what the optimizer told trials apart
        by), keeping the whole resolved run in ``metrics["resolved"]`` (train.yaml's shape)."""
        return dataclasses.replace(record, params=self.params,
                                   metrics={**record.metrics, "resolved": self.run.to_dict()})  # fmt: skip

    def execute(self, stoppers: Sequence[EarlyStopper]) -> EvaluationRecord:
        """Load the data and train; raises whatever the trainer raises."""
        run = self.run
        if run.algorithm == "sg":
            record = train_sg(run.model, run.trainer, self.load(), stoppers=stoppers, seed=run.seed,
                              progress=self.progress)  # fmt: skip
        elif run.algorithm == "slayer":
            record = train_slayer(run.slayer, self.load(), stoppers=stoppers, seed=run.seed)
        elif run.algorithm == "hybrid":
            images = load_images(run.data.name, root=run.data.root, seed=run.data.seed)
            record = train_hybrid(run.hybrid, images, stoppers=stoppers, seed=run.seed)
        else:
            images = (load_mnist(run.data.root) if run.data.name == "mnist"
                      else load_images(run.data.name, root=run.data.root, seed=run.data.seed))  # fmt: skip
            record = train_stdp(run.stdp, *images, stoppers=stoppers, seed=run.seed, progress=self.progress)
        return self.recorded(record)

    def population_key(self) -> str | None:
        """Equal for SG trials that can train as members of one population (``train.sg.fit``):
        the same data and trainer but for the learning rate, and the same network but for the
        values it keeps as traced state or only draws its weights with (leak, threshold,
        surrogate gamma/beta/q, weight scale). ``None``: this trial trains alone."""
        if self.run.algorithm != "sg":
            return None
        model, data = self.run.model, self.run.data
        shape = dataclasses.replace(
            model, weight_scale=1.0, neuron=dataclasses.replace(model.neuron, alpha=0.5, theta=1.0),
            surrogate=dataclasses.replace(model.surrogate, gamma=1.0, beta=1.0, q=2.0))  # fmt: skip
        trainer = dataclasses.replace(self.run.trainer, lr=1.0)
        return repr((data.name, data.seed, data.root, sorted(data.options.items()), data.time_steps, trainer, shape,
                     self.progress))  # fmt: skip


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(f"bad evaluate() config: {message}")


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


def base_run(spec: Run | Mapping[str, Any] | None) -> Run:
    """The ``run`` of an evaluate config as a ``Run`` (a mapping is validated on the way)."""
    if isinstance(spec, Run):
        return spec
    _require(spec is None or isinstance(spec, Mapping), f"run must be a train.yaml mapping or a Run, got {spec!r}")
    return Run.from_dict(spec or {})


def _check_data(run: Run, params: Mapping[str, Any]) -> None:
    """The dataset is one the algorithm reads, and every loader option one its loader takes: a
    searched ``data.options.*`` the dataset has no use for is named as such."""
    name = run.data.name
    _require(name in DATASETS[run.algorithm],
             f"unknown {run.algorithm} dataset {name!r} (data.name); valid: {list(DATASETS[run.algorithm])}")
    _require(name != "mnist" or run.data.root is not None,
             "dataset 'mnist' needs data.root, the folder of the four IDX files")
    if run.algorithm in IMAGE_ALGORITHMS:
        return
    accepted = set(loader_options(name))
    searched = sorted(n[len(DATA_OPTIONS):] for n in params if n.startswith(DATA_OPTIONS))
    unsupported = [option for option in searched if option not in accepted]
    _require(not unsupported, f"dataset {name!r} has no option {unsupported}: searched "
             f"{', '.join(DATA_OPTIONS + option for option in unsupported)} applies to rate-coded datasets only")
    unknown = sorted(set(run.data.options) - accepted)
    _require(not unknown, f"dataset {name!r} has no option(s) {unknown} (data.options); valid: {sorted(accepted)}")


def validate(config: Mapping[str, Any]) -> Trial:
    """Check the whole config and build every config object, touching no data."""
    _require(isinstance(config, Mapping), f"config must be a dict, got {type(config).__name__}")
    unknown = sorted(set(config) - _KEYS)
    _require(not unknown, f"unknown key(s) {unknown}; valid: {sorted(_KEYS)}")
    progress = config.get("progress", False)
    _require(isinstance(progress, bool), f"progress must be a bool, got {progress!r}")
    params = config.get("params", {})
    _require(isinstance(params, Mapping), f"params must be a dict, got {type(params).__name__}")
    budget = config.get("time_budget_s")
    _require(budget is None or (isinstance(budget, (int, float)) and not isinstance(budget, bool)
                                and math.isfinite(budget) and budget > 0),
             f"time_budget_s must be a positive number or None, got {budget!r}")
    params = dict(params)
    try:
        base = base_run(config.get("run"))
        run = apply_point(base, params)
        _check_data(run, params)
        stoppers = _silent_detector(config.get("silent", DEFAULT_PRESET[run.algorithm]))
        stoppers += _activity_guard(config.get("activity"))
    except (TypeError, ValueError) as error:
        message = str(error)
        prefix = "" if message.startswith("bad evaluate() config") else "bad evaluate() config: "
        raise ValueError(prefix + message) from error
    return Trial(params, run, stoppers, budget, progress)


def reported(config: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The objective and constraint names an informative trial of ``config`` records.

    Constraints come from the configured stoppers (``silent``, ``activity``), so a study can
    check the names it declares before any trial runs instead of failing every trial on them.
    """
    trial = validate({**config, "params": {}})
    return OBJECTIVES[trial.run.algorithm], tuple(name for s in trial.stoppers for name in s.constraints())


def probe_data(config: Mapping[str, Any]) -> None:
    """Read ``config``'s dataset once, as little of it as its loader allows (one sample per split
    of a file spike dataset), so a missing or unreadable dataset raises its ``DatasetError``
    (naming the path and how to get the data) before a study starts, not once per trial.
    Embedded datasets need no check."""
    trial = validate({**config, "params": {}})
    data = trial.run.data
    if data.name in EMBEDDED:
        return
    if trial.run.algorithm not in IMAGE_ALGORITHMS:
        load_dataset(data.name, time_steps=1, root=data.root, **{**data.options, "max_samples": 1})
    elif data.name == "mnist":
        load_mnist(data.root)
    else:
        load_images(data.name, root=data.root)


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
        record = trial.execute(watch.stoppers(stoppers))
    except Exception as error:  # a bad trial, never a reason to stop the study
        return EvaluationRecord.failure(trial.params, _summary(error), time.perf_counter() - start)
    return watch.finish(record, time.perf_counter() - start, compiled_since(before))
