"""Hydra experiments: schema rejection, a joblib multirun and its summary, reproduction presets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from entry_points import run_script
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from jaxsnn.cli.summary import collect
from jaxsnn.train.schema import register, run_config

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "HYDRA_FULL_ERROR": "1"}


def composed(config: str, *overrides: str):
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config, overrides=list(overrides))


PRIMARY = {"train": [], "stability_sweep": [], "reproduce": ["experiment=sg_shape_lr"]}


@pytest.mark.parametrize("config", PRIMARY)
@pytest.mark.parametrize(
    "override",
    ["trainer.epochs=ten", "trainer.lrr=0.1", "model.hidden=wide", "surrogate.gamma=high"],
)
def test_schema_rejects_wrong_types_and_unknown_keys_while_composing(config, override):
    with pytest.raises(ConfigCompositionException, match=override.split("=")[0]):
        composed(config, *PRIMARY[config], override)


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.lr=-0.001", "trainer.lr must be > 0"),
        ("surrogate.shape=sawtooth", "unknown surrogate shape 'sawtooth'"),
        ("model.readout=vote", "unknown model.readout 'vote'"),
    ],
)
def test_schema_value_checks_fail_before_any_compute(override, message):
    with pytest.raises(ValueError, match=message):
        run_config(composed("train", override))


def test_schema_rejects_unknown_init_mode_and_size():
    with pytest.raises(ConfigCompositionException, match="init"):
        composed("stability_sweep", "init=random")
    with pytest.raises(ConfigCompositionException, match="size"):
        composed("reproduce", "experiment=sg_shape_lr", "size=huge")


SWEEP = ["init=stable,default", "trainer.epochs=1", "model.hidden=[16]", "sample_size=64"]


def check_sweep_summary(sweep_dir: Path, summarize) -> None:
    """Both jobs of SWEEP left a complete record, in job order, and ``summarize.py`` tables them."""
    headers, rows = collect(sweep_dir)
    assert len(rows) == 2
    assert [row[headers.index("init")] for row in rows] == ["stable", "default"]
    assert all(row[headers.index("status")] == "complete" for row in rows)
    assert "2 jobs" in summarize(sweep_dir)
    markdown = (sweep_dir / "summary.md").read_text().splitlines()
    assert len(markdown) == 2 + 2  # header, rule, one line per job


def test_multirun_of_the_stability_sweep_is_summarized(tmp_path, capsys):
    """The sweep and its summary in this process (Hydra's basic launcher runs the jobs in turn);
    the joblib launcher's worker processes are exercised by the slow twin below."""
    sweep_dir = tmp_path / "multirun"
    run_script("stability_sweep.py", "-m", *SWEEP, f"hydra.sweep.dir={sweep_dir}")

    def summarize(folder: Path) -> str:
        capsys.readouterr()
        run_script("summarize.py", str(folder))
        return capsys.readouterr().out

    check_sweep_summary(sweep_dir, summarize)


@pytest.mark.slow
def test_joblib_multirun_of_the_stability_sweep_is_summarized(tmp_path):
    sweep_dir = tmp_path / "multirun"
    command = [sys.executable, str(REPO / "experiments" / "stability_sweep.py"), "-m", "hydra/launcher=joblib",
               *SWEEP, f"hydra.sweep.dir={sweep_dir}"]  # fmt: skip
    subprocess.run(command, cwd=tmp_path, env=ENV, check=True, capture_output=True, timeout=240)

    def summarize(folder: Path) -> str:
        return subprocess.run([sys.executable, str(REPO / "experiments" / "summarize.py"), str(folder)], env=ENV,
                              check=True, capture_output=True, text=True, timeout=60).stdout  # fmt: skip

    check_sweep_summary(sweep_dir, summarize)


PRESETS = {
    "stability_init": ["grid.small.seeds=[0]", "grid.small.hidden=[16]", "grid.small.epochs=1"],
    "gamma_beta_q": [
        "grid.small.gammas=[1.0]",
        "grid.small.betas=[1.0]",
        "grid.small.qs=[1.6]",
        "grid.small.hidden=[16]",
        "grid.small.epochs=1",
    ],
    "sg_shape_lr": [
        "grid.small.shapes=[fast_sigmoid,triangular]",
        "grid.small.lrs=[1e-3]",
        "grid.small.hidden=[16]",
        "grid.small.epochs=1",
    ],
}


def run_preset(study: str, out: Path, in_process: bool = False) -> None:
    args = [f"experiment={study}", f"results_dir={out}", f"hydra.run.dir={out / 'hydra'}", *PRESETS[study]]
    if in_process:
        run_script("reproduce.py", *args)
    else:
        command = [sys.executable, str(REPO / "experiments" / "reproduce.py"), *args]
        subprocess.run(command, cwd=out.parent, env=ENV, check=True, capture_output=True, timeout=300)
    table = (out / f"{study}.md").read_text()
    assert table.count("\n|") >= 3  # header, rule and at least one row
    assert (out / f"{study}.png").read_bytes()[:4] == b"\x89PNG"


def test_stability_init_preset_writes_table_and_figure(tmp_path):
    run_preset("stability_init", tmp_path / "results", in_process=True)


@pytest.mark.slow
@pytest.mark.parametrize("study", PRESETS)
def test_preset_writes_table_and_figure(tmp_path, study):
    """Every preset as its own command line (a fresh process), at the small grid."""
    run_preset(study, tmp_path / "results")


@pytest.mark.parametrize("study", PRESETS)
@pytest.mark.parametrize("size", ["small", "full"])
def test_every_preset_and_size_composes_for_shd_too(study, size):
    cfg = composed("reproduce", f"experiment={study}", f"size={size}", "data=shd", "data.root=/x")
    run = run_config(cfg)
    assert (run.data.name, cfg.study) == ("shd", study)
    assert {"seeds", "epochs", "hidden"} <= set(cfg.grid[size])
