"""Configs shipped with the library (package data, so an installed wheel has them too): the
search space of each trainer, ``space/<trainer>.yaml``, read by ``jaxsnn.tuning.spaces``."""
