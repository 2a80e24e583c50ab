"""Run optimizers on a surrogate SNN problem at equal compute seconds, and summarise the traces.

A run asks, evaluates on the surrogate and tells, one trial at a time, until the *simulated*
compute (the surrogate's predicted trial seconds) reaches the budget; the optimizer's own time is
measured separately. Every trial becomes one trace row: cumulative compute, status, accuracy,
feasibility and the phase (``initial`` design or ``model``-guided).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import mannwhitneyu

from jaxsnn.hpo.features import (
    INPUT_DRIVE,
    INPUT_DRIVE_PRIOR,
    LEARNING_RATE_PRIOR,
    STDP_DRIVE,
    STDP_DRIVE_PRIOR,
    TRAINING,
)
from jaxsnn.hpo.optimizers import DEFAULT_N_INITIAL, Optimizer
from jaxsnn.hpo.registry import make_optimizer
from jaxsnn.hpo.report import design_flags
from jaxsnn.hpo.space import Space
from jaxsnn.snnbench.surrogate import SurrogateBenchmark
from jaxsnn.snnbench.targets import REACH_TARGET

ON_THE_ASK_PATH = {"refit_lag": 0}
"""The GP optimizers as they ran before their refits moved off the ask path (issue 17, session
37): every model-based method recorded before keeps it, so its stored trace is what its name runs."""

UNGUARDED = {"screen_proposals": False}
"""SCBO as it ran before its features also screened the model-guided candidates (issue 13,
session 38): every SCBO method recorded before keeps it off. The screened methods name their
threshold (``-guard``: 0.3, ``-guard05``: 0.5, the default)."""

FROZEN = {"categorical_region": False, **ON_THE_ASK_PATH, **UNGUARDED}
"""SCBO as it ran before its trust region moved categorical choices (issue 13, session 36), with
its refits on the ask path and its proposals unscreened: every SCBO variant recorded before keeps
all three."""

GUARD05 = {"features": INPUT_DRIVE, "screen_design": True, "n_initial": 6, "proposal_screen_below": 0.5}
"""SCBO's options as the ``silent_sg`` preset shipped them before its screens had a prior (issue 13,
session 46): the input drive as a GP input, a screened 6-point design, proposals screened at 0.5."""

PRIOR05 = {**GUARD05, "screen_prior": INPUT_DRIVE_PRIOR}
"""SCBO's options as the ``silent_sg`` preset ships them (``tests/test_snnbench.py`` holds the two
equal): :data:`GUARD05` whose screens put the low-drive half of the box last until a study holds a
silent and a trained network."""

LR05 = {**PRIOR05, "design_prior": LEARNING_RATE_PRIOR}
""":data:`PRIOR05` whose design tries the upper half of the learning rate's log range first: ahead
on the surrogate, not on real networks (issue 13's session 51, benchmarks/snn_hpo_notes.md)."""

STDP_SCREEN = {"features": STDP_DRIVE}
"""Log-EI's options with the STDP drive's features, which screen its design and candidates."""

STDP_SCREEN_PRIOR = {**STDP_SCREEN, "screen_prior": STDP_DRIVE_PRIOR}
""":data:`STDP_SCREEN` with the features' signs as the screens' prior."""

AGAIN = "-again"
"""Suffix of a method run a second time under its own name (see :data:`OURS`)."""

OURS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "random": ("random", "detector", {}),
    "logei": ("logei", "detector", {**ON_THE_ASK_PATH}),
    "logei-saas": ("logei", "detector", {"prior": "saas", **ON_THE_ASK_PATH}),
    "logei-cost": ("logei", "detector", {"cost_aware": True, **ON_THE_ASK_PATH}),
    "logei-explore": ("logei", "detector", {"explore": 0.2, **ON_THE_ASK_PATH}),
    "logei-cost-explore": ("logei", "detector", {"cost_aware": True, "explore": 0.2, **ON_THE_ASK_PATH}),
    "scbo": ("scbo", "detector", {**FROZEN}),
    "scbo-mf1": ("scbo", "detector", {"min_feasible": 1, **FROZEN}),
    "scbo-n5": ("scbo", "detector", {"n_initial": 5, "min_feasible": 1, **FROZEN}),
    "scbo-no-detector": ("scbo", "no_detector", {**FROZEN}),
    "scbo-dropped": ("scbo", "dropped", {**FROZEN}),
    "scbo-ft5": ("scbo", "detector", {"failure_tolerance": 5, **FROZEN}),
    "scbo-fobj": ("scbo", "detector", {"feasible_objective": True, **FROZEN}),
    "scbo-drive": ("scbo", "detector", {"features": INPUT_DRIVE, "screen_design": False, **FROZEN}),
    "scbo-cost": ("scbo", "detector", {"cost_aware": True, **FROZEN}),
    "scbo-drive-cost": ("scbo", "detector",
                        {"features": INPUT_DRIVE, "cost_aware": True, "screen_design": False, **FROZEN}),
    "scbo-drive-mf1": ("scbo", "detector",
                       {"features": INPUT_DRIVE, "min_feasible": 1, "screen_design": False, **FROZEN}),
    "scbo-drive-n6": ("scbo", "detector", {"features": INPUT_DRIVE, "n_initial": 6, "screen_design": False, **FROZEN}),
    "scbo-drive-screen": ("scbo", "detector",
                          {"features": INPUT_DRIVE, "screen_design": True, "n_initial": 10, **FROZEN}),
    "scbo-drive-screen-n6-guard05": ("scbo", "detector", GUARD05),
    f"scbo-drive-screen-n6-guard05{AGAIN}": ("scbo", "detector", GUARD05),
    "scbo-drive-screen-n6-guard05-target02": ("scbo", "detector", {**GUARD05, "design_target": 0.2}),
    "scbo-drive-screen-n6-guard05-global02": ("scbo", "detector", {**GUARD05, "global_below": 0.2}),
    "scbo-drive-screen-n6-guard05-prior": ("scbo", "detector", PRIOR05),
    f"scbo-drive-screen-n6-guard05-prior{AGAIN}": ("scbo", "detector", PRIOR05),
    "scbo-drive-screen-n6-guard05-prior-global02": ("scbo", "detector", {**PRIOR05, "global_below": 0.2}),
    "scbo-drive-screen-n6-guard05-prior-target02": ("scbo", "detector", {**PRIOR05, "design_target": 0.2}),
    "scbo-drive-screen-n4-guard05-prior": ("scbo", "detector", {**PRIOR05, "n_initial": 4}),
    "scbo-drive-screen-n6-guard05-prior-ft8": ("scbo", "detector", {**PRIOR05, "failure_tolerance": 8}),
    "scbo-drive-screen-n6-guard05-prior-ft4": ("scbo", "detector", {**PRIOR05, "failure_tolerance": 4}),
    "scbo-drive-screen-n6-guard05-prior-cost": ("scbo", "detector", {**PRIOR05, "cost_aware": True}),
    "scbo-drive-screen-n6-guard05-prior-cost-ft8": ("scbo", "detector",
                                                    {**PRIOR05, "cost_aware": True, "failure_tolerance": 8}),
    "scbo-drive-screen-n6-guard05-prior-no-detector": ("scbo", "no_detector", PRIOR05),
    "scbo-drive-screen-n6-guard05-prior-dropped": ("scbo", "dropped", PRIOR05),
    "scbo-drive-screen-n6-guard05-prior-lr": ("scbo", "detector", LR05),
    "scbo-drive-screen-n6-guard05-prior-training": ("scbo", "detector", {**PRIOR05, "design_prior": TRAINING}),
    "scbo-drive-screen-n6-guard": ("scbo", "detector", {**GUARD05, "proposal_screen_below": 0.3}),
    "scbo-drive-screen-n6": ("scbo", "detector",
                             {"features": INPUT_DRIVE, "screen_design": True, "n_initial": 6, **UNGUARDED}),
    "scbo-drive-screen-n6-asked": ("scbo", "detector", {"features": INPUT_DRIVE, "screen_design": True,
                                                        "n_initial": 6, **ON_THE_ASK_PATH, **UNGUARDED}),
    "scbo-drive-screen-n6-below02": ("scbo", "detector",
                                     {"features": INPUT_DRIVE, "n_initial": 6, "screen_below": 0.2, **FROZEN}),
    "scbo-drive-screen-n6-frozen": ("scbo", "detector",
                                    {"features": INPUT_DRIVE, "screen_design": True, "n_initial": 6, **FROZEN}),
    "scbo-drive-screen-n8": ("scbo", "detector",
                             {"features": INPUT_DRIVE, "screen_design": True, "n_initial": 8, **FROZEN}),
    "scbo-drive-screen-n6-fobj": ("scbo", "detector",
                                  {"features": INPUT_DRIVE, "screen_design": True, "n_initial": 6,
                                   "feasible_objective": True, **FROZEN}),
    "scbo-stdp-drive": ("scbo", "detector", {"features": STDP_DRIVE, "screen_design": False, **FROZEN}),
    "scbo-stdp-drive-mf1": ("scbo", "detector",
                            {"features": STDP_DRIVE, "screen_design": False, "min_feasible": 1, **FROZEN}),
    "scbo-stdp-drive-screen-n6": ("scbo", "detector",
                                  {"features": STDP_DRIVE, "screen_design": True, "n_initial": 6, **FROZEN}),
    "scbo-stdp-drive-screen-n6-guard05": ("scbo", "detector", {"features": STDP_DRIVE, "screen_design": True,
                                                               "n_initial": 6, "proposal_screen_below": 0.5}),
    "scbo-stdp-drive-screen-n6-guard": ("scbo", "detector", {"features": STDP_DRIVE, "screen_design": True,
                                                             "n_initial": 6, "proposal_screen_below": 0.3}),
    "logei-stdp-screen": ("logei", "detector", {"features": STDP_DRIVE, **ON_THE_ASK_PATH}),
    "logei-drive-screen": ("logei", "detector", {"features": INPUT_DRIVE}),
    "logei-drive-screen-prior": ("logei", "detector", {"features": INPUT_DRIVE, "screen_prior": INPUT_DRIVE_PRIOR}),
    "logei-stdp-screen-lag1": ("logei", "detector", STDP_SCREEN),
    f"logei-stdp-screen-lag1{AGAIN}": ("logei", "detector", STDP_SCREEN),
    "logei-stdp-screen-prior": ("logei", "detector", STDP_SCREEN_PRIOR),
    f"logei-stdp-screen-prior{AGAIN}": ("logei", "detector", STDP_SCREEN_PRIOR),
    "logei-lag1": ("logei", "detector", {}),
    "logei-lag1-no-detector": ("logei", "no_detector", {}),
    "logei-lag1-dropped": ("logei", "dropped", {}),
    f"logei-lag1{AGAIN}": ("logei", "detector", {}),
    "logei-cost-lag1": ("logei", "detector", {"cost_aware": True}),
    "logei-mf1": ("logei", "detector", {"min_feasible": 1, **ON_THE_ASK_PATH}),
    "logei-n5-mf1": ("logei", "detector", {"n_initial": 5, "min_feasible": 1, **ON_THE_ASK_PATH}),
    "logei-no-detector": ("logei", "no_detector", {**ON_THE_ASK_PATH}),
    "logei-dropped": ("logei", "dropped", {**ON_THE_ASK_PATH}),
}
"""Method name -> (optimizer, surrogate mode, options). ``scbo-drive-screen-n6-guard05-again`` is the
``silent_sg`` preset's method of before its screen prior run a second time with one thread per
process (``OMP_NUM_THREADS=1``; its first run used the default): XLA's multithreaded sums differ in
the last bits, a run diverges from the other after about 18 trials, and the two say how far two
valid runs of one method lie apart. ``logei-lag1-again`` is the ``silent_stdp`` preset's method run
a second time the other way round (its first run with one thread, the second with XLA's default),
and so are ``scbo-drive-screen-n6-guard05-prior-again`` (the ``silent_sg`` preset's) and the
``logei-stdp-screen-...-again`` methods."""

N_INITIAL = DEFAULT_N_INITIAL
"""Initial-design size of every model-based method (ours and the peers); the phase boundary of a
method without design points of its own (peers, random search: see ``design_flags``)."""


@dataclasses.dataclass(frozen=True)
class TraceRow:
    method: str
    seed: int
    trial: int
    compute_s: float
    status: str
    accuracy: float
    feasible: bool
    phase: str
    ask_s: float


SEEDED = "+default"
"""Suffix of a method that first runs the problem's documented default network, as a study with
``hpo.enqueue`` does (the demo's preset enqueues it): ``scbo+default``, ``optuna-tpe+default``."""


def our_method(method: str, space: Space, seed: int) -> tuple[Optimizer, str]:
    """One of :data:`OURS` (or its :data:`SEEDED` variant) built on ``space``: the optimizer, with
    :data:`N_INITIAL` design points unless the method names its own, and its surrogate mode."""
    name, mode, options = OURS[method.removesuffix(SEEDED)]
    if name != "random":
        options = {"n_initial": N_INITIAL, **options}
    return make_optimizer(name, space, {"accuracy": "max"}, ["silent"], seed=seed, **options), mode


def run(bench: SurrogateBenchmark, method: str, seed: int, budget_s: float, optimizer: Optimizer | None = None,
        mode: str = "detector", enqueue: Sequence[Mapping[str, Any]] = ()) -> list[TraceRow]:
    """One run of ``method`` until ``budget_s`` simulated compute seconds are spent.

    Ours are built from :data:`OURS` (a name with the :data:`SEEDED` suffix is the same method);
    a peer passes its ``optimizer`` (anything with ``ask() -> params`` and ``tell(record)``) and
    the surrogate ``mode`` it runs under. ``enqueue``: configurations evaluated first and told like
    any trial, as ``run_study`` runs a study's enqueued trials before it asks; they count as the
    initial design (one outside the table's space is refused by the surrogate, by name). A peer
    that takes them itself (Optuna's ``enqueue_trial``) is passed them at construction instead.
    """
    if optimizer is None:
        optimizer, mode = our_method(method, bench.space, seed)
    queue = [dict(p) for p in enqueue]
    ask, tell = (lambda: queue.pop(0) if queue else optimizer.ask()), optimizer.tell
    rows: list[TraceRow] = []
    asked: list[dict] = []
    spent = 0.0
    while spent < budget_s:
        start = time.perf_counter()
        params = ask()
        ask_s = time.perf_counter() - start
        asked.append(params)
        record = bench(params, mode)
        tell(record)
        spent += record.cost_s
        accuracy = record.objectives.get("accuracy", math.nan)
        rows.append(TraceRow(method, seed, len(rows), spent, record.status, accuracy, record.feasible, "", ask_s))
    phases = design_flags(asked, optimizer, enqueue)  # ours: the design's own points, which go on past N_INITIAL
    return [dataclasses.replace(r, phase="initial" if d else "model") for r, d in zip(rows, phases)]


def best_curve(rows: Sequence[TraceRow], grid: np.ndarray) -> np.ndarray:
    """Best feasible accuracy reached by each compute value of ``grid`` (0 before the first one)."""
    compute = np.array([r.compute_s for r in rows])
    value = np.array([r.accuracy if r.feasible else 0.0 for r in rows])
    best = np.maximum.accumulate(value)
    idx = np.searchsorted(compute, grid, side="right") - 1
    return np.where(idx >= 0, best[np.clip(idx, 0, None)], 0.0)


def compute_to_reach(rows: Sequence[TraceRow], target: float, with_asks: bool = False) -> float:
    """Compute seconds until a feasible accuracy >= ``target`` (inf when never); ``with_asks``
    adds the optimizer's own ask seconds so far, which on a machine whose cores the trials fill
    (2 workers on 2 cores) come out of the trials' time."""
    asked = 0.0
    for r in rows:
        asked += r.ask_s
        if r.feasible and r.accuracy >= target:
            return r.compute_s + (asked if with_asks else 0.0)
    return math.inf


def design_compute(rows: Sequence[TraceRow]) -> float:
    """Compute seconds spent when the initial design's last trial ended: what a model-based method
    pays before its model proposes, the part of any reach target no model can shorten."""
    return max((r.compute_s for r in rows if r.phase == "initial"), default=0.0)


def silent_rate(rows: Sequence[TraceRow], phase: str) -> float:
    """Share of a phase's trials the detector stopped as silent (or, without it, that were silent)."""
    chosen = [r for r in rows if r.phase == phase]
    return float(np.mean([not r.feasible for r in chosen])) if chosen else math.nan


def hit_rate(rows: Sequence[TraceRow], target: float, phase: str | None = None) -> float:
    """Share of trials (of one ``phase``, or all) whose feasible accuracy matches ``target``."""
    chosen = [r for r in rows if phase is None or r.phase == phase]
    return float(np.mean([r.feasible and r.accuracy >= target for r in chosen])) if chosen else math.nan


def quarter_odds(runs: Sequence[Sequence[TraceRow]], target: float, budget_s: float) -> dict[str, float]:
    """What the reach target asks of a method, from its runs: ``quarter_trials``, the median number
    of trials that end within :data:`REACH_TARGET` of the budget; ``quarter_hit``, the share of
    runs that match ``target`` (random search's median final best) in them, which the target
    needs to be at least one half; ``design_hit``, the share of the design's trials that match it.

    Why: a median reach within a quarter means half the runs find a network as good as the best
    of random search's whole budget among their first few trials, most of them the design's,
    drawn before the model knows anything. With ``m`` trials in the quarter, each must match
    with probability ``1 - 0.5 ** (1 / m)``; a random trial matches with about ``ln 2 / N``
    (``N``: random search's trials), so the design must be several times as likely as random
    search to draw a top network, and a method whose trials are dearer than random search's (it
    avoids the cheap silent ones) has fewer of them in its quarter."""
    quarter = [[r for r in run if r.compute_s <= REACH_TARGET * budget_s] for run in runs]
    return {"quarter_trials": float(np.median([len(q) for q in quarter])),
            "quarter_hit": float(np.mean([hit_rate(q, target) > 0 for q in quarter])),
            "design_hit": hit_rate([r for run in runs for r in run], target, "initial")}


def _phase_mean(rates: Sequence[float]) -> float:
    """Mean of the runs' rates for a phase, over the runs that had it; nan where none did (a method
    whose pruned trials never count towards its design never leaves it)."""
    had = [r for r in rates if not math.isnan(r)]
    return float(np.mean(had)) if had else math.nan


VERSUS: tuple[str, ...] = ("best_p", "earlier", "later", "higher", "lower")
"""What :func:`versus` measures, the ``vs_*`` columns of :func:`summarise`."""


def versus(ours: Mapping[int, tuple[float, float]], theirs: Mapping[int, tuple[float, float]],
           paired: bool) -> dict[str, float]:
    """One method's runs against the ``reference``'s, beyond the two medians; each side is
    ``{seed: (compute to reach random's median final best, best at the budget)}``.

    ``best_p``: the two-sided Mann-Whitney U test of the bests at the budget, seeds as independent
    draws: whether the medians differ by more than the spread of 20 seeds lets chance move them.
    ``paired`` (two of :data:`OURS`, whose seed *n* seeds the same random stream: a variant with
    the reference's design draws the same initial design, so only what its model does after it
    differs): over the seeds both ran, on how many ``ours`` reached earlier (``earlier`` /
    ``later``) and ended higher (``higher`` / ``lower``; ties are neither). A variant whose median
    moved by chance reaches earlier about as often as later. Peers seed their own streams, so a
    seed number pairs nothing: their counts are nan.
    """
    best_p = float(mannwhitneyu([b for _, b in ours.values()], [b for _, b in theirs.values()]).pvalue)
    counts = dict.fromkeys(VERSUS[1:], math.nan)
    if paired:
        pairs = [(ours[s], theirs[s]) for s in sorted(set(ours) & set(theirs))]
        counts = {"earlier": sum(a[0] < b[0] for a, b in pairs), "later": sum(a[0] > b[0] for a, b in pairs),
                  "higher": sum(a[1] > b[1] for a, b in pairs), "lower": sum(a[1] < b[1] for a, b in pairs)}
    return {"best_p": best_p, **counts}


def summarise(traces: Mapping[str, Sequence[Sequence[TraceRow]]], budget_s: float,
              reference: str | None = None) -> list[dict[str, Any]]:
    """One row per method: compute to reach random's median final best (and that as a share of
    the budget, what random search spends on it), best at 25/50/100 % of the budget (median and
    IQR over seeds), silent rate per phase, trials and ask time, what reach in a quarter asks of
    it (:func:`quarter_odds`; ``trial_hit``: the share of all its trials that match random's best);
    with a ``reference`` method
    (the one a preset ships), each other method's :func:`versus` it as ``vs_*`` columns."""
    random_final = float(np.median([best_curve(r, np.array([budget_s]))[0] for r in traces["random"]]))
    out = []
    outcomes: dict[str, dict[int, tuple[float, float]]] = {}  # per method and seed: (reach, best at 100 %)
    for method, runs in traces.items():
        curves = np.array([best_curve(r, budget_s * np.array([0.25, 0.5, 1.0])) for r in runs])
        reach = np.array([compute_to_reach(r, random_final) for r in runs])
        outcomes[method] = {r[0].seed: (float(t), float(b)) for r, t, b in zip(runs, reach, curves[:, 2])}
        reach_with_asks = np.array([compute_to_reach(r, random_final, with_asks=True) for r in runs])
        if method == "random":  # by definition its median final best costs it the whole budget
            reach = reach_with_asks = np.full(len(runs), budget_s)
        out.append({
            "method": method, "seeds": len(runs),
            "reach_random_best_s": float(np.median(reach)),
            "reach_ratio": float(np.median(reach)) / budget_s,  # random's final best costs it the budget
            "reach_with_asks_ratio": float(np.median(reach_with_asks)) / budget_s,
            "design_ratio": float(np.median([design_compute(r) for r in runs])) / budget_s,
            "best_25": float(np.median(curves[:, 0])), "best_50": float(np.median(curves[:, 1])),
            "best_100": float(np.median(curves[:, 2])),
            "best_100_q25": float(np.quantile(curves[:, 2], 0.25)),
            "best_100_q75": float(np.quantile(curves[:, 2], 0.75)),
            "silent_initial": _phase_mean([silent_rate(r, "initial") for r in runs]),
            "silent_model": _phase_mean([silent_rate(r, "model") for r in runs]),
            "trials": float(np.median([len(r) for r in runs])),
            "ask_s_median": float(np.median([x.ask_s for r in runs for x in r])),
            "trial_hit": hit_rate([x for r in runs for x in r], random_final),
            **quarter_odds(runs, random_final, budget_s),
        })  # fmt: skip
    if reference in traces:
        for row in out:
            method = row["method"]
            paired = method.removesuffix(SEEDED) in OURS and reference.removesuffix(SEEDED) in OURS
            compared = (versus(outcomes[method], outcomes[reference], paired) if method != reference
                        else dict.fromkeys(VERSUS, math.nan))
            row.update({f"vs_{key}": value for key, value in compared.items()})
    return out
