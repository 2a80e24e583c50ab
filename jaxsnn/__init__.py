"""jaxsnn: spiking neural networks in JAX, tuned by constrained Bayesian optimization."""

from jaxsnn.core import LIFParams, LIFState, Surrogate, lif_scan

__all__ = ["LIFParams", "LIFState", "Surrogate", "lif_scan"]
__version__ = "0.1.0"
