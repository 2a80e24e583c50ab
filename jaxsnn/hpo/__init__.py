"""Constrained asynchronous Bayesian optimization: spaces, GP surrogates, acquisitions, optimizers.

Entry point: ``make_optimizer(name, space, objectives, constraints, seed, **options)`` with
``name`` in ``random``, ``logei``, ``scbo``, ``mobo``; every optimizer speaks ``ask(pending)`` /
``tell(record)`` (see :mod:`jaxsnn.hpo.optimizers` for the resume contract).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jaxsnn._lazy import lazy_exports

if TYPE_CHECKING:
    from jaxsnn.hpo.dominance import pareto_front
    from jaxsnn.hpo.moo import MOBO, hypervolume
    from jaxsnn.hpo.optimizers import BayesianOptimizer, LogEIOptimizer, Optimizer, RandomSearch
    from jaxsnn.hpo.registry import OPTIMIZERS, make_optimizer
    from jaxsnn.hpo.scbo import SCBO
    from jaxsnn.hpo.space import CategoricalParam, Condition, FloatParam, IntParam, Space

_EXPORTS = {
    **dict.fromkeys(["MOBO", "hypervolume"], "jaxsnn.hpo.moo"),
    "pareto_front": "jaxsnn.hpo.dominance",
    **dict.fromkeys(["BayesianOptimizer", "LogEIOptimizer", "Optimizer", "RandomSearch"], "jaxsnn.hpo.optimizers"),
    **dict.fromkeys(["OPTIMIZERS", "make_optimizer"], "jaxsnn.hpo.registry"),
    "SCBO": "jaxsnn.hpo.scbo",
    **dict.fromkeys(["CategoricalParam", "Condition", "FloatParam", "IntParam", "Space"], "jaxsnn.hpo.space"),
}
__all__ = sorted(_EXPORTS)

# The optimizers (JAX, NumPyro, SciPy) load on first use, not when a worker imports a study or an
# executor module of this package.
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
