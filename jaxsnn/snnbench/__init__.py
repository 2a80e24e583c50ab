"""SNN hyperparameter-optimization benchmark problems built from real trials.

Three problems (``PROBLEMS``) train real spiking networks through :func:`jaxsnn.tuning.evaluate.evaluate`.
``tables`` runs random configurations of a problem to the end while recording the output spikes
of every batch, so one run says both what the network reaches and where the silent-network
detector would have stopped it. ``surrogate`` fits scikit-learn models on such a table and answers
a trial in milliseconds (HPOBench / YAHPO Gym style), detector savings included, so that many
optimizer seeds cost minutes instead of days.
"""

from jaxsnn.snnbench.problems import HPO_PRESETS, PROBLEMS, SNNProblem, get_problem

__all__ = ["HPO_PRESETS", "PROBLEMS", "SNNProblem", "get_problem"]
