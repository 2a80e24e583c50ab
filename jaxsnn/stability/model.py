"""A recurrent model whose ``W_rec`` statistics and surrogate come from stability conditions I-IV.

``stable_init`` works on one recurrent LIF layer; the classifier draws its own weights, so here
its result is handed over as the *distribution* ``W_rec ~ Normal(mu_rec, sigma_rec)`` and as the
surrogate (shape kept, ``gamma`` from III, ``beta``/``q`` from IV). The classifier's input
weights stay LeCun-normal (x ``weight_scale``), not the Glorot draw condition II was evaluated
with: the conditions are a recipe for the start of training, not an exact contract.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import jax
import numpy as np

from jaxsnn.data import DataSplits
from jaxsnn.stability import stable_init
from jaxsnn.train.config import ModelConfig


def stable_model(
    model_cfg: ModelConfig, data: DataSplits, *, seed: int, sample_size: int = 256
) -> tuple[ModelConfig, dict[str, Any]]:
    """``model_cfg`` made recurrent with a stability-chosen ``W_rec`` and surrogate.

    Conditions are measured on the first ``sample_size`` training samples of the first hidden
    layer (one layer: the paper's setting). Returns the model and diagnostics for the record:
    ``mu_rec``, ``sigma_rec``, ``gamma``, ``beta``, ``q``, ``sharpness_residual`` and whether
    condition IV had a root (``iv_solved``; otherwise the nearest bracket end was taken).
    """
    if len(model_cfg.hidden) != 1 or model_cfg.conv:
        raise ValueError(
            f"stable init covers one recurrent hidden layer, got hidden={list(model_cfg.hidden)}"
            f" conv={list(model_cfg.conv)}"
        )
    inputs = data.train.inputs[:sample_size]
    if inputs.ndim != 3:
        raise ValueError(f"stable init needs channel data (N, T, C), got shape {inputs.shape}")
    neuron = model_cfg.neuron
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        init = stable_init(
            jax.random.key(seed),
            inputs.shape[-1],
            model_cfg.hidden[0],
            neuron.alpha,
            neuron.theta,
            np.swapaxes(inputs, 0, 1),  # (T, B, C)
            model_cfg.surrogate.shape,
            beta=float(model_cfg.surrogate.beta),
            q=float(model_cfg.surrogate.q),
        )
    surrogate = init.surrogate
    info = {
        "mu_rec": float(init.mu_rec),
        "sigma_rec": float(init.sigma_rec),
        "gamma": float(surrogate.gamma),
        "beta": float(surrogate.beta),
        "q": float(surrogate.q),
        "sharpness_residual": float(init.sharpness_residual),
        "iv_solved": not caught,
    }
    model = dataclasses.replace(
        model_cfg,
        recurrent=True,
        rec_mean=info["mu_rec"],
        rec_std=info["sigma_rec"],
        surrogate=surrogate,
    )
    return model, info
