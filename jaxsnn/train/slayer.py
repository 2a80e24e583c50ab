"""SLAYER-style training of SRM networks, ending (whatever happens) in an ``EvaluationRecord``.

SLAYER (Shrestha & Orchard, 2018) trains spike-response-model neurons with a spike-count target:
the true-class output neuron should fire ``true_count`` times over the window, the others
``false_count`` times; the class is the output neuron that fired most. Gradients reach the weights
through the surrogate spike function and the temporal kernels (``jaxsnn.nn.srm``).

The record's objectives are those of the multi-objective HPO of SLAYER (Parsa et al., 2021):
``accuracy`` (up), ``train_time_s``, ``inference_steps`` (time steps presented per sample; the
latency knob is ``time_steps``, which keeps the first steps of every sample) and
``spikes_per_sample`` (all layers, an energy proxy), all down.

``fit`` and ``evaluate`` below are model-agnostic (any nnx model plus a loss that reports
``BatchStats``); the HYBRID trainer reuses them for its ANN and its SNN fine-tuning.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxsnn.core import Surrogate
from jaxsnn.data import DataSplits, iterate_batches
from jaxsnn.nn.srm import SRMConv, SRMDense, SRMNetwork, SRMParams, SRMPool, spike_count_loss
from jaxsnn.record import EvaluationRecord
from jaxsnn.train.config import from_mapping
from jaxsnn.train.metrics import BatchStats, EpochMeter, correct_predictions, layer_rates
from jaxsnn.train.stopping import EarlyStopper, consult, merged_constraints

LossFn = Callable[[nnx.Module, jax.Array, jax.Array, jax.Array], tuple[jax.Array, BatchStats]]
"""``loss_fn(model, x, y, key) -> (loss, stats)``; ``key`` serves stochastic input encoders."""


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


@dataclasses.dataclass(frozen=True)
class SlayerConfig:
    """One SLAYER run: SRM network, spike-count targets, optimisation, latency.

    Network, input to output: an SRM sum-pool of the input frames by ``input_pool`` (1: none);
    one SRM conv layer per ``conv_channels`` entry (kernel ``conv_kernels[i]``), each followed by
    an SRM sum-pool by ``pool``; SRM dense layers of sizes ``hidden``; an SRM output layer of one
    neuron per class. Without conv layers this is the dense network for ``(C,)`` inputs.
    ``time_steps=None`` presents every step of the data, ``n`` only the first ``n``.
    """

    hidden: tuple[int, ...] = (128,)
    conv_channels: tuple[int, ...] = ()
    conv_kernels: tuple[int, ...] = ()
    pool: int = 2
    input_pool: int = 1
    tau_s: float = 2.0
    tau_r: float = 2.0
    theta: float = 1.0
    weight_scale: float = 3.0
    surrogate: Surrogate = Surrogate(gamma=0.5)
    true_count: float = 15.0
    false_count: float = 2.0
    epochs: int = 15
    batch_size: int = 32
    lr: float = 3e-3
    time_steps: int | None = None
    eval_batch_size: int = 256

    def __post_init__(self) -> None:
        for name in ("hidden", "conv_channels", "conv_kernels"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        require_positive(
            "slayer", self,
            ints=("hidden", "conv_channels", "conv_kernels", "pool", "input_pool", "epochs", "batch_size",
                  "eval_batch_size") + (("time_steps",) if self.time_steps is not None else ()),
            numbers=("weight_scale", "lr", "true_count"),
        )  # fmt: skip
        require_matching_kernels("slayer", self.conv_channels, self.conv_kernels)
        if not (isinstance(self.false_count, (int, float)) and 0 <= self.false_count < self.true_count):
            raise ValueError(
                f"slayer.false_count must lie in [0, true_count={self.true_count}), got {self.false_count!r}"
            )
        SRMParams(self.tau_s, self.tau_r, self.theta)  # validates the neuron constants

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> "SlayerConfig":
        """Build from a plain mapping (Hydra), naming unknown keys; ``surrogate`` may be a mapping."""
        return from_mapping(
            cls, mapping, "slayer", {"surrogate": lambda spec: from_mapping(Surrogate, spec, "surrogate", {})}
        )

    @property
    def srm(self) -> SRMParams:
        return SRMParams(self.tau_s, self.tau_r, self.theta)


def dvs_gesture_config(**overrides: Any) -> SlayerConfig:
    """SLAYER's DVS Gesture network on 128x128 frames: pool 4, conv 16@5x5, pool 2, conv 32@3x3,
    pool 2, dense 512, 11 outputs (Shrestha & Orchard 2018), with targets scaled to the window."""
    settings: dict[str, Any] = dict(
        hidden=(512,), conv_channels=(16, 32), conv_kernels=(5, 3), pool=2, input_pool=4,
        tau_s=5.0, tau_r=5.0, true_count=60.0, false_count=10.0, batch_size=8, epochs=30,
    )  # fmt: skip
    return SlayerConfig(**{**settings, **overrides})


def build_srm_network(
    cfg: SlayerConfig, sample_shape: tuple[int, ...], n_classes: int, *, seed: int
) -> tuple[SRMNetwork, tuple[str, ...]]:
    """The network of ``cfg`` for per-step inputs ``(C,)`` or ``(P, H, W)``, and its layer names."""
    spatial = cfg.conv_channels or cfg.input_pool > 1
    if spatial and len(sample_shape) != 3:
        raise ValueError(
            f"conv layers and input pooling need (P, H, W) frames, got per-step shape {sample_shape}"
        )
    rngs = nnx.Rngs(seed)
    common = dict(srm=cfg.srm, surrogate=cfg.surrogate)
    layers: list[nnx.Module] = []
    names: list[str] = []
    shape = tuple(sample_shape)

    def pool(factor: int, name: str) -> None:
        nonlocal shape
        if factor > 1:
            layers.append(SRMPool(factor, **common))
            names.append(name)
            shape = (shape[0], shape[1] // factor, shape[2] // factor)

    pool(cfg.input_pool, "pool_in")
    for i, (channels, kernel) in enumerate(zip(cfg.conv_channels, cfg.conv_kernels)):
        layers.append(SRMConv(shape[0], channels, kernel, weight_scale=cfg.weight_scale, rngs=rngs, **common))
        names.append(f"conv{i}")
        shape = (channels, *shape[1:])
        pool(cfg.pool, f"pool{i}")
    if min(shape) < 1:
        raise ValueError(f"pooling shrinks the {sample_shape} frames to nothing ({shape})")
    width = int(np.prod(shape))
    for i, size in enumerate((*cfg.hidden, n_classes)):
        layers.append(SRMDense(width, size, weight_scale=cfg.weight_scale, rngs=rngs, **common))
        names.append(f"hidden{i}" if i < len(cfg.hidden) else "output")
        width = size
    return SRMNetwork(layers), tuple(names)


def spike_stats(
    spikes: Mapping[str, jax.Array], logits: jax.Array, labels: jax.Array, output: str, loss: jax.Array
) -> BatchStats:
    """Batch statistics of a spiking classifier whose layers' time-major spikes are ``spikes``;
    ``output`` names the layer whose per-sample counts the stoppers watch."""
    batch = labels.shape[0]
    total = sum(z.sum() for z in spikes.values()) / batch
    counts = spikes[output].reshape(spikes[output].shape[0], batch, -1).sum(axis=(0, 2))
    return BatchStats(loss, correct_predictions(logits, labels).sum(), counts, layer_rates(spikes), total)


class FitResult(NamedTuple):
    """What ``fit`` hands back: the trained ``model``, how it ended and what it measured.

    ``status`` is ``complete``, a stopper's status, or ``failed`` (non-finite loss, ``reason``
    says where). ``train_time_s`` counts training steps only (no compilation, no test passes):
    the objective an optimiser can actually reduce by choosing hyperparameters.
    """

    model: nnx.Module
    status: str
    reason: str | None
    history: list[dict[str, Any]]
    train_time_s: float
    compile_time_s: float


class _Arrays(NamedTuple):
    """The two fields ``iterate_batches`` reads, so image arrays batch like spike datasets."""

    inputs: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def fit(
    model: nnx.Module,
    loss_fn: LossFn,
    inputs: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    tx: optax.GradientTransformation,
    seed: int,
    stoppers: Sequence[EarlyStopper] = (),
) -> FitResult:
    """Train ``model``'s ``nnx.Param`` s on ``loss_fn`` for ``epochs`` over shuffled minibatches.

    After every batch each stopper sees the batch's output counts and layer rates (all stoppers
    are fed; the first decision wins) and a non-finite loss or gradient ends the run as
    ``failed``: the gradient is checked too because a spike of a NaN membrane is 0, so NaN
    weights would otherwise pass for a silent network with a finite loss. The step
    is compiled ahead of time so that ``train_time_s`` excludes compilation.
    """
    steps = len(labels) // batch_size
    if steps == 0:
        raise ValueError(f"batch_size={batch_size} exceeds the {len(labels)} training samples")
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    opt_state = tx.init(params)

    def step(params, opt_state, x, y, key):
        def loss(p):
            return loss_fn(nnx.merge(graphdef, p, rest), x, y, key)

        grads, stats = jax.grad(loss, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, stats, optax.tree.norm(grads)

    compile_start = time.perf_counter()
    spec = lambda a: jax.ShapeDtypeStruct((batch_size, *a.shape[1:]), a.dtype)  # noqa: E731
    compiled = (
        jax.jit(step, donate_argnums=(0, 1))
        .lower(params, opt_state, spec(inputs), spec(labels), jax.random.key(0))
        .compile()
    )
    compile_time_s = time.perf_counter() - compile_start
    data = _Arrays(inputs, labels)
    keys = jax.random.split(jax.random.key(seed), epochs * steps)
    history: list[dict[str, Any]] = []
    train_time_s, status, reason = 0.0, "complete", None
    for epoch in range(epochs):
        meter, start = EpochMeter(), time.perf_counter()
        batches = iterate_batches(data, batch_size, seed=seed * 100_003 + epoch, drop_last=True)
        for i, (x, y) in enumerate(batches):
            params, opt_state, stats, grad_norm = compiled(params, opt_state, x, y, keys[epoch * steps + i])
            stats, grad_norm = jax.device_get((stats, grad_norm))
            if not (np.isfinite(stats.loss) and np.isfinite(grad_norm)):
                status = "failed"
                reason = (f"non-finite loss {float(stats.loss)} or gradient norm {float(grad_norm)} "
                          f"at epoch {epoch + 1}, step {i + 1}")  # fmt: skip
                break
            meter.add(stats)
            decision = consult(stoppers, stats.output_counts, stats.rates)
            if decision is not None:
                status, reason = decision.status, decision.reason
                break
        train_time_s += time.perf_counter() - start
        history.append({"epoch": epoch + 1, "partial": status != "complete", **meter.summary()})
        if status != "complete":
            break
    return FitResult(nnx.merge(graphdef, params, rest), status, reason, history, train_time_s, compile_time_s)


def evaluate(
    model: nnx.Module, loss_fn: LossFn, inputs: np.ndarray, labels: np.ndarray, *, batch_size: int, seed: int = 0
) -> dict[str, float]:
    """Test-set ``accuracy``, ``loss``, ``spikes_per_sample`` (all layers) and
    ``output_spikes_per_sample`` of ``model`` under ``loss_fn``'s forward pass."""
    run = nnx.jit(loss_fn)
    data = _Arrays(inputs, labels)
    key = jax.random.key(seed)
    meter = EpochMeter()
    for x, y in iterate_batches(data, batch_size, shuffle=False):
        key, sub = jax.random.split(key)
        meter.add(jax.device_get(run(model, jnp.asarray(x), jnp.asarray(y), sub)[1]))
    summary = meter.summary()
    return {
        "accuracy": summary["train_accuracy"],
        "loss": summary["loss"],
        "spikes_per_sample": summary["spikes_per_sample"],
        "output_spikes_per_sample": summary["output_spikes_per_sample"],
    }


def slayer_loss(cfg: SlayerConfig, names: tuple[str, ...]) -> LossFn:
    """SLAYER's spike-count loss for a network whose layers are ``names``; inputs batch-first."""

    def loss_fn(model: SRMNetwork, x: jax.Array, y: jax.Array, key: jax.Array) -> tuple[jax.Array, BatchStats]:
        del key  # deterministic forward pass
        outputs = model(jnp.swapaxes(x, 0, 1))
        spikes = dict(zip(names, outputs))
        loss = spike_count_loss(outputs[-1], y, cfg.true_count, cfg.false_count)
        return loss, spike_stats(spikes, outputs[-1].sum(axis=0), y, "output", loss)

    return loss_fn


def train_slayer(
    cfg: SlayerConfig, data: DataSplits, *, stoppers: Sequence[EarlyStopper] = (), seed: int = 0
) -> EvaluationRecord:
    """Train an SRM network of ``cfg`` on ``data`` with SLAYER's loss; never raises for a bad run.

    Complete runs report test ``accuracy``; a ``StopDecision`` ends training at once, skips the
    test pass and reports the training accuracy measured so far (as ``train_sg`` does), with the
    stopper's status. A non-finite loss or gradient gives a ``failed`` record naming epoch and step.
    ``constraints`` merge every stopper's ``constraints()``; ``spikes`` is the output layer's
    spikes per sample, ``spikes_per_sample`` counts every layer.
    """
    start = time.perf_counter()
    train, test = data
    steps = train.time_steps if cfg.time_steps is None else cfg.time_steps
    if steps > train.time_steps:
        raise ValueError(f"time_steps={steps} exceeds the {train.time_steps} steps of {train.name}")
    params = {**dataclasses.asdict(cfg), "seed": seed}
    model, names = build_srm_network(cfg, train.sample_shape, train.n_classes, seed=seed)
    loss_fn = slayer_loss(cfg, names)
    result = fit(
        model, loss_fn, train.inputs[:, :steps], train.labels, epochs=cfg.epochs,
        batch_size=cfg.batch_size, tx=optax.adam(cfg.lr), seed=seed, stoppers=stoppers,
    )  # fmt: skip
    return finish_record(
        result, params, stoppers, start,
        lambda: evaluate(result.model, loss_fn, test.inputs[:, :steps], test.labels, batch_size=cfg.eval_batch_size),
        inference_steps=steps, metrics={"dataset": train.name, "layers": list(names)},
    )  # fmt: skip


def finish_record(
    result: FitResult,
    params: dict[str, Any],
    stoppers: Sequence[EarlyStopper],
    start: float,
    test: Callable[[], dict[str, float]],
    *,
    inference_steps: int,
    metrics: dict[str, Any],
    train_time_s: float | None = None,
) -> EvaluationRecord:
    """The record of a spiking run that ended as ``result``; ``test()`` runs only for complete runs.

    ``train_time_s`` overrides the fit's own training time (HYBRID adds its ANN training).
    """
    train_time_s = result.train_time_s if train_time_s is None else train_time_s
    epochs_run = sum(not entry["partial"] for entry in result.history)
    if result.status == "complete":
        measured = test()
    elif result.status != "failed":
        last = result.history[-1]
        measured = {key: last[key] for key in ("spikes_per_sample", "output_spikes_per_sample")}
        measured["accuracy"] = last["train_accuracy"]
    metrics = {**metrics, "history": result.history, "compile_time_s": result.compile_time_s,
               "stop_reason": result.reason}  # fmt: skip
    if result.status == "failed":
        return EvaluationRecord.failure(
            params, result.reason or "", time.perf_counter() - start, epochs_run=epochs_run, metrics=metrics
        )
    metrics["accuracy_source"] = "test" if result.status == "complete" else "train_batches_seen"
    return EvaluationRecord(
        params=params,
        objectives={
            "accuracy": float(measured["accuracy"]),
            "train_time_s": float(train_time_s),
            "inference_steps": float(inference_steps),
            "spikes_per_sample": float(measured["spikes_per_sample"]),
        },
        constraints=merged_constraints(stoppers),
        cost_s=time.perf_counter() - start,
        status=result.status,
        spikes=float(measured["output_spikes_per_sample"]),
        epochs_run=epochs_run,
        metrics=metrics,
    )
