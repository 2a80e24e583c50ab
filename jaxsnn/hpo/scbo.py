"""SCBO: scalable constrained Bayesian optimisation (Eriksson & Poloczek 2021), asynchronous.

Each ask draws one joint posterior sample of the objective and of every constraint on candidates
inside a trust region, and proposes the best candidate under that sample: feasible candidates
first by objective, the rest by total violation. The trust region (TuRBO, Eriksson et al. 2019) is
a box around the incumbent, stretched per dimension by the objective GP's ARD lengthscales; it
doubles after ``success_tolerance`` consecutive improvements, halves after
``failure_tolerance`` consecutive non-improvements and restarts at its initial size once it
shrinks below ``length_min``.

Two defects of the BoTorch SCBO tutorial are fixed (see RESEARCH.md, section A):

- the violation is the sum of the *positive parts* ``max(g_j, 0)``, not of the raw values;
- while nothing is feasible, the region is centred on the point of *least total violation*,
  not on the best objective value among infeasible points.

``feasible_objective=True`` fits the objective GP on the feasible observations only (the
constraint GPs always learn from all). A silent network's "accuracy" is that of a network the
detector stopped early, at chance level wherever it sits in the space; fitted with the trained
ones, it puts a cliff at the silent boundary into the objective surface. With the option, on the
sg_randman surrogate benchmark SCBO ends higher (it stalls less often after a weak design), but
on real networks it proposes more silent ones: the objective GP no longer marks the silent
regions as poor, and the constraint GP alone does not learn their boundary from a few dozen
points (benchmarks/RESULTS.md, "Silent-aware BO on SNN problems"). Hence off by default.

``cost_aware=True`` spends a budget of compute seconds rather than of trials: one more GP models
each trial's ``log(cost_s)``, and among the candidates the Thompson sample calls feasible, the
one of largest sampled improvement per predicted second comes first (the rule of EI per second,
Snoek et al. 2012, applied to the sample; the improvement softened, see
:func:`gain_per_second_order`). In a wide SNN space trained networks differ in cost by 10x
(width, time steps, epochs), so the same gain is often on offer at a fraction of the seconds.

``features={name: {parameter: exponent}}`` gives every GP products of powers of log-scale
parameters as extra inputs (:mod:`jaxsnn.hpo.features`), e.g. a network's input drive
``model.weight_scale * data.options.max_rate / model.neuron.theta``, which decides whether it
is silent; the trust region and the candidates stay in the encoded space.

With ``features`` the initial design is screened on them too (``screen_design``, on by default
where there are features): once the design's trials hold a feasible and an infeasible one, it
skips the Sobol points that a logistic regression on the features (classes weighted equally)
calls more likely infeasible than not. In the demo's space about 70 % of uniform draws are silent
networks, so an unscreened design runs on to 15-20 trials to hold 3 feasible networks, and the
design is most of the compute SCBO needs to pass random search; the drive alone tells most silent
networks apart after a handful of trials. A screened design is also shorter by default
(:data:`~jaxsnn.hpo.screen.SCREENED_N_INITIAL` points; the screens are
:class:`~jaxsnn.hpo.screen.FeatureScreen`, which log-EI uses too).

The same classifier guards the model-guided phase (``screen_proposals``, on wherever the design
is screened): a candidate it calls more likely silent than not (a probability of being feasible
below ``proposal_screen_below``, 0.5) goes behind every other one, the Thompson order kept within
each group. One posterior sample of the constraint GP calls some silent networks feasible by
chance, and those were a fifth of the preset's model-guided trials on real digits studies (66 of
330 over ten seeds). With the screen at 0.5 the same ten seeds proposed 6 % silent networks, at
0.3 11 %, and the best network stayed as good (benchmarks/RESULTS.md, "Silent-aware BO on SNN
problems").

``categorical_region=True`` (the default) makes the region a Hamming ball too: each candidate
moves up to :meth:`TrustRegion.hamming_radius` of its categorical parameters to another choice
(CASMOPOLITAN, Wan et al. 2021). The box alone cannot: a one-hot choice changes only where
another column exceeds the chosen one's 1, so with an edge of at most 1 every candidate kept the
incumbent's layers, readout, reset and surrogate shape, and a study whose first good network had
the wrong ones crept up inside them. On the sg_randman surrogate benchmark (100-trial budget, 20
seeds) the preset's median best went from 0.906 (lower quartile 0.783) to 0.928 (0.89); on
sg_digits (50 trials) from 0.934 to 0.949 (benchmarks/RESULTS.md, "Silent-aware BO on SNN
problems"). ``False`` is the box alone, as it ran before.

``global_below`` (off by default): while no feasible observation reaches this objective value,
the candidates are Sobol points of the whole space, not of the trust region, and the Thompson
sample with its feasible-first order picks among them. A region is centred on the best feasible
point, and when that point is a network that fires but stays at chance accuracy it is centred
anywhere: the screened 6-point design of the ``silent_sg`` preset ends that way in half the seeds
of the sg_randman surrogate. With ``global_below: 0.2`` (twice chance on 10 classes), from
scratch: sg_randman surrogate at 50 trials' compute, 20 seeds, reach of random search's best 0.27
of its compute against 0.35 / 0.30 in two runs without, best 0.903 against 0.867 / 0.883;
sg_digits surrogate unchanged (0.21, 0.931); real sg_digits studies, seeds 0-9 run the same day
as the preset's, 0.27 against 0.31 (earlier on 8 of 10 seeds), best 0.942 against 0.936; real
sg_randman seeds 0-5, 0.23 against 0.22, one seed stuck at 0.64. Not the preset's: the gain is
inside what a rerun moves, and with the default network enqueued, as the preset ships, the first
trial is above 0.2 and the option changes nothing (benchmarks/RESULTS.md, "Silent-aware BO on SNN
problems").

Asynchrony: every finished trial is one TuRBO "batch" of size one, so the trust-region state is
updated in ``tell`` and is a pure function of the told sequence. Pending points are fantasised at
their predicted values (kriging believer), which collapses the posterior variance there, so
Thompson samples rarely pick them again; an exact duplicate is never returned.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

from jaxsnn.hpo.acquisition import best_feasible, feasibility_order, sobol, violation
from jaxsnn.hpo.gp import ScheduledGPs, believe, predict, sample_paths
from jaxsnn.hpo.optimizers import BayesianOptimizer
from jaxsnn.hpo.screen import FeatureScreen
from jaxsnn.hpo.space import Space
from jaxsnn.record import EvaluationRecord


@dataclasses.dataclass
class TrustRegion:
    """TuRBO trust-region bookkeeping; ``length`` is the edge of the box in the unit cube."""

    length_init: float = 0.8
    length_min: float = 0.5**7
    length_max: float = 1.6
    success_tolerance: int = 3
    failure_tolerance: int = 4
    length: float = dataclasses.field(init=False)
    successes: int = 0
    failures: int = 0
    restarts: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.length_min < self.length_init <= self.length_max:
            raise ValueError(
                f"need 0 < length_min < length_init <= length_max, got {self.length_min}, {self.length_init}, {self.length_max}"
            )
        if self.success_tolerance < 1 or self.failure_tolerance < 1:
            raise ValueError("success and failure tolerances must be >= 1")
        self.length = self.length_init

    def update(self, success: bool) -> None:
        """Count one outcome; expand, shrink or restart when a streak reaches its tolerance."""
        if success:
            self.successes, self.failures = self.successes + 1, 0
        else:
            self.successes, self.failures = 0, self.failures + 1
        if self.successes >= self.success_tolerance:
            self.length, self.successes = min(2.0 * self.length, self.length_max), 0
        elif self.failures >= self.failure_tolerance:
            self.length, self.failures = self.length / 2.0, 0
        if self.length < self.length_min:
            self.length, self.restarts = self.length_init, self.restarts + 1
            self.successes = self.failures = 0

    def hamming_radius(self, n_categorical: int) -> int:
        """How many categorical parameters a candidate may change: all of them at ``length_max``,
        in proportion below it, never fewer than one (or no choice could ever change)."""
        return max(1, min(n_categorical, math.ceil(n_categorical * self.length / self.length_max)))

    def bounds(self, centre: np.ndarray, lengthscale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Box around ``centre``, wider along dimensions with long lengthscales (volume kept)."""
        w = lengthscale / lengthscale.mean()
        w = w / np.exp(np.mean(np.log(w)))
        half = w * self.length / 2.0
        return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


class SCBO(FeatureScreen, BayesianOptimizer):
    """Thompson sampling in a trust region with feasible-first ranking (single objective).

    Options beyond :class:`~jaxsnn.hpo.optimizers.BayesianOptimizer`'s: ``n_candidates``
    (default ``min(5000, max(2000, 200 * dim))``), ``length_init``, ``length_min``,
    ``length_max``, ``success_tolerance`` (3) and ``failure_tolerance`` (``max(4, dim)``),
    as in the TuRBO paper for batches of one; ``feasible_objective`` (False): fit the objective
    GP on the feasible observations only (all of them while fewer than two are feasible);
    ``features`` (none): extra GP inputs; ``cost_aware`` (False): improvement per predicted
    second; ``screen_design`` (on where there are ``features``): the design skips points the
    features predict infeasible (a predicted probability of being feasible below ``screen_below``,
    0.5), and has :data:`~jaxsnn.hpo.screen.SCREENED_N_INITIAL` points unless ``n_initial`` is given;
    ``screen_proposals`` (on where the design is screened): model-guided candidates the features
    predict infeasible (below ``proposal_screen_below``, 0.5) go last; ``screen_prior`` (none): the
    sign with which each feature makes a point feasible, what both screens use until the trials
    hold a feasible and an infeasible point; ``categorical_region``
    (True): candidates also change a few categorical choices; ``global_below`` (None): while no
    feasible observation reaches this objective value, candidates span the whole space; all in the
    module docstring.
    """

    def __init__(
        self,
        space: Space,
        objectives: Mapping[str, str],
        constraints: Sequence[str] = (),
        seed: int = 0,
        *,
        n_candidates: int | None = None,
        length_init: float = 0.8,
        length_min: float = 0.5**7,
        length_max: float = 1.6,
        success_tolerance: int = 3,
        failure_tolerance: int | None = None,
        feasible_objective: bool = False,
        features: Mapping[str, Mapping[str, float]] | None = None,
        cost_aware: bool = False,
        screen_design: bool | None = None,
        screen_below: float = 0.5,
        screen_proposals: bool | None = None,
        proposal_screen_below: float = 0.5,
        screen_prior: Mapping[str, float] | None = None,
        categorical_region: bool = True,
        global_below: float | None = None,
        **options: Any,
    ) -> None:
        self.setup_screen(space, features, screen_design, screen_below, screen_proposals, proposal_screen_below,
                          options, screen_prior)  # fmt: skip
        super().__init__(space, objectives, constraints, seed, **options)
        self.single_objective()
        if not isinstance(feasible_objective, bool):
            raise ValueError(f"feasible_objective must be true or false, got {feasible_objective!r}")
        self.feasible_objective = feasible_objective
        if not isinstance(cost_aware, bool):
            raise ValueError(f"cost_aware must be true or false, got {cost_aware!r}")
        self.cost_aware = cost_aware
        if not isinstance(categorical_region, bool):
            raise ValueError(f"categorical_region must be true or false, got {categorical_region!r}")
        self.categorical_region = categorical_region
        self.global_below = self.objective_threshold("global_below", global_below)
        # Its own refit chain: the feasible rows grow by appending too, so the fits stay a pure
        # function of the told records (resume gives the same hyperparameters).
        self.objective_models = ScheduledGPs(self.gp_config, self.seed, self.models.growth, lag=self.models.lag)
        self.n_candidates = n_candidates or min(5000, max(2000, 200 * space.dim))
        self.region = TrustRegion(
            length_init, length_min, length_max, success_tolerance,
            failure_tolerance if failure_tolerance is not None else max(4, space.dim),
        )
        self._best = -math.inf  # best feasible objective (maximised) so far
        self._least_violation = math.inf

    def tell(self, record: EvaluationRecord) -> None:
        designed = not self.design_done(*self.data()[1:])  # the design is not the region's doing
        super().tell(record)
        if not record.informative:
            return  # a crash says nothing about the region's quality
        y = self._signs[0] * record.objectives[next(iter(self.objectives))]
        v = float(violation(np.array([record.constraints[c] for c in self.constraints])))
        if v <= 0:
            success = y > self._best + 1e-3 * abs(self._best) if math.isfinite(self._best) else True
            self._best = max(self._best, y)
        else:
            success = not math.isfinite(self._best) and v < self._least_violation * (1 - 1e-3)
        self._least_violation = min(self._least_violation, v)
        if not designed:
            self.region.update(success)

    @staticmethod
    def centre(X: np.ndarray, Y: np.ndarray, C: np.ndarray) -> np.ndarray:
        """Trust-region centre: the best feasible point, else the one of least positive violation."""
        return X[feasibility_order(Y[:, 0], C)[0]]

    def model_data(self, X: np.ndarray, Y: np.ndarray, C: np.ndarray,
                   log_cost: np.ndarray) -> list[tuple[ScheduledGPs, np.ndarray, np.ndarray]]:
        """The objective GP, one per constraint, then the log-cost GP when ``cost_aware`` (see
        ``feasible_objective``), all on the features of the points."""
        feasible, X = violation(C) <= 0, self.inputs(X)
        shared = np.column_stack([C, log_cost] if self.cost_aware else [C])
        if self.feasible_objective and C.shape[1] and feasible.sum() >= 2:
            return [(self.objective_models, X[feasible], Y[feasible]), (self.models, X, shared)]
        return [(self.models, X, np.column_stack([Y, shared]))]  # unconstrained, or too few feasible points

    def region_candidates(self, X: np.ndarray, Y: np.ndarray, C: np.ndarray, objective: Any,
                          rng: np.random.Generator) -> np.ndarray:
        """``n_candidates`` points of the trust region around :meth:`centre`, stretched by the
        ``objective`` GP's lengthscales, each moving a few coordinates (and categorical choices)."""
        centre = self.centre(X, Y, C)
        lengthscale = np.asarray(objective.hyper.lengthscale).mean(axis=0)[: self.space.dim]  # not the features
        lb, ub = self.region.bounds(centre, lengthscale)
        n, d = self.n_candidates, self.space.dim
        perturbed = lb + (ub - lb) * sobol(rng, n, d)
        # Perturb only a few coordinates per candidate: in many dimensions this keeps candidates
        # close to the centre along most axes, which is what makes TuRBO work beyond ~10-D.
        mask = rng.random((n, d)) <= min(20.0 / d, 1.0)
        mask[np.arange(n), rng.integers(d, size=n)] |= ~mask.any(axis=1)
        candidates = self.space.project(np.where(mask, perturbed, centre))
        if self.categorical_region and self.space.n_categorical:
            radius = self.region.hamming_radius(self.space.n_categorical)
            candidates = self.space.redraw_choices(candidates, rng.integers(0, radius + 1, size=n), rng)
        return candidates

    def propose(self, X: np.ndarray, Y: np.ndarray, C: np.ndarray, X_pending: np.ndarray,
                rng: np.random.Generator, log_cost: np.ndarray) -> np.ndarray:
        gps = [believe(g, self.inputs(X_pending)) for g in self.fitted(X, Y, C, log_cost)]
        cost_model = gps.pop() if self.cost_aware else None
        if self.global_below is not None and not self._best >= self.global_below:  # no incumbent worth a region yet
            candidates = self.space.project(sobol(rng, self.n_candidates, self.space.dim))
        else:
            candidates = self.region_candidates(X, Y, C, gps[0], rng)

        keys = jax.random.split(jax.random.PRNGKey(int(rng.integers(2**31))), len(gps))
        inputs = self.inputs(candidates)
        draws = np.stack([np.asarray(sample_paths(g, k, inputs)[0]) for g, k in zip(gps, keys)], axis=1)
        best, any_feasible = best_feasible(Y[:, 0], C) if cost_model is not None else (math.nan, False)
        if not any_feasible:  # plain SCBO, or nothing yet to improve on
            ordered = candidates[feasibility_order(draws[:, 0], draws[:, 1:])]
        else:
            predicted_log_cost = np.asarray(predict(cost_model, inputs)[0])
            ordered = candidates[gain_per_second_order(draws[:, 0], draws[:, 1:], best, predicted_log_cost)]
        return self.screen_proposal(X, C, ordered)


def gain_per_second_order(y: np.ndarray, C: np.ndarray, best: float, log_cost: np.ndarray) -> np.ndarray:
    """Indices best first: feasible rows by decreasing ``log(softplus((y - best) / s)) - log_cost``,
    then the infeasible ones by violation.

    That is improvement per second, with the improvement softened at ``s``, the spread of ``y``
    over the feasible rows: far above ``best`` it is ``log(y - best)``, below it ``(y - best) /
    s``. Where the sample improves nowhere (the incumbent is the best it knows), a hard
    improvement is zero everywhere and only ``y``'s order would be left, which sends a study to
    the costliest networks next to its incumbent as readily as to the cheap ones; softened, a
    candidate a little below the incumbent that costs a tenth of the seconds wins. With equal
    costs the order is :func:`feasibility_order`'s.
    """
    v = violation(C).reshape(len(y))
    feasible = v <= 0
    if not feasible.any():
        return feasibility_order(y, C)
    z = (np.asarray(y, dtype=float) - best) / max(float(np.std(y[feasible])), 1e-12)
    log_gain = np.where(z < -30.0, z, np.log(np.logaddexp(0.0, np.maximum(z, -30.0))))  # log softplus
    return np.lexsort((np.where(feasible, -(log_gain - log_cost), v), ~feasible))
