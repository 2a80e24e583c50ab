"""Lazy package exports (PEP 562), so that importing one light module does not import JAX.

A worker process unpickles a user's objective by importing its module, and that import runs every
parent package's ``__init__``. Eager re-exports there made ``import jaxsnn.hpo.study`` load JAX,
NumPyro and SciPy (about 2.6 s per process on a 2-core machine) even for an objective, a study
report or an executor that never touch them. The names stay importable as before
(``from jaxsnn.hpo import make_optimizer``); their modules load on first access.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` that import ``exports[name]`` (a module
    path) on first access of ``name`` and cache the value in the package namespace."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(exports) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__
