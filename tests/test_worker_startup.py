"""A process worker that never becomes ready (stopped with SIGSTOP, stuck importing) is killed
after the start-up timeout and its task fails, instead of blocking its slot for good and
outliving the driver (issue 15)."""

from __future__ import annotations

import os
import signal

import pytest

import jaxsnn.hpo.executors
from jaxsnn.hpo.executors import ProcessExecutor, WorkerDied, _Worker, worker_environment


def test_a_worker_stopped_while_starting_is_killed_after_the_timeout():
    worker = _Worker(worker_environment())
    os.kill(worker.proc.pid, signal.SIGSTOP)
    assert worker.handshake(timeout_s=0.5) == "not ready within 0.5 s of starting"
    assert worker.proc.poll() == -signal.SIGKILL  # dead and reaped, not left stopped


def test_its_task_fails_and_the_slot_serves_the_next_one(monkeypatch):
    handshake = _Worker.handshake
    stopped: list[_Worker] = []
    stopping = [True]

    def stop_while_asked(worker: _Worker, timeout_s: float) -> str | None:
        if stopping[0]:
            stopped.append(worker)
            os.kill(worker.proc.pid, signal.SIGSTOP)
        return handshake(worker, timeout_s)

    monkeypatch.setattr(jaxsnn.hpo.executors._Worker, "handshake", stop_while_asked)
    executor = ProcessExecutor(1, startup_timeout_s=0.5)
    try:
        with pytest.raises(WorkerDied, match=r"no worker process could be started \(not ready within 0.5 s"):
            executor.submit(os.getpid).result(timeout=120)
        assert stopped and all(w.proc.poll() == -signal.SIGKILL for w in stopped)
        stopping[0], executor.startup_timeout_s = False, 300.0  # a loaded machine may take a while
        assert executor.submit(os.getpid).result(timeout=300) not in {os.getpid(), *(w.proc.pid for w in stopped)}
    finally:
        executor.shutdown()
