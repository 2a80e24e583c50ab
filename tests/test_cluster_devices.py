"""Which GPU a trial worker sees (issue 19), on faked device lists: one GPU per worker, small
trials sharing one, a SLURM job's allocation, and a clear notice where there is no GPU at all."""

from __future__ import annotations

import logging
import os
import threading
import time
import types
from pathlib import Path

import pytest

import jaxsnn.hpo.executors
from jaxsnn.hpo import devices
from jaxsnn.hpo.cluster import NOTICE_TOPIC, PinDevices, _Notices, worker_slot
from jaxsnn.hpo.devices import gpu_environment, gpu_of, local_gpu_environments, visible_gpus
from jaxsnn.hpo.executors import ProcessExecutor, WorkerDied


@pytest.fixture(autouse=True)
def restored_environment(monkeypatch):
    """The plugin sets variables of the process it runs in: each test's changes are undone."""
    for name in ("CUDA_VISIBLE_DEVICES", "XLA_PYTHON_CLIENT_PREALLOCATE"):
        monkeypatch.setenv(name, "")  # records the original value (or its absence) for the undo
        monkeypatch.delenv(name)


def test_each_worker_of_a_multi_gpu_node_gets_its_own_gpu():
    assert [gpu_of(slot, ["0", "1", "2", "3"]) for slot in range(4)] == ["0", "1", "2", "3"]


def test_small_trials_share_a_gpu_in_consecutive_slots():
    assert [gpu_of(slot, ["4", "6"], workers_per_gpu=3) for slot in range(6)] == ["4"] * 3 + ["6"] * 3


def test_more_workers_than_gpu_places_share_them_evenly_not_all_on_the_first():
    assert [gpu_of(slot, ["0", "1"]) for slot in range(5)] == ["0", "1", "0", "1", "0"]
    assert [gpu_of(slot, ["0", "1"], workers_per_gpu=2) for slot in range(6)] == ["0", "0", "1", "1", "0", "0"]
    with pytest.raises(ValueError, match="workers_per_gpu must be >= 1"):
        gpu_of(0, ["0"], workers_per_gpu=0)


def test_the_worker_environment_pins_one_device_and_never_preallocates():
    assert gpu_environment(1, ["GPU-a1", "GPU-b2"]) == {"CUDA_VISIBLE_DEVICES": "GPU-b2",
                                                        "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}  # fmt: skip
    assert gpu_environment(3, []) == {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}  # no GPU: CPU, untouched


def test_visible_gpus_take_a_slurm_allocation_and_fall_back_to_nvidia_smi(monkeypatch):
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2, 5"}) == ["2", "5"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []  # set but empty: no GPU, even if nvidia-smi lists some
    monkeypatch.setattr(devices.shutil, "which", lambda name: None)
    assert visible_gpus({}) == []
    monkeypatch.setattr(devices.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(devices.subprocess, "run", lambda *a, **k: types.SimpleNamespace(returncode=0, stdout="0\n1\n"))
    assert visible_gpus({}) == ["0", "1"]


def test_a_worker_knows_its_slot_in_its_job_from_its_dask_name():
    assert [worker_slot(f"SLURMCluster-7-{i}", 3) for i in range(3)] == [0, 1, 2]
    assert worker_slot("SLURMCluster-7", 1) == 0  # a one-process job has no suffix
    assert [worker_slot(i, 2) for i in range(4)] == [0, 1, 0, 1]  # LocalCluster names


class FakeWorker:
    def __init__(self, name: str) -> None:
        self.name, self.events = name, []

    def log_event(self, topic: str, msg: str) -> None:
        self.events.append((topic, msg))


def test_the_plugin_pins_the_worker_to_its_gpu_of_the_job_allocation(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")  # what SLURM sets for a 2-GPU job
    worker = FakeWorker("SLURMCluster-3-3")
    PinDevices(per_job=4, gpus=True, workers_per_gpu=2).setup(worker)
    assert (os.environ["CUDA_VISIBLE_DEVICES"], os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"]) == ("6", "false")
    assert worker.events == []


def test_without_a_gpu_the_worker_runs_on_cpu_and_the_driver_warns_once(monkeypatch, caplog):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    workers = [FakeWorker(f"SLURMCluster-0-{i}") for i in range(2)]
    for worker in workers:
        PinDevices(per_job=2, gpus=True, workers_per_gpu=2).setup(worker)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
    events = [event for worker in workers for event in worker.events]
    assert [topic for topic, _ in events] == [NOTICE_TOPIC] * 2
    notices = _Notices()
    with caplog.at_level(logging.WARNING, logger="jaxsnn.hpo.cluster"):
        for _, message in events:
            notices((0.0, message))
    assert len(caplog.records) == 1  # both workers of the host said the same: one warning
    assert "no GPU visible" in caplog.text and "run on the CPU" in caplog.text


def test_cpu_jobs_do_not_look_for_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    worker = FakeWorker("SLURMCluster-1")
    PinDevices(per_job=1, gpus=False, workers_per_gpu=1).setup(worker)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1" and worker.events == []


def test_local_workers_are_spread_round_robin_over_the_machines_gpus():
    environments = local_gpu_environments(3, {"CUDA_VISIBLE_DEVICES": "0,1"})
    assert [env.get("CUDA_VISIBLE_DEVICES") for env in environments] == ["0", "1", "0"]
    assert local_gpu_environments(2, {"CUDA_VISIBLE_DEVICES": ""}) == [{"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}] * 2


def gpu_once_both_run(rendezvous: str) -> str:
    """Report this worker's GPU once two workers are running this at once (so both slots answer)."""
    Path(rendezvous, str(os.getpid())).touch()
    deadline = time.monotonic() + 120
    while len(os.listdir(rendezvous)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return os.environ["CUDA_VISIBLE_DEVICES"]


def test_each_process_worker_slot_asks_for_its_workers_with_its_own_gpu(monkeypatch):
    """The slot plumbing without processes: every worker a slot starts, also each retry after a
    failed start, gets that slot's GPU (a real process per slot: the slow twin below)."""
    started: list[tuple[str, dict[str, str]]] = []

    class NeverStarts:
        def __init__(self, env: dict[str, str]) -> None:
            started.append((threading.current_thread().name, dict(env)))

        def handshake(self, timeout_s: float) -> str:
            return "not started: a test stand-in"

    monkeypatch.setattr(jaxsnn.hpo.executors, "_Worker", NeverStarts)
    executor = ProcessExecutor(2, slot_env=[{"CUDA_VISIBLE_DEVICES": "3"}, {"CUDA_VISIBLE_DEVICES": "5"}])
    try:
        for future in [executor.submit(os.getpid) for _ in range(4)]:
            with pytest.raises(WorkerDied, match="not started: a test stand-in"):
                future.result(timeout=60)
    finally:
        executor.shutdown()
    assert len(started) == 2 + 4  # each slot once at the start, then once more for each task it took
    own = {"jaxsnn-worker-slot-0": "3", "jaxsnn-worker-slot-1": "5"}
    assert all(env["CUDA_VISIBLE_DEVICES"] == own[slot] for slot, env in started), started
    assert all(env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false" for _, env in started)


@pytest.mark.slow
def test_each_process_worker_slot_starts_its_workers_on_its_own_gpu(tmp_path):
    executor = ProcessExecutor(2, slot_env=[{"CUDA_VISIBLE_DEVICES": "3"}, {"CUDA_VISIBLE_DEVICES": "5"}])
    try:
        futures = [executor.submit(gpu_once_both_run, str(tmp_path)) for _ in range(2)]
        assert sorted(f.result(timeout=300) for f in futures) == ["3", "5"]
    finally:
        executor.shutdown()
