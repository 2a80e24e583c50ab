"""Stability conditions I-IV (Herranz-Celotti & Rouat): initialization and surrogate choice
before training, so that a recurrent LIF layer starts near firing rate 1/2 with gradients that
neither vanish nor explode through time."""

from jaxsnn.stability.backward import (
    backward_growth,
    centred_voltages,
    crossing,
    mean_square_gain,
    pullback,
)
from jaxsnn.stability.conditions import (
    TARGET_RATE,
    dampening_gamma,
    recurrent_weight_mean,
    recurrent_weight_variance,
)
from jaxsnn.stability.init import INPUT_SCHEMES, StableInit, Weights, draw_weights, stable_init
from jaxsnn.stability.sharpness import (
    BRACKETS,
    NoSolutionError,
    sharpness_residual,
    solve_sharpness,
    surrogate_mean_square,
)
from jaxsnn.stability.voltage import VoltageRange, measure_voltage_range

__all__ = [
    "BRACKETS",
    "INPUT_SCHEMES",
    "TARGET_RATE",
    "NoSolutionError",
    "StableInit",
    "VoltageRange",
    "Weights",
    "backward_growth",
    "centred_voltages",
    "crossing",
    "dampening_gamma",
    "draw_weights",
    "mean_square_gain",
    "measure_voltage_range",
    "pullback",
    "recurrent_weight_mean",
    "recurrent_weight_variance",
    "sharpness_residual",
    "solve_sharpness",
    "stable_init",
    "surrogate_mean_square",
]
