"""Hydra sweeps through submitit (issue 19): the SLURM launcher config composes, and the same
sweep runs through ``submitit_local`` - submitit's own machinery (pickled jobs, job folders, one
process per job) on this machine - and is summarised like the joblib one."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from entry_points import run_script
from hydra import compose, initialize_config_dir
from test_experiments import CONF, ENV, REPO, SWEEP, check_sweep_summary

import jaxsnn.cli.launchers
from jaxsnn.cli.launchers import require_launcher_plugins
from jaxsnn.hpo.cluster import SlurmJobs
from jaxsnn.train.schema import register


def composed(config: str, overrides: list[str]):
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config, overrides, return_hydra_config=True)


def launcher_config(name: str):
    return composed("stability_sweep", [f"launcher={name}"]).hydra.launcher


def test_every_launcher_composes_with_its_plugin():
    assert launcher_config("basic")._target_.endswith("BasicLauncher")
    joblib = launcher_config("joblib")
    assert joblib._target_.endswith("JoblibLauncher") and (joblib.n_jobs, joblib.backend) == (2, "loky")
    local = launcher_config("submitit_local")
    assert local._target_.endswith("submitit_launcher.LocalLauncher") and local.cpus_per_task == 1
    slurm = launcher_config("submitit_slurm")
    assert slurm._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (slurm.cpus_per_task, slurm.mem_gb, slurm.timeout_min) == (4, 16, 60)
    assert "export XLA_PYTHON_CLIENT_PREALLOCATE=false" in slurm.setup
    assert slurm.submitit_folder.endswith("/.submitit/%j")


@pytest.mark.slow
def test_submitit_local_multirun_of_the_stability_sweep_is_summarized(tmp_path):
    """Two jobs, each a process that submitit starts from its pickled job; their outputs land in
    the sweep's job folders, and summarize.py tables them as it does the joblib sweep's."""
    sweep_dir = tmp_path / "multirun"
    command = [sys.executable, str(REPO / "experiments" / "stability_sweep.py"), "-m", "launcher=submitit_local",
               *SWEEP, f"hydra.sweep.dir={sweep_dir}"]  # fmt: skip
    subprocess.run(command, cwd=tmp_path, env=ENV, check=True, capture_output=True, timeout=300)
    job_logs = sorted(p.name for p in (sweep_dir / ".submitit").glob("*/*_log.out"))
    assert len(job_logs) == 2, job_logs  # submitit ran two jobs, each with its own log

    def summarize(folder) -> str:
        return subprocess.run([sys.executable, str(REPO / "experiments" / "summarize.py"), str(folder)], env=ENV,
                              check=True, capture_output=True, text=True, timeout=60).stdout  # fmt: skip

    check_sweep_summary(sweep_dir, summarize)


def readme_cluster_commands() -> dict[str, list[str]]:
    """The commands of README's "On a cluster" section: script name -> its overrides (of a sweep,
    its first point)."""
    section = (REPO / "README.md").read_text().split("## On a cluster")[1].split("\n## ")[0]
    block = section.split("```bash")[1].split("```")[0].replace("\\\n", " ").replace("<partition>", "gpu")
    commands = [shlex.split(line) for line in block.splitlines() if line.startswith(".venv/bin/python")]
    return {Path(c[1]).stem: [arg.split(",")[0] for arg in c[2:] if arg != "-m"] for c in commands}


def test_the_readme_cluster_commands_compose_as_documented():
    commands = readme_cluster_commands()
    launcher = composed("stability_sweep", commands["stability_sweep"]).hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher") and (launcher.partition, launcher.gpus_per_node) == ("gpu", 1)
    hpo = composed("hpo", commands["hpo"]).hpo
    jobs = SlurmJobs.from_spec(hpo.cluster)
    assert hpo.executor == "slurm" and (jobs.queue, jobs.gpus_per_job, jobs.walltime) == ("gpu", 1, "04:00:00")
    assert hpo.n_workers == jobs.jobs * jobs.processes  # as the README says to set it


@pytest.mark.parametrize("script", ["stability_sweep.py", "reproduce.py"])
def test_a_missing_launcher_plugin_names_the_install_command(script, monkeypatch):
    """Hydra's own error ("Could not find 'hydra/launcher/submitit_slurm'") names no install."""
    monkeypatch.setattr(jaxsnn.cli.launchers, "_installed", lambda module: False)
    with pytest.raises(SystemExit, match=re.escape('launcher=submitit_slurm needs the Hydra submitit launcher plugin '
                                                   'of the cluster extra: pip install "jaxsnn-hpo[cluster]"')):
        run_script(script, "-m", "launcher=basic,submitit_slurm", "experiment=sg_shape_lr")


def test_the_launcher_check_passes_installed_plugins_and_other_launchers():
    require_launcher_plugins(["-m", "launcher=submitit_local", "trainer.epochs=1"])  # installed with the dev extra
    require_launcher_plugins(["launcher=joblib"])
