"""The bridge between the trainers and the optimizer: a search space per trainer
(:mod:`~jaxsnn.tuning.spaces`), the trial objective that turns a point into a trained network's
evaluation record (:mod:`~jaxsnn.tuning.evaluate`), and the comparison of a study's Pareto front
with a documented reference network (:mod:`~jaxsnn.tuning.reference`), and the spec of an
``experiments/hpo.py`` study, checked whole before it starts (:mod:`~jaxsnn.tuning.study_spec`).

The optimizer itself (:mod:`jaxsnn.hpo`) knows nothing of spiking networks; the trainers
(:mod:`jaxsnn.train`) know nothing of studies. This package is where the two meet.
"""
