"""Load the compiled extension once and register its XLA FFI handlers.

Importing this never fails: a missing or broken build is recorded as a reason, so that
``backend="auto"`` can fall back to the ``lax.scan`` reference and say why.
"""

from __future__ import annotations

from types import ModuleType

import jax


def _load() -> tuple[ModuleType | None, str]:
    try:
        from jaxsnn.core.kernels import _lif_ffi
    except ImportError as error:
        return None, (
            f"the compiled LIF kernel is not built ({error}); "
            "reinstall jaxsnn with `pip install -e .` (needs a C++17 compiler and CMake)"
        )
    for name, capsule in _lif_ffi.targets().items():
        jax.ffi.register_ffi_target(name, capsule, platform="cpu")
    return _lif_ffi, ""


_MODULE, _BUILD_ERROR = _load()


def unavailable_reason() -> str:
    """Why the kernels cannot serve the default device, or ``""`` when they can."""
    if _MODULE is None:
        return _BUILD_ERROR
    backend = jax.default_backend()
    if backend != "cpu":
        return (
            f"the compiled LIF kernel is CPU-only and the default JAX backend is {backend!r} "
            "(there XLA's fused lax.scan is the fast path)"
        )
    return ""


def available() -> bool:
    """True when the kernels are built and JAX computes on the CPU by default."""
    return not unavailable_reason()


def require_built() -> None:
    """Raise a clear error instead of an XLA 'unknown custom call target' at lowering time."""
    if _MODULE is None:
        raise RuntimeError(_BUILD_ERROR)
