"""Several drivers on one study (issue 15): each draws from its own random stream, so drivers
started with the same study seed do not propose the same points, and together they finish
exactly ``n_trials`` trials even when one of them is killed."""

from __future__ import annotations

import functools
import signal
import socket
import threading
import time

import pytest
from hpo_workers import CONSTRAINTS, OBJECTIVES, SPACE, sleepy, spawn

from jaxsnn.hpo.executors import ThreadExecutor
from jaxsnn.hpo.loop import run_study
from jaxsnn.hpo.study import Study


@pytest.fixture
def path(tmp_path):
    Study.create(tmp_path / "s.db", SPACE, OBJECTIVES, CONSTRAINTS, optimizer="random", seed=0).close()
    return tmp_path / "s.db"


def test_live_drivers_get_distinct_streams_and_a_lone_driver_the_study_seed(path):
    first, second = Study.open(path), Study.open(path)
    alone = first.fresh_optimizer().ask()
    with first._write() as conn:  # a driver that was killed without leaving: its stream is free again
        conn.execute("INSERT INTO meta VALUES (?, '0')", (f"driver:{socket.gethostname()}:{2**22 + 1}:0.000:1",))
    assert first.join_as_driver() == 0 and first.fresh_optimizer().ask() == alone
    joined: list[int] = []
    thread = threading.Thread(target=lambda: joined.append(second.join_as_driver()))  # another driver thread
    thread.start()
    thread.join()
    assert joined == [1] and second.fresh_optimizer().ask() != alone
    first.leave_as_driver()
    assert first.stream == 0 and first.join_as_driver() == 0  # the lowest free stream
    first.close(), second.close()


def test_two_drivers_with_one_seed_propose_no_point_twice(path):
    def drive() -> None:
        with Study.open(path) as study:
            run_study(study, functools.partial(sleepy, delay_s=0.05), ThreadExecutor(), 12, 2, progress=False)

    threads = [threading.Thread(target=drive) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    with Study.open(path) as study:
        trials = study.trials()
        assert len(study.finished()) == len(trials) == 12
        assert len({tuple(sorted(t.params.items())) for t in trials}) == 12
        assert len({t.worker.rsplit("/", 1)[0] for t in trials}) == 1 and len({t.owner for t in trials}) == 1


@pytest.mark.slow
def test_four_driver_processes_one_killed_finish_exactly_n_trials_without_repeats(path):
    drivers = {d.pid: d for d in (spawn(f"drive({str(path)!r}, 16, 2, 2.0, 'thread')") for _ in range(4))}
    with Study.open(path) as study:
        deadline = time.monotonic() + 180
        while not (owners := {int(t.owner.split(":")[1]) for t in study.running()} & set(drivers)):
            assert time.monotonic() < deadline, "no driver started a trial"
            time.sleep(0.05)
        killed = drivers.pop(min(owners))
        killed.send_signal(signal.SIGKILL)
        assert [d.wait(timeout=240) for d in drivers.values()] == [0, 0, 0]
        trials = study.trials()
        assert len(study.finished()) == len(trials) == 16
        assert killed.wait() == -signal.SIGKILL and any(t.attempts == 2 for t in trials)  # its trial, taken over
        assert len({tuple(sorted(t.params.items())) for t in trials}) == 16
