"""Compiled CPU core: C++ XLA FFI kernels for the LIF scan and the event-driven projection.

``lif_scan_ffi`` is what ``jaxsnn.core.lif_scan(backend="ffi"|"auto")`` runs; ``event_project`` and
``lif_dense_event`` exploit input sparsity (see ``event_op``). ``available()`` is False when the
extension was not built or when JAX's default backend is not the CPU (on GPU, XLA's own fused scan
is used); ``unavailable_reason()`` says which. Build and design notes: ``README.md`` here.
"""

from jaxsnn.core.kernels._loader import available, unavailable_reason
from jaxsnn.core.kernels.event_op import event_project, lif_dense_event
from jaxsnn.core.kernels.lif_op import lif_scan_ffi

__all__ = ["available", "event_project", "lif_dense_event", "lif_scan_ffi", "unavailable_reason"]
