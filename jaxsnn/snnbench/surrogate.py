"""A surrogate SNN-HPO objective fitted on a table of real trials (HPOBench / YAHPO Gym style).

Random forests on the space's unit-cube encoding predict, for any configuration of the table's
space: whether the detector stops it as silent, the accuracy of the full run (a Gaussian process
where the problem names its ``learning`` inputs), the silent constraint a live run reports, and
the seconds of the full run and of the stopped one. A trial then costs milliseconds and the
benchmark can compare optimizers over many seeds at equal *compute seconds*, with or without the
detector:

- ``mode="detector"``: a predicted-silent network ends ``silent_stopped`` after its predicted stop
  time, reporting chance accuracy (a live stopped SG run reports its running training accuracy,
  0.07-0.10 on digits) and its constraint ``> 0``; the others run to the end;
- ``mode="no_detector"``: every network runs to the end (full cost and accuracy); the silent
  constraint is measured over the whole run;
- ``mode="dropped"``: as ``detector`` but a stopped network is returned ``pruned``, which is how
  Optuna and Ax treat pruned trials: the optimizer never models it.

Deterministic: the forests have fixed seeds, the Gaussian process's fit starts from fixed
hyperparameters, and a prediction has no noise, so one configuration always gives one answer.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, logit
from scipy.stats import norm, spearmanr
from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from jaxsnn.hpo.space import Space
from jaxsnn.record import EvaluationRecord
from jaxsnn.snnbench.problems import SNNProblem

MODES: tuple[str, ...] = ("detector", "no_detector", "dropped")
_CLASSIFIER = {"n_estimators": 200, "max_features": 0.33, "random_state": 0, "n_jobs": 1}
_REGRESSOR = {"n_estimators": 200, "min_samples_leaf": 2, "random_state": 0, "n_jobs": 1}
_ACCURACY = {**_REGRESSOR, "min_samples_leaf": 5}
"""Chosen by 5-fold cross-validation: a random forest on a third of the features per split
classifies the detector's stop best (94 % on the first 376 rows of sg_digits). The kept networks'
accuracy, pooled Spearman over the 1,000 sg_digits rows (fold splits of seeds 0, 1, 2): extra
trees with leaves of >= 5 rows on the encoding and log drive 0.67 / 0.67 / 0.68 (random forest
0.62, gradient boosting 0.66, fitted on the kept rows only 0.60; on ``sg_learning``'s inputs with
the logit target 0.68-0.70); a Gaussian process (Matern 5/2, a length scale per input, white
noise) on those inputs 0.77 / 0.76 / 0.77 (seed 0: with 4 more inputs, reset, leak gain and the
surrogate's gamma and beta, 0.76; without the logit 0.76, and on 32 inputs with the surrogate
shapes 0.73, on 12 without width, batch, leak and window 0.71; averaged with the trees 0.75-0.76).
It fits in about 35 s on 1,000 rows and answers in 0.2 ms. On sg_randman's 207 rows (65 kept)
the same process ranks 0.50 / 0.41 / 0.46 against the trees' 0.57 / 0.49 / 0.59, so that problem
names no ``learning`` inputs and keeps the trees.

On stdp_digits (1,000 rows, 153 kept; a retest of those with another seed ranks them 0.94, so the
trials are not noisy) the trees on the encoding and log drive rank the kept networks 0.18 / 0.17 /
0.18 (all rows 0.56-0.57); the same process on ``stdp_learning``'s 15 physical inputs 0.46 / 0.48 /
0.47 (all rows 0.68; it fits in about 40 s on the 1,000 rows), so that problem names them (trees on
an earlier 16 such inputs 0.31, gradient boosting 0.36, the process 0.45 at seed 0; with the input
spikes per presentation, the log drive and the spike-count estimate as inputs of their own 0.28,
seed 0). Fitted on the kept rows only, every model ranks the kept networks better: the process 0.60
/ 0.60 / 0.60 (Matern 3/2, 1/2, RBF, no logit or a log target 0.55-0.61), gradient boosting 0.55,
trees 0.51 (0.43 on the encoding); but it extrapolates into the silent region (all rows 0.11-0.13;
at seed 0 the 20 configurations rated best were all silent, which a run without the detector would
chase). Mixing that fit with the stopped rows' mean by the silent classifier's probability ranked
0.54 (all rows 0.45), switching to the trees where it predicts silence 0.43 (0.61); at seed 0, a
kept / stopped input to the process on all rows 0.57 (0.44) set to kept and 0.42 (0.68) set to the
classifier's probability, noise of 1 added to the stopped rows 0.46 (0.65); the kept rows' fitted
kernel conditioned on all rows, the stopped ones with noise 0.3 / 1 / 3, 0.52 / 0.54 / 0.56 (0.53 /
0.51 / 0.45): each buys kept rank with all-row rank (below the trees' 0.57) or loses both; only the
plain process on all rows beats the trees on both. That process finds ``x_tar``, the input the kept
rows' one rates most, irrelevant (the stopped rows dominate it and a shared noise of 0.28 smooths
the rest): more inputs did not help it, more kept rows or a regime-aware model might."""

_FLOOR = 0.05
"""The accuracy model fits ``logit((accuracy - _FLOOR) / (1 - _FLOOR))`` (clipped to 1 % and 99 %):
the floor lies below the tables' lowest accuracy (0.064), and the logit spreads out the 0.06-0.2
where most kept networks crowd."""


def _fraction_at(row: Mapping[str, Any], interval: int) -> float:
    """Silent fraction at the check where the detector stopped (a check every ``interval`` samples)."""
    checks = row["checks"]
    if not checks:
        return float(row["silent_fraction"])
    return float(checks[min(len(checks), max(1, int(row["stop_samples"]) // interval)) - 1])


@dataclasses.dataclass
class Validation:
    """Held-out quality of a fitted surrogate."""

    n_train: int
    n_test: int
    accuracy_spearman: float
    """Rank correlation of predicted vs real full-run accuracy over held-out rows the detector keeps."""
    silent_agreement: float
    """Share of held-out rows whose stopped / kept outcome is predicted right."""
    cost_spearman: float
    accuracy_spearman_all: float
    """The same rank correlation over every held-out row, silent ones included."""
    retested: int = 0
    """Kept rows trained again with another seed (a retest table; 0: none given)."""
    retest_spearman: float = float("nan")
    """Rank correlation of the table's accuracy with the retest's over those rows: how well one
    real run of a configuration ranks another run of it (the trials' own repeatability)."""
    surrogate_retest_spearman: float = float("nan")
    """Rank correlation of the held-out predictions with the retest's accuracy over those rows:
    next to ``retest_spearman``, whether the surrogate stands in for a fresh trial about as well as
    a real run of it does."""
    kept_top: float = float("nan")
    """The 95th percentile of the held-out kept rows' real accuracy, and ..."""
    kept_top_predicted: float = float("nan")
    """... of their predictions: a regression pulls the predictions of the few networks that learn
    best towards the others', so where this is lower the surrogate's best networks are worse than
    the table's, and a search on it is judged against a lower bar than a real one (random search's
    best, the reach anchor, is the best of a few dozen networks: an upper quantile)."""

    def meets_targets(self) -> bool:
        return self.accuracy_spearman >= 0.8 and self.silent_agreement >= 0.9


def _forest_mean(forest: ExtraTreesRegressor | RandomForestClassifier, X: np.ndarray) -> np.ndarray:
    """Mean over the trees' outputs at the rows of ``X``, ``(rows, outputs or classes)``, by
    calling each fitted tree directly on all rows at once.

    ``forest.predict`` dispatches through joblib even with ``n_jobs=1`` (about 10 ms a call for
    one row); the trees themselves answer in microseconds, and a tree asked for many rows costs
    about what it costs for one. Regressors: the mean of the leaf values, as ``predict``;
    classifiers: the mean of the leaf class frequencies, as ``predict_proba``. A row's answer does
    not depend on the other rows asked with it.
    """
    X32 = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
    total: np.ndarray | float = 0.0
    for tree in forest.estimators_:
        leaves = tree.tree_.predict(X32).reshape(len(X32), -1)  # (rows, classes or outputs)
        if isinstance(forest, RandomForestClassifier):
            leaves = leaves / leaves.sum(axis=1, keepdims=True)
        total = total + leaves  # tree by tree: the same sums in the same order for any number of rows
    return total / len(forest.estimators_)


class SurrogateBenchmark:
    """Predict trials of ``problem`` from its table ``rows`` (:func:`jaxsnn.snnbench.tables.read_rows`).

    Three forests: a classifier of the detector's stop; over every complete row, a regressor of
    the full run's ``(silent fraction, log seconds)``; and one of the stopped run's ``(silent
    fraction at the stop, log seconds to the stop)`` over the stopped rows. Over every complete
    row, the full run's accuracy: a Gaussian process of the problem's ``learning`` inputs, or a
    fourth forest where it names none.
    """

    def __init__(self, problem: SNNProblem, rows: Sequence[Mapping[str, Any]], noise: float = 0.0) -> None:
        self.noise = _checked_noise(noise)
        self.problem = problem
        self.space: Space = problem.space()
        usable = _usable(rows)
        stopped = np.array([bool(r["stopped"]) for r in usable])
        if len(usable) < 20 or stopped.sum() < 5 or (~stopped).sum() < 5:
            raise ValueError(f"{problem.name}: a surrogate needs >= 20 complete rows with >= 5 stopped and >= 5 "
                             f"kept by the detector; the table has {len(usable)} ({stopped.sum()} stopped)")
        self.rows = list(rows)
        self.p = problem.preset.p
        X = np.stack([self.features(r["params"]) for r in usable])
        self.silent = RandomForestClassifier(**_CLASSIFIER).fit(
            np.stack([self.silent_features(r["params"], x) for r, x in zip(usable, X)]), stopped)
        accuracy = np.array([r["accuracy"] for r in usable])
        if problem.learning is None:
            self.accuracy = ExtraTreesRegressor(**_ACCURACY).fit(X, accuracy)
        else:
            L = np.stack([problem.learning(r["params"]) for r in usable])
            self._center, self._scale = L.mean(axis=0), L.std(axis=0) + 1e-12
            kernel = ConstantKernel() * Matern(np.full(L.shape[1], 3.0), (0.05, 1e3), nu=2.5) + WhiteKernel(0.1)
            target = logit(np.clip((accuracy - _FLOOR) / (1 - _FLOOR), 0.01, 0.99))
            with warnings.catch_warnings():  # an input that does not matter ends at the length scale's bound
                warnings.simplefilter("ignore", ConvergenceWarning)
                self.accuracy = GaussianProcessRegressor(kernel, normalize_y=True).fit(
                    (L - self._center) / self._scale, target)
        self.full = ExtraTreesRegressor(**_REGRESSOR).fit(
            X, [[r["silent_fraction"], math.log(r["cost_s"])] for r in usable])
        self.stop = ExtraTreesRegressor(**_REGRESSOR).fit(
            X[stopped], [[_fraction_at(r, problem.preset.update_interval), math.log(r["stop_time_s"])]
                         for r, s in zip(usable, stopped) if s])
        self._ranges = {p.name: (p.low, p.high) for p in self.space.params if hasattr(p, "low")}

    def features(self, params: Mapping[str, Any]) -> np.ndarray:
        """The space's unit-cube encoding plus the problem's log drive (see ``SNNProblem.drive``)."""
        up, down = self.problem.drive
        drive = sum(math.log(params[n]) for n in up if n in params) - sum(math.log(params[n]) for n in down)
        return np.append(self.space.encode(params), drive)

    def silent_features(self, params: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
        """The silent classifier's inputs: ``x``, the :meth:`features` of ``params``, and the
        learning inputs where the problem's silence depends on its learning
        (``SNNProblem.silent_learning``)."""
        return np.append(x, self.problem.learning(params)) if self.problem.silent_learning else x

    def _accuracies(self, configs: Sequence[Mapping[str, Any]], X: np.ndarray) -> np.ndarray:
        """The full runs' accuracies: the forest's at the :meth:`features` ``X`` of ``configs``,
        or the Gaussian process's, asked one configuration at a time so that a configuration's
        answer is the same whatever else is asked with it (a matrix product over many rows rounds
        differently from one over a single row)."""
        if isinstance(self.accuracy, ExtraTreesRegressor):
            return _forest_mean(self.accuracy, X)[:, 0]
        z = (np.stack([self.problem.learning(p) for p in configs]) - self._center) / self._scale
        return np.array([_from_logit(self.accuracy.predict(row.reshape(1, -1))[0]) for row in z], dtype=float)

    def check(self, params: Mapping[str, Any]) -> None:
        """A configuration outside the table's space is refused, naming the parameter and range."""
        for name, value in params.items():
            if name in self._ranges:
                low, high = self._ranges[name]
                if not (low <= value <= high):
                    raise ValueError(f"{self.problem.name}: {name}={value!r} is outside the table's range "
                                     f"[{low}, {high}]; the surrogate only answers inside it")  # fmt: skip
        self.space.validate(params)

    def predict(self, params: Mapping[str, Any]) -> dict[str, float]:
        """Raw predictions: ``p_silent``, the full run's ``accuracy``, ``full_fraction`` and
        ``cost_s``, the stopped run's ``stop_fraction`` and ``stop_s``."""
        return self.predict_many([params])[0]

    def predict_many(self, configs: Sequence[Mapping[str, Any]]) -> list[dict[str, float]]:
        """:meth:`predict` for each of ``configs``, each forest asked once for all of them: a
        validation or a random-search estimate predicts hundreds to thousands of configurations,
        and one call per tree and configuration took about 10 ms a configuration."""
        for params in configs:
            self.check(params)
        X = np.stack([self.features(p) for p in configs])
        proba = _forest_mean(self.silent, np.stack([self.silent_features(p, x) for p, x in zip(configs, X)]))
        p_silent = proba[:, list(self.silent.classes_).index(True)]
        accuracy = self._accuracies(configs, X)
        full, stop = _forest_mean(self.full, X), _forest_mean(self.stop, X)
        out = []
        for i in range(len(X)):
            (full_fraction, log_cost), (stop_fraction, log_stop) = full[i], stop[i]
            cost = math.exp(log_cost)
            out.append({"p_silent": float(p_silent[i]), "accuracy": float(accuracy[i]),
                        "full_fraction": float(full_fraction), "cost_s": cost, "stop_fraction": float(stop_fraction),
                        "stop_s": min(math.exp(log_stop), cost)})  # fmt: skip
        return out

    def with_noise(self, noise: float) -> SurrogateBenchmark:
        """This surrogate with trial ``noise``: the same fitted models (a fit takes 30-40 s on a
        1,000-row table), only the trials' draws differ."""
        noisy = copy.copy(self)
        noisy.noise = _checked_noise(noise)
        return noisy

    def trial_accuracy(self, params: Mapping[str, Any], predicted: float) -> float:
        """The accuracy a trial of ``params`` reports: the ``predicted`` one, moved by ``noise``
        standard deviations of the accuracy model's logit times a standard normal draw fixed by the
        configuration (a hash of its parameters: one configuration, one answer). Why: the model's
        predictions of new configurations are a smoothed mean, and a real search meets networks
        that do better or worse than any smooth model of their parameters says (seed noise and
        what the model misses). Without that spread random search's best, the reach anchor, is a
        much lower bar on the surrogate than on the table's own rows (``tables.random_best``), and
        a method that finds the smooth model's good region early looks better than it is on real
        networks (see :func:`calibrated_noise`)."""
        return float(_shifted(predicted, self.noise * _standard_draw(params))) if self.noise else predicted

    def __call__(self, params: Mapping[str, Any], mode: str = "detector") -> EvaluationRecord:
        """One surrogate trial as the evaluation record a real one would produce."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
        pred = self.predict(params)
        pred["accuracy"] = self.trial_accuracy(params, pred["accuracy"])
        silent = pred["p_silent"] >= 0.5
        chance = 1.0 / self.problem.n_classes
        if mode == "no_detector":
            return EvaluationRecord(dict(params), {"accuracy": _unit(pred["accuracy"])},
                                    {"silent": pred["full_fraction"] - self.p}, cost_s=pred["cost_s"])
        if not silent:
            g = min(pred["full_fraction"] - self.p, -1e-3)
            return EvaluationRecord(dict(params), {"accuracy": _unit(pred["accuracy"])}, {"silent": g},
                                    cost_s=pred["cost_s"])
        if mode == "dropped":
            return EvaluationRecord(dict(params), {}, {}, cost_s=pred["stop_s"], status="pruned",
                                    metrics={"stop_reason": "silent network"})
        g = max(pred["stop_fraction"] - self.p, 1e-3)
        return EvaluationRecord(dict(params), {"accuracy": chance}, {"silent": g}, cost_s=pred["stop_s"],
                                status="silent_stopped")

    def validate(self, held_out: Sequence[Mapping[str, Any]]) -> Validation:
        """Quality on rows it was not fitted on (the targets: Spearman >= 0.8, agreement >= 90 %)."""
        rows = _usable(held_out)
        return _score(self.predict_many([r["params"] for r in rows]), rows, len(self.rows))


def calibrated_noise(bench: SurrogateBenchmark, n: int, target: float, draws: int = 2000, seed: int = 0) -> float:
    """The ``noise`` at which random search's median best over ``n`` trials on ``bench``
    (:func:`random_search_best`) equals ``target``, random search's median best on the table's own
    rows (``tables.random_best``): the surrogate's trials then set the bar a real random search
    sets. Bisection on [0, 4]; 0 where the surrogate's predictions alone already reach ``target``."""
    median_best = _median_best(bench, n, draws, seed)
    low, high = 0.0, 4.0
    if median_best(low) >= target:
        return 0.0
    for _ in range(20):
        middle = (low + high) / 2
        low, high = (middle, high) if median_best(middle) < target else (low, middle)
    return (low + high) / 2


def random_search_best(bench: SurrogateBenchmark, n: int, draws: int = 2000, seed: int = 0) -> float:
    """Random search's median best over ``n`` trials on ``bench`` with its ``noise``: the
    ``0.5 ** (1 / n)`` quantile of one random trial's accuracy (0 where it is stopped as silent),
    estimated from ``draws`` uniform configurations, each kept one's noise integrated out (its
    accuracy a logit-normal around the prediction) rather than drawn once: the median of a best
    of dozens sits in the tail, where single draws of a few thousand configurations scatter it by
    0.1."""
    return _median_best(bench, n, draws, seed)(bench.noise)


def _median_best(bench: SurrogateBenchmark, n: int, draws: int, seed: int) -> Callable[[float], float]:
    """:func:`random_search_best` as a function of the noise (the predictions made once)."""
    rng = np.random.default_rng(seed)
    configs = [bench.space.decode(u) for u in bench.space.project(rng.random((draws, bench.space.dim)))]
    preds = bench.predict_many(configs)
    centre = _logit_unit(np.array([p["accuracy"] for p in preds if p["p_silent"] < 0.5]))
    kept_share, level = len(centre) / draws, 0.5 ** (1.0 / n)
    if kept_share <= 1.0 - level:
        return lambda noise: 0.0  # most sets of n hold no kept trial at all

    def quantile(noise: float) -> float:
        within = (level - (1.0 - kept_share)) / kept_share  # the level among the kept trials
        if not noise:
            return float(_from_logit(np.quantile(centre, within)))
        below = lambda x: norm.cdf((x - centre) / noise).mean() - within  # noqa: E731  the mixture's CDF, increasing
        return float(_from_logit(brentq(below, centre.min() - 8 * noise, centre.max() + 8 * noise, xtol=1e-12)))

    return quantile


def _logit_unit(accuracy: Any) -> Any:
    """``accuracy`` in the accuracy model's logit."""
    return logit(np.clip((accuracy - _FLOOR) / (1 - _FLOOR), 1e-9, 1 - 1e-9))


def _standard_draw(params: Mapping[str, Any]) -> float:
    """A standard normal draw fixed by ``params`` (a hash of their canonical JSON)."""
    canonical = {name: float(v) if isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))
                 else str(v) for name, v in sorted(params.items())}  # an int and a numpy int: one draw
    key = json.dumps(canonical).encode()
    return float(np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little")).standard_normal())


def _from_logit(value: Any) -> Any:
    """The accuracy of the accuracy model's logit ``value`` (the inverse of :func:`_logit_unit`)."""
    return _FLOOR + (1 - _FLOOR) * expit(value)


def _shifted(accuracy: Any, shift: Any) -> Any:
    """``accuracy`` moved by ``shift`` in the accuracy model's logit."""
    return _from_logit(_logit_unit(accuracy) + shift)


def _checked_noise(noise: Any) -> float:
    """``noise`` as a float, refused unless finite and >= 0: one check for the constructor and
    :meth:`SurrogateBenchmark.with_noise`."""
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < math.inf:
        raise ValueError(f"noise must be a finite number >= 0 (a standard deviation in logit accuracy), got {noise!r}")
    return float(noise)


def cross_validate(
    problem: SNNProblem,
    rows: Sequence[Mapping[str, Any]],
    folds: int = 5,
    seed: int = 0,
    retest: Sequence[Mapping[str, Any]] = (),
) -> Validation:
    """``folds``-fold cross-validation: every row is predicted once by forests that never saw it,
    and the scores are computed over all of them pooled (a single 80/20 split of a 1,000-row
    table moves the kept networks' Spearman by +-0.07 from split to split).

    ``retest``: rows of the table trained again with another seed (``snn_tables.py --retest``).
    The table's accuracy is one noisy draw per configuration: how well the table and its retest
    rank each other says how much of the Spearman target the trials' own noise leaves reachable.
    """
    rows = _usable(rows)
    order = np.random.default_rng(seed).permutation(len(rows))
    preds: list[dict[str, float] | None] = [None] * len(rows)
    for held in np.array_split(order, folds):
        held_set = set(held.tolist())
        bench = SurrogateBenchmark(problem, [r for i, r in enumerate(rows) if i not in held_set])
        for i, pred in zip(held, bench.predict_many([rows[i]["params"] for i in held])):
            preds[i] = pred
    validation = _score(preds, rows, len(rows) - len(rows) // folds)
    rerun = {r["index"]: r["accuracy"] for r in _usable(retest)}
    pairs = [(p["accuracy"], r["accuracy"], rerun[r["index"]]) for p, r in zip(preds, rows)
             if not r["stopped"] and r["index"] in rerun]  # fmt: skip
    if len(pairs) > 2:
        predicted, tabled, again = zip(*pairs)
        validation = dataclasses.replace(
            validation, retested=len(pairs), retest_spearman=float(spearmanr(tabled, again).statistic),
            surrogate_retest_spearman=float(spearmanr(predicted, again).statistic))
    return validation


def _usable(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in rows if r["status"] == "complete" and math.isfinite(r["accuracy"])]


def _score(preds: Sequence[Mapping[str, float]], rows: Sequence[Mapping[str, Any]], n_train: int) -> Validation:
    agree = np.mean([(p["p_silent"] >= 0.5) == r["stopped"] for p, r in zip(preds, rows)])
    kept = [(p["accuracy"], r["accuracy"]) for p, r in zip(preds, rows) if not r["stopped"]]
    rho = spearmanr(*zip(*kept)).statistic if len(kept) > 2 else float("nan")
    cost = spearmanr([p["cost_s"] for p in preds], [r["cost_s"] for r in rows]).statistic
    rho_all = spearmanr([p["accuracy"] for p in preds], [r["accuracy"] for r in rows]).statistic
    top_predicted, top = np.quantile(np.array(kept), 0.95, axis=0) if kept else (math.nan, math.nan)
    return Validation(n_train, len(rows), float(rho), float(agree), float(cost), float(rho_all),
                      kept_top=float(top), kept_top_predicted=float(top_predicted))


def _unit(value: float) -> float:
    return float(min(1.0, max(0.0, value)))
