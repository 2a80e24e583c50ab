"""The epoch loop of gradient-trained networks that are not the SG trainer's LIF classifiers.

``fit`` trains any nnx model on a loss that reports ``BatchStats``, consulting the run's stoppers
after every batch; ``evaluate`` runs its forward pass over a test set; ``finish_record`` turns
how the fit ended into the run's ``EvaluationRecord``. SLAYER trains its SRM networks with them,
HYBRID its ANN and its converted SNN's fine-tuning; their records carry the objectives of the
multi-objective HPO of both (Parsa et al., 2021): accuracy, training time, inference steps and
spikes per sample. (The SG trainer has its own loop: it vmaps populations of members.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxsnn.data import iterate_batches
from jaxsnn.record import EvaluationRecord
from jaxsnn.train.metrics import BatchStats, EpochMeter, correct_predictions, layer_rates
from jaxsnn.train.stopping import EarlyStopper, consult, run_record

LossFn = Callable[[nnx.Module, jax.Array, jax.Array, jax.Array], tuple[jax.Array, BatchStats]]
"""``loss_fn(model, x, y, key) -> (loss, stats)``; ``key`` serves stochastic input encoders."""


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
        return run_record(params, "failed", {}, stoppers, cost_s=time.perf_counter() - start,
                          epochs_run=epochs_run, metrics=metrics, error=result.reason or "")  # fmt: skip
    metrics["accuracy_source"] = "test" if result.status == "complete" else "train_batches_seen"
    objectives = {"accuracy": measured["accuracy"], "train_time_s": train_time_s,
                  "inference_steps": inference_steps, "spikes_per_sample": measured["spikes_per_sample"]}  # fmt: skip
    return run_record(params, result.status, objectives, stoppers, cost_s=time.perf_counter() - start,
                      spikes=float(measured["output_spikes_per_sample"]), epochs_run=epochs_run, metrics=metrics)
