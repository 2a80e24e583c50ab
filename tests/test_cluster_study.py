"""HPO studies on SLURM (issue 19): the job shape from the config, the missing extra, and a study
that survives lost jobs, run on a ``distributed.LocalCluster`` standing in for ``SLURMCluster``
(``slurm_executor`` with the cluster factory swapped, everything else as on SLURM)."""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import dask
import distributed
import pytest
from entry_points import run_script
from hpo_workers import CONSTRAINTS, OBJECTIVES, SPACE, sleepy
from test_fail_early import preset
from test_study_spec import created, runs  # noqa: F401 - runs is a fixture

import jaxsnn.hpo.executor_registry
from jaxsnn.hpo.cluster import INSTALL, MissingExtra, SlurmJobs, require_extra, slurm_cluster, slurm_executor
from jaxsnn.hpo.executors import DaskExecutor, ThreadExecutor
from jaxsnn.hpo.loop import run_study
from jaxsnn.hpo.study import Study
from jaxsnn.record import EvaluationRecord
from jaxsnn.tuning.study_spec import SpecError, prepare, resume_spec


def test_the_job_script_has_the_shape_of_the_config():
    jobs = SlurmJobs.from_spec({"jobs": 3, "cores": 8, "memory": "32GB", "walltime": "02:00:00", "gpus_per_job": 2,
                                "workers_per_gpu": 2, "queue": "gpu", "account": "lab",
                                "job_extra_directives": ["--qos=high"]})  # fmt: skip
    cluster = slurm_cluster(jobs)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in ["#SBATCH -p gpu", "#SBATCH -A lab", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=30G",
                 "#SBATCH -t 02:00:00", "#SBATCH --qos=high", "#SBATCH --gres=gpu:2"]:  # fmt: skip
        assert line in script.splitlines(), (line, script)
    assert "--nworkers 4" in script and "--nthreads 2" in script  # 2 GPUs x 2 workers, 8 cores shared


def test_a_cluster_block_that_cannot_run_is_refused_before_the_study_starts():
    with pytest.raises(ValueError, match=r"cores \(2\) must be at least the 4 worker processes"):
        SlurmJobs.from_spec({"cores": 2, "gpus_per_job": 4})
    spec = {**preset(), "executor": "slurm", "cluster": {"gpus": 1}}
    with pytest.raises(SpecError, match=r"hpo.cluster: .*unexpected keyword argument 'gpus'"):
        prepare(spec)


def test_a_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)  # as if not installed: its import fails
    for attempt in (require_extra, lambda: slurm_cluster(SlurmJobs())):
        with pytest.raises(MissingExtra, match="dask-jobqueue") as info:
            attempt()
        assert INSTALL in str(info.value) and INSTALL == 'pip install "jaxsnn-hpo[cluster]"'
    with pytest.raises(SpecError, match=r"hpo.executor: .*pip install \"jaxsnn-hpo\[cluster\]\""):
        prepare({**preset(), "executor": "slurm"})


def test_a_study_resumes_on_the_cluster_with_the_commands_cluster_block(tmp_path, runs, monkeypatch):  # noqa: F811
    """``hpo.cluster`` is how a driver runs the study, not what it is: a resume may set it, and
    the entry point hands it to the executor."""
    path = tmp_path / "run" / "study.sqlite"
    path.parent.mkdir()
    created(path)  # a study of a thread executor and no cluster block
    made: list[tuple] = []
    monkeypatch.setattr(jaxsnn.hpo.executor_registry, "make_executor", lambda *args: made.append(args) or ThreadExecutor())
    run_script("hpo.py", f"study={path}", "hpo.executor=slurm", "hpo.cluster.gpus_per_job=2", "hpo.cluster.cores=8",
               f"hydra.run.dir={tmp_path}", "progress=false", "compilation_cache=null")  # fmt: skip
    (kind, n_workers, _, cluster), = made
    assert (kind, n_workers, len(runs)) == ("slurm", 2, 1)
    assert cluster == {"gpus_per_job": 2, "cores": 8}  # the parts given; the study had no block: defaults for the rest


def test_a_resume_changes_only_the_parts_of_the_cluster_block_it_names():
    stored = {**preset(), "executor": "slurm", "cluster": {"jobs": 2, "queue": "gpu"}}
    composed = {**preset(), "cluster": {"jobs": 8, "queue": None}}
    spec = resume_spec(composed, ["hpo.cluster.jobs=8"], stored)
    assert (spec["executor"], spec["cluster"]) == ("slurm", {"jobs": 8, "queue": "gpu"})


# --- a study through lost jobs --------------------------------------------------------------------
def logged_sleepy(params: dict, log: str, delay_s: float) -> EvaluationRecord:
    """``sleepy``, noting each start in ``log`` and keeping which worker ran it, on which GPU."""
    with open(log, "a") as f:
        f.write(f"{params['x']!r}\n")
    record = sleepy(params, delay_s)
    where = {"gpu": os.environ.get("CUDA_VISIBLE_DEVICES"), "worker": distributed.get_worker().address}
    return dataclasses.replace(record, metrics={**record.metrics, **where})


def _executing(dask_worker: distributed.Worker) -> int:
    return dask_worker.state.executing_count


def lose_two_jobs(client: distributed.Client, lose: Callable[[str], None], lost: list[str]) -> None:
    """Twice: wait for a trial to run, then lose the job of the worker running it (into ``lost``).

    "Run" is the worker's own view (a task executing), not the scheduler's (a task assigned, which
    may still be unpacking its objective): a job lost before its trial started would have the trial
    sent again (``DaskExecutor``) instead of failing."""
    deadline = time.monotonic() + 120
    while len(lost) < 2 and time.monotonic() < deadline:
        executing = client.run(_executing, on_error="return")  # a worker being replaced answers with its error
        running = [address for address, n in executing.items() if isinstance(n, int) and n and address not in lost]
        if running:
            time.sleep(0.3)  # well inside the trial
            lost.append(running[0])
            lose(running[0])
        time.sleep(0.05)


def study_through_lost_jobs(path: Path, executor: DaskExecutor, lose: Callable[[str], None]
                            ) -> tuple[Study, list[str], list[str]]:  # fmt: skip
    """Six 1.5 s trials on two workers while two jobs are lost: the study, every trial start and
    the workers lost."""
    study = Study.create(path, SPACE, OBJECTIVES, CONSTRAINTS, optimizer="random", seed=0)
    log = path.with_suffix(".log")
    lost: list[str] = []
    killer = threading.Thread(target=lose_two_jobs, args=(executor.client, lose, lost), daemon=True)
    killer.start()
    objective = functools.partial(logged_sleepy, log=str(log), delay_s=1.5)
    try:
        run_study(study, objective, executor, n_trials=6, n_workers=2, progress=False)
    finally:
        killer.join(timeout=60)
        executor.shutdown()
    assert len(lost) == 2
    return study, log.read_text().split(), lost


def check_every_trial_finished_once(study: Study, starts: list[str]) -> None:
    """Six trials stored, none left running or waiting; the two whose job was lost failed (and
    the study asked for others in their place), none was silently run a second time."""
    trials = study.finished()
    assert len(trials) == 6 and not study.running() and not study.pending()
    failed = [t for t in trials if t.status == "failed"]
    assert len(failed) == 2 and all("KilledWorker" in t.record.error for t in failed), [t.record.error for t in failed]
    assert all(t.status in ("complete", "silent_stopped") for t in trials if t not in failed)
    ran = set(starts)
    assert len(starts) == len(ran), "a trial ran twice"
    # every completed trial ran (once), and nothing ran that the study does not hold
    assert {repr(t.params["x"]) for t in trials if t not in failed} <= ran <= {repr(t.params["x"]) for t in trials}


def test_a_study_survives_two_lost_jobs_and_runs_on_cpu_where_no_gpu_is(tmp_path, monkeypatch, caplog):
    """Two one-GPU jobs of one worker, as threads on this GPU-less machine: losing a job is closing
    its worker for good, and ``adapt`` starts another for the trials still to come; the trials run
    on the CPU, and the driver says so."""
    for name in ("CUDA_VISIBLE_DEVICES", "XLA_PYTHON_CLIENT_PREALLOCATE"):  # in-process workers set them
        monkeypatch.setenv(name, "")  # undone after the test; no GPU visible

    def threads(jobs: SlurmJobs) -> distributed.LocalCluster:
        return distributed.LocalCluster(n_workers=0, threads_per_worker=1, processes=False, dashboard_address=None)

    executor = slurm_executor(SlurmJobs(jobs=2, cores=1, gpus_per_job=1), factory=threads)
    cluster = executor.client.cluster

    def close_job(address: str) -> None:
        cluster.sync(next(w for w in cluster.workers.values() if w.address == address).close)

    with dask.config.set({"distributed.deploy.lost-worker-timeout": "100ms"}):  # replace a lost job at once
        study, starts, lost = study_through_lost_jobs(tmp_path / "s.db", executor, close_job)
    check_every_trial_finished_once(study, starts)
    ran_on = {t.record.metrics["worker"] for t in study.finished() if t.status != "failed"}
    assert len(ran_on | set(lost)) >= 3, (ran_on, lost)  # never more than 2 at once: lost jobs were replaced
    notices = [r.getMessage() for r in caplog.records if r.name == "jaxsnn.hpo.cluster"]
    assert notices == [f"jaxsnn: no GPU visible on {socket.gethostname()}: its trials run on the CPU"]


@pytest.mark.slow
def test_a_study_on_two_faked_gpus_survives_two_killed_workers(tmp_path):
    """One job of two GPUs ("3" and "5", as SLURM would list them) and a worker process on each:
    every trial ran on its worker's own GPU, also after each worker was SIGKILLed and restarted."""

    def job_with_two_gpus(jobs: SlurmJobs) -> distributed.LocalCluster:
        return distributed.LocalCluster(n_workers=0, threads_per_worker=1, processes=True, dashboard_address=None,
                                         env={"CUDA_VISIBLE_DEVICES": "3,5"})  # fmt: skip

    executor = slurm_executor(SlurmJobs(jobs=1, cores=2, gpus_per_job=2), factory=job_with_two_gpus)
    client = executor.client

    def kill_worker(address: str) -> None:
        os.kill(client.run(os.getpid, workers=[address])[address], signal.SIGKILL)

    study, starts, _ = study_through_lost_jobs(tmp_path / "s.db", executor, kill_worker)
    check_every_trial_finished_once(study, starts)
    gpus = [t.record.metrics["gpu"] for t in study.finished() if t.status != "failed"]
    assert set(gpus) <= {"3", "5"} and len(gpus) == 4
