"""A spiking classifier assembled from layer sizes: optional conv stack, LIF hidden layers, readout.

Inputs are batch-first like the datasets, ``(B, T, C)`` for spike trains or ``(B, T, P, H, W)``
for event-camera frames (``P`` polarity channels); the network works time-major inside because
that is what the LIF core scans over.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jaxsnn.core import Surrogate
from jaxsnn.nn.layers import LIFConv, LIFDense, LIFRecurrent, flatten_features
from jaxsnn.nn.neuron import LIFSpec
from jaxsnn.nn.readout import READOUTS, LeakyIntegrator, membrane_logits

OUTPUT_LAYER = "output"
"""Name of the spiking output layer (``spike_count`` readout) in ``SpikingOutput.spikes``."""


@dataclasses.dataclass(frozen=True)
class ConvSpec:
    """One convolutional LIF layer: ``channels`` out, square ``kernel``, ``stride``."""

    channels: int
    kernel: int = 3
    stride: int = 1

    def __post_init__(self) -> None:
        for name in ("channels", "kernel", "stride"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value > 0):
                raise ValueError(f"conv layer {name} must be a positive integer, got {value!r}")


class SpikingOutput(NamedTuple):
    """What a forward pass exposes to the loss, the metrics and the early stoppers.

    ``spikes`` maps each spiking layer's name (``conv<i>``, ``hidden<i>``, ``output``) to its
    time-major spikes ``(T, B, ...)``, in input-to-output order. ``output_counts`` ``(B,)`` are
    the spikes per sample of the *output* layer: the spiking output layer for the
    ``spike_count`` readout, else the last spiking layer, because a non-spiking membrane readout
    emits no spikes and the last spiking layer is what carries its information (a silent last
    layer means a constant readout).
    """

    logits: jax.Array
    spikes: dict[str, jax.Array]
    output_counts: jax.Array

    @property
    def hidden_spikes(self) -> dict[str, jax.Array]:
        """Spikes of every layer except a spiking output layer (what sparsity losses regularise)."""
        return {name: z for name, z in self.spikes.items() if name != OUTPUT_LAYER}


class SpikingClassifier(nnx.Module):
    """Conv LIF stack (frames only) -> dense LIF layers (recurrent or not) -> readout.

    ``input_shape`` is the shape of one time step of one sample: ``(C,)`` or ``(P, H, W)``.
    Frames without a conv stack are flattened into the dense layers.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        *,
        hidden: Sequence[int] = (128,),
        recurrent: bool = False,
        conv: Sequence[ConvSpec] = (),
        readout: str = "max_membrane",
        readout_alpha: float = 0.9,
        neuron: LIFSpec = LIFSpec(),
        surrogate: Surrogate = Surrogate(),
        weight_scale: float = 1.0,
        rec_mean: float = 0.0,
        rec_std: float | None = None,
        rngs: nnx.Rngs,
    ) -> None:
        input_shape = tuple(input_shape)
        if readout not in READOUTS:
            raise ValueError(f"unknown readout {readout!r}; valid readouts: {', '.join(READOUTS)}")
        if len(input_shape) not in (1, 3):
            raise ValueError(
                f"input_shape must be (C,) or (P, H, W) per time step, got {input_shape}"
            )
        if conv and len(input_shape) != 3:
            raise ValueError(
                f"conv layers need event-camera frames (P, H, W), got input shape {input_shape}"
            )
        if readout != "spike_count" and not (conv or hidden):
            raise ValueError(
                f"the {readout} readout needs at least one spiking (conv or hidden) layer"
            )
        self.frames = len(input_shape) == 3
        self.readout = readout

        convs = []
        if self.frames:
            channels, height, width = input_shape
            for spec in conv:
                layer = LIFConv(
                    channels,
                    spec.channels,
                    neuron,
                    surrogate,
                    kernel_size=spec.kernel,
                    stride=spec.stride,
                    rngs=rngs,
                    weight_scale=weight_scale,
                )
                height, width, channels = layer.output_shape(height, width)
                convs.append(layer)
            features = height * width * channels
        else:
            features = input_shape[0]
        self.convs = nnx.List(convs)

        dense = []
        for size in hidden:
            if recurrent:
                layer = LIFRecurrent(
                    features,
                    size,
                    neuron,
                    surrogate,
                    rngs=rngs,
                    weight_scale=weight_scale,
                    rec_mean=rec_mean,
                    rec_std=rec_std,
                )
            else:
                layer = LIFDense(
                    features, size, neuron, surrogate, rngs=rngs, weight_scale=weight_scale
                )
            dense.append(layer)
            features = size
        self.hidden = nnx.List(dense)

        if readout == "spike_count":
            self.output = LIFDense(
                features, n_classes, neuron, surrogate, rngs=rngs, weight_scale=weight_scale
            )
        else:
            self.output = LeakyIntegrator(
                features, n_classes, alpha=readout_alpha, rngs=rngs, weight_scale=weight_scale
            )

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Names of the spiking layers, as keys of ``SpikingOutput.spikes``."""
        names = [f"conv{i}" for i in range(len(self.convs))]
        names += [f"hidden{i}" for i in range(len(self.hidden))]
        return tuple(names + ([OUTPUT_LAYER] if self.readout == "spike_count" else []))

    def __call__(self, x: jax.Array) -> SpikingOutput:
        x = jnp.swapaxes(x, 0, 1)  # (T, B, ...)
        if self.frames:
            x = jnp.moveaxis(x, 2, -1)  # (T, B, H, W, P): channels last for nnx.Conv
        spikes: dict[str, jax.Array] = {}
        for i, layer in enumerate(self.convs):
            x = spikes[f"conv{i}"] = layer(x).spikes
        x = flatten_features(x)
        for i, layer in enumerate(self.hidden):
            x = spikes[f"hidden{i}"] = layer(x).spikes
        if self.readout == "spike_count":
            z = spikes[OUTPUT_LAYER] = self.output(x).spikes
            logits = z.sum(axis=0)
            return SpikingOutput(logits, spikes, logits.sum(axis=-1))
        logits = membrane_logits(self.output(x), self.readout)
        return SpikingOutput(logits, spikes, x.sum(axis=(0, 2)))
