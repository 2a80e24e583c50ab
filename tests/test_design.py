"""The initial design of model-based optimizers: how long it lasts before the model takes over."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from jaxsnn.hpo.registry import make_optimizer
from jaxsnn.hpo.report import design_flags
from jaxsnn.hpo.screen import SCREENED_N_INITIAL
from jaxsnn.hpo.space import FloatParam, Space
from jaxsnn.record import EvaluationRecord

SPACE = Space([FloatParam("x", 0.0, 1.0), FloatParam("y", 0.0, 1.0)])


def record(params: dict, feasible: bool) -> EvaluationRecord:
    return EvaluationRecord(params, {"f": params["x"]}, {"g": -1.0 if feasible else 1.0}, cost_s=1.0)


def asks(optimizer, feasible_at: set[int], n: int) -> list[dict]:
    """``n`` sequential asks, trial ``i`` told feasible iff ``i in feasible_at``."""
    out = []
    for i in range(n):
        params = optimizer.ask()
        optimizer.tell(record(params, i in feasible_at))
        out.append(params)
    return out


def build(**options):
    """One MAP start: the GP programs are then those of test_optimizers' 2-D, two-output runs
    (compiled once per worker), and which point the model proposes is not this file's business."""
    return make_optimizer("logei", SPACE, {"f": "max"}, ["g"], seed=3, restarts=1, **options)


def test_design_goes_on_until_enough_feasible_points_or_twice_its_size():
    design = asks(build(n_initial=100), set(), 12)  # a design that never ends: the Sobol points
    # One feasible point in the first five: the design continues to 2 * n_initial.
    lonely = asks(build(n_initial=5, min_feasible=3), {1}, 12)
    assert lonely[:10] == design[:10] and lonely[10] != design[10]
    # Three feasible points by trial 6: the model takes over at the 7th ask.
    found = asks(build(n_initial=5, min_feasible=3), {1, 4, 6}, 8)
    assert found[:7] == design[:7] and found[7] != design[7]
    # The old rule: the model takes over after n_initial whatever was found.
    plain = asks(build(n_initial=5, min_feasible=0), {1}, 6)
    assert plain[:5] == design[:5] and plain[5] != design[5]


def test_phases_are_told_by_the_points_not_by_their_position():
    """A design that goes on past ``n_initial`` (one feasible point in five) is still the design:
    the report charges its silent networks to it, not to the model; an enqueued point is design."""
    opt = build(n_initial=5, min_feasible=3)
    points = asks(opt, {1}, 12)
    assert design_flags(points, opt) == [True] * 10 + [False] * 2
    default = {"x": 0.123, "y": 0.456}
    assert design_flags([default, *points], opt, enqueued=[default]) == [True] * 11 + [False] * 2
    assert design_flags(points, make_optimizer("random", SPACE, {"f": "max"}, ["g"])) == [True] * 10 + [False] * 2


def test_a_design_target_keeps_the_design_on_until_a_feasible_point_reaches_it():
    """``design_target``: feasible points whose objective (here ``x``) stays under it do not end
    the design; one that reaches it does, and the cap of ``2 * n_initial`` still holds. In the
    objective's own direction: for a minimised one, reaching means at or below it."""
    design = asks(build(n_initial=100), set(), 12)
    reached = next(i for i, p in enumerate(design) if p["x"] >= 0.7)
    assert 1 <= reached < 8, "the Sobol points must offer one above 0.7 within the first 8"
    low = [i for i, p in enumerate(design) if p["x"] < 0.7]
    # every point feasible, but only those under the target: the design runs to its cap
    capped = asks(build(n_initial=4, min_feasible=1, design_target=0.7), set(low), 10)
    assert capped[:8] == design[:8] and capped[8] != design[8]
    # every point feasible: the design ends once one reaches the target (min_feasible met before)
    ended = asks(build(n_initial=4, min_feasible=1, design_target=0.7), set(range(12)), 10)
    end = max(4, reached + 1)
    assert ended[:end] == design[:end] and ended[end] != design[end]
    minimised = make_optimizer("logei", SPACE, {"f": "min"}, ["g"], seed=3, restarts=1, n_initial=4, min_feasible=1,
                               design_target=0.3)  # fmt: skip
    Y = -np.array([[0.5], [0.29]])  # data()'s sign: maximised
    C = np.array([[-1.0], [-1.0]])
    assert not minimised.design_done(Y[:1].repeat(4, 0), C[:1].repeat(4, 0)) and minimised.design_done(
        np.vstack([Y[:1].repeat(3, 0), Y[1:]]), C[:1].repeat(4, 0))


@pytest.mark.parametrize("bad", [float("nan"), "high", True])
def test_a_design_target_must_be_a_number_of_a_single_objective(bad):
    with pytest.raises(ValueError, match="design_target must be a finite number"):
        build(design_target=bad)
    with pytest.raises(ValueError, match="design_target must .* single-objective"):
        make_optimizer("logei", SPACE, {"f": "max", "h": "min"}, ["g"], design_target=0.5)


def test_min_feasible_must_be_non_negative():
    with pytest.raises(ValueError, match="min_feasible must be >= 0"):
        build(min_feasible=-1)


def test_exploring_asks_spread_over_the_predicted_feasible_region():
    """``explore=1``: every model ask is a random point the constraint model predicts feasible.
    Feasible is ``y < 0.5`` and the objective pulls to ``x = 1``: exploitation would stay at the
    right edge, while these points stay below the boundary and spread over ``x``."""
    opt = build(n_initial=6, explore=1.0)  # 16 observations in all: the GP programs of the test above

    def told(params: dict) -> EvaluationRecord:
        return record(params, params["y"] < 0.5)

    for _ in range(6):
        opt.tell(told(opt.ask()))
    explored = []
    for _ in range(10):
        params = opt.ask()
        opt.tell(told(params))
        explored.append(params)
    assert sum(p["y"] < 0.5 for p in explored) >= 9  # random points would be half silent
    xs = sorted(p["x"] for p in explored)
    assert xs[2] < 0.4 and xs[-3] > 0.6  # spread, not clustered at the objective's edge


def test_explore_must_be_a_probability():
    with pytest.raises(ValueError, match=r"explore must be a probability in \[0, 1\]"):
        build(explore=1.5)


LOG_SPACE = Space([FloatParam("weight_scale", 0.01, 10.0, log=True), FloatParam("theta", 0.01, 10.0, log=True),
                   FloatParam("x", 0.0, 1.0)])  # fmt: skip


def drive_design(screen: bool, n: int, optimizer: str = "scbo", seed: int = 1,
                 **options: Any) -> tuple[list[dict], list[bool]]:
    """``n`` design asks on a space where a point is feasible iff its drive ``weight_scale /
    theta`` exceeds 5 (under a third of uniform draws)."""
    opt = make_optimizer(optimizer, LOG_SPACE, {"f": "max"}, ["g"], seed=seed, n_initial=100,
                         features={"drive": {"weight_scale": 1, "theta": -1}}, screen_design=screen,
                         **options)  # fmt: skip
    points, feasible = [], []
    for _ in range(n):
        params = opt.ask()
        points.append(params)
        feasible.append(params["weight_scale"] / params["theta"] > 5.0)
        opt.tell(record(params, feasible[-1]))
    return points, feasible


@pytest.mark.parametrize("optimizer", ["scbo", "logei"])  # one screen (jaxsnn.hpo.screen), two optimizers
def test_a_screened_design_skips_points_its_features_predict_infeasible(optimizer):
    """Until the design holds a feasible and an infeasible trial it is the plain Sobol design;
    then it draws mostly feasible points, where the plain one stays mostly infeasible."""
    plain, plain_feasible = drive_design(False, 16, optimizer)
    screened, screened_feasible = drive_design(True, 16, optimizer)
    both_seen = next(i for i in range(16) if len(set(plain_feasible[: i + 1])) == 2) + 1
    assert screened[:both_seen] == plain[:both_seen]
    assert sum(plain_feasible[both_seen:]) <= 0.35 * (16 - both_seen)
    assert sum(screened_feasible[both_seen:]) >= 0.7 * (16 - both_seen)
    assert all(p in plain_design_window() for p in screened)  # still the design's own points


@pytest.mark.parametrize("optimizer", ["scbo", "logei"])
def test_a_screen_prior_screens_the_design_before_any_point_is_feasible(optimizer):
    """With the drive's sign as a prior, the design's points come from the high-drive half of the
    box before any is feasible (without it they are the plain Sobol ones, a third of them
    feasible), so over five seeds more of the first three are feasible; the reversed sign
    draws from the other half."""
    plain_hits = prior_hits = 0
    for seed in range(5):
        prior, prior_feasible = drive_design(True, 3, optimizer, seed, screen_prior={"drive": 1})
        first = prior[: prior_feasible.index(True) + 1] if any(prior_feasible) else prior
        assert all(p["weight_scale"] / p["theta"] >= 1.0 for p in first)  # the box's log-midpoint of the drive is 1
        prior_hits += sum(prior_feasible)
        plain_hits += sum(drive_design(True, 3, optimizer, seed)[1])
    assert prior_hits >= plain_hits + 3, (prior_hits, plain_hits)
    reversed_prior, _ = drive_design(True, 3, optimizer, screen_prior={"drive": -1})
    assert all(p["weight_scale"] / p["theta"] <= 1.0 for p in reversed_prior)


@pytest.mark.parametrize("prior, match", [
    ({"drive": 2}, r"screen_prior.drive must be 1 \(more is feasible\) or -1"),
    ({"drive": True}, "must be 1"),
    ({"rate": 1}, "screen_prior names 'rate', not a feature; features: drive"),
    ({}, "screen_prior must be a dict"),
    ([1], "screen_prior must be a dict"),
])  # fmt: skip
def test_bad_screen_priors_are_refused(prior, match):
    with pytest.raises(ValueError, match=match):
        make_optimizer("scbo", LOG_SPACE, {"f": "max"}, ["g"], features={"drive": {"weight_scale": 1, "theta": -1}},
                       screen_prior=prior)  # fmt: skip
    with pytest.raises(ValueError, match="screen_prior needs a screen"):
        make_optimizer("logei", LOG_SPACE, {"f": "max"}, ["g"], features={"drive": {"weight_scale": 1, "theta": -1}},
                       screen_design=False, screen_proposals=False, screen_prior={"drive": 1})  # fmt: skip


@pytest.mark.parametrize("optimizer", ["scbo", "logei", "mobo"])  # every model with a design
def test_a_design_prior_puts_the_upper_half_of_its_product_first(optimizer):
    """With ``design_prior={"scale": {"weight_scale": 1}}`` the design's points come from the upper
    half of weight_scale's log range (above its log-midpoint 0.316), still the design's own Sobol
    points in their order; with the exponent reversed from the lower half; without it from both."""
    objectives = {"f": "max", "h": "max"} if optimizer == "mobo" else {"f": "max"}

    def design(**options: Any) -> list[dict]:
        opt = make_optimizer(optimizer, LOG_SPACE, objectives, ["g"], seed=1, n_initial=100, **options)
        points = []
        for _ in range(8):
            points.append(opt.ask())
            values = {name: points[-1]["weight_scale"] for name in objectives}
            opt.tell(EvaluationRecord(points[-1], values, {"g": -1.0}, cost_s=1.0))
        return points

    plain = [p["weight_scale"] for p in design()]
    upper = design(design_prior={"scale": {"weight_scale": 1}})
    lower = [p["weight_scale"] for p in design(design_prior={"scale": {"weight_scale": -1}})]
    midpoint = math.sqrt(0.01 * 10.0)
    assert min(p["weight_scale"] for p in upper) >= midpoint > max(lower)
    assert min(plain) < midpoint < max(plain)
    window = plain_design_window()
    indices = [window.index(p) for p in upper]
    assert indices == sorted(indices)  # the Sobol order kept within the half it prefers


@pytest.mark.parametrize("prior, match", [
    ({"rate": {"max_rate": 1}}, "design_prior names no parameter of the space"),
    ({"scale": {"weight_scale": "up"}}, "exponent of 'weight_scale' must be a number"),
    ({"scale": {"x": 1}}, "'x' must be a numeric parameter with a positive range"),
    ([1], "design_prior must be a dict"),
])  # fmt: skip
def test_bad_design_priors_are_refused(prior, match):
    with pytest.raises(ValueError, match=match):
        make_optimizer("scbo", LOG_SPACE, {"f": "max"}, ["g"], design_prior=prior)


def plain_design_window() -> list[dict]:
    opt = make_optimizer("scbo", LOG_SPACE, {"f": "max"}, ["g"], seed=1, n_initial=100)
    return [LOG_SPACE.decode(x) for x in opt.design_points(16 + 64)]


def test_the_design_is_screened_by_default_where_there_are_features():
    """With them the design is screened and shorter (a space of 10 encoded inputs: 10 points
    unscreened, SCREENED_N_INITIAL screened, unless n_initial is given)."""
    drive = {"d": {"weight_scale": 1, "theta": -1}}
    wide = Space([*LOG_SPACE.params, *(FloatParam(f"z{i}", 0.0, 1.0) for i in range(7))])
    screened = make_optimizer("scbo", wide, {"f": "max"}, ["g"], features=drive)
    plain = make_optimizer("scbo", wide, {"f": "max"}, ["g"])
    assert screened.screen_design and not plain.screen_design
    assert (screened.n_initial, plain.n_initial) == (SCREENED_N_INITIAL, 10)
    assert make_optimizer("scbo", wide, {"f": "max"}, ["g"], features=drive, n_initial=8).n_initial == 8
    with pytest.raises(ValueError, match="screen_design needs features"):
        make_optimizer("scbo", LOG_SPACE, {"f": "max"}, ["g"], screen_design=True)
    with pytest.raises(ValueError, match=r"screen_below must be a probability in \(0, 1\)"):
        make_optimizer("scbo", LOG_SPACE, {"f": "max"}, ["g"], features={"d": {"theta": 1}}, screen_below=1.0)
    with pytest.raises(ValueError, match="screen_design must be true or false"):
        make_optimizer("scbo", LOG_SPACE, {"f": "max"}, ["g"], features={"d": {"theta": 1}}, screen_design="yes")


def told_by_drive(params: dict) -> EvaluationRecord:
    """Feasible iff the drive ``weight_scale / theta`` exceeds 5, the constraint nearly binary as
    a silent fraction is; the objective rises towards low drive (and with ``x``), so the best
    networks sit at the silent boundary, as in SNNs."""
    drive = params["weight_scale"] / params["theta"]
    silent = min(max(0.5 - math.log(drive / 5.0), 0.0), 1.0)  # 1 far below the boundary, 0 above it
    return EvaluationRecord(params, {"f": params["x"] - 0.1 * math.log(drive)}, {"g": silent - 0.5}, cost_s=1.0)


def test_the_screen_moves_candidates_predicted_infeasible_last_keeping_the_order():
    opt = make_optimizer("scbo", LOG_SPACE, {"f": "max"}, ["g"], seed=1, features={"drive": {"weight_scale": 1, "theta": -1}})
    for _ in range(8):
        opt.tell(told_by_drive(opt.ask()))
    X, _, C = opt.data()
    assert (C[:, 0] <= 0).any() and (C[:, 0] > 0).any()
    rng = np.random.default_rng(0)
    candidates = LOG_SPACE.project(rng.random((200, LOG_SPACE.dim)))
    drive = np.array([p["weight_scale"] / p["theta"] for p in map(LOG_SPACE.decode, candidates)])
    probability = opt.feasible_probability(X, C, candidates)
    assert np.corrcoef(np.log(drive), probability)[0, 1] > 0.9  # the classifier learnt the drive
    screened = opt.screened(X, C, candidates, 0.3)
    kept = probability >= 0.3
    assert 0 < kept.sum() < len(kept)
    np.testing.assert_array_equal(screened, np.concatenate([candidates[kept], candidates[~kept]]))


def deep_silent_proposals(seed: int, screen: bool) -> int:
    """Model-guided asks of SCBO (12 after its design) far inside the silent region: drive under
    0.5, a tenth of the boundary's."""
    opt = make_optimizer("scbo", LOG_SPACE, {"f": "max"}, ["g"], seed=seed, refit_lag=0,
                         features={"drive": {"weight_scale": 1, "theta": -1}}, screen_proposals=screen)  # fmt: skip
    deep = 0
    for _ in range(SCREENED_N_INITIAL + 12):
        rec = told_by_drive(opt.ask())
        opt.tell(rec)
        guided = not design_flags([rec.params], opt)[0]
        deep += guided and rec.params["weight_scale"] / rec.params["theta"] < 0.5
    return deep


def test_screened_proposals_leave_out_the_thompson_samples_wild_guesses():
    """The objective pulls to the silent boundary. One Thompson sample of the constraint calls
    points far inside the silent region feasible now and then (3 of 12 model-guided asks on this
    seed, and on seed 3); the screen sets them back, while close calls at the boundary stay
    allowed."""
    unscreened, screened = deep_silent_proposals(0, False), deep_silent_proposals(0, True)
    assert unscreened >= 2 and screened == 0, (unscreened, screened)


def test_screen_proposals_needs_features_and_a_probability():
    with pytest.raises(ValueError, match="screen_proposals needs features"):
        make_optimizer("scbo", LOG_SPACE, {"f": "max"}, ["g"], screen_proposals=True)
    with pytest.raises(ValueError, match=r"proposal_screen_below must be a probability in \(0, 1\)"):
        make_optimizer("scbo", LOG_SPACE, {"f": "max"}, ["g"], features={"d": {"theta": 1}}, proposal_screen_below=0)
    assert make_optimizer("scbo", LOG_SPACE, {"f": "max"}, ["g"], features={"d": {"theta": 1}}).screen_proposals
    assert not make_optimizer("scbo", LOG_SPACE, {"f": "max"}, ["g"], features={"d": {"theta": 1}},
                              screen_design=False).screen_proposals  # fmt: skip
