"""Constrained asynchronous Bayesian optimization: spaces, GP surrogates, acquisitions, optimizers.

Entry point: ``make_optimizer(name, space, objectives, constraints, seed, **options)`` with
``name`` in ``random``, ``logei``, ``scbo``, ``mobo``; every optimizer speaks ``ask(pending)`` /
``tell(record)`` (see :mod:`jaxsnn.hpo.optimizers` for the resume contract).
"""

from jaxsnn.hpo.moo import MOBO, hypervolume, pareto_front
from jaxsnn.hpo.optimizers import BayesianOptimizer, LogEIOptimizer, Optimizer, RandomSearch
from jaxsnn.hpo.registry import OPTIMIZERS, make_optimizer
from jaxsnn.hpo.scbo import SCBO
from jaxsnn.hpo.space import CategoricalParam, Condition, FloatParam, IntParam, Space

__all__ = [
    "MOBO",
    "OPTIMIZERS",
    "SCBO",
    "BayesianOptimizer",
    "CategoricalParam",
    "Condition",
    "FloatParam",
    "IntParam",
    "LogEIOptimizer",
    "Optimizer",
    "RandomSearch",
    "Space",
    "hypervolume",
    "make_optimizer",
    "pareto_front",
]
