"""The ask/tell optimizer contract, shared bookkeeping, random search and the factory.

Resuming: an optimizer holds no state that is not a function of ``(constructor arguments, the
sequence of told records)``. Randomness in ``ask`` is seeded from ``(seed, number of records told,
number of pending points)``; GP hyperparameters follow a refit schedule over the record prefix
(:class:`~jaxsnn.hpo.gp.ScheduledGPs`); SCBO's trust region is updated in ``tell``. Constructing
an optimizer with the same seed and options and telling it the stored records in order therefore
reproduces the state it had, and the next ``ask`` with the same pending points proposes what the
original would have proposed (the first ask after a resume replays the refit schedule, a few
seconds for a few hundred records). Nothing else needs to be stored.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import jax.numpy as jnp
import numpy as np

from jaxsnn.hpo.acquisition import (
    best_feasible,
    constrained_log_ei,
    design_size,
    feasibility_order,
    log_ei_per_second,
    maximize,
    sobol,
    total_log_pof,
    violation,
)
from jaxsnn.hpo.features import LogProductFeatures
from jaxsnn.hpo.gp import GP, GPConfig, ScheduledGPs, believe, float64, padded_size, predict
from jaxsnn.hpo.screen import FeatureScreen
from jaxsnn.hpo.space import Space
from jaxsnn.hpo.spec import check_spec, record_problems, signs
from jaxsnn.record import EvaluationRecord

DEFAULT_MIN_FEASIBLE = 3
"""Feasible observations the initial design must hold before the model takes over. From one
feasible point (with 70-90 % of a wide SNN space silent, a 10-trial design often has one) the
objective GP, standardised on a single weak network and the silent ones, sees no room for
improvement anywhere but next to it: log-EI times PoF then hill-climbs around that network for
the whole study (sg_digits surrogate seed 2: 0.17 -> 0.33 in 64 trials, where other seeds
reach 0.5-0.6; the same in a real study). A few feasible networks of different quality give it
the scale of what is possible."""

DEFAULT_N_INITIAL = 10
"""Initial-design size in spaces of 10+ encoded dimensions, as Optuna's samplers start. The
earlier ``2 * dim`` (capped at 20) spent a whole 20-trial demo of the 27-D SG space on the design:
in wide SNN spaces, where most random draws are silent networks, the model must take over early
(on the SG digits benchmark its proposals are 3-4x less often silent than the design's)."""


AHEAD_ROWS = 6
"""How many observations (told plus pending) before the GPs grow into the next padded size a
model-based ask starts compiling that size's programs in the background. A crossing compiles a
fit, a posterior and the acquisition for new shapes: 4-6 s of a cold ask on 2 cores (issue 17's
ask-latency benchmark), about what six trials at two workers leave."""


@runtime_checkable
class Optimizer(Protocol):
    """What the asynchronous loop talks to."""

    def ask(self, pending: Sequence[dict] = ()) -> dict:
        """A new configuration; ``pending`` are those other workers are evaluating right now."""
        ...

    def tell(self, record: EvaluationRecord) -> None:
        """Every finished trial, whatever its status."""
        ...


def point_key(x: np.ndarray) -> tuple:
    """Hashable identity of an encoded point (tolerant to float round-off)."""
    return tuple(np.round(x, 9).tolist())


class BaseOptimizer:
    """Bookkeeping every optimizer shares: the spec, the told records, seeding, duplicate checks.

    Objectives are stored sign-flipped so that every model *maximises*; constraints keep the
    ``g(x) <= 0`` feasible convention of :class:`~jaxsnn.record.EvaluationRecord`.
    """

    def __init__(
        self, space: Space, objectives: Mapping[str, str], constraints: Sequence[str] = (), seed: int = 0
    ) -> None:
        if not isinstance(space, Space):
            raise ValueError(f"space must be a jaxsnn.hpo.Space, got {type(space).__name__}")
        self.space = space
        self.objectives, self.constraints = check_spec(objectives, constraints)
        self.seed = int(seed)
        self.records: list[EvaluationRecord] = []
        self._told: set[tuple] = set()
        self._signs = signs(self.objectives)

    # --- tell -----------------------------------------------------------------------------------
    def tell(self, record: EvaluationRecord) -> None:
        """Store a record; informative ones must carry every declared objective and constraint."""
        if not isinstance(record, EvaluationRecord):
            raise ValueError(f"tell() takes an EvaluationRecord, got {type(record).__name__}")
        self.space.validate(record.params)
        problems = record_problems(record, self.objectives, self.constraints)
        if problems:
            raise ValueError(f"{record.status} record: {'; '.join(problems)}; declare every constraint an objective "
                             "reports, so that the optimizer models it instead of ignoring it")  # fmt: skip
        self.records.append(record)
        self._told.add(point_key(self.space.encode(record.params)))

    # --- data for the models --------------------------------------------------------------------
    def data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``X (n, dim)``, ``Y (n, n_objectives)`` to maximise, ``C (n, n_constraints)`` over informative records."""
        informative = [r for r in self.records if r.informative]
        X = self.space.encode_many([r.params for r in informative])
        Y = np.array([[r.objectives[n] for n in self.objectives] for r in informative], dtype=float).reshape(
            len(informative), len(self.objectives)
        )
        C = np.array([[r.constraints[n] for n in self.constraints] for r in informative], dtype=float).reshape(
            len(informative), len(self.constraints)
        )
        return X, Y * self._signs, C

    def log_costs(self) -> np.ndarray:
        """``log(cost_s)`` of the informative records, the rows of :meth:`data`: what a cost-aware
        acquisition models (seconds floored at 1 ms, so a trial that cost nothing stays finite)."""
        return np.log(np.maximum([r.cost_s for r in self.records if r.informative], 1e-3)).reshape(-1)

    # --- helpers for ask ------------------------------------------------------------------------
    def rng(self, pending: Sequence[dict]) -> np.random.Generator:
        """Randomness of one ``ask``: a function of the seed and the told/pending counts only."""
        return np.random.default_rng([self.seed, len(self.records), len(pending)])

    def taboo(self, pending: Sequence[dict]) -> set[tuple]:
        """Keys of points that must not be proposed again: every told point and every pending one."""
        for p in pending:
            self.space.validate(p)
        return self._told | {point_key(self.space.encode(p)) for p in pending}

    def first_new(self, X: np.ndarray, pending: Sequence[dict]) -> dict | None:
        """Decode the first row of ``X`` (valid encodings, best first) not already told or pending."""
        taboo = self.taboo(pending)
        for x in X:
            if point_key(x) not in taboo:
                return self.space.decode(x)
        return None

    def random_new(self, pending: Sequence[dict]) -> dict:
        """A uniform draw that is neither told nor pending, when the space still has one."""
        draws = self.space.sample(self.rng(pending), 64)
        chosen = self.first_new(self.space.encode_many(draws), pending)
        # A tiny discrete space can be exhausted: then repeating a point is the only option.
        return chosen if chosen is not None else draws[0]


class RandomSearch(BaseOptimizer):
    """Independent uniform draws from the space: the baseline every model must beat."""

    def ask(self, pending: Sequence[dict] = ()) -> dict:
        return self.random_new(pending)


class BayesianOptimizer(BaseOptimizer):
    """A space-filling initial design, then model-based proposals; subclasses implement ``propose``.

    Options shared by every model-based optimizer:

    - ``n_initial``: informative observations before the first model-based ask (default
      :data:`DEFAULT_N_INITIAL`, fewer in spaces of under 10 encoded dimensions); failures do not
      count, so a study whose first trials crash keeps exploring.
    - ``min_feasible``: the design also goes on until this many observations are feasible, up to
      ``2 * n_initial`` observations (see :data:`DEFAULT_MIN_FEASIBLE`).
    - ``design_target`` (single objective; None: off): the design also goes on, within the same
      cap, until a feasible observation's objective reaches this value. A feasible point no
      better than a failed one tells the model nothing about where good points lie: a spiking
      network that fires but stays at chance accuracy is feasible, and SCBO's trust region,
      centred on the best feasible point, then searches around an arbitrary one. On the
      sg_randman surrogate (50 trials' compute, 20 seeds) the ``silent_sg`` preset's design ended
      at chance in 10 of 20 seeds, and those reached random search's best after 47 s against 27 s
      for the others; with ``design_target: 0.2`` the method reached it at 0.25 of random's compute
      (0.30 and 0.35 in two runs without). Real studies from scratch did not confirm a gain (median
      reach 0.25 against 0.27 on sg_randman, 0.32 against 0.36 on digits): an option, not the
      preset's (benchmarks/RESULTS.md, "Silent-aware BO on SNN problems").
    - ``design_prior`` (``{name: {parameter: exponent}}``; None: off): log products of parameters
      (:class:`~jaxsnn.hpo.features.LogProductFeatures`) that make a point *better* the larger they
      are. The design tries the Sobol points whose products average in the upper half of the box's
      range before the others (a screened design keeps its screen first). Why: in a wide space most
      of a design's trials can be spent on points known in advance to be poor. An SG network with
      Adam at a learning rate in the lower half of [1e-5, 1e-1] stays at chance: on the sg_randman
      and sg_digits tables 8 % and 13 % of such kept networks learn (accuracy >= 0.2) against 41 %
      and 45 % of the upper half, which holds 29 of the 31 and 35 of the 38 networks that beat
      random search's median best. A sign, not a location: the model phase still searches the box.
      On the surrogate benchmark it reached random search's best sooner on every SG run; real
      studies from scratch found a learning network sooner but not that best, and ended lower on
      10 of 14 paired studies: an option, not a preset's (benchmarks/snn_hpo_notes.md, session 51).
    - ``gp``: ``"map"`` (default) or ``"nuts"``; ``prior``: ``"lognormal"`` or ``"saas"``;
      ``warp``: Kumaraswamy input warping; ``restarts``: MAP restarts.
    - ``refit_growth``: hyperparameters are refit each time the data grew by this factor
      (every observation below 20); the posterior always uses all data.
    - ``refit_lag``: an ask uses the hyperparameters fitted ``refit_lag`` observations earlier
      and starts its own refit in the background, where it runs while the proposed trial trains
      (default 1; 0 fits on the ask path, as before; see :class:`~jaxsnn.hpo.gp.ScheduledGPs`).
    """

    def __init__(
        self,
        space: Space,
        objectives: Mapping[str, str],
        constraints: Sequence[str] = (),
        seed: int = 0,
        *,
        n_initial: int | None = None,
        gp: str = "map",
        prior: str = "lognormal",
        warp: bool = False,
        restarts: int = 3,
        refit_growth: float = 1.1,
        refit_lag: int = 1,
        min_feasible: int = DEFAULT_MIN_FEASIBLE,
        design_target: float | None = None,
        design_prior: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        super().__init__(space, objectives, constraints, seed)
        self.n_initial = design_size(space, DEFAULT_N_INITIAL) if n_initial is None else int(n_initial)
        if self.n_initial < 1:
            raise ValueError(f"n_initial must be >= 1, got {n_initial}")
        if int(min_feasible) < 0:
            raise ValueError(f"min_feasible must be >= 0, got {min_feasible}")
        self.min_feasible = int(min_feasible)
        self.design_target = self.objective_threshold("design_target", design_target)
        if design_prior is not None and not isinstance(design_prior, Mapping):
            raise ValueError(f"design_prior must be a dict {{name: {{parameter: exponent}}}}, got {design_prior!r}")
        self.design_prior = None if design_prior is None else LogProductFeatures(space, design_prior)
        if self.design_prior is not None and not len(self.design_prior):
            raise ValueError(f"design_prior names no parameter of the space: {design_prior!r}")
        self.gp_config = GPConfig(inference=gp, prior=prior, warp=warp, restarts=restarts)
        self.models = ScheduledGPs(self.gp_config, self.seed, refit_growth, first_size=self.n_initial, lag=refit_lag)
        self._ahead: threading.Thread | None = None
        self._ahead_rows = -1  # the row count whose programs the background thread compiles
        self._ahead_until: float | None = None  # compile next sizes up to this many trials; None: off

    def objective_threshold(self, option: str, value: float | None) -> float | None:
        """An option that is an objective value (``design_target``, SCBO's ``global_below``) in the
        maximised sign of :meth:`data`'s ``Y``; None stays None (the option is off)."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or len(self.objectives) != 1:
            raise ValueError(f"{option} must be a finite number (an objective value of a single-objective "
                             f"study), got {value!r} with objectives {list(self.objectives)}")  # fmt: skip
        return float(self._signs[0] * value)

    def compile_ahead(self, n_pending: int = 0, n_trials: int | None = None) -> None:
        """Compile the first model-based ask's programs in a background thread, while the initial
        design's trials run, and later each padded size's before the GPs grow into it (see
        :data:`AHEAD_ROWS`), up to a study of ``n_trials``.

        That ask otherwise compiles its GP fits and acquisition (about 10 s on 2 cores) with the
        driver blocked: a worker that finishes meanwhile waits for its next trial. A copy of this
        optimizer proposes once from stand-in data of the same shapes (``n_initial`` observations,
        ``n_pending`` pending points), which fills JAX's caches; the real ask waits for the copy
        and then finds its programs compiled. Its own state and randomness are untouched, so the
        proposals are the same as without. Called by :func:`jaxsnn.hpo.loop.run_study`. The
        first model-based ask is not compiled once the design is done (a resumed study), when
        already started, or when a study of ``n_trials`` ends within the design (the programs
        would never be used); the later sizes are compiled ahead in every case.
        """
        self._ahead_until = math.inf if n_trials is None else n_trials  # and every padded size after
        if self._ahead is not None or self.design_done(*self.data()[1:]):
            return
        if n_trials is not None and n_trials <= self.n_initial:
            return
        self._start_ahead(n_pending, (self.n_initial, self.n_initial + 1), rows=0)

    def _start_ahead(self, n_pending: int, sizes: tuple[int, ...], rows: int) -> None:
        """Propose from a private copy on stand-in data of ``sizes`` observations in a background
        thread; an ask with ``rows`` or more observations (told plus pending) waits for it."""
        self._ahead = None  # a thread cannot be copied
        clone = copy.deepcopy(self)
        # Only the copy's programs matter, not its fits: one L-BFGS step compiles every program
        # that sixty do (the step budget is not part of them, see gp._jit_config), and the
        # shorter fits hold the GP model lock, which a real ask's refit waits for, and the cores,
        # which the trials need, for less time.
        # And in the foreground: the copy's ask must compile its fit itself, not leave it to a
        # background refit nobody waits for.
        for chain in (v for v in vars(clone).values() if isinstance(v, ScheduledGPs)):
            chain.config, chain.lag = dataclasses.replace(chain.config, map_steps=1), 0
        self._ahead_rows = rows
        # Not a daemon: interpreter shutdown waits for it instead of killing it inside XLA (a crash).
        self._ahead = threading.Thread(target=_propose_on_stand_ins, args=(clone, n_pending, sizes),
                                       name="jaxsnn-compile-ahead")  # fmt: skip
        self._ahead.start()

    def _compile_next_size(self, n: int, n_pending: int) -> None:
        """Compile in the background the programs of the next change of shape the asks meet within
        :data:`AHEAD_ROWS` observations: the GPs' next padded size (told plus pending rows), or the
        first refit from a single MAP start (``GPConfig.multistart_below`` told rows). The
        stand-in holds the schedule's first refit size past that point, so the fit, the posterior
        and the acquisition all compile for the new shapes."""
        if self._ahead_until is None or (self._ahead is not None and self._ahead.is_alive()):
            return
        edges = [padded_size(n + n_pending) + 1]  # the first row count of the next padded size
        config = self.gp_config
        if config.inference == "map" and config.restarts > 1 and n < config.multistart_below:
            edges.append(config.multistart_below)  # only there do the fit's programs change shape
        edge = min(e for e in (*edges, math.inf) if e > self._ahead_rows)
        if n + n_pending + AHEAD_ROWS >= edge and edge <= self._ahead_until:
            self._start_ahead(n_pending, (self.models.first_fit_from(int(edge)),), rows=int(edge))

    def _wait_for_ahead(self, rows: int) -> None:
        """Join a background compilation of the programs an ask of ``rows`` observations needs:
        those of the first model-based ask, or of a padded size it has reached."""
        if self._ahead is not None and self._ahead.is_alive() and rows >= self._ahead_rows:
            self._ahead.join()

    def design_done(self, Y: np.ndarray, C: np.ndarray) -> bool:
        """Whether the model takes over, given the (maximised) objectives and the constraint
        values of the informative trials."""
        n = len(C)
        feasible = violation(C).reshape(n) <= 0
        enough_feasible = int(feasible.sum()) >= self.min_feasible
        if self.design_target is not None:
            enough_feasible &= bool(feasible.any()) and float(Y[feasible, 0].max()) >= self.design_target
        return n >= self.n_initial and (enough_feasible or n >= 2 * self.n_initial)

    @float64
    def ask(self, pending: Sequence[dict] = ()) -> dict:
        X, Y, C = self.data()
        if self.design_done(Y, C):
            self._wait_for_ahead(len(X) + len(pending))  # its compilations are this ask's
            candidates = self.propose(X, Y, C, self.space.encode_many(list(pending)), self.rng(pending),
                                      self.log_costs())
            self._compile_next_size(len(X), len(pending))
            chosen = self.first_new(candidates, pending)
            if chosen is not None:
                return chosen
        elif len(X) >= self.n_initial:  # a design gone on for feasible networks may end at a larger size
            self._compile_next_size(len(X), len(pending))
        if len(X):
            self.fit_ahead(X, Y, C, self.log_costs())
        return self._design_point(pending)

    def model_data(self, X: np.ndarray, Y: np.ndarray, C: np.ndarray,
                   log_cost: np.ndarray) -> list[tuple[ScheduledGPs, np.ndarray, np.ndarray]]:
        """The GP chains a model-based ask fits, each with the inputs and targets it is fitted
        on, in the order ``fitted`` returns their GPs: one place for ``propose`` and ``fit_ahead``."""
        return [(self.models, X, np.column_stack([Y, C]))]

    def fitted(self, X: np.ndarray, Y: np.ndarray, C: np.ndarray, log_cost: np.ndarray) -> list[GP]:
        """The GPs of :meth:`model_data`, conditioned on all rows."""
        return [gp for chain, inputs, targets in self.model_data(X, Y, C, log_cost) for gp in chain(inputs, targets)]

    def fit_ahead(self, X: np.ndarray, Y: np.ndarray, C: np.ndarray, log_cost: np.ndarray) -> None:
        """On a design ask: start in the background the GP fits the first model-based ask will
        use (see :meth:`ScheduledGPs.fit_ahead`), so that ask does not replay them with a worker
        waiting. A fit of a layout the design leaves (SCBO's joint model, with
        ``feasible_objective``, while fewer than two trials are feasible) is never used: the
        price is its CPU beside the trials."""
        for chain, inputs, targets in self.model_data(X, Y, C, log_cost):
            chain.fit_ahead(inputs, targets)

    def propose(self, X: np.ndarray, Y: np.ndarray, C: np.ndarray, X_pending: np.ndarray,
                rng: np.random.Generator, log_cost: np.ndarray) -> np.ndarray:
        """Valid encodings, best first, given the informative data (``log_cost``: each row's log
        trial seconds, for cost-aware acquisitions) and the pending points."""
        raise NotImplementedError

    def design_points(self, n: int) -> np.ndarray:
        """The first ``n`` encoded points of the initial design: a scrambled Sobol sequence fixed
        by the seed, projected on the space (a told or pending one is skipped when asked)."""
        return self.space.project(sobol(np.random.default_rng(self.seed), n, self.space.dim))

    def _design_point(self, pending: Sequence[dict]) -> dict:
        """The next point of a scrambled Sobol sequence fixed by the seed (projected on the space),
        among the next 64 in the order :meth:`order_design` gives them."""
        i = len(self.records) + len(pending)
        chosen = self.first_new(self.order_design(self.prior_first(self.design_points(i + 64)[i:])), pending)
        return chosen if chosen is not None else self.random_new(pending)

    def prior_first(self, candidates: np.ndarray) -> np.ndarray:
        """``candidates`` with those in the upper half of the ``design_prior`` first, the Sobol
        order kept within both halves (so the design still spreads over the half it prefers)."""
        if self.design_prior is None:
            return candidates
        score = self.design_prior(candidates)[:, self.space.dim:].mean(axis=1)
        return candidates[np.argsort(score < 0.5, kind="stable")]

    def order_design(self, candidates: np.ndarray) -> np.ndarray:
        """The design's next encoded points in the order to try them: the Sobol order here; a
        subclass may put first those its data predicts worth a trial (SCBO's screened design)."""
        return candidates

    def single_objective(self) -> None:
        """Fail early when a single-objective method gets several objectives."""
        if len(self.objectives) != 1:
            raise ValueError(
                f"{type(self).__name__} optimizes one objective, got {list(self.objectives)}; use 'mobo' for several"
            )


@float64
def _propose_on_stand_ins(optimizer: BayesianOptimizer, n_pending: int, sizes: tuple[int, ...]) -> None:
    """``propose`` of ``optimizer`` (a private copy) on random data of each of ``sizes``
    observations plus ``n_pending`` pending points, in order (the first model-based asks: a fit,
    then a refit warm-started from it); feasible and infeasible observations, so every model and
    branch is built."""
    rng = np.random.default_rng(0)
    n = max(sizes)
    X = optimizer.design_points(n + n_pending)
    Y = rng.normal(size=(n, len(optimizer.objectives)))
    C = rng.normal(size=(n, len(optimizer.constraints)))
    C[::2] = -np.abs(C[::2])
    log_cost = rng.normal(size=n)
    try:
        for size in sizes:
            optimizer.propose(X[:size], Y[:size], C[:size], X[n:], rng, log_cost[:size])
    except Exception as e:  # only time is at stake: the real ask compiles what is missing
        warnings.warn(f"compiling ahead failed ({e!r}); the first model-based ask compiles instead", stacklevel=1)


class LogEIOptimizer(FeatureScreen, BayesianOptimizer):
    """Constrained log expected improvement with one GP per objective and per constraint.

    Pending points are fantasised (kriging believer): every GP is conditioned on its own
    prediction there, and a pending point predicted feasible and better than the incumbent
    raises the incumbent, so a second worker is sent elsewhere.

    ``cost_aware=True`` models ``log(cost_s)`` of the informative trials with one more GP and
    ranks by log-EI per predicted second: for a budget of compute seconds, where a wide space's
    trials differ in cost by 10x (width, depth, epochs, window).

    ``explore``: the probability that an ask returns a random predicted-feasible point instead
    (see :func:`predicted_feasible`).

    ``features``, ``screen_design``, ``screen_below``, ``screen_proposals``,
    ``proposal_screen_below``, ``screen_prior``: the feature screens of the design and of the candidates
    (:class:`~jaxsnn.hpo.screen.FeatureScreen`); unlike SCBO, log-EI's GPs do not take the
    features as inputs.
    """

    def __init__(
        self, space: Space, *args: Any, cost_aware: bool = False, explore: float = 0.0,
        features: Mapping[str, Mapping[str, float]] | None = None, screen_design: bool | None = None,
        screen_below: float = 0.5, screen_proposals: bool | None = None, proposal_screen_below: float = 0.5,
        screen_prior: Mapping[str, float] | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        self.setup_screen(space, features, screen_design, screen_below, screen_proposals, proposal_screen_below,
                          kwargs, screen_prior)  # fmt: skip
        super().__init__(space, *args, **kwargs)
        self.single_objective()
        self.cost_aware = bool(cost_aware)
        if not 0.0 <= float(explore) <= 1.0:
            raise ValueError(f"explore must be a probability in [0, 1], got {explore}")
        self.explore = float(explore)

    def model_data(self, X: np.ndarray, Y: np.ndarray, C: np.ndarray,
                   log_cost: np.ndarray) -> list[tuple[ScheduledGPs, np.ndarray, np.ndarray]]:
        """One chain of the objective, the constraints and, when ``cost_aware``, the log cost."""
        return [(self.models, X, np.column_stack([Y, C, log_cost] if self.cost_aware else [Y, C]))]

    def propose(self, X: np.ndarray, Y: np.ndarray, C: np.ndarray, X_pending: np.ndarray,
                rng: np.random.Generator, log_cost: np.ndarray) -> np.ndarray:
        gps = self.fitted(X, Y, C, log_cost)
        n = 1 + C.shape[1]
        if self.explore and rng.random() < self.explore:
            return predicted_feasible(self.space, gps[1:n], rng)
        ordered = propose_logei(self.space, gps[0], gps[1:n], X, Y[:, 0], C, X_pending, rng,
                                log_cost=gps[n] if self.cost_aware else None)
        return self.screen_proposal(X, C, ordered)


def predicted_feasible(space: Space, constraints: Sequence[GP], rng: np.random.Generator, n: int = 1024) -> np.ndarray:
    """Uniform random points the constraint models predict feasible (probability >= 1/2), in
    random order; all ``n`` drawn where none is.

    Interleaving random configurations is how SMAC keeps a model that found a plateau from
    sampling it forever; drawing them among the predicted-feasible ones keeps the silent
    networks out of that exploration.
    """
    X = space.project(rng.random((n, space.dim)))
    feasible = X[np.asarray(total_log_pof(constraints, jnp.asarray(X))) >= math.log(0.5)]
    return rng.permutation(feasible if len(feasible) else X)


def propose_logei(space: Space, objective: GP, constraints: Sequence[GP], X: np.ndarray, y: np.ndarray,
                  C: np.ndarray, X_pending: np.ndarray, rng: np.random.Generator,
                  log_cost: GP | None = None) -> np.ndarray:
    """Candidates sorted by constrained log-EI of ``objective`` (maximised) under ``constraints``,
    per predicted second when a ``log_cost`` model is given.

    Shared by :class:`LogEIOptimizer` and ParEGO (which passes a scalarised objective).
    """
    objective = believe(objective, X_pending)
    constraints = tuple(believe(g, X_pending) for g in constraints)
    y_all, C_all = y, C
    if len(X_pending):
        y_all = np.concatenate([y, np.asarray(predict(objective, X_pending)[0])])
        C_pending = np.zeros((len(X_pending), len(constraints)))
        for j, g in enumerate(constraints):
            C_pending[:, j] = np.asarray(predict(g, X_pending)[0])
        C_all = np.concatenate([C, C_pending])
    best, any_feasible = best_feasible(y_all, C_all)
    anchors = X[feasibility_order(y, C)[:5]]
    args = (objective, constraints, jnp.asarray(best if any_feasible else 0.0), jnp.asarray(any_feasible))
    if log_cost is not None:
        return maximize(log_ei_per_second, (*args, log_cost), space, rng, anchors)[0]
    return maximize(constrained_log_ei, args, space, rng, anchors)[0]
