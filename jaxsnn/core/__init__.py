"""LIF simulation core: surrogate gradients, the reference scan and the compiled kernels."""

from jaxsnn.core.lif import BACKENDS, lif_scan, resolve_backend
from jaxsnn.core.params import RESETS, LIFOutput, LIFParams, LIFState, zero_state
from jaxsnn.core.surrogate import SHAPES, Surrogate, spike

__all__ = [
    "BACKENDS",
    "RESETS",
    "SHAPES",
    "LIFOutput",
    "LIFParams",
    "LIFState",
    "Surrogate",
    "lif_scan",
    "resolve_backend",
    "spike",
    "zero_state",
]
