"""Spike response model (SRM) layers as trained by SLAYER (Shrestha & Orchard, 2018).

An SRM neuron has no leaky state equation; its membrane is a sum of kernels, in time steps::

    u(t) = (eps * (W s_in))(t) + (nu * s_out)(t)        s_out(t) = H(u(t) - theta)
    eps(t) = (t / tau_s) exp(1 - t / tau_s)              spike response, peak 1 at t = tau_s
    nu(t)  = -2 theta (t / tau_r) exp(1 - t / tau_r)     refractory response, for t >= 0

Both kernels vanish at ``t = 0``: an input spike at ``t0`` first moves the membrane at ``t0 + 1``,
and an output spike at ``t`` first pulls it down at ``t + 1``.

How it is computed, and why:

* ``eps`` acts on the inputs only, so it is applied to the whole window at once as a causal
  convolution with the kernel truncated where it falls below ``tolerance``. The convolution is a
  product with a banded lower-triangular ``(T, T)`` Toeplitz matrix: on CPU, XLA's
  single-channel ``conv_general_dilated`` along time measured ~40x slower than this matmul (and
  ``jnp.convolve`` lowers to that conv), for the same numbers.
* ``nu`` acts on the neuron's own output, so spike generation is a ``lax.scan`` over time. The
  sampled kernel ``nu[k] = c k d^k`` (``d = exp(-1/tau_r)``, ``c = -2 theta e / tau_r``) has a
  two-pole z-transform, so the scan carries two numbers per neuron (``p = sum_k d^k s[t-k]``,
  ``q = sum_k k d^k s[t-k]``) and applies ``nu`` exactly and untruncated, instead of a ring buffer
  of ``K`` future refractory values per neuron (the CUDA SLAYER approach, ``K``x the memory that
  autodiff has to keep for the backward pass).

The spike is ``jaxsnn.core.surrogate.spike``: Heaviside forward, the chosen surrogate backward,
the same SG family as the LIF core. Gradients flow through the refractory term too (autodiff
through the scan), the analogue of a differentiated reset in the LIF core.

Layers take and return time-major spike tensors ``(T, B, ...)`` like ``lif_scan``. Convolutions
and pooling use the channel-first layout of ``SpikeDataset`` event frames, ``(T, B, C, H, W)``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

from jaxsnn.core.surrogate import Surrogate, spike

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class SRMParams:
    """Time constants (in time steps), threshold and kernel truncation of one SRM population.

    ``tolerance`` truncates ``eps`` after its peak once it falls below ``tolerance`` (relative to
    the peak value 1); ``nu`` is never truncated (see the module docstring).
    """

    tau_s: float = 2.0
    tau_r: float = 2.0
    theta: float = 1.0
    tolerance: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("tau_s", "tau_r", "theta"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"SRM {name} must be a finite number > 0, got {value!r}")
        if not 0.0 < self.tolerance < 1.0:
            raise ValueError(f"SRM kernel tolerance must lie in (0, 1), got {self.tolerance!r}")


class SRMOutput(NamedTuple):
    """Spikes ``(T, B, ...)`` and membrane ``u`` ``(T, B, ...)`` when asked for (else ``None``)."""

    spikes: Array
    voltages: Array | None


def epsilon_kernel(tau_s: float, steps: int) -> np.ndarray:
    """``eps[k] = (k / tau_s) exp(1 - k / tau_s)`` for ``k = 0 .. steps - 1``."""
    x = np.arange(steps, dtype=np.float64) / tau_s
    return x * np.exp(1.0 - x)


def refractory_kernel(tau_r: float, theta: float, steps: int) -> np.ndarray:
    """``nu[k] = -2 theta (k / tau_r) exp(1 - k / tau_r)`` for ``k = 0 .. steps - 1``."""
    return -2.0 * theta * epsilon_kernel(tau_r, steps)


def epsilon_length(tau_s: float, tolerance: float) -> int:
    """Smallest ``K`` with ``eps[k] < tolerance`` for every ``k >= K`` (past the peak it only decays)."""
    k = int(math.ceil(tau_s))
    while epsilon_kernel(tau_s, k + 1)[k] >= tolerance:
        k += 1
    return k


def causal_filter(currents: Array, kernel: np.ndarray) -> Array:
    """``out[t] = sum_k kernel[k] currents[t - k]`` along the leading (time) axis, zero history.

    ``kernel`` longer than the window is cut to the window: earlier taps cannot be reached.
    """
    steps = currents.shape[0]
    kernel = np.asarray(kernel)[:steps]
    lag = np.arange(steps)[:, None] - np.arange(steps)[None, :]
    toeplitz = np.where((lag >= 0) & (lag < len(kernel)), kernel[np.clip(lag, 0, len(kernel) - 1)], 0.0)
    flat = currents.reshape(steps, -1)
    return (jnp.asarray(toeplitz, currents.dtype) @ flat).reshape(currents.shape)


def srm_scan(
    psp: Array, params: SRMParams, surrogate: Surrogate, *, return_voltages: bool = False
) -> SRMOutput:
    """Generate spikes from the filtered input ``psp = eps * (W s_in)``, ``(T, B, ...)``.

    Adds the exact refractory response of the neuron's own spikes (two-state recursion, see the
    module docstring) and thresholds with the surrogate spike function.
    """
    decay = math.exp(-1.0 / params.tau_r)
    scale = -2.0 * params.theta * math.e / params.tau_r
    zeros = jnp.zeros(psp.shape[1:], psp.dtype)

    def body(carry: tuple[Array, Array], drive: Array) -> tuple[tuple[Array, Array], tuple[Array, Array]]:
        p, q = carry
        u = drive + scale * q
        s = spike(u - params.theta, surrogate)
        new = (decay * (p + s), decay * (q + p + s))
        return new, (s, u if return_voltages else jnp.zeros((), psp.dtype))

    _, (spikes, voltages) = lax.scan(body, (zeros, zeros), psp)
    return SRMOutput(spikes, voltages if return_voltages else None)


def srm_response(
    currents: Array, params: SRMParams, surrogate: Surrogate, *, return_voltages: bool = False
) -> SRMOutput:
    """Full SRM population: synaptic currents ``W s_in`` ``(T, B, ...)`` to output spikes."""
    kernel = epsilon_kernel(params.tau_s, epsilon_length(params.tau_s, params.tolerance))
    return srm_scan(causal_filter(currents, kernel), params, surrogate, return_voltages=return_voltages)


def over_time(fn: Callable[[Array], Array], spikes: Array) -> Array:
    """Apply a per-sample map to ``(T, B, ...)`` by folding time into the batch."""
    steps, batch = spikes.shape[:2]
    out = fn(spikes.reshape(steps * batch, *spikes.shape[2:]))
    return out.reshape(steps, batch, *out.shape[1:])


def conv2d(x: Array, weight: Array) -> Array:
    """Stride-1 ``SAME`` convolution of ``(M, C, H, W)`` with ``(O, C, k, k)`` weights."""
    return lax.conv_general_dilated(
        x, weight, (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW")
    )


def sum_pool(x: Array, factor: int) -> Array:
    """Non-overlapping ``factor x factor`` sum pooling of ``(M, C, H, W)`` (ragged edges dropped)."""
    m, c, h, w = x.shape
    h, w = h // factor, w // factor
    x = x[:, :, : h * factor, : w * factor].reshape(m, c, h, factor, w, factor)
    return x.sum(axis=(3, 5))


def normal_param(rngs: nnx.Rngs, shape: tuple[int, ...], std: float) -> nnx.Param:
    """A ``N(0, std^2)`` float32 weight drawn on the host from the next ``rngs.params()`` key.

    Eager ``jax.random.normal`` compiles one kernel per weight shape (0.5-2 s each measured on
    these CPUs), more than training a small network takes; NumPy seeded by the key is instant
    and just as reproducible.
    """
    seed = np.asarray(jax.random.key_data(rngs.params()))
    return nnx.Param(jnp.asarray(std * np.random.default_rng(seed).standard_normal(shape), jnp.float32))


class SRMDense(nnx.Module):
    """Fully connected SRM layer; inputs ``(T, B, ...)`` are flattened per time step.

    Weights start ``N(0, (weight_scale / sqrt(in_features))^2)``; how large they must be for the
    layer to fire depends on input rates and ``theta``, hence the explicit ``weight_scale``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        srm: SRMParams = SRMParams(),
        surrogate: Surrogate = Surrogate(),
        weight_scale: float = 1.0,
        rngs: nnx.Rngs,
    ) -> None:
        self.weight = normal_param(rngs, (in_features, out_features), weight_scale / math.sqrt(in_features))
        self.srm = srm
        self.surrogate = surrogate

    def __call__(self, spikes: Array) -> Array:
        flat = spikes.reshape(*spikes.shape[:2], -1)
        return srm_response(flat @ self.weight[...], self.srm, self.surrogate).spikes


class SRMConv(nnx.Module):
    """Convolutional SRM layer (stride 1, ``SAME`` padding): ``(T, B, C, H, W)`` to ``(T, B, O, H, W)``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        srm: SRMParams = SRMParams(),
        surrogate: Surrogate = Surrogate(),
        weight_scale: float = 1.0,
        rngs: nnx.Rngs,
    ) -> None:
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.weight = normal_param(rngs, shape, weight_scale / math.sqrt(in_channels * kernel_size**2))
        self.srm = srm
        self.surrogate = surrogate

    def __call__(self, spikes: Array) -> Array:
        currents = over_time(lambda x: conv2d(x, self.weight[...]), spikes)
        return srm_response(currents, self.srm, self.surrogate).spikes


class SRMPool(nnx.Module):
    """SLAYER's pooling layer: SRM neurons fed by a fixed sum over ``factor x factor`` windows.

    The fixed weight ``scale * theta`` (SLAYER uses 1.1) lets one input spike make the pooled neuron
    fire, so pooling downsamples without silencing sparse event streams. Not trained.
    """

    def __init__(
        self,
        factor: int,
        *,
        srm: SRMParams = SRMParams(),
        surrogate: Surrogate = Surrogate(),
        scale: float = 1.1,
    ) -> None:
        if factor < 1:
            raise ValueError(f"pooling factor must be >= 1, got {factor!r}")
        self.factor = factor
        self.weight = scale * srm.theta
        self.srm = srm
        self.surrogate = surrogate

    def __call__(self, spikes: Array) -> Array:
        currents = self.weight * over_time(lambda x: sum_pool(x, self.factor), spikes)
        return srm_response(currents, self.srm, self.surrogate).spikes


class SRMNetwork(nnx.Module):
    """A feed-forward stack of SRM layers; returns the spikes of every layer.

    Every layer's spikes are returned (not only the output) because trainers report per-layer
    firing rates to early stoppers and count all spikes as the energy proxy.
    """

    def __init__(self, layers: list[nnx.Module]) -> None:
        if not layers:
            raise ValueError("an SRM network needs at least one layer")
        self.layers = nnx.List(layers)

    def __call__(self, spikes: Array) -> list[Array]:
        outputs = []
        for layer in self.layers:
            spikes = layer(spikes)
            outputs.append(spikes)
        return outputs


def spike_count_loss(
    output_spikes: Array, labels: Array, true_count: float, false_count: float
) -> Array:
    """SLAYER's NumSpikes loss: squared error between output spike counts and target counts.

    ``output_spikes`` is ``(T, B, classes)``; the neuron of the true class should fire
    ``true_count`` times over the window, every other one ``false_count`` times (a non-zero
    ``false_count`` keeps wrong-class neurons near threshold, where the surrogate has gradient).
    Returns ``0.5 * sum_c (count_c - target_c)^2`` averaged over the batch. Its gradient with
    respect to every ``s[t]`` is the count error, SLAYER's error signal spread over the window.
    """
    counts = output_spikes.sum(axis=0)
    one_hot = jax.nn.one_hot(labels, counts.shape[-1], dtype=counts.dtype)
    target = false_count + (true_count - false_count) * one_hot
    return 0.5 * jnp.mean(jnp.sum((counts - target) ** 2, axis=-1))
