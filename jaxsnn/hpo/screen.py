"""The feature screen of a constrained optimizer: its initial design and its model-guided
candidates ordered by how likely a cheap classifier calls them feasible.

``features={name: {parameter: exponent}}`` (:mod:`jaxsnn.hpo.features`) name products of
parameters, such as a spiking network's input drive, that decide most of whether a point is
infeasible (a silent network). Once the trials hold a feasible and an infeasible point, a
logistic regression on those features (classes weighted equally) gives every candidate a
probability of being feasible:

- ``screen_design`` (on where there are features): the initial design skips the Sobol points it
  calls more likely infeasible than ``screen_below`` (0.5), the Sobol order kept within each
  class, so a space where most random points are silent holds its first feasible points in a
  few trials; a screened design has :data:`SCREENED_N_INITIAL` points unless ``n_initial`` is given.
- ``screen_proposals`` (on where the design is screened): model-guided candidates under
  ``proposal_screen_below`` (0.5) go behind every other one, the acquisition's order kept within
  each group. A screen only reorders: it never empties an ask.
- ``screen_prior={feature: +1 or -1}``: the direction in which each named feature makes a point
  more likely feasible (more input drive, fewer silent networks), what the screens use until the
  trials hold a feasible and an infeasible point: a candidate's prior score is the mean of its
  features scaled to [0, 1] over the box (reversed where the sign is -1), and a score under the
  screen's threshold (0.5 by default: the lower half of the box's range) counts as predicted
  infeasible. Without it the first
  points of the design are the plain Sobol ones, and in a space where 70-85 % of random networks
  are silent they hold no feasible point for several trials.

SCBO also hands the features to its GPs as inputs (:mod:`jaxsnn.hpo.scbo`); log-EI screens on
them only (its GPs keep the encoded space).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from jaxsnn.hpo.acquisition import design_size, violation
from jaxsnn.hpo.features import LogProductFeatures
from jaxsnn.hpo.space import Space

SCREENED_N_INITIAL = 6
"""Initial-design size of a screened design (unless ``n_initial`` is given). Its points are mostly
feasible networks, so it holds the 3 feasible ones the model starts from in fewer trials; on the
sg_digits surrogate benchmark 6 points took SCBO to random search's best in 0.19 of its compute,
10 screened points in 0.28 (benchmarks/RESULTS.md, "Silent-aware BO on SNN problems")."""


class FeatureScreen:
    """Mixin of a :class:`~jaxsnn.hpo.optimizers.BayesianOptimizer`: ``inputs`` (the features)
    and the two screens. ``setup_screen`` runs before the optimizer's own ``__init__`` (it may
    set the design size)."""

    space: Space

    def setup_screen(self, space: Space, features: Mapping[str, Mapping[str, float]] | None,
                     screen_design: bool | None, screen_below: float, screen_proposals: bool | None,
                     proposal_screen_below: float, options: dict[str, Any],
                     screen_prior: Mapping[str, float] | None = None) -> None:  # fmt: skip
        self.inputs = LogProductFeatures(space, features or {})
        self.screen_design = self._screen_switch("screen_design", screen_design, len(self.inputs) > 0)
        self.screen_below = _probability("screen_below", screen_below)
        self.screen_proposals = self._screen_switch("screen_proposals", screen_proposals, self.screen_design)
        self.proposal_screen_below = _probability("proposal_screen_below", proposal_screen_below)
        self.prior_signs = self._prior_signs(features or {}, screen_prior)
        if self.screen_design and options.get("n_initial") is None:
            options["n_initial"] = design_size(space, SCREENED_N_INITIAL)

    def _screen_switch(self, name: str, value: bool | None, default: bool) -> bool:
        """A screen's on/off option (``None``: ``default``); a screen needs features to screen on."""
        value = default if value is None else value
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        if value and not len(self.inputs):
            raise ValueError(f"{name} needs features: candidates are screened on them (e.g. the input drive)")
        return value

    def _prior_signs(self, features: Mapping[str, Any], screen_prior: Mapping[str, float] | None) -> np.ndarray | None:
        """``screen_prior`` as one sign per feature column (0: not in the prior); ``None``: no prior.
        A named feature the space leaves without parameters (a constant of the study) drops out."""
        if screen_prior is None:
            return None
        if not isinstance(screen_prior, Mapping) or not screen_prior:
            raise ValueError(f"screen_prior must be a dict {{feature: 1 or -1}}, got {screen_prior!r}")
        if not (self.screen_design or self.screen_proposals):
            raise ValueError("screen_prior needs a screen (screen_design or screen_proposals) to order candidates")
        signs = np.zeros(len(self.inputs))
        for name, sign in screen_prior.items():
            if name not in features:
                raise ValueError(f"screen_prior names {name!r}, not a feature; features: {', '.join(features)}")
            if sign not in (1, -1) or isinstance(sign, bool):
                raise ValueError(f"screen_prior.{name} must be 1 (more is feasible) or -1 (less is), got {sign!r}")
            if name in self.inputs.names:
                signs[self.inputs.names.index(name)] = sign
        return signs if signs.any() else None

    def prior_score(self, candidates: np.ndarray) -> np.ndarray:
        """The prior's score of each candidate in [0, 1]: the mean of its prior features scaled
        over the box, each turned so that 1 is its feasible end."""
        columns = self.inputs(candidates)[:, self.space.dim:][:, self.prior_signs != 0]
        signs = self.prior_signs[self.prior_signs != 0]
        return np.where(signs > 0, columns, 1.0 - columns).mean(axis=1)

    def feasible_probability(self, X: np.ndarray, C: np.ndarray, candidates: np.ndarray) -> np.ndarray | None:
        """Each candidate's probability of being feasible by a logistic regression on the features
        of the observations ``X`` (constraint values ``C``); until they hold both a feasible and
        an infeasible one, the ``screen_prior`` score, or ``None`` without a prior. Classes
        weighted equally: with one feasible trial among ten, an unweighted fit calls every point
        infeasible."""
        feasible = violation(C) <= 0
        if feasible.all() or not feasible.any():
            return None if self.prior_signs is None else self.prior_score(candidates)
        from sklearn.linear_model import LogisticRegression  # here: keeps `import jaxsnn.hpo` light
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        dim = self.space.dim
        classifier = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced"))
        classifier.fit(self.inputs(X)[:, dim:], feasible)
        return classifier.predict_proba(self.inputs(candidates)[:, dim:])[:, 1]

    def screened(self, X: np.ndarray, C: np.ndarray, candidates: np.ndarray, below: float) -> np.ndarray:
        """``candidates`` with those of a feasible probability under ``below`` moved last, the
        order kept within both groups (all of them kept: a screen never empties an ask)."""
        probability = self.feasible_probability(X, C, candidates)
        if probability is None:
            return candidates
        return candidates[np.argsort(probability < below, kind="stable")]

    def screen_proposal(self, X: np.ndarray, C: np.ndarray, ordered: np.ndarray) -> np.ndarray:
        """The model-guided ``ordered`` candidates, screened where ``screen_proposals`` is on."""
        return self.screened(X, C, ordered, self.proposal_screen_below) if self.screen_proposals else ordered

    def order_design(self, candidates: np.ndarray) -> np.ndarray:
        """With ``screen_design``, the candidates predicted feasible first (the Sobol order kept
        within each class, so the design still fills the space it keeps)."""
        if not self.screen_design:
            return candidates
        X, _, C = self.data()  # type: ignore[attr-defined]
        return self.screened(X, C, candidates, self.screen_below)


def _probability(name: str, value: Any) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < 1:
        raise ValueError(f"{name} must be a probability in (0, 1), got {value!r}")
    return float(value)
