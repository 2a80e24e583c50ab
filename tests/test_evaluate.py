"""evaluate(): real trials end as records (complete, silent, pruned, failed); bad configs raise."""

import pickle

import numpy as np
import pytest
from fixtures_data import write_dvs_gesture

import jaxsnn.tuning.evaluate as ev
import jaxsnn.tuning.objective as objective_module
from jaxsnn.core import SHAPES, Surrogate
from jaxsnn.hpo.space import Space
from jaxsnn.nn.conversion import ENCODINGS
from jaxsnn.train.config import DataConfig
from jaxsnn.train.hybrid import HybridConfig
from jaxsnn.train.run import Run
from jaxsnn.train.slayer import SlayerConfig
from jaxsnn.tuning.evaluate import evaluate
from jaxsnn.tuning.objective import TrialObjective
from jaxsnn.tuning.spaces import apply_point, search_space

SMALL_SG = {"model.hidden.width": 16, "trainer.epochs": 1, "trainer.batch_size": 64, "data.time_steps": 10,
            "trainer.lr": 5e-3}  # fmt: skip
SMALL_STDP = {"stdp.n_neurons": 10, "stdp.presentation_ms": 50.0, "stdp.epochs": 1}


def sg(params: dict | None = None) -> dict:
    return {"run": {"model": {"neuron": {"backend": "xla"}}}, "params": {**SMALL_SG, **(params or {})}}


def stdp(**config) -> dict:
    return {"run": {"algorithm": "stdp"}, **config}


def test_a_healthy_sg_trial_is_complete_with_flat_params_and_the_silent_constraint():
    record = evaluate(sg())
    assert record.status == "complete", record.error
    assert record.params == SMALL_SG
    assert record.metrics["resolved"]["model"]["hidden"] == (16,) and record.metrics["resolved"]["data"]["time_steps"] == 10
    assert record.constraints["silent"] <= 0 and record.feasible and record.cost_s > 0
    assert record.objectives["accuracy"] > 0.2  # chance is 0.1; 0.29 measured after one epoch


def test_a_silent_sg_trial_is_stopped_and_informative():
    record = evaluate({**sg({"model.neuron.theta": 20.0, "model.weight_scale": 0.05, "trainer.epochs": 5}),
                       "silent": {"k": 1, "p": 0.3, "update_interval": 128}})
    assert record.status == "silent_stopped" and record.informative and not record.feasible
    assert record.constraints["silent"] == pytest.approx(0.7)
    assert record.epochs_run == 0


def test_a_saturated_sg_trial_is_pruned_by_the_activity_guard():
    record = evaluate({**sg({"model.neuron.theta": 0.05, "model.weight_scale": 5.0, "data.options.max_rate": 1.0}),
                       "activity": {"max_rate": 0.3, "update_interval": 64}})
    assert record.status == "pruned" and not record.informative
    assert record.constraints["activity"] > 0
    assert "too active" in record.metrics["stop_reason"]


def test_an_exception_becomes_a_failed_record_with_the_reason(tmp_path):
    record = evaluate({"run": {"data": {"name": "shd", "root": str(tmp_path)}}})
    assert record.status == "failed"
    assert "DatasetNotFoundError" in record.error and str(tmp_path) in record.error
    assert " in " in record.error  # innermost frames are named


def test_a_crash_inside_the_trainer_is_summarised(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(ev, "train_stdp", broken)
    record = evaluate(stdp(params=SMALL_STDP))
    assert record.status == "failed" and record.error.startswith("RuntimeError: kernel exploded")
    assert "broken" in record.error and record.params == SMALL_STDP


def test_the_study_wide_compile_setting_is_checked_before_anything_runs():
    """``trainer.xla_optimizations`` of the base run: TrainerConfig refuses a non-bool (its one check)."""
    with pytest.raises(ValueError, match="bad evaluate.. config: trainer.xla_optimizations must be true or false"):
        evaluate({**sg(), "run": {"trainer": {"xla_optimizations": "no"}}})


def test_a_trainer_record_with_a_nan_objective_becomes_a_failed_record(monkeypatch):
    """A trainer that builds a complete record with a NaN objective (a bug, or a metric that
    divided by zero) must not reach the optimizer's model: the record refuses the value (the one
    home of that check) and evaluate() stores the trial ``failed`` with the reason."""
    from jaxsnn.record import EvaluationRecord

    def nan_accuracy(*args, **kwargs):
        return EvaluationRecord(params={}, objectives={"accuracy": float("nan"), "train_accuracy": 0.5,
                                                       "train_time_s": 1.0}, metrics={})  # fmt: skip

    monkeypatch.setattr(ev, "train_sg", nan_accuracy)
    record = evaluate(sg())
    assert record.status == "failed" and "non-finite values {'accuracy': nan}" in record.error


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_a_diverging_trial_becomes_a_failed_record():
    record = evaluate(sg({"model.weight_scale": 1e30}))  # outside the space on purpose: inf logits
    assert record.status == "failed" and "non-finite" in record.error


def test_the_time_budget_stops_a_trial_cleanly_as_failed():
    record = evaluate({**sg({"trainer.epochs": 20}), "time_budget_s": 1e-3, "silent": None})
    assert record.status == "failed" and record.error.startswith("time budget exceeded")
    assert record.epochs_run == 0 and record.cost_s < 120


@pytest.mark.xla_optimized
@pytest.mark.slow
def test_stdp_trials_on_embedded_digits_learn():
    """A network that fires is trained, labelled and tested (0.77 measured; chance 0.1). It runs
    with a looser detector: 20 neurons shown a digit for 150 ms fire fewer than the default's 5
    spikes on about 7 % of the digits, more than its p = 5 %. Slow (6 s); the fast companions are
    test_stdp.py's learning test and the stopped trial below."""
    params = {"stdp.n_neurons": 20, "stdp.presentation_ms": 150.0, "stdp.epochs": 1}
    record = evaluate(stdp(params=params, silent={"k": 1, "p": 0.3, "update_interval": 100}))
    assert record.status == "complete", (record.status, record.metrics.get("stop_reason"))
    assert record.constraints["silent"] <= 0 and record.params == params
    assert record.objectives["accuracy"] > 0.6


def test_stdp_trial_that_cannot_fire_is_stopped_by_the_default_detector():
    """``mnist_stdp`` is the default when no detector is configured."""
    silent = evaluate(stdp(params={**SMALL_STDP, "stdp.threshold_mv": 50.0, "stdp.input_rate_hz": 5.0}))
    assert silent.status == "silent_stopped" and set(silent.constraints) == {"silent"}
    assert silent.constraints["silent"] > 0 and "5 output spikes" in silent.metrics["stop_reason"]
    # As shipped (10-image chunks, the mnist_stdp detector): the first chunk already loses the
    # check at 100 samples (6 silent images would), so a silent trial pays for 10 images, not 50.
    assert silent.metrics["samples_seen"] == 10


@pytest.mark.parametrize(
    "config, match",
    [
        ([], "config must be a dict"),
        ({"trainer": "sg"}, r"unknown key\(s\) \['trainer'\]"),
        ({"run": {"algorithm": "snntorch"}}, "algorithm must be one of"),
        ({"run": {"epochs": 3}}, r"unknown run config key\(s\) \['epochs'\]"),
        ({"run": "sg"}, "run must be a train.yaml mapping"),
        ({"params": {"stdp.n_neurons": 10}}, "unknown sg hyperparameter"),
        ({"params": {"model.hidden.width": 2.5}}, "hidden"),
        ({"params": {"surrogate.shape": "sinc"}}, "unknown surrogate shape"),
        ({"params": {"data.options.max_rate": 0.1}, "run": {"data": {"name": "randman"}}}, r"data\.options\.max_rate"),
        ({"run": {"data": {"name": "imagenet"}}}, "unknown sg dataset"),
        ({"run": {"trainer": {"lrr": 0.1}}}, r"unknown trainer option\(s\) \['lrr'\]"),
        ({"run": {"data": {"time_steps": 0}}}, "data.time_steps"),
        (stdp(params={"stdp.tau_mem_ms": -1.0}), "tau_mem_ms"),
        ({"run": {"algorithm": "stdp", "data": {"name": "mnist"}}}, "needs data.root"),
        ({"run": {"algorithm": "stdp", "stdp": {"dt_ms": -1.0}}}, "dt_ms"),
        ({"run": {"algorithm": "stdp", "stdp": {"tau_m": 2.0}}}, r"unknown stdp option\(s\) \['tau_m'\]"),
        (stdp(params={"model.neuron.theta": 1.0}), "unknown stdp hyperparameter"),
        (stdp(silent="cifar"), "unknown silent preset"),
        (stdp(silent={"k": 1}), "silent needs keys"),
        (stdp(silent={"k": 1, "p": 0.1, "update_interval": 5, "window": "x"}), "window"),
        (stdp(silent={"k": 0, "p": 0.1, "update_interval": 5}), "k"),
        (stdp(activity={"rate": 1}), "max_rate"),
        (stdp(time_budget_s=0), "time_budget_s"),
        ({"run": {"seed": "1"}}, "seed"),
        ({"run": {"model": {"neuron": {"backend": "cuda"}}}}, "backend"),
        ({"run": {"algorithm": "slayer", "data": {"name": "cifar10"}}}, "unknown slayer dataset"),
        ({"run": {"algorithm": "slayer", "slayer": {"tau_m": 2.0}}}, "unknown slayer option"),
        ({"run": {"algorithm": "slayer"}, "params": {"slayer.false_count": 4.0, "slayer.true_count": 3.0}}, "false_count"),
        ({"run": {"algorithm": "slayer", "data": {"name": "dvs_gesture", "options": {"max_rate": 0.2}}}},
         r"no option\(s\) \['max_rate'\]"),
        ({"run": {"algorithm": "hybrid", "data": {"name": "shd"}}}, "unknown hybrid dataset"),
        ({"run": {"algorithm": "hybrid"}, "params": {"hybrid.percentile": 120.0}}, "percentile"),
        ({"run": {"algorithm": "hybrid", "hybrid": {"backend": "cuda"}}}, "backend"),
    ],
)
def test_a_bad_config_schema_raises_before_any_compute(config, match, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("compute started for an invalid config")

    for name in ("train_sg", "train_stdp", "train_slayer", "train_hybrid", "load_dataset", "load_images",
                 "load_mnist"):
        monkeypatch.setattr(ev, name, forbidden)
    monkeypatch.setattr(DataConfig, "load", forbidden)  # how a trial loads a spike dataset
    with pytest.raises(ValueError, match=match):
        evaluate(config)


# --- search spaces ----------------------------------------------------------------------------


@pytest.mark.parametrize("trainer, dims", [("sg", 17), ("stdp", 18), ("slayer", 16), ("hybrid", 16)])
def test_spaces_are_as_wide_as_the_papers_and_every_sample_maps_to_configs(trainer, dims):
    space = search_space(trainer)
    assert isinstance(space, Space) and len(space.params) == dims
    for params in space.sample(np.random.default_rng(0), 50):
        apply_point(Run(algorithm=trainer), params)


def test_the_spaces_yaml_choices_are_the_registries_of_the_code():
    """The spaces are YAML (jaxsnn/conf/space): a surrogate shape or input encoding added to the
    code, or one renamed, must reach every space that searches it, else it is never tried."""
    for trainer, prefix in (("sg", "surrogate"), ("slayer", "slayer.surrogate"), ("hybrid", "hybrid.surrogate")):
        space = search_space(trainer)
        assert space[f"{prefix}.shape"].choices == SHAPES
        assert space[f"{prefix}.q"].condition.parent == f"{prefix}.shape"
    assert search_space("hybrid")["hybrid.encoding"].choices == ENCODINGS


def test_spaces_include_silent_regions_on_purpose():
    sg_space, stdp_space = search_space("sg"), search_space("stdp")
    assert sg_space["model.neuron.theta"].high / sg_space["model.neuron.theta"].low >= 100
    assert sg_space["model.weight_scale"].low <= 0.05 and sg_space["data.options.max_rate"].low <= 0.01
    assert stdp_space["stdp.input_rate_hz"].low <= 5 and stdp_space["stdp.threshold_mv"].high >= 50


def test_narrowing_a_space_keeps_the_rest_wide():
    space = search_space("sg", bounds={"trainer.epochs": (1, 2), "model.hidden.width": (8, 64)})
    assert (space["trainer.epochs"].low, space["trainer.epochs"].high) == (1, 2)
    assert space["model.neuron.theta"] == search_space("sg")["model.neuron.theta"]
    with pytest.raises(ValueError, match="unknown sg parameter"):
        search_space("sg", bounds={"stdp.n_neurons": (1, 2)})
    with pytest.raises(ValueError, match="categorical"):
        search_space("sg", bounds={"model.readout": (0, 1)})


def test_excluding_parameters_leaves_them_to_the_trainer_defaults():
    space = search_space("slayer", exclude=("slayer.surrogate.shape", "slayer.surrogate.q", "slayer.tau_r"),
                         bounds={"slayer.epochs": (1, 3)})  # fmt: skip
    assert "slayer.surrogate.shape" not in space.names and "slayer.tau_r" not in space.names
    assert len(space.params) == 13
    assert (space["slayer.epochs"].low, space["slayer.epochs"].high) == (1, 3)
    point = space.sample(np.random.default_rng(0), 1)[0]
    assert apply_point(Run(algorithm="slayer"), point).slayer.tau_r == SlayerConfig().tau_r
    with pytest.raises(ValueError, match=r"\['slayer\.surrogate\.q'\] depend on an excluded parameter"):
        search_space("slayer", exclude=("slayer.surrogate.shape",))
    with pytest.raises(ValueError, match="unknown slayer parameter"):
        search_space("slayer", exclude=("slayer.n_neurons",))
    with pytest.raises(ValueError, match="both narrowed and excluded"):
        search_space("slayer", exclude=("slayer.epochs",), bounds={"slayer.epochs": (1, 2)})


def test_flat_slayer_and_hybrid_points_map_onto_their_configs():
    base = Run.from_dict({"algorithm": "slayer", "slayer": {"conv_channels": [4], "conv_kernels": [3]}})
    cfg = apply_point(base, {"slayer.hidden.width": 48, "slayer.hidden.depth": 2, "slayer.surrogate.gamma": 0.7,
                             "slayer.time_steps": 12, "slayer.tau_s": 3.0}).slayer  # fmt: skip
    assert cfg.hidden == (48, 48) and cfg.time_steps == 12 and cfg.tau_s == 3.0
    assert cfg.surrogate == Surrogate("fast_sigmoid", gamma=0.7, beta=1.0, q=2.0)
    assert cfg.conv_channels == (4,) and cfg.lr == SlayerConfig().lr
    base = Run.from_dict({"algorithm": "hybrid", "hybrid": {"backend": "xla"}})
    hybrid = apply_point(base, {"hybrid.hidden.width": 20, "hybrid.finetune_epochs": 0,
                                "hybrid.surrogate.shape": "triangular"}).hybrid  # fmt: skip
    assert hybrid.hidden == (20,) and hybrid.finetune_epochs == 0 and hybrid.backend == "xla"
    assert hybrid.surrogate.shape == "triangular" and hybrid.conv_channels == HybridConfig().conv_channels
    assert apply_point(Run(algorithm="hybrid"), {}).hybrid == HybridConfig()


SMALL_SLAYER = {"slayer.hidden.width": 32, "slayer.epochs": 2, "slayer.batch_size": 64, "slayer.time_steps": 10}
SMALL_HYBRID = {"hybrid.hidden.width": 16, "hybrid.ann_epochs": 2, "hybrid.finetune_epochs": 1, "hybrid.time_steps": 2}
MOO_OBJECTIVES = {"accuracy", "train_time_s", "inference_steps", "spikes_per_sample"}


def test_slayer_and_hybrid_trials_carry_the_multi_objective_record():
    for config in ({"run": {"algorithm": "slayer", "data": {"time_steps": 20}}, "params": SMALL_SLAYER},
                   {"run": {"algorithm": "hybrid", "hybrid": {"backend": "xla", "conv_channels": [], "conv_kernels": []}},
                    "params": SMALL_HYBRID}):  # fmt: skip
        record = evaluate(config)
        assert record.status == "complete", record.error
        assert record.params == config["params"] and set(record.objectives) == MOO_OBJECTIVES
        algorithm = config["run"]["algorithm"]
        assert record.objectives["inference_steps"] == config["params"][f"{algorithm}.time_steps"]
        assert record.constraints["silent"] <= 0 and 0.2 < record.objectives["accuracy"] <= 1.0
        assert 0 < record.objectives["train_time_s"] < record.cost_s


def test_a_silent_slayer_trial_is_stopped_and_a_too_long_window_fails_with_the_reason():
    silent = evaluate({"run": {"algorithm": "slayer", "data": {"time_steps": 50}},
                       "params": {**SMALL_SLAYER, "slayer.theta": 20.0, "slayer.weight_scale": 0.1},
                       "silent": {"k": 1, "p": 0.3, "update_interval": 128}})  # fmt: skip
    assert silent.status == "silent_stopped" and silent.constraints["silent"] == pytest.approx(0.7)
    assert silent.objectives["inference_steps"] == 10 and silent.spikes == 0
    too_long = evaluate({"run": {"algorithm": "slayer", "data": {"time_steps": 20}},
                         "params": {**SMALL_SLAYER, "slayer.time_steps": 30}})  # fmt: skip
    assert too_long.status == "failed" and "time_steps=30 exceeds the 20 steps" in too_long.error


def test_a_conv_slayer_trial_runs_on_dvs_gesture_files(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("Train", 4), ("Test", 2)):
        for i in range(n):
            t = np.sort(rng.integers(0, 500, 400))
            events = {"x": rng.integers(0, 128, 400), "y": rng.integers(0, 128, 400), "p": rng.integers(0, 2, 400), "t": t}
            write_dvs_gesture(tmp_path, split, f"user{i:02d}_led", i % 3, events)
    record = evaluate({
        "run": {"algorithm": "slayer",
                "data": {"name": "dvs_gesture", "root": str(tmp_path), "time_steps": 6, "options": {"size": 16}},
                "slayer": {"conv_channels": [4], "conv_kernels": [3], "input_pool": 2, "true_count": 3.0,
                           "false_count": 1.0}},
        "params": {"slayer.hidden.width": 8, "slayer.epochs": 1, "slayer.batch_size": 2}, "silent": None,
    })  # fmt: skip
    assert record.status == "complete", record.error
    assert record.metrics["layers"] == ["pool_in", "conv0", "pool0", "hidden0", "output"]
    assert record.objectives["inference_steps"] == 6 and record.metrics["dataset"].startswith("dvs")


def test_a_flat_sg_point_maps_onto_model_and_trainer_configs():
    base = Run.from_dict({"data": {"options": {"encoding": "latency"}}, "trainer": {"epochs": 3}})
    run = apply_point(base, {"model.hidden.width": 32, "model.hidden.depth": 2, "surrogate.shape": "q_pseudo_spike",
                             "surrogate.q": 3.0, "model.neuron.theta": 0.5, "trainer.lr": 1e-3,
                             "data.options.max_rate": 0.2})  # fmt: skip
    assert run.model.hidden == (32, 32) and run.model.surrogate.q == 3.0
    assert run.model.neuron.theta == 0.5 and run.trainer.lr == 1e-3
    assert run.trainer.epochs == 3 and run.data.options == {"encoding": "latency", "max_rate": 0.2}  # the base run's
    assert base.model.hidden == Run().model.hidden  # the base run itself is left as it was


def test_trial_objective_checks_its_base_config_once_and_pickles_for_workers(monkeypatch):
    with pytest.raises(ValueError, match="unknown key"):
        TrialObjective({"run": {}, "epochs": 3})
    objective = pickle.loads(pickle.dumps(TrialObjective(stdp(silent="mnist_stdp"))))
    seen = []
    monkeypatch.setattr(objective_module, "evaluate", lambda config: seen.append(config) or "record")
    assert objective({"stdp.n_neurons": 10}) == "record"
    assert seen == [{"run": {"algorithm": "stdp"}, "silent": "mnist_stdp", "params": {"stdp.n_neurons": 10}}]
