"""Log-product GP input features: the appended column against the product computed directly."""

from __future__ import annotations

import math
from pathlib import Path

import jax
import numpy as np
import pytest
from omegaconf import OmegaConf

from jaxsnn.hpo import CategoricalParam, FloatParam, IntParam, Space, make_optimizer
from jaxsnn.hpo.features import INPUT_DRIVE, LogProductFeatures
from jaxsnn.record import EvaluationRecord
from jaxsnn.tuning.spaces import dotted
from jaxsnn.tuning.study_spec import prepare

REPO = Path(__file__).resolve().parents[1]

SPACE = Space([
    FloatParam("weight_scale", 0.05, 5.0, log=True),
    FloatParam("x_tar", 0.0, 1.0),
    CategoricalParam("readout", ("max", "mean")),
    FloatParam("input_rate", 0.01, 1.0, log=True),
    FloatParam("alpha", 0.3, 0.99),
    FloatParam("theta", 0.05, 20.0, log=True),
    IntParam("n_hidden", 8, 512, log=True),
])  # fmt: skip
DRIVE = {"log_drive": {"weight_scale": 1, "input_rate": 1, "theta": -1}}


def test_the_feature_is_the_log_product_scaled_to_the_unit_interval():
    points = SPACE.sample(np.random.default_rng(0), 50)
    X = SPACE.encode_many(points)
    out = LogProductFeatures(SPACE, DRIVE)(X)
    assert out.shape == (50, SPACE.dim + 1) and np.array_equal(out[:, :-1], X)
    log_drive = np.array([math.log(p["weight_scale"] * p["input_rate"] / p["theta"]) for p in points])
    lowest, highest = math.log(0.05 * 0.01 / 20.0), math.log(5.0 * 1.0 / 0.05)
    np.testing.assert_allclose(out[:, -1], (log_drive - lowest) / (highest - lowest), atol=1e-12)


def test_a_parameter_the_space_leaves_out_drops_out_of_the_product():
    spike_data = Space([p for p in SPACE.params if p.name != "input_rate"])
    points = spike_data.sample(np.random.default_rng(1), 20)
    column = LogProductFeatures(spike_data, DRIVE)(spike_data.encode_many(points))[:, -1]
    ratio = np.array([p["weight_scale"] / p["theta"] for p in points])
    assert np.array_equal(np.argsort(column), np.argsort(ratio))
    assert len(LogProductFeatures(spike_data, {"rate": {"input_rate": 1}})) == 0  # nothing left: dropped


def test_a_linear_scale_parameter_enters_through_the_log_of_its_value():
    """``alpha`` is linear-scale: its column is not affine in the encoding, but the feature is
    still the log of the product, scaled to [0, 1] at the box's corners."""
    spec = {"leak_drive": {"alpha": 2, "theta": -1}}
    points = SPACE.sample(np.random.default_rng(2), 50)
    column = LogProductFeatures(SPACE, spec)(SPACE.encode_many(points))[:, -1]
    log_product = np.array([math.log(p["alpha"] ** 2 / p["theta"]) for p in points])
    lowest, highest = math.log(0.3**2 / 20.0), math.log(0.99**2 / 0.05)
    np.testing.assert_allclose(column, (log_product - lowest) / (highest - lowest), atol=1e-12)
    corners = np.zeros((2, SPACE.dim))
    corners[0, SPACE.column("theta")] = corners[1, SPACE.column("alpha")] = 1.0  # the least and most drive
    np.testing.assert_allclose(LogProductFeatures(SPACE, spec)(corners)[:, -1], [0.0, 1.0], atol=1e-12)


@pytest.mark.parametrize(
    "spec, match",
    [({"f": {"readout": 1}}, "numeric parameter with a positive range"), ({"f": {}}, "non-empty"),
     ({"f": {"x_tar": 1}}, "positive range"),
     ({"f": {"theta": "one"}}, "must be a number"), (["theta"], "must be a dict")],
)  # fmt: skip
def test_bad_feature_specs_are_refused(spec, match):
    with pytest.raises(ValueError, match=match):
        LogProductFeatures(SPACE, spec)


def test_scbo_models_the_feature_and_proposes_in_the_encoded_space():
    """A log-scale input and its feature: the GPs get two input columns, the asks stay valid points
    of the one-parameter space. (Two columns, six design points and one MAP start: the programs of
    the 2-D SCBO tests in test_optimizers.py, through the shared compilation cache.)"""
    space = Space([FloatParam("weight_scale", 0.05, 5.0, log=True)])
    opt = make_optimizer("scbo", space, {"f": "max"}, ["c"], seed=0, n_initial=6, min_feasible=0, restarts=1,
                         features={"drive": {"weight_scale": 1, "theta": -1}})  # fmt: skip
    for _ in range(7):  # six design points, one model-based ask
        params = opt.ask()
        space.validate(params)
        opt.tell(EvaluationRecord(params, {"f": math.log(params["weight_scale"])},
                                  {"c": 0.5 if params["weight_scale"] < 0.5 else -0.5}))  # fmt: skip
    with jax.enable_x64(True):  # as the asks fit (and cache) them
        widths = [g.hyper.lengthscale.shape[-1] for g in opt.fitted(*opt.data(), opt.log_costs())]
    assert widths == [space.dim + 1] * 2


def test_the_silent_sg_presets_feature_names_parameters_of_its_space():
    """``LogProductFeatures`` silently skips a path its space does not have (a constant of the
    study), so a misspelled path in ``conf/hpo/silent_sg.yaml`` would only shrink the feature. Built
    through ``prepare`` on the preset, the feature must be the log of
    ``model.weight_scale * data.options.max_rate / model.neuron.theta`` on digits, and on randman
    (spike-time data: ``data.options.max_rate`` left out of the space) still one feature, the log
    of ``model.weight_scale / model.neuron.theta``."""
    spec = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "hpo" / "silent_sg.yaml"))
    assert {name: dotted(powers) for name, powers in spec["features"].items()} == INPUT_DRIVE
    rate, weight, theta = "data.options.max_rate", "model.weight_scale", "model.neuron.theta"
    for dataset, factors in (("digits", {weight: 1, rate: 1, theta: -1}), ("randman", {weight: 1, theta: -1})):
        plan = prepare({**spec, "run": {**spec["run"], "data": {"name": dataset}}})
        assert (rate in plan.space.names) == (dataset == "digits")
        features = LogProductFeatures(plan.space, plan.options["features"])
        assert len(features) == 1 and features.names == ["log_drive"]
        points = plan.space.sample(np.random.default_rng(3), 50)
        column = features(plan.space.encode_many(points))[:, -1]
        ends = [(e * math.log(plan.space[n].low), e * math.log(plan.space[n].high)) for n, e in factors.items()]
        lowest, highest = sum(min(a, b) for a, b in ends), sum(max(a, b) for a, b in ends)
        log_drive = np.array([sum(e * math.log(p[n]) for n, e in factors.items()) for p in points])
        np.testing.assert_allclose(column, (log_drive - lowest) / (highest - lowest), atol=1e-12)


def test_logei_built_from_the_preset_screens_its_design_on_the_drive():
    """What ``prepare`` hands log-EI from the preset's ``hpo.features`` builds its feature screens
    (``tests/test_fail_early.py`` checks which optimizers get the option)."""
    spec = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "hpo" / "silent_sg.yaml"))
    plan = prepare({**spec, "optimizer": "logei"})
    built = make_optimizer("logei", plan.space, dict(spec["objectives"]), list(spec["constraints"]), **plan.options)
    assert built.screen_design and built.screen_proposals and built.inputs.names[-1] == "log_drive"
