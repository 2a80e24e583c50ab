"""Surrogate-gradient BPTT training that ends, whatever happens, in an ``EvaluationRecord``.

The loop trains a *population*: models of one structure whose states are stacked on a leading
axis and advanced by one ``jax.vmap``-ped, ahead-of-time compiled step over the same batches.
``train_sg`` is a population of one; ``multi.train_multi`` sweeps seeds, surrogate settings and
learning rates. One loop for both means a sweep member is trained exactly like a single run.

After every batch each member's stoppers see its output spike counts and layer rates. A member
that is stopped (``StopDecision``) or whose loss turns non-finite is frozen (its updates are
masked out) and gets its record at once; the others go on.

The first batch is judged before the training step is compiled: a forward-only program (about a
tenth of the step's compile time) computes the statistics the step would report for it, at the
same initial weights. A member whose stoppers would end its run there (a silent network whose
first batch already loses the detector's check, a non-finite loss) ends without the step ever
being compiled for it; the others train as before, the first batch observed from the step.

Compiled programs are kept per static configuration (``PROGRAMS``): a later run in the same
process whose network, batches and optimiser have the same shapes and code reuses them, whatever
its seeds, learning rates, leaks, thresholds, surrogate values, weight scale, sparsity weight and
target, or (constant schedule) number of epochs. That is what makes a long-lived study worker
fast on trials of an already seen shape.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import time
from typing import Any, Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from jaxsnn.core import resolve_backend
from jaxsnn.data import DataSplits, SpikeDataset, iterate_batches
from jaxsnn.record import EvaluationRecord
from jaxsnn.train.config import ModelConfig, TrainerConfig
from jaxsnn.train.metrics import (
    BatchStats,
    EpochMeter,
    batch_stats,
    correct_predictions,
    layer_rates,
)
from jaxsnn.train.programs import ProgramCache
from jaxsnn.train.sparsity import rate_penalty
from jaxsnn.train.stopping import EarlyStopper, consult, run_record


@dataclasses.dataclass(frozen=True)
class Member:
    """One model of a population: its config, initialisation seed and peak learning rate.

    ``lr=None`` uses the trainer's. Members of one population must build the same structure;
    they may differ in seed, ``lr`` and any value the network keeps as ``Hyper`` state
    (surrogate ``gamma``/``beta``/``q``, fixed leaks, thresholds).
    """

    model: ModelConfig
    seed: int = 0
    lr: float | None = None


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """Everything the update rule's code depends on, hashable: part of a compiled step's key.

    A constant schedule does not depend on the run's length (``total_steps`` is then 0), so
    trials that differ only in ``epochs`` share one compiled step.
    """

    optimizer: str
    schedule: str
    total_steps: int
    warmup_steps: int
    grad_clip: float | None
    weight_decay: float

    @classmethod
    def of(cls, cfg: TrainerConfig, steps_per_epoch: int) -> OptimizerSpec:
        total = cfg.epochs * steps_per_epoch if cfg.schedule == "cosine" else 0
        warmup = round(cfg.warmup_epochs * steps_per_epoch)
        return cls(cfg.optimizer, cfg.schedule, total, warmup, cfg.grad_clip, cfg.weight_decay)

    def transform(self) -> optax.GradientTransformation:
        """The update *direction* times the schedule's shape (peak 1); the step applies ``-lr``.

        Every transformation here starts from a state of zeros, which the trainer builds on the
        host (:func:`zero_state`): a transformation with another initial state needs its init
        program back.

        The learning rate stays out of the transformation so that it is a traced per-member
        value and one compiled step serves every learning rate.
        """
        warmup = self.warmup_steps
        if self.schedule == "cosine":
            shape = optax.cosine_decay_schedule(1.0, self.total_steps - warmup)
        else:
            shape = optax.constant_schedule(1.0)
        if warmup:
            shape = optax.join_schedules(
                [optax.linear_schedule(0.0, 1.0, warmup), shape], [warmup]
            )
        direction = {
            "adam": optax.scale_by_adam(),
            "adamw": optax.chain(
                optax.scale_by_adam(), optax.add_decayed_weights(self.weight_decay)
            ),
            "sgd": optax.identity(),
        }[self.optimizer]
        clip = [optax.clip_by_global_norm(self.grad_clip)] if self.grad_clip else []
        return optax.chain(*clip, direction, optax.scale_by_schedule(shape))


def make_optimizer(cfg: TrainerConfig, steps_per_epoch: int) -> optax.GradientTransformation:
    """The optimiser of a run of ``cfg`` with ``steps_per_epoch`` (see ``OptimizerSpec``)."""
    return OptimizerSpec.of(cfg, steps_per_epoch).transform()


def _loss(
    graphdef: nnx.GraphDef,
    params: nnx.State,
    rest: nnx.State,
    x: jax.Array,
    y: jax.Array,
    sparsity: tuple[jax.Array, jax.Array, jax.Array],
) -> tuple[jax.Array, BatchStats]:
    """Softmax cross-entropy on the readout plus the annealed sparsity penalty on hidden layers;
    ``sparsity`` is (switch, weight, target)."""
    out = nnx.merge(graphdef, params, rest)(x)
    loss = optax.softmax_cross_entropy_with_integer_labels(out.logits, y).mean()
    loss = loss + rate_penalty(layer_rates(out.hidden_spikes), *sparsity)
    return loss, batch_stats(out, y, loss, layer_rates(out.spikes))


def _train_step(
    graphdef: nnx.GraphDef,
    tx: optax.GradientTransformation,
    params: nnx.State,
    rest: nnx.State,
    opt_state: optax.OptState,
    lr: jax.Array,
    active: jax.Array,
    x: jax.Array,
    y: jax.Array,
    sparsity: tuple[jax.Array, jax.Array, jax.Array],
) -> tuple[nnx.State, optax.OptState, BatchStats]:
    """One BPTT update of one member; an inactive member keeps its parameters and optimiser
    state. Every hyperparameter that does not change shapes or code is an argument (``lr``,
    the sparsity weight and target here, leaks, thresholds and surrogate values in ``rest``)."""
    grads, stats = jax.grad(functools.partial(_loss, graphdef), has_aux=True)(
        params, rest, x, y, sparsity
    )
    updates, new_opt_state = tx.update(grads, opt_state, params)
    new_params = optax.apply_updates(params, jax.tree.map(lambda u: -lr * u, updates))
    keep = functools.partial(jax.tree.map, lambda new, old: jnp.where(active, new, old))
    return keep(new_params, params), keep(new_opt_state, opt_state), stats


def _eval_step(
    graphdef: nnx.GraphDef,
    params: nnx.State,
    rest: nnx.State,
    x: jax.Array,
    y: jax.Array,
    valid: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Correct predictions and output spikes summed over the ``valid`` (non-padding) samples."""
    out = nnx.merge(graphdef, params, rest)(x)
    return (correct_predictions(out.logits, y) * valid).sum(), (out.output_counts * valid).sum()


def _padded_batches(
    dataset: SpikeDataset, batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Test batches in order, the last one zero-padded so every batch has the compiled shape."""
    for x, y in iterate_batches(dataset, batch_size, shuffle=False):
        pad = batch_size - len(y)
        valid = np.arange(batch_size) < len(y)
        yield np.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1)), np.pad(y, (0, pad)), valid


def _stack(states: Sequence[nnx.State]) -> nnx.State:
    """Stack same-structured states on a new leading (member) axis, on the host: ``jnp.stack``
    (even ``jnp.asarray``) would compile once per new shape; ``device_put`` does not."""
    return jax.tree.map(lambda *leaves: jax.device_put(np.stack(leaves)), *states)


def _member(tree: Any, i: int) -> Any:
    """Member ``i``'s slice of a stacked pytree."""
    return jax.tree.map(lambda leaf: leaf[i], tree)


class _Programs:
    """A population's compiled programs, train step and test step, and the shapes of its
    optimiser state (built as zeros on the host, :func:`zero_state`: no init program).

    The test step is compiled on first use: a run stopped as silent never tests, and in a study
    most early trials are silent.
    """

    def __init__(
        self,
        opt_state_shapes: Any,
        train: Callable[..., tuple[nnx.State, optax.OptState, BatchStats]],
        build_test: Callable[[], Callable[..., tuple[jax.Array, jax.Array]]],
    ) -> None:
        self.opt_state_shapes, self.train, self._build_test = opt_state_shapes, train, build_test

    @functools.cached_property
    def test(self) -> Callable[..., tuple[jax.Array, jax.Array]]:
        return self._build_test()


UNOPTIMIZED: dict[str, object] = {
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
    "xla_cpu_use_fusion_emitters": False,
}
"""XLA compile options of ``TrainerConfig(xla_optimizations=False)``: what JAX's
``jax_disable_most_optimizations`` sets, applied to a population's programs only, and XLA's
classic CPU emitters (``jaxsnn.xla_defaults``). Unoptimised programs round differently under the
two kinds of emitters, so the option pins them: a study's trial retrained by ``experiments/train.py``
(which keeps XLA's default emitters) gives the same record."""

PROGRAMS: ProgramCache[_Programs] = ProgramCache(maxsize=16)
"""This process's compiled populations, by static configuration: a long-lived study worker
trains every trial of an already seen shape without compiling."""

SCREENS: ProgramCache[Callable[..., BatchStats]] = ProgramCache(maxsize=16)
"""Forward-only first-batch programs, by the same key as ``PROGRAMS``: a shape whose trials all
ended on their first batch has no training step to reuse, only this."""


def _spec_of(*shape: int, dtype: jnp.dtype = jnp.float32) -> jax.ShapeDtypeStruct:
    """The abstract array a program is lowered for (a shape and dtype, no data)."""
    return jax.ShapeDtypeStruct(shape, dtype)


def _compile(
    graphdef: nnx.GraphDef,
    spec: OptimizerSpec,
    params: nnx.State,
    rest: nnx.State,
    batch: tuple[int, ...],
    test_batch: tuple[int, ...],
    optimized: bool,
) -> _Programs:
    """Compile the programs for stacked states like ``params``/``rest`` and input shapes
    ``batch`` / ``test_batch`` (batch size, time steps, features...), with XLA's optimisations
    or without them (``UNOPTIMIZED``)."""
    options = None if optimized else UNOPTIMIZED
    members = len(jax.tree.leaves(params)[0])
    tx = spec.transform()
    opt_state = jax.eval_shape(jax.vmap(tx.init), params)
    step = functools.partial(_train_step, graphdef, tx)
    train = jax.jit(jax.vmap(step, in_axes=(0, 0, 0, 0, 0, None, None, None))).lower(
        params,
        rest,
        opt_state,
        _spec_of(members),
        _spec_of(members, dtype=bool),
        _spec_of(*batch),
        _spec_of(batch[0], dtype=jnp.int32),
        (_spec_of(), _spec_of(), _spec_of()),
    )
    evaluate = jax.vmap(functools.partial(_eval_step, graphdef), in_axes=(0, 0, None, None, None))
    shapes = jax.eval_shape(lambda: (params, rest))  # the test step must not keep the arrays alive
    test = lambda: jax.jit(evaluate).lower(  # noqa: E731
        *shapes,
        _spec_of(*test_batch),
        _spec_of(test_batch[0], dtype=jnp.int32),
        _spec_of(test_batch[0], dtype=bool),
    ).compile(options)
    return _Programs(opt_state, train.compile(options), test)


def zero_state(shapes: Any) -> Any:
    """A state of zeros with the leaves of ``shapes`` (``jax.ShapeDtypeStruct``), put on the
    device from the host: the initial optimiser state of every ``OptimizerSpec`` (moments and
    step counts start at zero), without a compiled init program per network shape (one fewer
    compilation per trial in a study, tested equal to ``tx.init``)."""
    return jax.tree.map(lambda leaf: jax.device_put(np.zeros(leaf.shape, leaf.dtype)), shapes)


class _Population:
    """The stacked state of all members and their compiled programs.

    The programs are compiled ahead of time for the fixed batch shapes (training drops the last
    short batch, the test pass pads it), so no step ever recompiles, and are taken from
    ``PROGRAMS`` when this process has compiled them for an earlier run of the same shapes;
    ``compile_time_s`` says what getting them cost.
    """

    def __init__(self, members: Sequence[Member], cfg: TrainerConfig, data: DataSplits) -> None:
        train, test = data
        self.steps_per_epoch = len(train) // cfg.batch_size
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"trainer.batch_size={cfg.batch_size} exceeds the {len(train)} training samples"
            )
        models = [m.model.build(train.sample_shape, train.n_classes, seed=m.seed) for m in members]
        splits = [nnx.split(model, nnx.Param, ...) for model in models]
        self.graphdef = splits[0][0]
        for i, (graphdef, _, _) in enumerate(splits):
            if graphdef != self.graphdef:
                raise ValueError(
                    f"population member {i} builds a different network from member 0: layer sizes, "
                    "readout, surrogate shape, reset, backend and trainable leaks must match; only "
                    "seeds, learning rates, surrogate gamma/beta/q, alpha and theta may differ"
                )
        self.params = _stack([s[1] for s in splits])
        self.rest = _stack([s[2] for s in splits])
        self.lrs = jnp.asarray([m.lr for m in members], jnp.float32)
        self.sparsity = (np.float32(cfg.sparsity.weight), np.float32(cfg.sparsity.target))
        self.test_batch = min(cfg.eval_batch_size, len(test))

        sample = (train.time_steps, *train.sample_shape)
        spec = OptimizerSpec.of(cfg, self.steps_per_epoch)
        states = (self.params, self.rest)
        shapes = tuple((leaf.shape, leaf.dtype.name) for leaf in jax.tree.leaves(states))
        key = (self.graphdef, jax.tree.structure(states), shapes, spec, cfg.batch_size, sample,
               self.test_batch, cfg.xla_optimizations)  # fmt: skip
        self._key, self._batch, self._optimized = key, (cfg.batch_size, *sample), cfg.xla_optimizations
        self._build = lambda: _compile(
            self.graphdef, spec, self.params, self.rest, self._batch, (self.test_batch, *sample),
            cfg.xla_optimizations,
        )  # fmt: skip
        self.compile_time_s = 0.0
        self.programs: _Programs | None = None

    @property
    def compiled(self) -> bool:
        """Whether the training step is at hand without compiling (built, or in ``PROGRAMS``)."""
        return self.programs is not None or self._key in PROGRAMS

    def compile(self) -> None:
        """Compile the train and test steps (or take them from ``PROGRAMS``) and set up the
        optimiser state: what training needs beyond the first-batch screen."""
        start = time.perf_counter()
        self.programs = PROGRAMS.get(self._key, self._build)
        self.compile_time_s += time.perf_counter() - start
        self.opt_state = zero_state(self.programs.opt_state_shapes)

    def first_batch_stats(self, x: np.ndarray, y: np.ndarray, switch: float) -> BatchStats:
        """Every member's statistics on its first batch from a forward-only program, what the
        training step would report for it (see the module docstring)."""
        start = time.perf_counter()
        screen = SCREENS.get(self._key, self._compile_screen)
        self.compile_time_s += time.perf_counter() - start
        return jax.device_get(screen(self.params, self.rest, x, y, (np.float32(switch), *self.sparsity)))

    def _compile_screen(self) -> Callable[..., BatchStats]:
        # What ``_train_step`` reports for a batch, without its gradient or update: the statistics
        # of its loss, at the same weights (the step's are those before its update).
        loss = functools.partial(_loss, self.graphdef)
        stats = jax.vmap(lambda *args: loss(*args)[1], in_axes=(0, 0, None, None, None))
        return jax.jit(stats).lower(
            self.params, self.rest, _spec_of(*self._batch), _spec_of(self._batch[0], dtype=jnp.int32),
            (_spec_of(), _spec_of(), _spec_of()),
        ).compile(None if self._optimized else UNOPTIMIZED)  # fmt: skip

    def train_batch(
        self, active: np.ndarray, x: np.ndarray, y: np.ndarray, switch: float
    ) -> BatchStats:
        """Update the ``active`` members on one batch; return every member's stats on the host."""
        self.params, self.opt_state, stats = self.programs.train(
            self.params,
            self.rest,
            self.opt_state,
            self.lrs,
            active,
            x,
            y,
            (np.float32(switch), *self.sparsity),
        )
        return jax.device_get(stats)

    def networks(self) -> list[nnx.Module]:
        """Every member's network with its current weights (copies off the stacked state)."""
        n = len(self.lrs)
        return [nnx.merge(self.graphdef, _member(self.params, i), _member(self.rest, i)) for i in range(n)]

    def test(self, dataset: SpikeDataset) -> tuple[np.ndarray, np.ndarray]:
        """Per member: test accuracy and output spikes per sample."""
        correct, spikes = 0.0, 0.0
        for x, y, valid in _padded_batches(dataset, self.test_batch):
            hits, counts = jax.device_get(self.programs.test(self.params, self.rest, x, y, valid))
            correct, spikes = correct + hits, spikes + counts
        return np.asarray(correct) / len(dataset), np.asarray(spikes) / len(dataset)


class _SharedClock:
    """Splits a population's wall time between its members, so that each record's ``cost_s`` is
    what that member cost: every interval goes in equal shares to the members active during it
    (setup and compilation to all of them), a member stopped early stops paying, and the shares
    add up to the population's wall time. A population of one is charged its wall time."""

    def __init__(self, members: int, start: float) -> None:
        self.charged = np.zeros(members)
        self._mark = start

    def charge(self, active: np.ndarray) -> None:
        """Share the time since the last call between the ``active`` members."""
        now = time.perf_counter()
        if active.any():
            self.charged[active] += (now - self._mark) / active.sum()
        self._mark = now


@dataclasses.dataclass
class _Run:
    """What one member has measured so far, and its record once it has ended."""

    member: Member
    stoppers: Sequence[EarlyStopper]
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    meter: EpochMeter = dataclasses.field(default_factory=EpochMeter)
    train_time_s: float = 0.0
    record: EvaluationRecord | None = None

    def observe(self, stats: BatchStats, where: str) -> tuple[str, dict[str, str]] | None:
        """Account one training batch; return ``(status, why)`` when the run must end now.

        Every stopper sees the batch (none is skipped) and the first decision wins; a non-finite
        loss ends the run as ``failed`` and is kept out of the epoch's means.
        """
        if not np.isfinite(stats.loss):
            return "failed", {"error": f"non-finite loss {float(stats.loss)} at {where}"}
        self.meter.add(stats)
        decision = consult(self.stoppers, stats.output_counts, stats.rates)
        return None if decision is None else (decision.status, {"reason": decision.reason})

    def end_early(
        self,
        ending: tuple[str, dict[str, str]],
        trainer: TrainerConfig,
        epoch: int,
        switch: float,
        seconds: float,
        cost_s: float,
        metrics: dict[str, Any],
    ) -> None:
        """End the run inside ``epoch`` (``seconds`` into it) as ``observe`` decided."""
        self.log_epoch(epoch, switch, seconds, partial=True)
        status, why = ending
        self.end(status, trainer, cost_s, metrics, **why)

    def log_epoch(self, epoch: int, switch: float, seconds: float, *, partial: bool) -> None:
        """Close the running epoch into the history (``partial`` when the run ended inside it;
        a partial epoch without one counted batch adds its time but no history entry)."""
        self.train_time_s += seconds
        if partial and not self.meter.batches:
            return
        self.history.append(
            {
                "epoch": epoch + 1,
                "partial": partial,
                **self.meter.summary(),
                "test_accuracy": None,
                "sparsity_switch": switch,
                "epoch_time_s": seconds,
            }
        )

    def end(
        self,
        status: str,
        trainer: TrainerConfig,
        cost_s: float,
        metrics: dict[str, Any],
        *,
        error: str | None = None,
        reason: str | None = None,
        test: tuple[float, float] | None = None,
    ) -> None:
        """Write the record; ``test`` is (accuracy, output spikes per sample) of complete runs."""
        params = {
            "model": dataclasses.asdict(self.member.model),
            "trainer": dataclasses.asdict(dataclasses.replace(trainer, lr=self.member.lr)),
            "seed": self.member.seed,
        }
        metrics = {
            **metrics,
            "history": self.history,
            "train_time_s": self.train_time_s,
            # What an early stop skipped: the detector's savings are estimated from these.
            "samples_seen": sum(entry["steps"] for entry in self.history) * trainer.batch_size,
            "planned_samples": trainer.epochs * metrics["steps_per_epoch"] * trainer.batch_size,
            "stop_reason": reason,
        }
        epochs_run = sum(not entry["partial"] for entry in self.history)
        objectives, spikes = {}, None
        if status != "failed":
            last = self.history[-1]
            accuracy, spikes = test or (last["train_accuracy"], last["output_spikes_per_sample"])
            objectives = {"accuracy": accuracy, "train_accuracy": last["train_accuracy"],
                          "train_time_s": self.train_time_s}  # fmt: skip
        self.record = run_record(params, status, objectives, self.stoppers, cost_s=cost_s,
                                 spikes=None if spikes is None else float(spikes), epochs_run=epochs_run,
                                 metrics=metrics, error=error)  # fmt: skip


def _screen_first_batch(
    population: _Population,
    runs: Sequence[_Run],
    active: np.ndarray,
    first: tuple[np.ndarray, np.ndarray],
    cfg: TrainerConfig,
    clock: _SharedClock,
    shared: dict[str, Any],
) -> None:
    """End (and mark inactive) the members whose run their first batch already ends, judged on
    the forward-only statistics of that batch; the others' stoppers do not see it, so they
    observe it from the training step as they would without the screen."""
    switch = cfg.sparsity.switch(0, cfg.epochs)
    start, compile_before = time.perf_counter(), population.compile_time_s
    stats = population.first_batch_stats(*first, switch)
    seconds = time.perf_counter() - start - (population.compile_time_s - compile_before)
    clock.charge(active)
    shared["compile_time_s"] = population.compile_time_s
    for i, run in enumerate(runs):
        try:
            trial = copy.deepcopy(run)
        except (TypeError, copy.Error):  # a stopper that cannot be copied (a lock, a handle) is
            continue  # left to the training step's first batch, as without the screen
        if trial.observe(_member(stats, i), "epoch 1, step 1") is not None:
            active[i] = False
            ending = run.observe(_member(stats, i), "epoch 1, step 1")
            run.end_early(ending, cfg, 0, switch, seconds, float(clock.charged[i]), shared)


def fit(
    members: Sequence[Member],
    trainer_cfg: TrainerConfig,
    data: DataSplits,
    *,
    stoppers: Sequence[Sequence[EarlyStopper]] | None = None,
    progress: bool = True,
    on_epoch: Callable[[int, list[nnx.Module]], None] | None = None,
) -> list[EvaluationRecord]:
    """Train ``members`` as one vmapped population; return one record per member, in order.

    ``stoppers[i]`` are member ``i``'s early stoppers (distinct objects per member: they keep
    state). ``cost_s`` of a record is that member's share of the population's wall time until it
    ended (:class:`_SharedClock`; a population of one: its wall time from the start).
    ``on_epoch(epoch, networks)`` sees every member's network after each full epoch (members that
    ended keep their last weights): records carry metrics, not weights, and a study of the
    trained networks themselves (e.g. their gradient growth through time) needs the weights.
    """
    cfg = trainer_cfg
    stoppers = [()] * len(members) if stoppers is None else stoppers
    if len(stoppers) != len(members):
        raise ValueError(f"got {len(stoppers)} stopper lists for {len(members)} population members")
    start = time.perf_counter()
    members = [m if m.lr is not None else dataclasses.replace(m, lr=cfg.lr) for m in members]
    runs = [_Run(member, tuple(s)) for member, s in zip(members, stoppers, strict=True)]
    population = _Population(members, cfg, data)
    clock = _SharedClock(len(members), start)
    shared = {
        "compile_time_s": population.compile_time_s,
        "steps_per_epoch": population.steps_per_epoch,
        "population": len(members),
        "backend": resolve_backend(members[0].model.neuron.backend),
        "dataset": data.train.name,
    }
    active = np.ones(len(members), bool)
    epoch_seeds = np.random.default_rng(cfg.shuffle_seed).integers(2**31, size=cfg.epochs)
    if not population.compiled and any(run.stoppers for run in runs):
        first = next(iterate_batches(data.train, cfg.batch_size, seed=int(epoch_seeds[0]), drop_last=True))
        _screen_first_batch(population, runs, active, first, cfg, clock, shared)
        if not active.any():
            return [run.record for run in runs]
    population.compile()
    shared["compile_time_s"] = population.compile_time_s
    bar = tqdm(
        total=cfg.epochs * population.steps_per_epoch,
        disable=not progress,
        unit="step",
        desc="train" if len(members) == 1 else f"train x{len(members)}",
    )
    for epoch in range(cfg.epochs):
        switch = cfg.sparsity.switch(epoch, cfg.epochs)
        for i in np.flatnonzero(active):
            runs[i].meter = EpochMeter()
        epoch_start = time.perf_counter()
        batches = iterate_batches(
            data.train, cfg.batch_size, seed=int(epoch_seeds[epoch]), drop_last=True
        )
        for step, (x, y) in enumerate(batches):
            stats = population.train_batch(active, x, y, switch)
            clock.charge(active)
            for i in np.flatnonzero(active):
                ending = runs[i].observe(_member(stats, i), f"epoch {epoch + 1}, step {step + 1}")
                if ending is not None:
                    active[i] = False
                    runs[i].end_early(ending, cfg, epoch, switch, time.perf_counter() - epoch_start,
                                      float(clock.charged[i]), shared)  # fmt: skip
            bar.update()
            if not active.any():
                break
        if not active.any():
            break
        epoch_time = time.perf_counter() - epoch_start
        last = epoch + 1 == cfg.epochs
        tested = last or (epoch + 1) % cfg.eval_every == 0
        if tested:
            accuracy, spikes = population.test(data.test)
        clock.charge(active)
        for i in np.flatnonzero(active):
            runs[i].log_epoch(epoch, switch, epoch_time, partial=False)
            if tested:
                runs[i].history[-1]["test_accuracy"] = float(accuracy[i])
            if last:
                runs[i].end(
                    "complete",
                    cfg,
                    float(clock.charged[i]),
                    shared,
                    test=(accuracy[i], spikes[i]),
                )
        if on_epoch is not None:
            on_epoch(epoch, population.networks())
        live = [runs[i].history[-1] for i in np.flatnonzero(active)]
        bar.set_postfix(loss=np.mean([h["loss"] for h in live]), test_acc=live[0]["test_accuracy"])
    bar.close()
    return [run.record for run in runs]


def train_sg(
    model_cfg: ModelConfig,
    trainer_cfg: TrainerConfig,
    data: DataSplits,
    *,
    stoppers: Sequence[EarlyStopper] = (),
    seed: int = 0,
    progress: bool = True,
) -> EvaluationRecord:
    """Train one network with surrogate gradients and BPTT; a diverging run returns, never raises.

    A complete run reports objectives ``accuracy`` (test), ``train_accuracy`` (last epoch) and
    ``train_time_s`` (training steps only: no compilation, no test passes), ``spikes`` = test
    output spikes per sample, and the merged stopper ``constraints``. A ``StopDecision`` ends
    training at once, skips the test pass and reports the training accuracy of the epoch so far
    as ``accuracy`` (``spikes`` from training too). A non-finite loss gives a ``failed`` record
    naming the epoch and step. Per-epoch ``history`` and ``compile_time_s`` are in ``metrics``.
    """
    return fit(
        [Member(model_cfg, seed)], trainer_cfg, data, stoppers=[stoppers], progress=progress
    )[0]
