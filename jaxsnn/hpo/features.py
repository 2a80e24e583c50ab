"""Extra GP inputs that are products of powers of log-scale parameters.

Whether a spiking network is silent depends on its input drive against its threshold, a
*product* such as ``weight_scale * input_rate / theta``. An ARD kernel over 27 encoded dimensions
sees each factor alone and, from the 10-30 networks of a study's start, does not learn that the
product decides: SCBO then proposes networks whose drive is 100x below any kept one (the demo's
seed 0, benchmarks/RESULTS.md). The logarithm of such a product is affine in the unit-cube
encoding of log-scale parameters, so it can be handed to the GP as one more input column at no
cost to the acquisition search, which still moves in the encoded space.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from jaxsnn.hpo.space import FloatParam, IntParam, Space

INPUT_DRIVE: dict[str, dict[str, float]] = {"log_drive": {"weight_scale": 1, "input_rate": 1, "theta": -1}}
"""The ``silent_sg`` preset's feature (``conf/hpo/silent_sg.yaml``, which a test ties to this),
for the benchmarks that run SCBO with it outside the preset."""


class LogProductFeatures:
    """``{feature: {parameter: exponent}}`` as affine maps of the encoding, each scaled to [0, 1].

    A parameter the space leaves out (an excluded or inapplicable one, e.g. ``input_rate`` on
    spike-time data) is a constant of the study and drops out of its product; a feature left
    without any parameter is dropped. A named parameter must be a numeric, unconditional,
    log-scale one: the product is only affine in the encoding of those.
    """

    def __init__(self, space: Space, spec: Mapping[str, Mapping[str, float]]) -> None:
        if not isinstance(spec, Mapping):
            raise ValueError(f"features must be a dict {{name: {{parameter: exponent}}}}, got {spec!r}")
        columns, offsets, self.names = [], [], []
        for name, powers in spec.items():
            if not isinstance(powers, Mapping) or not powers:
                raise ValueError(f"feature {name!r}: needs a non-empty dict {{parameter: exponent}}, got {powers!r}")
            column, offset = np.zeros(space.dim), 0.0
            for param_name, exponent in powers.items():
                if not isinstance(exponent, (int, float)) or isinstance(exponent, bool) or not math.isfinite(exponent):
                    raise ValueError(f"feature {name!r}: exponent of {param_name!r} must be a number, got {exponent!r}")
                if param_name not in space.names:
                    continue  # a constant of this study
                param = space[param_name]
                if not isinstance(param, (FloatParam, IntParam)) or not param.log or param.condition is not None:
                    raise ValueError(
                        f"feature {name!r}: {param_name!r} must be a log-scale numeric parameter without a condition"
                    )
                low, high = math.log(param.low), math.log(param.high)
                column[space.column(param_name)] = exponent * (high - low)  # log x = low + u (high - low)
                offset += exponent * low
            if not column.any():
                continue
            # Scaled so that the feature spans [0, 1] over the box, as every encoded input does.
            low_end, span = offset + np.minimum(column, 0.0).sum(), np.abs(column).sum()
            columns.append(column / span)
            offsets.append((offset - low_end) / span)
            self.names.append(name)
        self._A = np.stack(columns, axis=1) if columns else np.zeros((space.dim, 0))
        self._c = np.array(offsets)

    def __len__(self) -> int:
        return len(self.names)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """The encoded rows of ``X`` with one column per feature appended."""
        X = np.asarray(X, dtype=float)
        return np.hstack([X, X @ self._A + self._c]) if len(self) else X
