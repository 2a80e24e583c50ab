"""The optimizers by name: the registry sits above the modules that define them (``scbo`` and
``moo`` build on :mod:`jaxsnn.hpo.optimizers`), so no module imports back up into it."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from jaxsnn.hpo.moo import MOBO
from jaxsnn.hpo.optimizers import LogEIOptimizer, Optimizer, RandomSearch
from jaxsnn.hpo.scbo import SCBO
from jaxsnn.hpo.space import Space

OPTIMIZERS: dict[str, type[Optimizer]] = {"random": RandomSearch, "logei": LogEIOptimizer, "scbo": SCBO, "mobo": MOBO}


def make_optimizer(
    name: str,
    space: Space,
    objectives: dict[str, str],
    constraints: Sequence[str] = (),
    seed: int = 0,
    **options: Any,
) -> Optimizer:
    """Build an optimizer by name: ``random``, ``logei``, ``scbo`` or ``mobo``.

    ``options`` are the keyword-only arguments of the chosen class (see its docstring);
    an unknown one is a ``ValueError`` naming the valid ones.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    cls = OPTIMIZERS[name]
    valid = sorted(
        p.name
        for klass in cls.__mro__
        if "__init__" in vars(klass)
        for p in inspect.signature(vars(klass)["__init__"]).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    )
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown options {unknown} for optimizer {name!r}; valid: {valid or 'none'}")
    return cls(space, objectives, constraints, seed=seed, **options)
