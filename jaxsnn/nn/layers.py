"""Spiking layers: dense, recurrent and convolutional LIF layers over time-major inputs.

Each layer is ``currents = f(x)`` followed by an ``LIFNeurons`` population. Weights carry no bias:
a bias would be a constant current that makes neurons fire without input, which the
silent-network and firing-rate analyses would then misread.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from jaxsnn.core import LIFOutput, Surrogate
from jaxsnn.nn.init import draw, scaled_lecun
from jaxsnn.nn.neuron import LIFNeurons, LIFSpec


class LIFDense(nnx.Module):
    """``x @ W_in`` then LIF: ``(T, B, in) -> spikes (T, B, out)``."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        neuron: LIFSpec,
        surrogate: Surrogate,
        *,
        rngs: nnx.Rngs,
        weight_scale: float = 1.0,
    ) -> None:
        self.linear = nnx.Linear(
            in_features,
            out_features,
            use_bias=False,
            kernel_init=scaled_lecun(weight_scale),
            rngs=rngs,
        )
        self.neurons = LIFNeurons(out_features, neuron, surrogate)

    def __call__(self, x: jax.Array) -> LIFOutput:
        return self.neurons(self.linear(x))


class LIFRecurrent(LIFDense):
    """``LIFDense`` plus trainable recurrent weights ``w_rec`` fed by the previous step's spikes.

    ``w_rec`` starts as ``Normal(rec_mean, rec_std)`` (``rec_std`` defaults to ``1/sqrt(out)``) so
    the stability conditions I-II (recurrent mean and variance) can set it directly.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        neuron: LIFSpec,
        surrogate: Surrogate,
        *,
        rngs: nnx.Rngs,
        weight_scale: float = 1.0,
        rec_mean: float = 0.0,
        rec_std: float | None = None,
    ) -> None:
        super().__init__(
            in_features, out_features, neuron, surrogate, rngs=rngs, weight_scale=weight_scale
        )
        std = 1.0 / math.sqrt(out_features) if rec_std is None else rec_std
        self.w_rec = nnx.Param(draw(rngs.params(), (out_features, out_features), "normal", std, rec_mean))

    def __call__(self, x: jax.Array) -> LIFOutput:
        return self.neurons(self.linear(x), self.w_rec[...])


class LIFConv(nnx.Module):
    """2-D convolution per time step, then LIF over the flattened feature map.

    ``(T, B, H, W, C_in) -> spikes (T, B, H', W', C_out)``. Time is folded into the batch for the
    convolution (one big conv instead of ``T`` small ones); ``SAME`` padding, so
    ``H' = ceil(H / stride)``. The returned state stays flattened ``(B, H'*W'*C_out)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        neuron: LIFSpec,
        surrogate: Surrogate,
        *,
        kernel_size: int = 3,
        stride: int = 1,
        rngs: nnx.Rngs,
        weight_scale: float = 1.0,
    ) -> None:
        self.conv = nnx.Conv(
            in_channels,
            out_channels,
            (kernel_size, kernel_size),
            stride,
            padding="SAME",
            use_bias=False,
            kernel_init=scaled_lecun(weight_scale),
            rngs=rngs,
        )
        self.neurons = LIFNeurons(out_channels, neuron, surrogate)
        self.stride = stride

    def output_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """``(H', W', C_out)`` for an ``H x W`` input map."""
        return (-(-height // self.stride), -(-width // self.stride), self.conv.out_features)

    def __call__(self, x: jax.Array) -> LIFOutput:
        steps, batch = x.shape[:2]
        maps = self.conv(x.reshape((steps * batch, *x.shape[2:])))
        out = self.neurons(maps.reshape(steps, batch, -1))
        return out._replace(spikes=out.spikes.reshape(steps, batch, *maps.shape[1:]))


def flatten_features(x: jax.Array) -> jax.Array:
    """``(T, B, ...) -> (T, B, features)``: the bridge from conv maps to dense layers."""
    return x.reshape(*x.shape[:2], -1)
