"""Extra GP inputs: logs of products of powers of positive numeric parameters.

Whether a spiking network is silent depends on its input drive against its threshold, a
*product* such as ``model.weight_scale * data.options.max_rate / model.neuron.theta``. An ARD kernel over 27 encoded dimensions
sees each factor alone and, from the 10-30 networks of a study's start, does not learn that the
product decides: SCBO then proposes networks whose drive is 100x below any kept one (the demo's
seed 0, benchmarks/RESULTS.md). The logarithm of such a product is affine in the unit-cube
encoding of log-scale parameters (and a monotone curve of linear-scale ones), so it can be handed
to the GP as one more input column at no cost to the acquisition search, which still moves in
the encoded space.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from jaxsnn.hpo.space import FloatParam, IntParam, Space

INPUT_DRIVE: dict[str, dict[str, float]] = {
    "log_drive": {"model.weight_scale": 1, "model.neuron.theta": -1, "data.options.max_rate": 1},
}
"""The ``silent_sg`` preset's feature (``conf/hpo/silent_sg.yaml``, which a test ties to this),
for the benchmarks that run SCBO with it outside the preset."""

INPUT_DRIVE_PRIOR: dict[str, int] = {"log_drive": 1}
"""The sign of :data:`INPUT_DRIVE` as the screens' prior (``screen_prior``, :mod:`jaxsnn.hpo.screen`):
more drive, fewer silent networks. On the tables of ``benchmarks/tables`` the upper half of the
box's log drive holds 40 % silent networks on sg_digits and 36 % on sg_randman, against 70 % and
68 % over the whole box, with the same spread of accuracies among the trained ones."""

STDP_DRIVE: dict[str, dict[str, float]] = {
    "log_drive": {"stdp.input_rate_hz": 1, "stdp.w_norm": 1, "stdp.tau_ge_ms": 1, "stdp.presentation_ms": 1,
                  "stdp.threshold_mv": -1},
    "log_adaptation": {"stdp.theta_plus_mv": 1, "stdp.tau_theta_ms": 1},
}
"""GP features for STDP spaces (the stdp_digits benchmark's ``scbo-stdp-drive``; not in the
``silent_stdp`` preset, whose log-EI beat SCBO with them on real networks started from the
default: benchmarks/snn_hpo_notes.md). A Diehl & Cook network stays silent when the charge an
image delivers (input rate x normalised weight x excitatory conductance time x presentation)
is small against its threshold, or when its adaptive threshold grows (step x decay time) faster
than that charge. On the 1,000 random STDP networks of ``benchmarks/tables/stdp_digits.csv.gz``, a
logistic regression of the detector's stop on all 18 log parameters fits log-odds slopes of -0.85
to -1.14 for the charge's four factors, +1.16 for the threshold and +0.71 / +0.30 for the
adaptation's two; cross-validated it calls 88 % of the stops right, these two features alone
83 %."""


STDP_DRIVE_PRIOR: dict[str, int] = {"log_drive": 1, "log_adaptation": -1}
"""The signs of :data:`STDP_DRIVE` as the screens' prior: more charge per image, fewer silent
networks; a faster-growing adaptive threshold, more. Where the two scaled features average above
one half (41 % of the box) the stdp_digits table holds 66 % silent networks, against 85 %."""


TRAINING: dict[str, dict[str, float]] = {
    "log_training": {"trainer.lr": 1, "trainer.epochs": 1, "trainer.batch_size": -1},
}
"""How far an SG network's training moves its weights: the learning rate times the number of
optimizer steps (``epochs / batch_size`` times the fixed data size). Too little and a trained
network stays at chance, a trial that costs a full run and teaches the objective GP nothing about
the architecture; the surrogate's accuracy model found ``log(lr * epochs / batch)`` among the
inputs that rank the sg_digits table best (``jaxsnn.snnbench.problems.sg_learning``)."""


LEARNING_RATE_PRIOR: dict[str, dict[str, float]] = {"log_lr": {"trainer.lr": 1}}
"""An SG trainer's ``design_prior`` (:class:`~jaxsnn.hpo.optimizers.BayesianOptimizer`): a higher
learning rate, a network more likely to learn. With Adam, 1-6 epochs of the embedded data and the
paper-wide range [1e-5, 1e-1], the lower half of the log range leaves nearly every network at
chance (on the sg_randman and sg_digits tables 8 % and 13 % of the kept ones learn, against 41 %
and 45 % of the upper half)."""


class LogProductFeatures:
    """``{feature: {parameter: exponent}}``: the log of each product, scaled to [0, 1] over the box.

    A parameter the space leaves out (an excluded or inapplicable one, e.g.
    ``data.options.max_rate`` on spike-time data) is a constant of the study and drops out of its product; a feature left
    without any parameter is dropped. A named parameter must be numeric, unconditional and
    positive over its range. A log-scale one enters affinely; a linear-scale one (the STDP
    space's ``stdp.threshold_mv`` or ``stdp.presentation_ms``) through the log of its decoded value, a
    monotone curve of its encoded column: still a function of the encoded point, so the
    acquisition search moves in the encoded space either way.
    """

    def __init__(self, space: Space, spec: Mapping[str, Mapping[str, float]]) -> None:
        if not isinstance(spec, Mapping):
            raise ValueError(f"features must be a dict {{name: {{parameter: exponent}}}}, got {spec!r}")
        self.names: list[str] = []
        # Per feature: its (column, exponent, parameter) terms, the log product's least value and span.
        self._features: list[tuple[list[tuple[int, float, FloatParam | IntParam]], float, float]] = []
        for name, powers in spec.items():
            if not isinstance(powers, Mapping) or not powers:
                raise ValueError(f"feature {name!r}: needs a non-empty dict {{parameter: exponent}}, got {powers!r}")
            terms = []
            for param_name, exponent in powers.items():
                if not isinstance(exponent, (int, float)) or isinstance(exponent, bool) or not math.isfinite(exponent):
                    raise ValueError(f"feature {name!r}: exponent of {param_name!r} must be a number, got {exponent!r}")
                if param_name not in space.names:
                    continue  # a constant of this study
                param = space[param_name]
                if not isinstance(param, (FloatParam, IntParam)) or param.low <= 0 or param.condition is not None:
                    raise ValueError(f"feature {name!r}: {param_name!r} must be a numeric parameter with a positive "
                                     "range and no condition (its log enters the product)")  # fmt: skip
                if exponent:
                    terms.append((space.column(param_name), float(exponent), param))
            if not terms:
                continue
            # log x spans [log low, log high] on either scale: the product's extremes sit at corners.
            ends = [(e * math.log(p.low), e * math.log(p.high)) for _, e, p in terms]
            self._features.append((terms, sum(min(a, b) for a, b in ends), sum(abs(b - a) for a, b in ends)))
            self.names.append(name)

    def __len__(self) -> int:
        return len(self.names)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """The encoded rows of ``X`` with one column per feature appended."""
        X = np.asarray(X, dtype=float)
        if not len(self):
            return X
        columns = [
            (sum(e * _log_value(X[:, column], p) for column, e, p in terms) - low_end) / span
            for terms, low_end, span in self._features
        ]
        return np.hstack([X, np.stack(columns, axis=1)])


def _log_value(u: np.ndarray, param: FloatParam | IntParam) -> np.ndarray:
    """``log x`` of the (continuous, unrounded) value an encoded column stands for."""
    low, high = math.log(param.low), math.log(param.high)
    if param.log:
        return low + u * (high - low)  # affine in the encoding
    return np.log(param.low + np.clip(u, 0.0, 1.0) * (param.high - param.low))
