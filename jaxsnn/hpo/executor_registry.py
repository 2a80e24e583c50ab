"""The executor a study runs on, by the name its spec gives (``hpo.executor``).

Above both :mod:`jaxsnn.hpo.executors` and :mod:`jaxsnn.hpo.cluster` (which builds on the
executors' ``DaskExecutor``), so neither imports back up into the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

from jaxsnn.hpo.cluster import SlurmJobs, slurm_executor
from jaxsnn.hpo.devices import local_gpu_environments
from jaxsnn.hpo.executors import DaskExecutor, ExecutorKind, ProcessExecutor, ThreadExecutor, local_dask_cluster


def make_executor(
    kind: ExecutorKind = "process",
    n_workers: int = 1,
    address: str | None = None,
    cluster: Mapping[str, Any] | None = None,
) -> Executor:
    """The executor for ``run_study``.

    ``process``: ``n_workers`` local worker processes, spread over this machine's GPUs (if any)
    one GPU each, round robin. ``thread``: in-process threads.
    ``dask``: a client of the scheduler at ``address``, or with no address a fresh
    ``LocalCluster`` of ``n_workers`` single-threaded worker processes (closed on shutdown).
    Remote dask workers take their environment from whoever starts them; set
    ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` there when they share a GPU.
    ``slurm``: dask workers in SLURM jobs shaped by ``cluster`` (the ``hpo.cluster`` block, see
    ``jaxsnn.hpo.cluster``); needs the ``cluster`` extra.
    """
    if kind == "process":
        return ProcessExecutor(n_workers, slot_env=local_gpu_environments(n_workers))
    if kind == "thread":
        return ThreadExecutor()
    if kind == "dask":
        import distributed

        if address is not None:
            return DaskExecutor(distributed.Client(address), close_client=True)
        return DaskExecutor(distributed.Client(local_dask_cluster(n_workers)), close_client=True)
    if kind == "slurm":
        return slurm_executor(SlurmJobs.from_spec(cluster))
    raise ValueError(f"unknown executor kind {kind!r}; valid: process, dask, thread, slurm")
