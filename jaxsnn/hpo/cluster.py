"""HPO studies on a SLURM cluster: the study's Dask workers start as SLURM jobs.

Why Dask workers in SLURM jobs rather than one SLURM job per trial: the asynchronous loop keeps
the executor it already has (``DaskExecutor``), so asking with pending fantasies, per-trial
timeouts and resuming work exactly as with local workers, and a worker keeps its compiled
programs and data between trials instead of paying a queue wait and a JAX start per trial.
``dask_jobqueue.SLURMCluster`` writes and submits the job scripts; ``adapt`` keeps between one
job and ``jobs`` of them, as many as the study has trials in flight.

A job lost at its walltime (or preempted) takes its workers with it. The scheduler is told to
fail the trial that ran there at once (``allowed-failures`` 0) instead of silently running it a
second time; the loop stores it as a failed trial and asks for the next point.

Devices: every job asks SLURM for ``gpus_per_job`` GPUs and runs ``gpus_per_job *
workers_per_gpu`` worker processes; each worker narrows ``CUDA_VISIBLE_DEVICES`` to its own GPU
(``jaxsnn.hpo.devices``) before JAX starts. A worker that finds no GPU runs its trials on the CPU
and the driver logs a warning saying so.

Needs the ``cluster`` extra (``dask-jobqueue``); without it ``MissingExtra`` names the install.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import dask
import distributed
from distributed.diagnostics.plugin import WorkerPlugin

from jaxsnn.cli.launchers import CLUSTER_INSTALL as INSTALL
from jaxsnn.hpo.devices import gpu_environment, visible_gpus
from jaxsnn.hpo.executors import DaskExecutor

if TYPE_CHECKING:
    from distributed.deploy import Cluster

NOTICE_TOPIC = "jaxsnn-device-notice"
logger = logging.getLogger(__name__)

SCHEDULING = {
    # A trial whose worker died (job lost, OOM) fails at once and the loop asks anew; dask's
    # default would silently run it again, twice or more, on another worker.
    "distributed.scheduler.allowed-failures": 0,
    # Trials waiting for a worker stay on the scheduler, never queued on a job that may be lost.
    "distributed.scheduler.worker-saturation": 1.0,
    # ``adapt`` sizes the cluster from the work it sees: a trial not yet timed is long work (a
    # job's worth), not dask's 0.5 s guess that would keep every waiting trial on one job.
    "distributed.scheduler.unknown-task-duration": "1h",
}


class MissingExtra(ImportError):
    """The cluster path needs packages of the ``cluster`` extra that are not installed."""


def require_extra() -> None:
    """Fail with the install command when ``dask-jobqueue`` is missing, before anything starts."""
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError as e:
        raise MissingExtra(f"executor 'slurm' needs dask-jobqueue from the cluster extra: {INSTALL}") from e


@dataclasses.dataclass(frozen=True)
class SlurmJobs:
    """The ``hpo.cluster`` block: the shape of the SLURM jobs that host the trial workers."""

    jobs: int = 2
    """Most jobs at once; ``adapt`` runs between one and this many, following the trials in flight."""
    cores: int = 4
    """CPU cores per job, shared by its worker processes."""
    memory: str = "16GB"
    """Memory per job, shared by its worker processes."""
    walltime: str = "01:00:00"
    gpus_per_job: int = 0
    """GPUs per job (``--gres=gpu:N``); 0: CPU jobs."""
    workers_per_gpu: int = 1
    """Workers sharing one GPU: more than 1 where a trial is too small to fill a GPU."""
    workers_per_job: int = 1
    """Worker processes of a CPU job; a GPU job runs ``gpus_per_job * workers_per_gpu``."""
    queue: str | None = None
    """The SLURM partition (``-p``); ``None``: the cluster's default."""
    account: str | None = None
    job_extra_directives: tuple[str, ...] = ()
    """More ``#SBATCH`` lines, e.g. ``["--qos=high", "--constraint=a100"]``."""
    log_directory: str | None = None
    """Where the jobs' stdout / stderr go; ``None``: the working directory."""

    def __post_init__(self) -> None:
        for name in ("jobs", "cores", "workers_per_gpu", "workers_per_job"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not (isinstance(self.gpus_per_job, int) and self.gpus_per_job >= 0):
            raise ValueError(f"gpus_per_job must be a non-negative integer, got {self.gpus_per_job!r}")
        if self.cores < self.processes:
            raise ValueError(f"cores ({self.cores}) must be at least the {self.processes} worker processes of a job")

    @classmethod
    def from_spec(cls, block: Mapping[str, Any] | None) -> SlurmJobs:
        """From the ``hpo.cluster`` config block (``None``: every default); unknown keys are refused."""
        block = dict(block or {})
        if "job_extra_directives" in block:
            block["job_extra_directives"] = tuple(block["job_extra_directives"])
        return cls(**block)

    @property
    def processes(self) -> int:
        """Worker processes per job."""
        return self.gpus_per_job * self.workers_per_gpu if self.gpus_per_job else self.workers_per_job


def slurm_cluster(jobs: SlurmJobs) -> Cluster:
    """A ``dask_jobqueue.SLURMCluster`` whose jobs have the shape of ``jobs`` (none submitted yet)."""
    require_extra()
    from dask_jobqueue import SLURMCluster

    gres = [f"--gres=gpu:{jobs.gpus_per_job}"] if jobs.gpus_per_job else []
    return SLURMCluster(
        cores=jobs.cores,
        memory=jobs.memory,
        processes=jobs.processes,
        walltime=jobs.walltime,
        queue=jobs.queue,
        account=jobs.account,
        job_extra_directives=[*jobs.job_extra_directives, *gres],
        log_directory=jobs.log_directory,
    )


def worker_slot(name: Any, per_job: int) -> int:
    """A worker's index within its job, from its Dask name: ``SLURMCluster-7-2`` is worker 2 of
    job 7 (a job of one process is just ``SLURMCluster-7``), a ``LocalCluster`` names them 0, 1, ..."""
    return int(str(name).rsplit("-", 1)[-1]) % per_job


class PinDevices(WorkerPlugin):
    """On every worker, also one restarted after a crash: its own GPU, GPU memory shared.

    It runs when the worker joins, before the worker's first trial imports and starts JAX.
    """

    name = "jaxsnn-pin-devices"

    def __init__(self, per_job: int, gpus: bool, workers_per_gpu: int) -> None:
        self.per_job, self.gpus, self.workers_per_gpu = per_job, gpus, workers_per_gpu

    def setup(self, worker: distributed.Worker) -> None:
        devices = visible_gpus(os.environ) if self.gpus else []
        os.environ.update(gpu_environment(worker_slot(worker.name, self.per_job), devices, self.workers_per_gpu))
        if self.gpus and not devices:
            worker.log_event(NOTICE_TOPIC, f"no GPU visible on {socket.gethostname()}: its trials run on the CPU")


class _Notices:
    """Driver side: each distinct worker notice once, as a logged warning."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, event: tuple[float, str]) -> None:
        if event[1] not in self.seen:
            self.seen.add(event[1])
            logger.warning("jaxsnn: %s", event[1])


ClusterFactory = Callable[[SlurmJobs], "Cluster"]


def slurm_executor(jobs: SlurmJobs, factory: ClusterFactory = slurm_cluster) -> DaskExecutor:
    """A ``DaskExecutor`` over workers in SLURM jobs shaped by ``jobs``, scaled with the study.

    ``factory`` builds the (unscaled) cluster; tests pass a ``distributed.LocalCluster`` in its
    place and run everything else as on SLURM. The cluster is closed with the executor.
    """
    with dask.config.set(SCHEDULING):
        cluster = factory(jobs)
    client = distributed.Client(cluster)
    client.register_plugin(PinDevices(jobs.processes, jobs.gpus_per_job > 0, jobs.workers_per_gpu))
    client.subscribe_topic(NOTICE_TOPIC, _Notices())
    cluster.adapt(minimum=jobs.processes, maximum=jobs.jobs * jobs.processes)
    return DaskExecutor(client, close_client=True)

