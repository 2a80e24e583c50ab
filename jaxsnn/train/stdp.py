"""Unsupervised STDP training: the Diehl & Cook (2015) network, the paper's Experiment 1.

Model (per presented image, time step ``dt``):

* Input: one Poisson neuron per pixel, spiking with probability ``input_rate_hz * dt * intensity``
  per step (intensities in [0, 1]; MNIST's 63.75 Hz is 255/4). Spikes are drawn inside the time
  loop, so memory does not grow with presentation time.
* Excitatory layer: *conductance-based* LIF, as in the paper, because shunting inhibition
  (``g_i * (E_inh - v)``) is what makes the winner-take-all stable across very different weight
  scales in a wide search space::

      tau_mem dv/dt = (E_rest - v) + g_e (E_exc - v) + g_i (E_inh - v)
      g_e <- g_e * exp(-dt/tau_ge) + x @ W        g_i <- g_i * exp(-dt/tau_gi) + w_inh * (rivals' spikes)

  Spike when ``v > E_rest + threshold_mv + theta``; reset to ``E_rest``; ``refractory_ms`` of
  clamped voltage. ``v`` is clipped to ``[E_inh, E_exc]`` so an Euler step with a huge conductance
  (reachable in a wide space) cannot overshoot into nonsense.
* Lateral inhibition: a *direct* winner-take-all term. In the paper every excitatory neuron drives
  its own inhibitory neuron so strongly (10.4) that the latter fires on the next step and inhibits
  every other excitatory neuron (17); the direct term keeps exactly that effect, with strength
  ``w_inh`` and the same one-step delay, without simulating a relay population.
* Adaptive thresholds: ``theta += theta_plus_mv`` per spike, decaying with ``tau_theta_ms``.
* Trace STDP: pre trace ``x_pre`` and post trace ``x_post`` jump by 1 per spike and decay with
  ``tau_pre_ms`` / ``tau_post_ms``. On a post spike ``w += nu_post * (x_pre - x_tar) * (w_max - w)**mu``
  (pre-before-post potentiates; ``x_tar`` depresses inputs that were not recently active;
  ``mu = 0`` disables the weight dependence); on a pre spike ``w -= nu_pre * x_post``
  (post-before-pre depresses). Weights stay in ``[0, w_max]``.
* After every image each neuron's input weights are rescaled to sum to ``w_norm * n_inputs``
  (the paper: 78 for 784 inputs, i.e. ``w_norm = 0.1``).
* The paper's 150 ms rest between images only lets the variables relax; we reset ``v``, the
  conductances and the traces instead (the thresholds ``theta`` persist, as they must). The paper's
  "repeat a weak image with a stronger input" is not reproduced: it would hide exactly the
  silence the detector is meant to measure.

After training, plasticity and adaptation are frozen, each neuron is labelled with the class it
responds to most on the training set, and a test image is classified by the class whose
neurons respond most on average (the voting classifier). Images are presented one after the other
(``lax.scan`` over images, a loop over time inside) in jitted chunks of ``chunk`` images;
between chunks the early stoppers see each image's total excitatory spike count.

One compiled program serves many configurations, which is what a study needs (issue 17): every
constant is a traced value (``Dynamics``), so is the number of steps per presentation, and the
excitatory layer is padded to a few widths (``padded_width``). A padded neuron's threshold is
infinite: it never spikes, so it inhibits nothing, learns nothing (no post spike, zero trace) and
keeps its all-zero input weights; the results are sliced back to the configured neurons. Time
step ``t`` draws its input spikes from ``fold_in(key, t)``, which is ``split(key, n_steps)[t]``
(the stream of the static-length scan this replaced) under JAX's partitionable threefry.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike
from tqdm.auto import tqdm

from jaxsnn.data.dataset import ImageDataset
from jaxsnn.nn.init import draw
from jaxsnn.record import EvaluationRecord
from jaxsnn.train.stopping import EarlyStopper, StopDecision, consult, run_record

E_REST_MV = -65.0
E_EXC_MV = 0.0
E_INH_MV = -100.0


_MAY_BE_ZERO = frozenset({"x_tar", "mu", "refractory_ms"})


@dataclasses.dataclass(frozen=True)
class STDPConfig:
    """Hyperparameters of the Diehl & Cook network; defaults are tuned for embedded 8x8 digits.

    They are the paper's MNIST values except where the input size matters (see
    ``DIEHL_COOK_MNIST``): 64 pixels carry far less total drive than 784, so the digits default
    drives them at 200 Hz instead of 63.75 Hz (at 63.75 Hz the 8x8 digits net is nearly silent),
    and ``dt_ms`` is 1 instead of 0.5 to halve the cost.

    ``chunk`` is how many images run in one compiled call between two looks of the early
    stoppers; it changes nothing else (image ``g`` draws its noise from ``fold_in(key, g)``). At
    10, a network the silent detector stops (``mnist_stdp``: 6 silent images lose the check at
    100) ends after 10 images, not 50, at no cost to a full run (600 digits: 5.35 s against 5.43 s).
    """

    n_neurons: int = 100
    threshold_mv: float = 13.0
    theta_plus_mv: float = 0.05
    tau_theta_ms: float = 1e7
    tau_mem_ms: float = 100.0
    tau_ge_ms: float = 1.0
    tau_gi_ms: float = 2.0
    refractory_ms: float = 5.0
    tau_pre_ms: float = 20.0
    tau_post_ms: float = 20.0
    nu_pre: float = 1e-4
    nu_post: float = 1e-2
    x_tar: float = 0.0
    mu: float = 0.0
    w_max: float = 1.0
    w_inh: float = 17.0
    w_norm: float = 0.1
    input_rate_hz: float = 200.0
    presentation_ms: float = 350.0
    epochs: int = 1
    dt_ms: float = 1.0
    chunk: int = 10

    def __post_init__(self) -> None:
        problems = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "int" and not (isinstance(value, int) and not isinstance(value, bool)):
                problems.append(f"{field.name}={value!r} must be an integer")
            elif not (isinstance(value, (int, float)) and math.isfinite(value)):
                problems.append(f"{field.name}={value!r} must be a finite number")
            elif value < 0 or (value == 0 and field.name not in _MAY_BE_ZERO):
                problems.append(f"{field.name}={value!r} must be {'>= 0' if field.name in _MAY_BE_ZERO else '> 0'}")
        if not problems and self.presentation_ms < self.dt_ms:
            problems.append(f"presentation_ms={self.presentation_ms} is shorter than one step dt_ms={self.dt_ms}")
        if problems:
            raise ValueError("invalid STDP config: " + "; ".join(problems))

    @property
    def n_steps(self) -> int:
        return int(round(self.presentation_ms / self.dt_ms))


DIEHL_COOK_MNIST = STDPConfig(n_neurons=400, input_rate_hz=63.75, presentation_ms=350.0, dt_ms=0.5)
"""The paper's published setting for MNIST (400 neurons, one epoch in their short runs)."""


class Dynamics(NamedTuple):
    """Per-step constants derived from a config; traced values so one compilation serves every
    configuration of the same shape (a search evaluates many)."""

    dt_over_tau: jax.Array
    decay_ge: jax.Array
    decay_gi: jax.Array
    decay_theta: jax.Array
    decay_pre: jax.Array
    decay_post: jax.Array
    refractory_steps: jax.Array
    spike_prob: jax.Array
    threshold: jax.Array
    theta_plus: jax.Array
    nu_pre: jax.Array
    nu_post: jax.Array
    x_tar: jax.Array
    mu: jax.Array
    w_max: jax.Array
    w_inh: jax.Array
    norm_total: jax.Array


def dynamics_of(cfg: STDPConfig, n_inputs: int) -> Dynamics:
    decay = lambda tau: math.exp(-cfg.dt_ms / tau)  # noqa: E731
    values = dict(
        dt_over_tau=cfg.dt_ms / cfg.tau_mem_ms,
        decay_ge=decay(cfg.tau_ge_ms),
        decay_gi=decay(cfg.tau_gi_ms),
        decay_theta=decay(cfg.tau_theta_ms),
        decay_pre=decay(cfg.tau_pre_ms),
        decay_post=decay(cfg.tau_post_ms),
        refractory_steps=round(cfg.refractory_ms / cfg.dt_ms),
        spike_prob=min(cfg.input_rate_hz * cfg.dt_ms / 1000.0, 1.0),
        threshold=cfg.threshold_mv,
        theta_plus=cfg.theta_plus_mv,
        nu_pre=cfg.nu_pre,
        nu_post=cfg.nu_post,
        x_tar=cfg.x_tar,
        mu=cfg.mu,
        w_max=cfg.w_max,
        w_inh=cfg.w_inh,
        norm_total=cfg.w_norm * n_inputs,
    )
    return Dynamics(**{k: jnp.asarray(v, jnp.float32) for k, v in values.items()})


class Traces(NamedTuple):
    """STDP eligibility: ``pre`` ``(C,)`` and ``post`` ``(N,)``."""

    pre: jax.Array
    post: jax.Array


def stdp_step(
    dyn: Dynamics, w: jax.Array, traces: Traces, pre: jax.Array, post: jax.Array
) -> tuple[jax.Array, Traces]:
    """One plasticity step for input spikes ``pre`` ``(C,)`` and output spikes ``post`` ``(N,)``.

    The pre trace includes this step's input spikes (an input spike can cause a same-step output
    spike); depression reads the post trace *before* this step's output spikes, so simultaneous
    spikes count as causal, never as post-before-pre.
    """
    x_pre = traces.pre * dyn.decay_pre + pre
    x_post = traces.post * dyn.decay_post
    dependence = (dyn.w_max - w) ** dyn.mu
    dw = dyn.nu_post * jnp.outer(x_pre - dyn.x_tar, post) * dependence - dyn.nu_pre * jnp.outer(pre, x_post)
    w = jnp.clip(w + dw, 0.0, dyn.w_max)
    return w, Traces(x_pre, x_post + post)


def normalize_columns(w: jax.Array, total: jax.Array) -> jax.Array:
    """Rescale each neuron's input weights to sum to ``total`` (all-zero columns stay zero)."""
    sums = w.sum(axis=0, keepdims=True)
    return jnp.where(sums > 0, w * (total / jnp.where(sums > 0, sums, 1.0)), w)


_normalize_initial = jax.jit(normalize_columns)


class State(NamedTuple):
    """One presentation's state: membrane, conductances, refractory counter, last spikes, the
    plastic weights and thresholds, the STDP traces and the spike counts so far."""

    v: jax.Array
    ge: jax.Array
    gi: jax.Array
    refr: jax.Array
    z: jax.Array
    w: jax.Array
    theta: jax.Array
    traces: Traces
    count: jax.Array


def initial_state(w: jax.Array, theta: jax.Array) -> State:
    """At rest, no conductance, trace or spike: how every image starts (only ``theta`` persists)."""
    n_in, n = w.shape
    zeros = jnp.zeros(n, jnp.float32)
    return State(zeros + E_REST_MV, zeros, zeros, zeros, zeros, w, theta, Traces(jnp.zeros(n_in), zeros), zeros)


def advance(dyn: Dynamics, s: State, pre: jax.Array, learn: bool) -> State:
    """One time step driven by the input spikes ``pre`` ``(C,)``."""
    ge = s.ge * dyn.decay_ge + pre @ s.w
    gi = s.gi * dyn.decay_gi + dyn.w_inh * (s.z.sum() - s.z)
    dv = (E_REST_MV - s.v) + ge * (E_EXC_MV - s.v) + gi * (E_INH_MV - s.v)
    resting = s.refr > 0
    v = jnp.where(resting, s.v, jnp.clip(s.v + dyn.dt_over_tau * dv, E_INH_MV, E_EXC_MV))
    z = ((~resting) & (v > E_REST_MV + dyn.threshold + s.theta)).astype(jnp.float32)
    v = jnp.where(z > 0, E_REST_MV, v)
    refr = jnp.where(z > 0, dyn.refractory_steps, jnp.maximum(s.refr - 1.0, 0.0))
    w, traces, theta = s.w, s.traces, s.theta
    if learn:
        w, traces = stdp_step(dyn, w, traces, pre, z)
        theta = theta * dyn.decay_theta + dyn.theta_plus * z
    return State(v, ge, gi, refr, z, w, theta, traces, s.count + z)


def _present(
    dyn: Dynamics, w: jax.Array, theta: jax.Array, image: jax.Array, key: jax.Array, n_steps: jax.Array, learn: bool
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Show one flattened image for ``n_steps`` (traced); return weights, thresholds, spike counts ``(N,)``."""
    prob = dyn.spike_prob * image

    def step(t: jax.Array, s: State) -> State:
        pre = (jax.random.uniform(jax.random.fold_in(key, t), prob.shape) < prob).astype(jnp.float32)
        return advance(dyn, s, pre, learn)

    final = lax.fori_loop(0, n_steps, step, initial_state(w, theta))
    return final.w, final.theta, final.count


_RUN_FAST = {"xla_cpu_use_fusion_emitters": True}
"""XLA's own CPU emitters for the two simulation programs, whatever ``XLA_FLAGS`` says: a study
selects the classic ones process-wide (``jaxsnn.xla_defaults``: small SG programs compile faster),
but these long scans ran 1.5-1.7x slower under them (one digits trial, 100 ms presentations:
12.2 s against 7.3 s), far more than they save in compiling."""


def _image_keys(key: jax.Array, first: jax.Array, n: int) -> jax.Array:
    """The keys of images ``first .. first + n - 1``: ``fold_in(key, index)``, whatever the chunks."""
    return jax.vmap(lambda i: jax.random.fold_in(key, first + i))(jnp.arange(n))


@functools.partial(jax.jit, compiler_options=_RUN_FAST)
def _train_chunk(dyn, w, theta, images, key, first, valid, n_steps):
    """Present ``images`` one after the other with plasticity on; padded rows (``~valid``) are
    simulated but leave weights and thresholds untouched, so every chunk has one shape. Image
    ``i`` of the chunk is image ``first + i`` of the run, whose noise comes from ``key``."""
    keys = _image_keys(key, first, len(images))

    def one(carry, xs):
        w, theta = carry
        image, key, ok = xs
        w_new, theta_new, counts = _present(dyn, w, theta, image, key, n_steps, learn=True)
        w_new = normalize_columns(w_new, dyn.norm_total)
        return (jnp.where(ok, w_new, w), jnp.where(ok, theta_new, theta)), counts

    (w, theta), counts = lax.scan(one, (w, theta), (images, keys, valid))
    return w, theta, counts


@functools.partial(jax.jit, compiler_options=_RUN_FAST)
def _respond_chunk(dyn, w, theta, images, key, first, n_steps):
    """Frozen network: images are independent, so they run as one vectorised batch."""
    keys = _image_keys(key, first, len(images))
    present = lambda image, key: _present(dyn, w, theta, image, key, n_steps, learn=False)[2]  # noqa: E731
    return jax.vmap(present)(images, keys)


def padded_width(n: int) -> int:
    """The width the excitatory layer is simulated at: the least of 16, 24, 32, 48, 64, 96, ...
    (powers of two and their halfway points) not below ``n``. A study's 10-200 neurons then need
    nine programs of each kind, at most 1.5x the neurons from 16 up (one chunk of 25 digits, 350 steps:
    0.17 s at 128 neurons, 0.24 s at 200, 0.31 s at 256 against about 0.9 s to compile one)."""
    width = 16
    while width < n:
        width = width * 3 // 2 if width & (width - 1) == 0 else width * 4 // 3
    return width


def _padded(w: ArrayLike, theta: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """Weights and thresholds of ``padded_width`` neurons: the extra ones have no input weights and
    an infinite threshold, so they never spike and change nothing. Padded on the host: an eager
    pad would compile a program per width."""
    w, theta = np.asarray(w), np.asarray(theta)
    extra = padded_width(w.shape[1]) - w.shape[1]
    return jax.device_put(np.pad(w, ((0, 0), (0, extra)))), jax.device_put(
        np.pad(theta, (0, extra), constant_values=np.inf))


def _steps(cfg: STDPConfig) -> jax.Array:
    return jnp.asarray(cfg.n_steps, jnp.int32)


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield start, min(start + size, n)


def _pad(array: np.ndarray, size: int) -> np.ndarray:
    return np.concatenate([array, np.zeros((size - len(array), *array.shape[1:]), array.dtype)])


def respond(cfg: STDPConfig, w: jax.Array, theta: jax.Array, images: np.ndarray, key: jax.Array) -> np.ndarray:
    """Spike counts ``(n_images, N)`` of the frozen network (no plasticity, fixed thresholds)."""
    dyn = dynamics_of(cfg, images.shape[1])
    size = max(cfg.chunk, 256)
    n = w.shape[1]
    w, theta = _padded(w, theta)
    out = []
    for start, stop in _chunks(len(images), size):
        counts = _respond_chunk(dyn, w, theta, jnp.asarray(_pad(images[start:stop], size)), key, jnp.int32(start),
                                _steps(cfg))  # fmt: skip
        out.append(np.asarray(counts)[: stop - start, :n])
    return np.concatenate(out) if out else np.zeros((0, n), np.float32)


def assign_labels(counts: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Label each neuron with the class of highest mean response (``(N,)`` ints).

    A neuron that never fired on the labelling set gets -1 and takes part in no vote (the paper
    labels it class 0, where it would only dilute that class's mean response).
    """
    per_class = np.zeros((n_classes, counts.shape[1]))
    for c in range(n_classes):
        members = labels == c
        if members.any():
            per_class[c] = counts[members].mean(axis=0)
    return np.where(per_class.max(axis=0) > 0, per_class.argmax(axis=0), -1)


def vote(counts: np.ndarray, assignments: np.ndarray, n_classes: int) -> np.ndarray:
    """Predict the class whose assigned neurons fire most on average; classes without neurons
    never win (their score is -1, below any mean count)."""
    scores = np.full((counts.shape[0], n_classes), -1.0)
    for c in range(n_classes):
        members = assignments == c
        if members.any():
            scores[:, c] = counts[:, members].mean(axis=1)
    return scores.argmax(axis=1)


class Fit(NamedTuple):
    """Outcome of unsupervised training: weights ``(C, N)``, thresholds ``(N,)`` (host arrays of the
    configured neurons), the stop decision (``None`` when all epochs ran), full epochs run, images
    seen, spikes per image."""

    w: np.ndarray
    theta: np.ndarray
    decision: StopDecision | None
    epochs_run: int
    samples_seen: int
    spikes_per_sample: float


def fit_stdp(
    cfg: STDPConfig,
    images: np.ndarray,
    *,
    stoppers: Sequence[EarlyStopper] = (),
    seed: int = 0,
    progress: bool = False,
) -> Fit:
    """Unsupervised STDP over flattened ``images`` ``(n, C)`` in [0, 1], ``cfg.epochs`` times.

    After every chunk each stopper gets each image's total excitatory spike count (the excitatory
    layer is the output layer) and ``{"excitatory": spikes per neuron per step}``; every stopper
    sees every chunk and the first decision ends training.
    """
    n_in = images.shape[1]
    dyn = dynamics_of(cfg, n_in)
    key, init_key = jax.random.split(jax.random.PRNGKey(seed))
    # One program per width bucket for the initial weights (normalised as one program, bit-identical to
    # the six eager operations it replaces) and none for the draw and the thresholds: a new width
    # compiled eight small programs, about 0.5 s of an STDP trial's setup in a study.
    w = draw(init_key, (n_in, cfg.n_neurons), "uniform", 0.3 * cfg.w_max)
    w, theta = _padded(w, np.zeros(cfg.n_neurons, np.float32))
    w = _normalize_initial(w, dyn.norm_total)  # the padded columns are zero and stay so
    rng = np.random.default_rng(seed)
    decision, epochs_run, seen, spikes = None, 0, 0, 0.0
    bar = tqdm(total=cfg.epochs * len(images), desc="stdp", unit="image", disable=not progress, leave=False)
    steps = _steps(cfg)
    for epoch in range(cfg.epochs):
        order = rng.permutation(len(images))
        for start, stop in _chunks(len(order), cfg.chunk):
            batch = _pad(images[order[start:stop]], cfg.chunk)
            valid = jnp.asarray(np.arange(cfg.chunk) < stop - start)
            first = jnp.int32(epoch * len(order) + start)
            w, theta, counts = _train_chunk(dyn, w, theta, jnp.asarray(batch), key, first, valid, steps)
            per_image = np.asarray(counts)[: stop - start].sum(axis=1)
            seen, spikes = seen + len(per_image), spikes + float(per_image.sum())
            rates = {"excitatory": float(per_image.mean()) / (cfg.n_neurons * cfg.n_steps)}
            bar.update(len(per_image))
            decision = consult(stoppers, per_image, rates)
            if decision is not None:
                break
        if decision is not None:
            break
        epochs_run += 1
    bar.close()
    # On the host: more programs per width otherwise.
    w, theta = np.asarray(w)[:, : cfg.n_neurons], np.asarray(theta)[: cfg.n_neurons]
    if not (np.isfinite(w).all() and np.isfinite(theta).all()):
        raise FloatingPointError(f"STDP weights or thresholds became non-finite after {seen} images")
    return Fit(w, theta, decision, epochs_run, seen, spikes / max(seen, 1))


def _flat(data: ImageDataset) -> np.ndarray:
    images = np.asarray(data.images, np.float32).reshape(len(data.images), -1)
    if images.size and (images.min() < 0 or images.max() > 1):
        raise ValueError(
            f"{data.name}: STDP rate coding needs intensities in [0, 1], got [{images.min()}, {images.max()}]"
        )
    return images


def train_stdp(
    cfg: STDPConfig,
    train: ImageDataset,
    test: ImageDataset,
    *,
    stoppers: Sequence[EarlyStopper] = (),
    seed: int = 0,
    progress: bool = True,
    params: dict[str, Any] | None = None,
) -> EvaluationRecord:
    """Train unsupervised, label the neurons on ``train``, classify ``test`` by voting.

    Objectives: ``accuracy`` (test) and ``train_accuracy`` (the labelling set, voted). A run
    stopped by a stopper skips labelling and testing and records ``accuracy`` 0: an unsupervised
    net has no class readout before its neurons are labelled, and it never got there. ``spikes``
    is excitatory spikes per image (test images, or training images when stopped). ``params`` is
    what the record stores (default: the config's fields).
    """
    start_time = time.perf_counter()
    x_train, x_test = _flat(train), _flat(test)
    fit_start = time.perf_counter()
    fit = fit_stdp(cfg, x_train, stoppers=stoppers, seed=seed, progress=progress)
    train_time_s = time.perf_counter() - fit_start
    params = dict(params) if params is not None else dataclasses.asdict(cfg)
    metrics = {"samples_seen": fit.samples_seen, "planned_samples": cfg.epochs * len(x_train),
               "train_time_s": train_time_s, "train_spikes_per_sample": fit.spikes_per_sample,
               "mean_theta_mv": float(np.mean(fit.theta))}
    if fit.decision is not None:
        return run_record(params, fit.decision.status, {"accuracy": 0.0, "train_accuracy": 0.0}, stoppers,
                          cost_s=time.perf_counter() - start_time, spikes=fit.spikes_per_sample,
                          epochs_run=fit.epochs_run, metrics={**metrics, "stop_reason": fit.decision.reason})  # fmt: skip
    label_key, test_key = jax.random.split(jax.random.PRNGKey(seed + 1))
    train_counts = respond(cfg, fit.w, fit.theta, x_train, label_key)
    assignments = assign_labels(train_counts, np.asarray(train.labels), train.n_classes)
    test_counts = respond(cfg, fit.w, fit.theta, x_test, test_key)
    accuracy = lambda counts, labels: float(np.mean(vote(counts, assignments, train.n_classes) == labels))  # noqa: E731
    objectives = {"accuracy": accuracy(test_counts, np.asarray(test.labels)),
                  "train_accuracy": accuracy(train_counts, np.asarray(train.labels))}  # fmt: skip
    return run_record(params, "complete", objectives, stoppers, cost_s=time.perf_counter() - start_time,
                      spikes=float(test_counts.sum(axis=1).mean()), epochs_run=fit.epochs_run, metrics=metrics)
