"""The two networks of ANN-to-SNN conversion: the bias-free ReLU network trained as an ANN, and
the IF spiking network it becomes (:func:`jaxsnn.train.conversion.convert` maps one to the other;
the design choices they share are explained there). Both are built from the same ``Block`` s:
average pooling folded into the next layer, then a bias-free conv or dense map.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxsnn.core import LIFParams, LIFState, Surrogate, lif_scan
from jaxsnn.nn.srm import conv2d, normal_param, over_time, sum_pool

Array = jax.Array
ENCODINGS: tuple[str, ...] = ("constant", "rate")


@dataclasses.dataclass(frozen=True)
class Block:
    """One weight layer: average-pool the input by ``pool``, then a bias-free ``conv`` (square
    ``kernel``, stride 1, ``SAME``) or ``dense`` map to ``features`` outputs."""

    kind: str
    features: int
    kernel: int = 1
    pool: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("conv", "dense"):
            raise ValueError(f"block kind must be 'conv' or 'dense', got {self.kind!r}")

    def pooled_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample shape after the input pooling."""
        if self.pool == 1:
            return in_shape
        if len(in_shape) != 3:
            raise ValueError(f"pooling needs (C, H, W) inputs, got per-sample shape {in_shape}")
        return (in_shape[0], in_shape[1] // self.pool, in_shape[2] // self.pool)

    def weight_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Weight shape for per-sample input ``in_shape`` (before pooling)."""
        in_shape = self.pooled_shape(in_shape)
        if self.kind == "conv":
            return (self.features, in_shape[0], self.kernel, self.kernel)
        return (int(np.prod(in_shape)), self.features)

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape for per-sample input ``in_shape``."""
        in_shape = self.pooled_shape(in_shape)
        return (self.features, *in_shape[1:]) if self.kind == "conv" else (self.features,)

    def apply(self, weight: Array, x: Array) -> Array:
        """The block on a batch ``(M, ...)`` of per-sample inputs."""
        if self.pool > 1:
            x = sum_pool(x, self.pool) / self.pool**2
        if self.kind == "conv":
            return conv2d(x, weight)
        return x.reshape(x.shape[0], -1) @ weight


def make_blocks(
    conv_channels: Sequence[int], conv_kernels: Sequence[int], pool: int, hidden: Sequence[int], n_classes: int
) -> tuple[Block, ...]:
    """Conv layers (average pool by ``pool`` after each), dense ``hidden`` layers, a class layer."""
    convs = [
        Block("conv", c, k, pool if i > 0 else 1) for i, (c, k) in enumerate(zip(conv_channels, conv_kernels))
    ]
    dense = [
        Block("dense", n, pool=pool if (i == 0 and convs) else 1)
        for i, n in enumerate((*hidden, n_classes))
    ]
    return (*convs, *dense)


def layer_names(blocks: Sequence[Block]) -> tuple[str, ...]:
    """``conv<i>`` / ``hidden<i>`` for the spiking layers (the last block is the readout)."""
    counters = {"conv": 0, "dense": 0}
    names = []
    for block in blocks[:-1]:
        prefix = "conv" if block.kind == "conv" else "hidden"
        names.append(f"{prefix}{counters[block.kind]}")
        counters[block.kind] += 1
    return tuple(names)


class ReLUNet(nnx.Module):
    """The bias-free ReLU network that is trained as an ANN and then converted."""

    def __init__(self, input_shape: Sequence[int], blocks: Sequence[Block], *, rngs: nnx.Rngs) -> None:
        self.blocks = tuple(blocks)
        shape = tuple(input_shape)
        weights = []
        for block in self.blocks:
            if block.kind == "conv" and len(shape) != 3:
                raise ValueError(f"a conv block needs (C, H, W) inputs, got per-sample shape {shape}")
            w_shape = block.weight_shape(shape)
            fan_in = int(np.prod(w_shape[1:])) if block.kind == "conv" else w_shape[0]
            # He initialisation: keeps ReLU activations of similar size through depth.
            weights.append(normal_param(rngs, w_shape, math.sqrt(2.0 / fan_in)))
            shape = block.out_shape(shape)
            if min(shape) < 1:
                raise ValueError(f"pooling shrinks the {tuple(input_shape)} inputs to nothing ({shape})")
        self.weights = nnx.List(weights)

    def activations(self, images: Array) -> list[Array]:
        """Every hidden layer's ReLU output, then the logits."""
        x, outs = images, []
        for i, (block, weight) in enumerate(zip(self.blocks, self.weights)):
            x = block.apply(weight[...], x)
            if i < len(self.blocks) - 1:
                x = jax.nn.relu(x)
            outs.append(x)
        return outs

    def __call__(self, images: Array) -> Array:
        return self.activations(images)[-1]


class SNNOutput(NamedTuple):
    """Logits ``(B, classes)`` (mean readout current) and each spiking layer's spikes ``(T, B, ...)``."""

    logits: Array
    spikes: dict[str, Array]


class ConvertedSNN(nnx.Module):
    """The IF network obtained from a ``ReLUNet``: same blocks, normalised weights.

    ``scales`` are the ``lambda_l`` used (kept to compare rates with normalised ANN activations);
    ``leak`` < 1 turns the IF neurons into LIF ones for fine-tuning (conversion assumes 1).
    """

    def __init__(
        self,
        blocks: Sequence[Block],
        weights: Sequence[Array],
        scales: Sequence[float],
        *,
        threshold: float = 1.0,
        leak: float = 1.0,
        initial_potential: float = 0.5,
        encoding: str = "constant",
        surrogate: Surrogate = Surrogate(),
        backend: str = "auto",
    ) -> None:
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown input encoding {encoding!r}; valid: {', '.join(ENCODINGS)}")
        if not 0.0 <= initial_potential < 1.0:
            raise ValueError(f"initial_potential must lie in [0, 1) (x threshold), got {initial_potential!r}")
        self.blocks = tuple(blocks)
        self.names = layer_names(self.blocks)
        self.weights = nnx.List([nnx.Param(jnp.asarray(w)) for w in weights])
        self.scales = tuple(float(s) for s in scales)
        self.neuron = LIFParams(alpha=float(leak), theta=float(threshold))
        self.initial_potential = float(initial_potential)
        self.encoding = encoding
        self.surrogate = surrogate
        self.backend = backend

    def _fire(self, currents: Array) -> Array:
        """IF/LIF neurons over time for currents ``(T, B, ...)``."""
        flat = currents.reshape(*currents.shape[:2], -1)
        v0 = jnp.full(flat.shape[1:], self.initial_potential * self.neuron.theta, flat.dtype)
        state = LIFState(v0, jnp.zeros_like(v0))
        out = lif_scan(self.neuron, flat, state, self.surrogate, backend=self.backend)
        return out.spikes.reshape(currents.shape)

    def __call__(self, images: Array, time_steps: int, key: Array | None = None) -> SNNOutput:
        """Present ``images`` ``(B, C, H, W)`` for ``time_steps`` steps (``key``: rate encoding)."""
        first, weight0 = self.blocks[0], self.weights[0][...]
        if self.encoding == "constant":
            current = first.apply(weight0, images)
            currents = jnp.broadcast_to(current, (time_steps, *current.shape))
        else:
            if key is None:
                raise ValueError("rate encoding draws input spikes and needs a PRNG key")
            spikes_in = jax.random.bernoulli(key, images, (time_steps, *images.shape))
            currents = over_time(lambda x: first.apply(weight0, x), spikes_in.astype(images.dtype))
        spikes = {}
        for name, block, weight in zip(self.names, self.blocks[1:], self.weights[1:]):
            spikes[name] = self._fire(currents)
            currents = over_time(lambda x: block.apply(weight[...], x), spikes[name])
        return SNNOutput(currents.mean(axis=0), spikes)
