"""Constrained asynchronous Bayesian optimization: spaces, GP surrogates, acquisitions, optimizers."""

from jaxsnn.hpo.optimizers import Optimizer, RandomSearch, make_optimizer
from jaxsnn.hpo.space import CategoricalParam, Condition, FloatParam, IntParam, Space

__all__ = [
    "CategoricalParam",
    "Condition",
    "FloatParam",
    "IntParam",
    "Optimizer",
    "RandomSearch",
    "Space",
    "make_optimizer",
]
