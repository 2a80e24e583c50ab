"""Where trials run: everything behind ``concurrent.futures.Executor``.

Three kinds, one interface (``submit`` -> ``concurrent.futures.Future``):

``ProcessExecutor`` (default)
    ``n_workers`` persistent worker interpreters. Why not ``ProcessPoolExecutor``: it can neither
    stop one running task (a per-trial timeout could only be enforced by killing the whole pool and
    every innocent trial in it) nor survive one crashed worker (``BrokenProcessPool`` fails every
    running future). Here each worker is a separate child with its own pipe, so ``abort(future)``
    SIGKILLs exactly the process running that task and a crash fails exactly the task it was
    running; either way the dead worker is replaced at once and the others run on.

    Workers are fresh interpreters (spawn semantics: nothing forked from a parent that runs JAX
    threads) started with ``subprocess`` so that their environment is exact *before* the
    interpreter starts: ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` (several workers share one GPU)
    and the parent's ``JAX_PLATFORMS`` (and, from ``executor_registry.make_executor``, each worker its own GPU of a
    multi-GPU machine: ``jaxsnn.hpo.devices``). Tasks travel with ``cloudpickle``, so closures and
    functions defined in ``__main__`` work, and the parent's ``sys.path`` is sent along so test
    and script modules import. Workers ignore SIGINT (the driver decides) and exit when their
    parent dies, even mid-task.

``DaskExecutor``
    Adapts a ``distributed.Client`` (a ``LocalCluster`` or a remote scheduler) to
    ``concurrent.futures`` futures. Dask's nannies already replace dead workers; ``abort`` cancels
    the task and has the nanny SIGKILL the worker process running it.
    ``executor_registry.make_executor("slurm")`` starts its workers as SLURM jobs (``jaxsnn.hpo.cluster``).

``ThreadExecutor``
    In-process, one daemon thread per task, for tests and debugging. Threads cannot be killed:
    ``abort`` is not offered, and a timed-out task runs on in the background while the loop moves on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import BrokenExecutor, CancelledError, Executor, Future
from multiprocessing.connection import Connection
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import cloudpickle

if TYPE_CHECKING:
    import distributed

ExecutorKind = Literal["process", "dask", "thread", "slurm"]


def worker_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment of a worker process: ``base`` (default ``os.environ``) with GPU memory shared.

    ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` stops each JAX process from grabbing 75 % of the GPU;
    ``JAX_PLATFORMS`` passes through unchanged so workers use the platform the driver was given.
    """
    env = dict(os.environ if base is None else base)
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    return env


class WorkerDied(BrokenExecutor):
    """The worker process running a task died (crash, ``os._exit``, OOM kill, or ``abort``)."""


@runtime_checkable
class SupportsAbort(Protocol):
    """An executor that can stop one running task without disturbing the others."""

    def abort(self, future: Future) -> bool:
        """Stop the task behind ``future``; ``False`` when it had already finished."""
        ...


class RemoteTraceback(Exception):
    """Carries a worker-side traceback as the ``__cause__`` of a re-raised task exception."""

    def __str__(self) -> str:
        return str(self.args[0])


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


# --- process executor: the worker side ----------------------------------------------------------
_READY = b"ready"
STARTUP_TIMEOUT_S = 600.0
"""How long a worker may take to become ready (start the interpreter, import JAX; a minute on a
loaded machine). Past it the worker is killed and its task fails, instead of a stuck or stopped
worker blocking its slot for good."""
_WORKER_BOOT = """
import os, sys
if sys.platform.startswith("linux"):
    import ctypes, signal
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(sys.argv[3]):  # the driver died before that took effect
        os._exit(1)
from jaxsnn.hpo.executors import _worker_main
_worker_main(*map(int, sys.argv[1:]))
"""
"""A worker's first lines, before it imports anything heavy. On Linux the kernel SIGKILLs it when
the driver's thread that started it (a slot thread, alive as long as the executor) ends, which
also reaches a worker that is stopped (SIGSTOP) and cannot run the parent watch of
:func:`_exit_with_parent`, the fallback elsewhere."""


def _exit_with_parent(parent_pid: int, period_s: float = 0.5) -> None:
    """Exit as soon as the driver is gone, so that killing a driver never leaves training orphans."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(period_s)
        os._exit(1)

    threading.Thread(target=watch, name="jaxsnn-parent-watch", daemon=True).start()


def _worker_main(read_fd: int, write_fd: int, parent_pid: int) -> None:
    """Body of a worker interpreter: run pickled ``(fn, args, kwargs)`` until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(parent_pid)
    rx = Connection(read_fd, writable=False)
    tx = Connection(write_fd, readable=False)
    sys.path[:0] = [p for p in cloudpickle.loads(rx.recv_bytes()) if p not in sys.path]
    tx.send_bytes(_READY)
    while True:
        try:
            payload = rx.recv_bytes()
        except EOFError:
            return
        try:
            fn, args, kwargs = cloudpickle.loads(payload)
            reply: tuple = ("ok", fn(*args, **kwargs))
        except BaseException as e:  # SystemExit from an objective is a task error, not a shutdown
            reply = ("error", e, traceback.format_exc())
        try:
            data = cloudpickle.dumps(reply)
        except Exception as e:
            data = cloudpickle.dumps(("error", None, f"the task's {reply[0]} could not be pickled: {e!r}"))
        tx.send_bytes(data)


def _settle_from_reply(future: Future, data: bytes) -> None:
    """Resolve ``future`` from a worker's pickled reply; the remote traceback becomes ``__cause__``."""
    try:
        reply = cloudpickle.loads(data)
    except Exception as e:  # e.g. an exception class whose constructor pickle cannot replay
        future.set_exception(RuntimeError(f"the worker's reply could not be unpickled: {e!r}"))
        return
    if reply[0] == "ok":
        future.set_result(reply[1])
        return
    _, exc, tb = reply
    exc = exc if isinstance(exc, BaseException) else RuntimeError(tb)
    exc.__cause__ = RemoteTraceback(f'\n"""\n{tb}"""')
    future.set_exception(exc)


# --- process executor: the driver side ----------------------------------------------------------
class _Worker:
    """One worker interpreter and the two pipe ends the driver talks to it through."""

    def __init__(self, env: Mapping[str, str]) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _WORKER_BOOT, str(to_child_r), str(from_child_w), str(os.getpid())],
                env=dict(env),
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.tx = Connection(to_child_w, readable=False)
        self.rx = Connection(from_child_r, writable=False)

    def handshake(self, timeout_s: float) -> str | None:
        """Send the driver's ``sys.path`` and wait up to ``timeout_s`` until the interpreter is
        ready (JAX imported); ``None`` when it is, else why not (it died; or it was not ready in
        time, and is then killed so that it cannot outlive the driver stopped or stuck)."""
        try:
            self.tx.send_bytes(cloudpickle.dumps(list(sys.path)))
            if self.rx.poll(timeout_s) and self.rx.recv_bytes() == _READY:
                return None
        except (EOFError, OSError):
            return _describe_exit(self.close())
        self.kill()
        self.close()
        return f"not ready within {timeout_s:g} s of starting"

    def run(self, payload: bytes) -> bytes:
        """Send one task and block until its pickled reply; ``EOFError``/``OSError`` when the worker died."""
        self.tx.send_bytes(payload)
        return self.rx.recv_bytes()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()

    def close(self, timeout_s: float = 10.0) -> int:
        """Close the pipes (an idle worker exits on EOF), reap the process and return its exit code."""
        for conn in (self.tx, self.rx):
            conn.close()
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


class ProcessExecutor(Executor):
    """``n_workers`` killable worker processes; see the module docstring for why not a stdlib pool.

    Each worker slot is served by one driver thread that hands the slot's process the next queued
    task and waits for its reply. A worker that dies fails only its own task (``WorkerDied``) and
    is replaced immediately, before the slot takes another task.
    """

    def __init__(
        self,
        n_workers: int,
        env: Mapping[str, str] | None = None,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
        slot_env: Sequence[Mapping[str, str]] = (),
    ) -> None:
        """``slot_env[i]``, when given, adds to the environment of slot ``i``'s workers (its GPU,
        see ``jaxsnn.hpo.devices``), also of each replacement after a crash."""
        if n_workers < 1:
            raise ValueError(f"n_workers must be >= 1, got {n_workers}")
        self.n_workers = n_workers
        self.startup_timeout_s = startup_timeout_s
        self._env = worker_environment(env)
        self._slot_env = [dict(slot_env[i]) if i < len(slot_env) else {} for i in range(n_workers)]
        self._queue: SimpleQueue[tuple[Future, bytes] | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._busy: dict[Future, _Worker] = {}
        self._aborted: set[Future] = set()
        self._shutdown = False
        self._slots = [
            threading.Thread(target=self._serve, args=(i,), name=f"jaxsnn-worker-slot-{i}", daemon=True)
            for i in range(n_workers)
        ]
        for t in self._slots:
            t.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        payload = cloudpickle.dumps((fn, args, kwargs))
        future: Future = Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit to a ProcessExecutor after shutdown")
            self._queue.put((future, payload))
        return future

    def abort(self, future: Future) -> bool:
        """SIGKILL the worker running ``future`` (it is then replaced); cancel it if still queued."""
        with self._lock:
            worker = self._busy.get(future)
            if worker is None:
                return future.cancel()
            self._aborted.add(future)
            worker.kill()
            return True

    def _start_worker(self, slot: int) -> tuple[_Worker | None, str]:
        """A started, ready worker for ``slot``, or ``None`` and why not."""
        try:
            worker = _Worker({**self._env, **self._slot_env[slot]})
        except OSError as e:
            return None, str(e)
        failure = worker.handshake(self.startup_timeout_s)
        return (worker, "") if failure is None else (None, failure)

    def _serve(self, slot: int) -> None:
        """One worker slot: take a task only when the slot's worker is ready, so that a task's
        future turns ``running`` when it really starts (the loop's timeout clock starts there)."""
        worker, failure = self._start_worker(slot)
        while (item := self._queue.get()) is not None:
            future, payload = item
            if worker is None or worker.proc.poll() is not None:  # never started, or died while idle
                if worker is not None:
                    worker.close()
                worker, failure = self._start_worker(slot)
            if not future.set_running_or_notify_cancel():
                continue
            if worker is None:
                future.set_exception(WorkerDied(f"no worker process could be started ({failure})"))
            elif not self._run(worker, future, payload):
                # Replace it now, so that it is warm before the next task - unless shutting down.
                worker, failure = (None, "executor shut down") if self._shutdown else self._start_worker(slot)
        if worker is not None:
            worker.close()

    def _run(self, worker: _Worker, future: Future, payload: bytes) -> bool:
        """Run one task on ``worker`` and settle its future; ``False`` when the worker died."""
        with self._lock:
            self._busy[future] = worker
        try:
            reply = worker.run(payload)
        except (EOFError, OSError):
            code = worker.close()
            with self._lock:
                del self._busy[future]
                aborted = future in self._aborted
                self._aborted.discard(future)
            why = "aborted by the driver" if aborted else _describe_exit(code)
            future.set_exception(WorkerDied(f"worker process {worker.proc.pid} died running this task ({why})"))
            return False
        with self._lock:
            del self._busy[future]
            self._aborted.discard(future)
        _settle_from_reply(future, reply)
        return True

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking tasks; queued ones run unless ``cancel_futures``. Workers exit when idle.

        With ``wait=False`` running tasks are killed instead of awaited (their futures get
        ``WorkerDied``): the driver only calls that when it is abandoning the study (Ctrl-C).
        """
        with self._lock:
            if not self._shutdown:
                self._shutdown = True
                if cancel_futures:
                    self._drain()
                for _ in self._slots:
                    self._queue.put(None)
            running = list(self._busy)
        if wait:
            for t in self._slots:
                t.join()
        else:
            for future in running:
                self.abort(future)

    def _drain(self) -> None:
        pending = []
        while not self._queue.empty():
            item = self._queue.get()
            if item is not None:
                pending.append(item[0])
        for future in pending:
            future.cancel()


# --- thread executor ----------------------------------------------------------------------------
class ThreadExecutor(Executor):
    """Each task in its own daemon thread: in-process, for tests and debugging.

    One thread per task rather than a fixed pool so that a task the loop gave up on (timeout)
    never blocks a later one; the loop bounds the concurrency.
    """

    def __init__(self) -> None:
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()

        def run() -> None:
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args, **kwargs))
                    except BaseException as e:
                        future.set_exception(e)
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name="jaxsnn-thread-task", daemon=True)
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit to a ThreadExecutor after shutdown")
            self._threads.add(thread)
        thread.start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            threads = list(self._threads)
        if wait:
            for t in threads:
                t.join()


# --- dask executor ------------------------------------------------------------------------------
def _announce_start(topic: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Dask-worker side: tell the driver the task really started, then run it.

    Dask futures have no "started" state, yet a trial's timeout must not count the time it waited
    for a free (or restarting) worker; the event marks the moment the clock starts.
    """
    import distributed

    worker = distributed.get_worker()
    worker.log_event(topic, worker.get_current_task())
    return fn(*args, **kwargs)


def _is_killed_worker(error: BaseException) -> bool:
    import distributed

    return isinstance(error, distributed.scheduler.KilledWorker)


class DaskExecutor(Executor):
    """A ``distributed.Client`` seen through ``concurrent.futures`` futures.

    Tasks are submitted with ``pure=False`` (two trials with equal params are two evaluations).
    A future turns ``running`` when its task starts on a worker, reported through a dask event
    topic of this executor. ``close_client`` closes the client - and the cluster it owns, if
    any - on shutdown.
    """

    MAX_RESENDS = 3
    """How often a task that died with its worker before it started is sent again."""

    def __init__(self, client: "distributed.Client", *, close_client: bool = False) -> None:
        self.client = client
        self._close_client = close_client
        self._tasks: dict[Future, "distributed.Future"] = {}
        self._by_key: dict[Any, Future] = {}
        self._calls: dict[Future, tuple[Callable[..., Any], tuple, dict, int]] = {}
        self._lock = threading.Lock()
        self._topic = f"jaxsnn-task-started-{uuid.uuid4().hex}"
        client.subscribe_topic(self._topic, self._on_started)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        future.add_done_callback(self._cancel_task)
        self._send(future, fn, args, kwargs, resends=0)
        return future

    def _send(self, future: Future, fn: Callable[..., Any], args: tuple, kwargs: dict, resends: int) -> None:
        task = self.client.submit(_announce_start, self._topic, fn, *args, pure=False, **kwargs)
        with self._lock:
            self._tasks[future] = task
            self._by_key[task.key] = future
            self._calls[future] = (fn, args, kwargs, resends)
        task.add_done_callback(lambda t: self._settle(future, t))

    def _cancel_task(self, future: Future) -> None:
        """Done-callback of our future: a cancelled one cancels its dask task. (Other outcomes are
        set under ``_lock``, and this callback then runs inside it: it must not take it again.)"""
        if not future.cancelled():
            return
        with self._lock:
            task = self._tasks.get(future)
        if task is not None:
            task.cancel()

    def _on_started(self, event: tuple[float, Any]) -> None:
        with self._lock:
            future = self._by_key.get(event[1])
            if future is not None and not (future.running() or future.done()):
                future.set_running_or_notify_cancel()

    def _settle(self, future: Future, task: "distributed.Future") -> None:
        """Copy a finished dask future's outcome onto ours (runs in dask's callback thread).

        The status is not read once and trusted: between the done event and this callback a
        finished task can be *lost* (its result sat on a worker that died since) and recomputed.
        ``exception()`` waits that out and returns ``None`` for a task that ends finished, so only
        an actual exception is copied as one; setting ``None`` as the exception would make our
        future's ``result()`` return ``None``.
        """
        try:
            if task.status == "cancelled":
                outcome: tuple[str, Any] = ("exception", CancelledError(f"dask task {task.key} was cancelled"))
            elif (error := task.exception()) is not None:
                outcome = ("exception", error)
            else:
                outcome = ("result", task.result())
        except BaseException as e:  # e.g. the client lost its scheduler while fetching the result
            outcome = ("exception", e)
        with self._lock:
            if self._tasks.get(future) is not task:  # a copy that was sent again (below)
                return
            self._tasks.pop(future, None)
            self._by_key.pop(task.key, None)
            fn, args, kwargs, resends = self._calls.pop(future)
            if future.done():
                return
            never_started = not future.running()
        if outcome[0] == "exception" and never_started and resends < self.MAX_RESENDS and _is_killed_worker(outcome[1]):
            # It died with a worker before it ever ran (sent to a worker whose crash the scheduler
            # had not yet noticed): it cannot be what killed the worker, so it is not failed for it.
            self._send(future, fn, args, kwargs, resends + 1)
            return
        with self._lock:
            if future.done():  # aborted meanwhile
                return
            if outcome[0] == "result":
                future.set_result(outcome[1])
            else:
                future.set_exception(outcome[1])

    def abort(self, future: Future) -> bool:
        """Cancel the task and SIGKILL the worker process running it; its nanny starts a fresh one.

        Dask cannot interrupt a running task, so the worker process goes (the signal is sent by the
        worker's nanny, so this works on remote hosts too). Other tasks on that worker, when it has
        several threads, are rescheduled by dask. A worker without a nanny is left alone: the task
        then runs on and only its result is dropped.
        """
        with self._lock:
            task = self._tasks.get(future)
        if task is None:
            return False
        running_on = [w for w, keys in self.client.processing().items() if task.key in keys]
        # Kill first, cancel after the scheduler dropped the worker: cancelling first marks the
        # worker idle while it still runs, and a waiting trial sent there dies with it.
        for address in running_on:
            try:
                pid = self.client.run(os.getpid, workers=[address])[address]
                self.client.run(os.kill, pid, signal.SIGKILL, workers=[address], nanny=True)
            except Exception as e:  # no nanny, or the worker went away meanwhile
                print(f"jaxsnn: could not stop dask worker {address}: {e!r}", file=sys.stderr)
        self._await_removal(running_on)
        task.cancel()
        with self._lock:
            if not future.done():
                future.set_exception(WorkerDied(f"dask task {task.key} aborted by the driver"))
        return True

    def _await_removal(self, addresses: list[str], limit_s: float = 60.0) -> None:
        """Block until the scheduler has dropped the killed workers.

        Until it notices a death, the scheduler still sees the worker as idle and may hand it
        the next trial, which would then die with it: an innocent trial recorded as failed.
        """
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if not set(addresses) & set(self.client.scheduler_info()["workers"]):
                return
            time.sleep(0.05)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            tasks = list(self._tasks.values())
        if cancel_futures or not wait:
            self.client.cancel(tasks)
        elif tasks:
            import distributed

            distributed.wait(tasks)
        self.client.unsubscribe_topic(self._topic)
        if self._close_client:
            cluster = self.client.cluster
            self.client.close()
            if cluster is not None:
                cluster.close()


def local_dask_cluster(n_workers: int) -> "distributed.LocalCluster":
    """A ``LocalCluster`` shaped for trials: one single-threaded worker process per trial slot.

    ``worker-saturation`` 1.0 keeps tasks that wait for a worker on the scheduler instead of
    queued inside a busy worker, so killing a worker (``abort``) never takes an innocent task with it.
    """
    import dask
    import distributed

    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        return distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            env={"XLA_PYTHON_CLIENT_PREALLOCATE": "false"},
            dashboard_address=None,
        )
