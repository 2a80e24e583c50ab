"""The bridge between the trainers and the optimizer: a search space per trainer
(:mod:`~jaxsnn.tuning.spaces`), the trial objective that turns a point into a trained network's
evaluation record (:mod:`~jaxsnn.tuning.evaluate`), and the comparison of a study's Pareto front
with a documented reference network (:mod:`~jaxsnn.tuning.reference`).

The optimizer itself (:mod:`jaxsnn.hpo`) knows nothing of spiking networks; the trainers
(:mod:`jaxsnn.train`) know nothing of studies. This package is where the two meet.
"""
