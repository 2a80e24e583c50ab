"""Worker utilization of the asynchronous loop against a synchronous batch loop (barrier).

Simulated trials sleep for a lognormal time (median ``--median-s``, log-sd ``--sigma``), as SNN
trainings do with their wildly different lengths (silent networks stop early). Sleeping costs no
CPU, so the driver - store, tell, ask, submit - is what is measured, on real worker processes
(``ProcessExecutor``). Utilization = sum of trial busy time (measured inside the worker)
/ (n_workers x wall time of the run, worker start-up excluded).

Runs, all in one invocation on the same executor:
  async-random   run_study with random search (cheap ask: the loop's own overhead)
  batch-random   batches of n_workers with a barrier (what a synchronous BO loop does)
  async-<gp>     run_study with a GP optimizer (``--gp``, e.g. logei) to include ask() latency,
                 when that optimizer is registered in make_optimizer; its trials are longer
                 (``--gp-median-s``) since a GP ask costs about a second on 2 CPU cores
  async-<gp>-no-ask-ahead   the same without preparing the next point while workers are busy

    python benchmarks/async_utilization.py            # writes benchmarks/results/async_utilization*
"""

from __future__ import annotations

import argparse
import csv
import functools
import os
import platform
import tempfile
import time
from concurrent.futures import wait
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from jaxsnn.hpo.executors import ProcessExecutor
from jaxsnn.hpo.loop import admit, evaluate, run_study
from jaxsnn.hpo.space import FloatParam, Space
from jaxsnn.hpo.study import Study
from jaxsnn.record import EvaluationRecord

RESULTS = Path(__file__).parent / "results"
SPACE = Space([FloatParam("x", 0.0, 1.0), FloatParam("y", 0.0, 1.0)])


def simulated_trial(params: dict, median_s: float, sigma: float) -> EvaluationRecord:
    """Sleep a lognormal time that is a function of the params (same point, same length)."""
    rng = np.random.default_rng(abs(hash((params["x"], params["y"]))))  # float hashes are not salted
    duration = median_s * float(rng.lognormal(0.0, sigma))
    t0 = time.time()
    time.sleep(duration)
    t1 = time.time()
    return EvaluationRecord(
        params=params,
        objectives={"score": -((params["x"] - 0.3) ** 2 + (params["y"] - 0.6) ** 2)},
        constraints={"silent": params["x"] - 0.8},
        status="silent_stopped" if params["x"] > 0.8 else "complete",
        cost_s=t1 - t0,
        metrics={"pid": os.getpid(), "t0": t0, "t1": t1},
    )


class TimedAsks:
    """Wraps an optimizer to time each ask() (the latency a GP adds to every worker turnaround)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.ask_s: list[float] = []

    def ask(self, pending=()):
        t = time.perf_counter()
        try:
            return self.inner.ask(pending)
        finally:
            self.ask_s.append(time.perf_counter() - t)

    def tell(self, record) -> None:
        self.inner.tell(record)


def warm_up_jit(optimizer_name: str, n_trials: int, n_workers: int) -> float:
    """Compile the optimizer's JAX code for every padded data size the runs will meet.

    Otherwise the first GP run in the process pays every compilation and the runs after it
    none, and comparing them would measure the order. Returns the seconds spent.
    """
    from jaxsnn.hpo.registry import make_optimizer

    start = time.perf_counter()
    opt = make_optimizer(optimizer_name, SPACE, {"score": "max"}, ["silent"], seed=1)
    points = SPACE.sample(np.random.default_rng(1), n_trials + 2 * n_workers)
    for n in range(0, n_trials + 1, 2):
        while len(opt.records) < n:
            opt.tell(simulated_trial(points[len(opt.records)], 0.0, 0.0))
        for n_pending in (n_workers - 1, n_workers):
            opt.ask(points[len(points) - n_pending:])
    return time.perf_counter() - start


def run_batched(study: Study, objective, executor, n_trials: int, n_workers: int, optimizer) -> None:
    """The synchronous baseline: ask a batch, evaluate it, wait for the slowest, tell, repeat."""
    told = 0
    while study.n_stored() < n_trials:
        batch: list[tuple[int, dict]] = []
        for _ in range(min(n_workers, n_trials - study.n_stored())):
            params = optimizer.ask([p for _, p in batch])
            batch.append((study.start_trial(params, "batch"), params))
        futures = [executor.submit(evaluate, objective, p) for _, p in batch]
        wait(futures)
        for (trial_id, params), future in zip(batch, futures):
            study.finish_trial(trial_id, admit(future.result(), params, study))
        for trial in study.finished(after_seq=told):
            optimizer.tell(trial.record)
            told = trial.seq


def measure(name: str, mode: str, optimizer_name: str, args, executor, folder: Path) -> tuple[dict, list[dict]]:
    study = Study.create(folder / f"{name}.db", SPACE, {"score": "max"}, ["silent"], optimizer=optimizer_name, seed=0)
    timed = TimedAsks(study.fresh_optimizer())
    study.fresh_optimizer = lambda: timed  # the loop builds its optimizer through this
    objective = functools.partial(simulated_trial, median_s=args.median_s, sigma=args.sigma)
    start = time.time()
    if mode == "batch":
        run_batched(study, objective, executor, args.trials, args.workers, timed)
    else:
        run_study(study, objective, executor, args.trials, args.workers, progress=False,
                  ask_ahead=mode == "async")
    wall = time.time() - start
    records = study.records()
    busy = sum(r.metrics["t1"] - r.metrics["t0"] for r in records)
    pids = sorted({r.metrics["pid"] for r in records})
    trials = [
        {"run": name, "trial": i, "lane": pids.index(r.metrics["pid"]),
         "start_s": r.metrics["t0"] - start, "end_s": r.metrics["t1"] - start}
        for i, r in enumerate(records)
    ]
    gaps = turnaround_gaps(trials)
    summary = {
        "run": name, "workers": args.workers, "trials": len(records), "trial_median_s": args.median_s,
        "wall_s": round(wall, 2),
        "busy_s": round(busy, 2), "utilization": round(busy / (args.workers * wall), 4),
        # Idle time between two trials of one worker only: what the driver costs, ramp-up and
        # the ragged end (last trials finishing at different times) left out.
        "utilization_steady": round(busy / (busy + sum(gaps)), 4),
        "turnaround_ms_median": round(1e3 * float(np.median(gaps)), 1),
        "ask_ms_median": round(1e3 * float(np.median(timed.ask_s)), 2),
        "ask_ms_max": round(1e3 * float(np.max(timed.ask_s)), 2),
        "ask_s_total": round(float(np.sum(timed.ask_s)), 2),
    }
    study.close()
    return summary, trials


def turnaround_gaps(trials: list[dict]) -> list[float]:
    """Idle seconds between consecutive trials on each worker."""
    gaps = []
    for lane in {t["lane"] for t in trials}:
        spans = sorted((t["start_s"], t["end_s"]) for t in trials if t["lane"] == lane)
        gaps += [max(0.0, nxt[0] - cur[1]) for cur, nxt in zip(spans, spans[1:])]
    return gaps


def gantt(trials: list[dict], summaries: list[dict], path: Path, workers: int) -> None:
    runs = [s["run"] for s in summaries]
    fig = Figure(figsize=(10, 1.2 + 1.6 * len(runs)), layout="constrained")
    axes = fig.subplots(len(runs), 1, sharex=True, squeeze=False)[:, 0]
    for ax, summary in zip(axes, summaries):
        rows = [t for t in trials if t["run"] == summary["run"]]
        for lane in range(workers):
            spans = [(t["start_s"], t["end_s"] - t["start_s"]) for t in rows if t["lane"] == lane]
            ax.broken_barh(spans, (lane - 0.4, 0.8), facecolors="tab:blue", edgecolors="white", linewidth=0.3)
        ax.set_ylabel("worker")
        ax.set_title(f"{summary['run']}: utilization {100 * summary['utilization']:.1f} %, wall {summary['wall_s']} s",
                     fontsize="medium", loc="left")
    axes[-1].set_xlabel("time since start of run (s)")
    fig.savefig(path, dpi=110)


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--trials", type=int, default=240)
    parser.add_argument("--median-s", type=float, default=0.5, help="median trial time (1 s scaled down)")
    parser.add_argument("--sigma", type=float, default=0.5, help="log-sd of the trial time")
    parser.add_argument("--gp", default="logei", help="GP optimizer for the ask-latency run ('' to skip)")
    parser.add_argument("--gp-trials", type=int, default=48)
    parser.add_argument("--gp-repeats", type=int, default=2, help="runs of each GP variant, alternating")
    parser.add_argument("--gp-median-s", type=float, default=10.0,
                        help="median trial time of the GP run: a GP ask takes ~0.5-2 s, so 0.5 s trials "
                             "would measure nothing but the ask; real SNN trials take minutes")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from jaxsnn.hpo.registry import make_optimizer

    runs = [("async-random", "async", "random"), ("batch-random", "batch", "random")]
    if args.gp:
        try:
            make_optimizer(args.gp, SPACE, {"score": "max"}, ["silent"])
            # Alternate the order: the shared machine's load drifts during minutes-long runs.
            pair = [(f"async-{args.gp}", "async"), (f"async-{args.gp}-no-ask-ahead", "no-ask-ahead")]
            for r in range(args.gp_repeats):
                runs += [(f"{name}#{r + 1}", mode, args.gp) for name, mode in (pair if r % 2 == 0 else pair[::-1])]
            print(f"compiling {args.gp} for up to {args.gp_trials} records: "
                  f"{warm_up_jit(args.gp, args.gp_trials, args.workers):.0f} s")
        except ValueError as e:
            print(f"skipping the GP run: {e}")

    executor = ProcessExecutor(args.workers)
    # Start-up is not the loop's doing: interpreters importing JAX, then this module (matplotlib)
    # on the first trial. Run one 0.5 s trial on every worker at once before measuring.
    warm_up = functools.partial(simulated_trial, median_s=0.5, sigma=0.0)
    wait([executor.submit(evaluate, warm_up, {"x": 0.5, "y": 0.5}) for _ in range(args.workers)])
    summaries, trials = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, mode, optimizer_name in runs:
            gp = optimizer_name == args.gp
            run_args = argparse.Namespace(**{
                **vars(args),
                "trials": args.gp_trials if gp else args.trials,
                "median_s": args.gp_median_s if gp else args.median_s,
            })
            summary, rows = measure(name, mode, optimizer_name, run_args, executor, Path(tmp))
            print(summary)
            summaries.append(summary)
            trials += rows
    executor.shutdown()

    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "async_utilization.csv", summaries)
    write_csv(args.out / "async_utilization_trials.csv", trials)
    gantt(trials, summaries, args.out / "async_utilization.png", args.workers)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
