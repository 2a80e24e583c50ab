"""Benchmark problems with known optima, in the optimizer's own terms.

Each :class:`Problem` bundles a :class:`~jaxsnn.hpo.space.Space`, objective directions,
constraint names (``g <= 0`` feasible) and a function ``params -> (objectives, constraints)``;
``evaluate`` wraps it into an :class:`~jaxsnn.record.EvaluationRecord`. Sources: Ackley-10 with
two constraints from the SCBO paper (Eriksson & Poloczek 2021); tension spring, pressure vessel and
speed reducer are the classic engineering-design problems (e.g. Coello Coello 2002, Golinski 1973);
Branin-Currin is the two-objective problem of Belakaria et al. 2019 used by BoTorch.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping

import numpy as np

from jaxsnn.hpo.space import FloatParam, IntParam, Space
from jaxsnn.record import EvaluationRecord

Values = tuple[dict[str, float], dict[str, float]]


@dataclasses.dataclass(frozen=True)
class Problem:
    """A test function: ``fn(params) -> ({objective: value}, {constraint: value})``.

    ``optimum`` is the best known feasible objective value (single objective) and
    ``max_hypervolume`` the hypervolume of the true Pareto front w.r.t. ``ref_point``
    (multi-objective, in the objectives' own directions).
    """

    name: str
    space: Space
    objectives: dict[str, str]
    constraints: tuple[str, ...]
    fn: Callable[[Mapping[str, float]], Values]
    optimum: float | None = None
    ref_point: tuple[float, ...] | None = None
    max_hypervolume: float | None = None

    def __call__(self, params: Mapping[str, float]) -> Values:
        return self.fn(params)

    def evaluate(self, params: Mapping[str, float]) -> EvaluationRecord:
        objectives, constraints = self.fn(params)
        return EvaluationRecord(params=dict(params), objectives=objectives, constraints=constraints)


def _vector(params: Mapping[str, float], n: int) -> np.ndarray:
    return np.array([params[f"x{i}"] for i in range(n)], dtype=float)


def _box(n: int, low: float | list[float], high: float | list[float]) -> Space:
    lows = np.broadcast_to(low, n)
    highs = np.broadcast_to(high, n)
    return Space([FloatParam(f"x{i}", float(lows[i]), float(highs[i])) for i in range(n)])


# --- single objective, constrained --------------------------------------------------------------
def _ackley(params: Mapping[str, float]) -> Values:
    x = _vector(params, 10)
    f = (
        -20.0 * math.exp(-0.2 * math.sqrt(np.mean(x**2)))
        - math.exp(np.mean(np.cos(2 * math.pi * x)))
        + 20.0
        + math.e
    )
    return {"f": float(f)}, {"c1": float(np.sum(x)), "c2": float(np.linalg.norm(x) - 5.0)}


ACKLEY10 = Problem("ackley10", _box(10, -5.0, 10.0), {"f": "min"}, ("c1", "c2"), _ackley, optimum=0.0)


def _tension_spring(params: Mapping[str, float]) -> Values:
    d, D, N = params["d"], params["D"], params["N"]
    f = (N + 2.0) * D * d**2
    g1 = 1.0 - D**3 * N / (71785.0 * d**4)
    g2 = (4.0 * D**2 - d * D) / (12566.0 * (D * d**3 - d**4)) + 1.0 / (5108.0 * d**2) - 1.0
    g3 = 1.0 - 140.45 * d / (D**2 * N)
    g4 = (D + d) / 1.5 - 1.0
    return {"weight": f}, {"g1": g1, "g2": g2, "g3": g3, "g4": g4}


TENSION_SPRING = Problem(
    "tension_spring",
    Space([FloatParam("d", 0.05, 2.0), FloatParam("D", 0.25, 1.3), FloatParam("N", 2.0, 15.0)]),
    {"weight": "min"},
    ("g1", "g2", "g3", "g4"),
    _tension_spring,
    optimum=0.0126652,
)


def _pressure_vessel(params: Mapping[str, float]) -> Values:
    ts, th, r, length = params["Ts"], params["Th"], params["R"], params["L"]
    f = 0.6224 * ts * r * length + 1.7781 * th * r**2 + 3.1661 * ts**2 * length + 19.84 * ts**2 * r
    return {"cost": f}, {
        "g1": -ts + 0.0193 * r,
        "g2": -th + 0.00954 * r,
        "g3": -math.pi * r**2 * length - 4.0 / 3.0 * math.pi * r**3 + 1_296_000.0,
        "g4": length - 240.0,
    }


PRESSURE_VESSEL = Problem(
    "pressure_vessel",
    Space([FloatParam("Ts", 0.0, 10.0), FloatParam("Th", 0.0, 10.0), FloatParam("R", 10.0, 200.0),
           FloatParam("L", 10.0, 200.0)]),
    {"cost": "min"},
    ("g1", "g2", "g3", "g4"),
    _pressure_vessel,
    optimum=5885.3328,  # continuous thicknesses
)


def _speed_reducer(params: Mapping[str, float]) -> Values:
    x1, x2, x3, x4, x5, x6, x7 = (params[f"x{i}"] for i in range(1, 8))
    f = (
        0.7854 * x1 * x2**2 * (3.3333 * x3**2 + 14.9334 * x3 - 43.0934)
        - 1.508 * x1 * (x6**2 + x7**2)
        + 7.4777 * (x6**3 + x7**3)
        + 0.7854 * (x4 * x6**2 + x5 * x7**2)
    )
    g = [
        27.0 / (x1 * x2**2 * x3) - 1.0,
        397.5 / (x1 * x2**2 * x3**2) - 1.0,
        1.93 * x4**3 / (x2 * x3 * x6**4) - 1.0,
        1.93 * x5**3 / (x2 * x3 * x7**4) - 1.0,
        math.sqrt((745.0 * x4 / (x2 * x3)) ** 2 + 16.9e6) / (110.0 * x6**3) - 1.0,
        math.sqrt((745.0 * x5 / (x2 * x3)) ** 2 + 157.5e6) / (85.0 * x7**3) - 1.0,
        x2 * x3 / 40.0 - 1.0,
        5.0 * x2 / x1 - 1.0,
        x1 / (12.0 * x2) - 1.0,
        (1.5 * x6 + 1.9) / x4 - 1.0,
        (1.1 * x7 + 1.9) / x5 - 1.0,
    ]
    return {"weight": f}, {f"g{i + 1}": v for i, v in enumerate(g)}


SPEED_REDUCER = Problem(
    "speed_reducer",
    Space([
        FloatParam("x1", 2.6, 3.6), FloatParam("x2", 0.7, 0.8), IntParam("x3", 17, 28),
        FloatParam("x4", 7.3, 8.3), FloatParam("x5", 7.8, 8.3), FloatParam("x6", 2.9, 3.9),
        FloatParam("x7", 5.0, 5.5),
    ]),
    {"weight": "min"},
    tuple(f"g{i}" for i in range(1, 12)),
    _speed_reducer,
    optimum=2996.3482,
)


def _quadratic(params: Mapping[str, float]) -> Values:
    x, y = params["x0"], params["x1"]
    return {"f": (x - 1.0) ** 2 + (y - 1.0) ** 2}, {"c": x**2 + y**2 - 1.0}


QUADRATIC2D = Problem(
    "quadratic2d", _box(2, -2.0, 2.0), {"f": "min"}, ("c",), _quadratic, optimum=(1.0 - math.sqrt(0.5)) ** 2 * 2
)
"""A small sanity check: the unconstrained minimum (1, 1) is infeasible; the constrained one is
at (1/sqrt 2, 1/sqrt 2) on the unit circle."""


# --- two objectives -----------------------------------------------------------------------------
def _branin_currin(params: Mapping[str, float]) -> Values:
    u, v = params["x0"], params["x1"]
    a, b = 15.0 * u - 5.0, 15.0 * v
    branin = (b - 5.1 / (4 * math.pi**2) * a**2 + 5.0 / math.pi * a - 6.0) ** 2 + 10.0 * (1 - 1 / (8 * math.pi)) * math.cos(a) + 10.0
    v_safe = max(v, 1e-12)
    currin = (1.0 - math.exp(-1.0 / (2.0 * v_safe))) * (2300 * u**3 + 1900 * u**2 + 2092 * u + 60) / (
        100 * u**3 + 500 * u**2 + 4 * u + 20
    )
    return {"branin": branin, "currin": currin}, {}


BRANIN_CURRIN = Problem(
    "branin_currin",
    _box(2, 0.0, 1.0),
    {"branin": "min", "currin": "min"},
    (),
    _branin_currin,
    ref_point=(18.0, 6.0),
    max_hypervolume=59.36011874867746,
)

PROBLEMS: dict[str, Problem] = {
    p.name: p for p in (ACKLEY10, TENSION_SPRING, PRESSURE_VESSEL, SPEED_REDUCER, QUADRATIC2D, BRANIN_CURRIN)
}
