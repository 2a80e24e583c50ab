"""JAX's persistent compilation cache for studies, and a count of what XLA compiled.

Every trial of a study used to compile its programs from scratch: on two cores that was most of
a short trial's wall time (issue 17). With the cache on disk, a program compiled once - by any
worker, in any earlier run of the study - is loaded instead of compiled. The cache is JAX's own
(``jax_compilation_cache_dir``); this module only turns it on for a process *and* the worker
processes it starts afterwards (they read the same settings from the environment), with no
minimum compile time or entry size, because a study's programs are many and each is small.

An entry that cannot be loaded (corrupt file, written by another XLA) is JAX's business: it
warns and compiles afresh (tested with a corrupt cache).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import jax
from jax import monitoring

_SETTINGS: dict[str, object] = {
    "jax_persistent_cache_min_compile_time_secs": 0.0,
    "jax_persistent_cache_min_entry_size_bytes": 0,
}
_PROGRAM_EVENT = "/jax/core/compile/backend_compile_duration"  # every executable made: compiled or loaded
_HIT_EVENT = "/jax/compilation_cache/cache_hits"
_COUNTS: Counter[str] = Counter()


def use_compilation_cache(path: str | os.PathLike | None) -> Path | None:
    """Compile through a persistent cache in folder ``path`` (created); ``None`` leaves JAX as is.

    Applies to this process and, through the environment, to every process it starts later
    (trial workers of ``ProcessExecutor`` and of a local Dask cluster). Returns the folder.
    """
    if path is None:
        return None
    folder = Path(path).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in {"jax_compilation_cache_dir": str(folder), **_SETTINGS}.items():
        jax.config.update(name, value)
        os.environ[name.upper()] = str(value)
    return folder


def _count_program(event: str, duration_s: float, **_: object) -> None:
    if event == _PROGRAM_EVENT:
        _COUNTS["programs"] += 1


def _count_hit(event: str, **_: object) -> None:
    if event == _HIT_EVENT:
        _COUNTS["cache_hits"] += 1


monitoring.register_event_duration_secs_listener(_count_program)
monitoring.register_event_listener(_count_hit)


def compilation_counts() -> dict[str, int]:
    """Executables this process has made so far: ``compiled`` by XLA and ``loaded`` from the
    persistent cache. Differences of two calls count what happened in between (in this process:
    concurrent threads' work is included)."""
    return {"compiled": _COUNTS["programs"] - _COUNTS["cache_hits"], "loaded": _COUNTS["cache_hits"]}
