"""The README's main job: ``experiments/hpo.py`` end to end, and what it shows a person."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from entry_points import run_script
from hpo_workers import CONSTRAINTS, OBJECTIVES, SPACE
from rich.console import Console

from jaxsnn.hpo.report import print_results
from jaxsnn.hpo.results import best_trial, pareto_trials
from jaxsnn.hpo.study import Study
from jaxsnn.record import EvaluationRecord

REPO = Path(__file__).resolve().parents[1]


MOO = {"accuracy": "max", "train_time_s": "min", "inference_steps": "min"}


@pytest.mark.parametrize("objectives", [OBJECTIVES, MOO])
def test_results_and_pareto_tables_stay_readable_at_80_columns(tmp_path, objectives):
    with Study.create(tmp_path / "s.db", SPACE, objectives, CONSTRAINTS) as study:
        for i, status in enumerate(("complete", "silent_stopped", "complete")):
            params = SPACE.sample(np.random.default_rng(i), 1)[0]
            trial = study.start_trial(params, "w")
            record = EvaluationRecord(params, {name: 0.5 + 0.1 * i for name in objectives},
                                      {name: 0.2 - 0.3 * (status == "complete") for name in CONSTRAINTS}, 1.0, status)
            study.finish_trial(trial, record)
        console = Console(width=80, record=True)
        print_results(study, console=console)
    text = console.export_text()
    assert "silent_stopped" in text and "complete" in text
    assert "…" not in text, "a column was truncated"
    assert all(f"{name}=" in text for name in SPACE.names)
    assert all(name in text for name in objectives)
    assert ("Pareto front: 2 feasible trials" in text) == (len(objectives) > 1)


@pytest.mark.parametrize("fresh_process", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_hpo_entry_point_runs_a_small_study(tmp_path, capsys, fresh_process):
    """The README's main job on a small budget: in this process (``run_script``), and as its own
    command line in a fresh process (slow). Seed 1 draws two networks that train and one the
    detector stops (measured)."""
    overrides = [
        f"hydra.run.dir={tmp_path}", "progress=false", "hpo.seed=1",
        "hpo.optimizer=random", "hpo.n_trials=3", "hpo.executor=thread",
        "hpo.bounds.trainer.epochs=[1,2]", "hpo.bounds.model.hidden.width=[8,32]", "hpo.bounds.data.time_steps=[10,12]",
        "hpo.enqueue=[]",
    ]  # fmt: skip
    if fresh_process:
        done = subprocess.run([sys.executable, str(REPO / "experiments" / "hpo.py"), *overrides], cwd=tmp_path,
                              env={**os.environ, "JAX_PLATFORMS": "cpu"}, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        stdout = done.stdout
    else:
        run_script("hpo.py", *overrides, "compilation_cache=null")  # keep the suite's cache (tests/conftest.py)
        stdout = capsys.readouterr().out
    with Study.open(tmp_path / "study.sqlite") as study:
        records = [t.record for t in study.finished()]
        best = best_trial(study)
    statuses = sorted(r.status for r in records)
    assert statuses == ["complete", "complete", "silent_stopped"], [(r.status, r.error) for r in records]
    assert all(r.constraints["silent"] > 0 for r in records if r.status == "silent_stopped")
    assert best is not None and best.record.feasible and best.record.status == "complete"
    assert (tmp_path / "convergence.png").stat().st_size > 0
    assert "silent networks: initial design vs model-guided" in stdout
    assert "the detector stopped 1 silent network and saved" in stdout


@pytest.mark.slow
def test_the_demo_as_shipped_ends_above_090_with_few_silent_model_guided_trials(tmp_path):
    """``make demo`` itself (the ``silent_sg`` preset, 40 trials on 2 process workers; about a minute
    on 2 quiet cores): issue 13's must-show, best >= 0.90 on digits, the per-phase silent table
    printed, and the model-guided trials at most 20 % silent (the README's runs: 0-6 %)."""
    done = subprocess.run([sys.executable, str(REPO / "experiments" / "hpo.py"), f"hydra.run.dir={tmp_path}",
                           "progress=false"], cwd=tmp_path, env={**os.environ, "JAX_PLATFORMS": "cpu"},
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    with Study.open(tmp_path / "study.sqlite") as study:
        best = best_trial(study)
        assert len(study.finished()) == 40
    assert best is not None and best.record.objectives["accuracy"] >= 0.90
    guided = re.search(r"model-guided\s+(\d+)\s+(\d+) \(", done.stdout)
    assert guided is not None, done.stdout[-2000:]
    trials, silent = map(int, guided.groups())
    assert trials >= 20 and silent <= 0.2 * trials


def test_slayer_moo_preset_prints_the_front_and_compares_it_with_its_reference(tmp_path, capsys):
    """Three trials of the initial design (the reference first): MOBO's model is the business of
    test_optimizers and test_pareto, the printed front and comparison are this test's."""
    run_script(
        "hpo.py", "hpo=slayer_moo", f"hydra.run.dir={tmp_path}", "progress=false", "compilation_cache=null",
        "hpo.n_trials=3",
        "hpo.options.n_initial=3", "hpo.executor=thread", "hpo.bounds.slayer.epochs=[1,2]",
        "hpo.bounds.slayer.hidden.width=[16,32]", "hpo.bounds.slayer.time_steps=[5,20]",
        "hpo.reference.params.slayer.hidden.width=16", "hpo.reference.params.slayer.epochs=1",
        "hpo.reference.params.slayer.time_steps=10",
    )  # fmt: skip
    stdout = capsys.readouterr().out
    with Study.open(tmp_path / "study.sqlite") as study:
        assert study.optimizer_name == "mobo" and len(study.finished()) == 3
        assert set(study.objectives) == {"accuracy", "train_time_s", "inference_steps"}
        assert all(t.status != "failed" for t in study.finished()), [t.record.error for t in study.finished()]
        front = {t.id for t in pareto_trials(study)}
    summary = json.loads((tmp_path / "reference.json").read_text())
    assert "Pareto front:" in stdout
    assert ("reference / chosen" if summary["chosen_trial"] else "no front point") in stdout
    assert summary["reference_trial"] == 1  # the reference runs first, as a trial of the study
    assert summary["reference"]["params"]["slayer.epochs"] == 1
    assert summary["reference"]["objectives"]["inference_steps"] == 10
    assert summary["chosen_trial"] is None or summary["chosen_trial"] in front
    assert (tmp_path / "pareto.png").stat().st_size > 0


def test_single_objective_presets_enqueue_the_documented_defaults():
    """What the presets' comments promise: trial 1 is the trainer's documented default network,
    a valid point of the preset's own space."""
    from omegaconf import OmegaConf

    from jaxsnn.train.config import ModelConfig, TrainerConfig
    from jaxsnn.train.run import Run
    from jaxsnn.train.stdp import STDPConfig
    from jaxsnn.tuning.spaces import apply_point, dotted, search_space

    def preset(name: str) -> tuple[Run, dict]:
        spec = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "hpo" / f"{name}.yaml"))
        base = Run.from_dict(spec["run"])
        space = search_space(base.algorithm, spec["exclude"], {k: tuple(v) for k, v in dotted(spec["bounds"]).items()})
        (point,) = [dotted(p) for p in spec["enqueue"]]
        space.validate(point)
        return base, point

    base, stdp_point = preset("silent_stdp")
    assert apply_point(base, stdp_point).stdp == STDPConfig()
    base, sg_point = preset("silent_sg")
    run = apply_point(base, sg_point)
    assert run.model == ModelConfig()
    assert run.trainer == TrainerConfig(epochs=6, xla_optimizations=False)  # the preset's compile setting
    assert run.data.time_steps == 25 and run.data.options == {"max_rate": 0.5}
