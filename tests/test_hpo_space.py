"""Search spaces: validation errors, sampling, encode/decode/project round trips, serialisation."""

import json

import numpy as np
import pytest

from jaxsnn.hpo.space import CategoricalParam, Condition, FloatParam, IntParam, Space


def mixed_space() -> Space:
    return Space(
        [
            FloatParam("lr", 1e-5, 1e-1, log=True),
            IntParam("layers", 1, 4),
            IntParam("width", 16, 1024, log=True),
            CategoricalParam("opt", ("adam", "sgd", "rmsprop")),
            # declared before its parent: dependency order is resolved, not assumed
            FloatParam("momentum", 0.0, 0.99, condition=Condition("opt", ("sgd", "rmsprop"))),
            CategoricalParam("nesterov", (True, False), condition=Condition("opt", ("sgd",))),
            FloatParam("nesterov_gain", 0.5, 2.0, condition=Condition("nesterov", (True,))),
        ]
    )


@pytest.mark.parametrize(
    "params, match",
    [
        ([], "at least one parameter"),
        ([FloatParam("a", 0, 1), IntParam("a", 0, 3)], "duplicate parameter names"),
        ([("a", 0, 1)], "unknown parameter type"),
        ([FloatParam("a", 0, 1, condition=Condition("b", ("x",)))], "unknown parameter 'b'"),
        ([FloatParam("a", 0, 1), FloatParam("b", 0, 1, condition=Condition("a", (0.5,)))], "must be categorical"),
        ([CategoricalParam("c", ("x", "y")), FloatParam("b", 0, 1, condition=Condition("c", ("z",)))], "not a choice"),
        (
            [
                CategoricalParam("a", ("x", "y"), condition=Condition("b", ("x",))),
                CategoricalParam("b", ("x", "y"), condition=Condition("a", ("x",))),
            ],
            "cyclic",
        ),
    ],
)
def test_space_validation_errors(params, match):
    with pytest.raises(ValueError, match=match):
        Space(params)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: FloatParam("a", 1.0, 1.0), "low must be < high"),
        (lambda: IntParam("a", 5, 2), "low must be < high"),
        (lambda: FloatParam("a", 0.0, 1.0, log=True), "needs low > 0"),
        (lambda: FloatParam("a", 0.0, float("inf")), "finite"),
        (lambda: IntParam("a", 0.5, 3), "integer bounds"),
        (lambda: CategoricalParam("a", ()), "at least one choice"),
        (lambda: CategoricalParam("a", ("x", "x")), "duplicate choices"),
        (lambda: CategoricalParam("a", "xy"), "sequence"),
        (lambda: FloatParam("", 0, 1), "non-empty string"),
    ],
)
def test_param_validation_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bool_and_int_choices_stay_distinct():
    p = CategoricalParam("c", (1, True, 0, False))
    assert [p.index(v) for v in (1, True, 0, False)] == [0, 1, 2, 3]


def test_validate_reports_every_problem():
    space = mixed_space()
    with pytest.raises(ValueError) as err:
        space.validate({"lr": 1.0, "layers": 2.5, "opt": "adam", "momentum": 0.5, "bogus": 1})
    msg = str(err.value)
    for fragment in ("unknown parameter 'bogus'", "missing parameter 'width'", "'momentum' is set but inactive",
                     "lr=1.0 outside", "not an integer"):
        assert fragment in msg


def test_samples_are_valid_and_cover_conditions():
    space = mixed_space()
    samples = space.sample(np.random.default_rng(0), 300)
    for s in samples:
        space.validate(s)
    assert {s["opt"] for s in samples} == {"adam", "sgd", "rmsprop"}
    assert all(("momentum" in s) == (s["opt"] != "adam") for s in samples)
    assert any("nesterov_gain" in s for s in samples)
    widths = np.array([s["width"] for s in samples])
    assert np.median(widths) < 300  # log-uniform, not uniform, over [16, 1024]


def test_encode_decode_round_trip_mixed_conditional():
    space = mixed_space()
    assert space.dim == 1 + 1 + 1 + 3 + 1 + 2 + 1
    for s in space.sample(np.random.default_rng(1), 200):
        x = space.encode(s)
        assert x.shape == (space.dim,) and np.all((x >= 0) & (x <= 1))
        back = space.decode(x)
        assert back.keys() == s.keys()
        for k, v in s.items():
            assert back[k] == pytest.approx(v, rel=1e-9) if isinstance(v, float) else back[k] == v
        np.testing.assert_allclose(space.project(x[None])[0], x)


def test_inactive_parameters_encode_to_fixed_defaults():
    space = mixed_space()
    a = space.encode({"lr": 1e-3, "layers": 2, "width": 64, "opt": "adam"})
    b = space.encode({"lr": 1e-3, "layers": 2, "width": 64, "opt": "adam"})
    np.testing.assert_array_equal(a, b)
    assert a[6] == 0.5 and a[7:9].sum() == 0 and a[9] == 0.5


def test_project_equals_encode_of_decode_on_relaxed_points():
    space = mixed_space()
    X = np.random.default_rng(2).uniform(-0.2, 1.2, size=(200, space.dim))
    P = space.project(X)
    expected = np.stack([space.encode(space.decode(x)) for x in X])
    np.testing.assert_allclose(P, expected, atol=1e-12)


def test_int_log_rounding_and_bounds():
    space = Space([IntParam("n", 1, 1000, log=True)])
    assert space.decode(np.array([0.0]))["n"] == 1
    assert space.decode(np.array([1.0]))["n"] == 1000
    assert space.decode(space.encode({"n": 37}))["n"] == 37


def test_serialisation_round_trip_through_json():
    space = mixed_space()
    again = Space.from_dict(json.loads(json.dumps(space.to_dict())))
    assert again == space
    with pytest.raises(ValueError, match="unknown parameter type"):
        Space.from_dict({"params": [{"type": "complex", "name": "z"}]})


def test_redraw_choices_moves_exactly_the_asked_number_of_categoricals_and_nothing_else():
    """The Hamming neighbourhood of a trust region: row i changes counts[i] of its (active)
    categorical parameters to another choice, keeps its numbers, and stays a valid encoding."""
    space = Space([FloatParam("lr", 1e-5, 1e-1, log=True), CategoricalParam("opt", ("adam", "sgd", "rmsprop")),
                   CategoricalParam("act", ("relu", "tanh")), CategoricalParam("norm", ("batch", "layer", "none"))])
    centre = space.encode({"lr": 1e-3, "opt": "sgd", "act": "tanh", "norm": "none"})
    counts = np.repeat([0, 1, 2, 3], 50)
    moved = space.redraw_choices(np.tile(centre, (len(counts), 1)), counts, np.random.default_rng(0))
    decoded = [space.decode(x) for x in moved]
    changed = [sum(d[name] != space.decode(centre)[name] for name in ("opt", "act", "norm")) for d in decoded]
    assert changed == counts.tolist()
    assert all(d["lr"] == pytest.approx(1e-3) for d in decoded)
    np.testing.assert_array_equal(moved, space.project(moved))
    assert {d["opt"] for d in decoded} == {"adam", "sgd", "rmsprop"} and space.n_categorical == 3
    assert space.redraw_choices(centre[None], np.array([0]), np.random.default_rng(1)).tolist() == [centre.tolist()]
