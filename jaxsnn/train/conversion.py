"""ANN-to-SNN conversion (Rueckauer et al., 2017): a ReLU network becomes an IF spiking network
(both networks are in :mod:`jaxsnn.nn.conversion`; this module holds the mapping).

An integrate-and-fire neuron with reset by subtraction, driven by a constant current ``a`` in
``[0, theta]``, fires at rate ``a / theta`` per step (up to the quantisation ``1 / T``). So a
ReLU activation becomes a firing rate once every layer's activations are rescaled into
``[0, 1]``: with ``lambda_l`` the ``percentile``-th percentile of layer ``l``'s non-zero ReLU
activations on training data (robust to outliers, unlike the maximum), weights become
``W_l * lambda_{l-1} / lambda_l`` with thresholds 1 (``lambda_0 = 1``: images lie in [0, 1]).
The rare activations above ``lambda_l`` saturate at one spike per step.

Design choices, and why:

* **No biases.** A bias would be a constant current that has to be rescaled per layer and is
  not rate-coded; HYBRID (Rathi et al., 2020) trains bias-free networks for that reason, and so
  do we (``use_bias`` does not exist rather than being ignored).
* **Average pooling, folded into the next layer.** Averaging spike trains is linear, so it is the
  same operation in the ANN and the SNN and needs no neurons; max pooling does not convert.
* **Non-spiking output.** The last layer integrates its input current without firing and its
  mean over the window is the logit, so the SNN's logits approximate the ANN's *unnormalised*
  logits (its weights are scaled by ``lambda_{L-1}`` only) and fine-tuning starts from the ANN's
  cross-entropy scale.
* **IF neurons are the LIF core with ``alpha = 1``** (``lif_scan``, reset by subtraction), so the
  converted network is fine-tuned with exactly the surrogate gradients the rest of jaxsnn uses.
* **Membranes start at ``initial_potential * theta``** (0.5 by default): the spike count then
  rounds ``T a / theta`` instead of flooring it, halving the mean quantisation error at small T.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxsnn.core import Surrogate
from jaxsnn.nn.conversion import ConvertedSNN, ReLUNet


def activation_scales(
    ann: ReLUNet, images: np.ndarray, percentile: float, *, batch_size: int = 256
) -> tuple[float, ...]:
    """``lambda_l``: the ``percentile``-th percentile of each hidden layer's non-zero activations.

    A layer that never activates on ``images`` gets 1 (nothing to normalise; it stays silent).
    """
    if not 0.0 < percentile <= 100.0:
        raise ValueError(f"percentile must lie in (0, 100], got {percentile!r}")
    run = nnx.jit(lambda model, x: model.activations(x)[:-1])
    chunks = [jax.device_get(run(ann, jnp.asarray(images[i : i + batch_size])))
              for i in range(0, len(images), batch_size)]  # fmt: skip
    scales = []
    for layer in zip(*chunks):
        values = np.concatenate([a.reshape(-1) for a in layer])
        positive = values[values > 0]
        scales.append(float(np.percentile(positive, percentile)) if positive.size else 1.0)
    return tuple(scales)


def convert(
    ann: ReLUNet,
    calibration_images: np.ndarray,
    *,
    percentile: float = 99.9,
    threshold: float = 1.0,
    leak: float = 1.0,
    initial_potential: float = 0.5,
    encoding: str = "constant",
    surrogate: Surrogate = Surrogate(),
    backend: str = "auto",
) -> ConvertedSNN:
    """Normalise ``ann`` layer by layer on ``calibration_images`` and wrap it as a ``ConvertedSNN``.

    ``threshold`` (1 is the exact conversion) below 1 makes every neuron fire sooner and more,
    trading saturation error for latency: the knob HYBRID tunes to shorten the window.
    """
    scales = activation_scales(ann, calibration_images, percentile)
    previous = (1.0, *scales)
    current = (*scales, 1.0)  # the readout is not normalised: it does not fire
    weights = [w[...] * (prev / cur) for w, prev, cur in zip(ann.weights, previous, current)]
    return ConvertedSNN(
        ann.blocks, weights, scales, threshold=threshold, leak=leak, initial_potential=initial_potential,
        encoding=encoding, surrogate=surrogate, backend=backend,
    )  # fmt: skip
