"""Public LIF API: validate once, then run the chosen backend.

``backend="xla"`` is the ``lax.scan`` reference, ``"ffi"`` the compiled C++ kernel, ``"auto"`` the
kernel when it is built and usable on the current device, else the reference (with one warning,
because a silently slower run is a bug report waiting to happen).
"""

from __future__ import annotations

import functools
import warnings

import jax

from jaxsnn.core.params import LIFOutput, LIFParams, LIFState, validate
from jaxsnn.core.reference import lif_scan_xla
from jaxsnn.core.surrogate import Surrogate

BACKENDS: tuple[str, ...] = ("auto", "xla", "ffi")


@functools.cache
def _kernels():
    """The compiled-kernel module, or the reason it cannot be used (cached: decided once)."""
    try:
        from jaxsnn.core import kernels
    except ImportError as error:  # package installed without its compiled core
        return None, f"the compiled LIF kernel is not built ({error})"
    if not kernels.available():
        return None, kernels.unavailable_reason()
    return kernels, ""


@functools.cache
def _warn_fallback(reason: str) -> None:
    warnings.warn(f"backend='auto' falls back to the lax.scan LIF reference: {reason}", stacklevel=3)


def resolve_backend(backend: str) -> str:
    """Map ``auto`` to the backend that will actually run; reject unknown names."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown LIF backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    if backend == "xla":
        return "xla"
    module, reason = _kernels()
    if module is not None:
        return "ffi"
    if backend == "ffi":
        raise RuntimeError(f"backend='ffi' requested but {reason}")
    _warn_fallback(reason)
    return "xla"


def lif_scan(
    params: LIFParams,
    currents: jax.Array,
    state: LIFState | None = None,
    surrogate: Surrogate = Surrogate(),
    *,
    reset: str = "subtract",
    detach_reset: bool = False,
    return_voltages: bool = False,
    backend: str = "auto",
) -> LIFOutput:
    """Simulate an LIF population over time.

    ``currents`` are the input currents ``(T, B, N)`` (time-major; project inputs with ``x @ W_in``
    beforehand). ``state`` defaults to rest. Works under ``jit``, ``vmap`` and ``grad`` for every
    backend; see ``reference.py`` for the exact update equations.
    """
    initial = validate(params, currents, state, reset)
    if resolve_backend(backend) == "ffi":
        module, _ = _kernels()
        return module.lif_scan_ffi(
            params, currents, initial, surrogate, reset, detach_reset, return_voltages
        )
    return lif_scan_xla(params, currents, initial, surrogate, reset, detach_reset, return_voltages)
