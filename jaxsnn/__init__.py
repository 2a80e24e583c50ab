"""jaxsnn: spiking neural networks in JAX, tuned by constrained Bayesian optimization."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jaxsnn._lazy import lazy_exports

if TYPE_CHECKING:
    from jaxsnn.core import LIFParams, LIFState, Surrogate, lif_scan

__all__ = ["LIFParams", "LIFState", "Surrogate", "lif_scan"]
__version__ = "0.1.0"

# JAX loads on first use of a core name, not when a light submodule (a study, a record) is imported.
__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(__all__, "jaxsnn.core"))
