"""Which GPU a trial worker sees: one GPU per worker, or a few small-trial workers sharing one.

Why a worker must see only its own GPU: JAX places work on the first visible device, so every
worker of a multi-GPU node would otherwise crowd onto GPU 0 while the others idle. The worker's
``CUDA_VISIBLE_DEVICES`` is narrowed to one device *before* JAX starts its backend, and memory
preallocation is off so that workers sharing a GPU (``workers_per_gpu > 1``, for trials too
small to fill one) do not each claim 75 % of it.

The assignment is a pure function of the visible device list, so it is tested on a faked one;
``visible_gpus`` reads the real list (a SLURM job's allocation arrives as ``CUDA_VISIBLE_DEVICES``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence

SHARED_MEMORY = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
"""Environment every worker gets, GPU or not: GPU memory is claimed as needed, not up front."""


def gpu_of(slot: int, devices: Sequence[str], workers_per_gpu: int = 1) -> str | None:
    """The device of worker ``slot`` (0-based, within one node or job): ``workers_per_gpu``
    consecutive slots share a device; ``None`` when ``devices`` is empty (the worker uses the CPU).

    Slots beyond ``len(devices) * workers_per_gpu`` start over at the first device: more workers
    than GPU places share them evenly rather than all landing on GPU 0.
    """
    if workers_per_gpu < 1:
        raise ValueError(f"workers_per_gpu must be >= 1, got {workers_per_gpu}")
    if slot < 0:
        raise ValueError(f"worker slot must be >= 0, got {slot}")
    return devices[(slot // workers_per_gpu) % len(devices)] if devices else None


def gpu_environment(slot: int, devices: Sequence[str], workers_per_gpu: int = 1) -> dict[str, str]:
    """The environment changes for worker ``slot``: its one device (if any) and shared memory."""
    device = gpu_of(slot, devices, workers_per_gpu)
    return SHARED_MEMORY if device is None else {**SHARED_MEMORY, "CUDA_VISIBLE_DEVICES": device}


def local_gpu_environments(n_workers: int, environ: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """Environment changes of ``n_workers`` worker processes on this machine: one GPU each, round
    robin over the visible GPUs (``environ``, default ``os.environ``); none on a machine without."""
    devices = visible_gpus(os.environ if environ is None else environ)
    return [gpu_environment(slot, devices) for slot in range(n_workers)]


def visible_gpus(environ: Mapping[str, str]) -> list[str]:
    """The GPUs this process may use: ``CUDA_VISIBLE_DEVICES`` when set (SLURM sets it to a job's
    allocation; empty means none), else every GPU ``nvidia-smi`` lists, else none."""
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    query = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    return query.stdout.split() if query.returncode == 0 else []
