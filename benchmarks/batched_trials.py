"""Batched trials against one trial per task, on a space of traced hyperparameters (issue 17).

The study is the ``silent_sg`` preset's trials (its run: embedded digits, trial programs compiled
without XLA's optimisations; its evaluation: the paper's detector; 2 process workers) on the six
hyperparameters that do not change the network's shape (leak ``model.neuron.alpha``, threshold
``model.neuron.theta``, ``model.weight_scale``, surrogate ``surrogate.gamma``/``surrogate.beta``,
``trainer.lr``; the rest at the run's defaults: 128 hidden LIF neurons, 25 steps, batch 64, 10
epochs), searched by random search at seed 0, so every variant
draws the same points. ``batch_trials`` is 1 (today's path), then 4 and 8: each worker task
trains that many trials as one vmapped population (``jaxsnn.tuning.batch``). Each variant is a
fresh process with fresh workers and an empty compilation cache.

Per variant: trials per minute of study wall time, median charged seconds per trial (a batch's
wall time shared out, ``train.sg._SharedClock``), the silent-stopped trials' share of the
charged seconds, XLA compilations per study, best accuracy.

    .venv/bin/python benchmarks/batched_trials.py                 # 32 trials per variant
    .venv/bin/python benchmarks/batched_trials.py --report-only   # table and plot from the CSV
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from results_io import read_csv, replace_section, write_csv  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
CSV = RESULTS / "batched_trials.csv"
PLOT = RESULTS / "batched_trials.png"
HEADING = "## Batched trials on a space of traced hyperparameters (issue 17)"
BATCHES = (1, 4, 8)
SHAPED = ("model.hidden.width", "model.hidden.depth", "model.recurrent", "model.readout", "model.neuron.reset",
          "surrogate.shape", "surrogate.q", "trainer.batch_size", "trainer.epochs", "data.time_steps",
          "data.options.max_rate")  # fmt: skip
"""Left out of the search (trainer defaults): the parameters that change the compiled program
(``surrogate.q`` only exists under ``surrogate.shape``; ``data.options.max_rate`` changes the data
the members share)."""


NOTES = """\
On this 2-core CPU batched trials do not pay: a study of 4 or 8 trials per task runs fewer trials
per minute than one of 1. The reason is in one process, warm (programs compiled, 4 trials of
this space, 3 rounds each): a population of 4 took 3.2-3.6 s where the 4
trials one after another took 2.7-2.9 s with the preset's unoptimised programs, and 1.5 s against
1.2-1.6 s with XLA's optimisations. One step of one 128-neuron network on a batch of 64 samples
already keeps the cores busy, so 4 members cost 4 times the arithmetic, and what a batch shares
(data, the compiled programs, the network build) is what a warm worker's program cache already
shares between trials of one shape. A member the detector stops is masked, not removed: it stops
paying (its charged seconds end) but the vmapped step still computes it, so a batch's wall time is
its longest member's. Batches should pay where one step leaves the device idle (small networks,
or a GPU); no GPU was available to measure that. `hpo.batch_trials` stays 1 in every preset."""


def run_variant(batch_trials: int, n_trials: int, out: Path, cache: Path) -> None:
    """One study with ``batch_trials`` trials per task, in this process: rows to ``out``."""
    from jaxsnn.compile_cache import use_compilation_cache
    from jaxsnn.hpo.executors import ProcessExecutor
    from jaxsnn.hpo.loop import run_study
    from jaxsnn.hpo.study import Study
    from jaxsnn.tuning.objective import TrialObjective
    from jaxsnn.tuning.spaces import search_space
    from jaxsnn.xla_defaults import add_xla_flags

    add_xla_flags()  # as experiments/hpo.py does
    use_compilation_cache(cache)
    spec = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "hpo" / "silent_sg.yaml"), resolve=True)
    space = search_space(spec["run"]["algorithm"], list(SHAPED))
    objective = TrialObjective({"run": spec["run"], **spec["evaluation"]})
    with tempfile.TemporaryDirectory() as folder:
        study = Study.create(Path(folder) / "study.sqlite", space, spec["objectives"], spec["constraints"],
                             optimizer="random", seed=0)  # fmt: skip
        start = time.perf_counter()
        executor = ProcessExecutor(spec["n_workers"])
        try:
            run_study(study, objective, executor, n_trials, spec["n_workers"], timeout_s=spec["timeout_s"],
                      progress=False, batch_trials=batch_trials)  # fmt: skip
        finally:
            executor.shutdown()
        wall = time.perf_counter() - start
        rows = [{"batch_trials": batch_trials, "trial": t.id, "status": t.record.status,
                 "accuracy": t.record.objectives.get("accuracy", ""), "cost_s": round(t.record.cost_s, 4),
                 "first_batch_s": t.record.metrics.get("first_batch_s"),
                 "compiled": t.record.metrics.get("xla_compiled", 0), "members": t.record.metrics.get("batch_trials", 1),
                 "study_wall_s": round(wall, 2), "params": json.dumps(t.params)}
                for t in study.finished()]  # fmt: skip
        study.close()
    out.write_text(json.dumps(rows))


def launch(batch_trials: int, n_trials: int, work: Path) -> list[dict[str, Any]]:
    """One variant in a child process with an empty compilation cache of its own."""
    out, cache = work / f"batch{batch_trials}.json", work / f"jax_cache_{batch_trials}"
    load = os.getloadavg()[0]
    subprocess.run([sys.executable, __file__, "--variant", str(batch_trials), "--trials", str(n_trials),
                    "--out", str(out), "--cache", str(cache)], check=True, cwd=REPO)  # fmt: skip
    return [{**row, "load": round(load, 2)} for row in json.loads(out.read_text())]


def summarize(rows: list[dict[str, Any]]) -> dict[str, float]:
    cost = np.array([float(r["cost_s"]) for r in rows])
    silent = np.array([r["status"] == "silent_stopped" for r in rows])
    accuracy = [float(r["accuracy"]) for r in rows if r["status"] == "complete" and r["accuracy"] not in ("", None)]
    wall = float(rows[0]["study_wall_s"])
    # every member of a task carries the task's compilations: each counts its share
    compiled = sum(int(r["compiled"] or 0) / int(r["members"]) for r in rows)
    return {
        "trials": len(rows), "study_wall_s": wall, "trials_per_min": 60 * len(rows) / wall,
        "median_cost_s": float(np.median(cost)), "silent_trials": int(silent.sum()),
        "silent_share": float(cost[silent].sum() / cost.sum()), "compiled": round(compiled),
        "best_accuracy": max(accuracy, default=float("nan")), "load": float(rows[0]["load"]),
    }  # fmt: skip


def plot(summaries: dict[int, dict[str, float]], rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    names = [str(b) for b in summaries]
    left.bar(names, [s["trials_per_min"] for s in summaries.values()], color="tab:blue")
    left.set(xlabel="trials per task (batch_trials)", ylabel="trials per minute (2 workers)", title="study throughput")
    for b in summaries:
        cost = np.sort([float(r["cost_s"]) for r in rows if int(r["batch_trials"]) == b])
        right.plot(cost, np.arange(1, len(cost) + 1) / len(cost), label=f"batch_trials={b}")
    right.set(xscale="log", xlabel="charged seconds per trial", ylabel="fraction of trials")
    right.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(PLOT, dpi=120)


def report(rows: list[dict[str, Any]], command: str) -> str:
    summaries = {b: summarize([r for r in rows if int(r["batch_trials"]) == b])
                 for b in BATCHES if any(int(r["batch_trials"]) == b for r in rows)}  # fmt: skip
    plot(summaries, rows)
    one = summaries[1]
    lines = [
        HEADING, "",
        f"`{command}` on {platform.machine()} ({os.cpu_count()} cores), Python {platform.python_version()}; load "
        "average as each variant started: " + ", ".join(f"{b}: {s['load']:.1f}" for b, s in summaries.items()) + ". "
        "The `silent_sg` preset's evaluation on its six traced hyperparameters (alpha, theta, weight_scale, sg_gamma, "
        "sg_beta, lr; the shape at the trainer's defaults: 128 hidden, 25 steps, batch 64, 10 epochs), random search "
        "at seed 0, 2 process workers, each variant a fresh process with an empty compilation cache. Charged "
        "seconds: a batch's wall time shared out between its members (setup evenly, each step among the members "
        "still training).", "",
        "| trials per task | trials | trials/min | vs 1 | median charged s per trial | silent trials "
        "| silent share of charged s | XLA compiled per study | best accuracy |",
        "|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for b, s in summaries.items():
        lines.append(f"| {b} | {s['trials']} | {s['trials_per_min']:.1f} | {s['trials_per_min'] / one['trials_per_min']:.2f}x "
                     f"| {s['median_cost_s']:.2f} | {s['silent_trials']} | {s['silent_share']:.0%} | {s['compiled']} "
                     f"| {s['best_accuracy']:.3f} |")  # fmt: skip
    lines += ["", NOTES, "", f"CSV: `benchmarks/results/{CSV.name}` (one row per trial); plot: "
              f"`benchmarks/results/{PLOT.name}`.", ""]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--variant", type=int, help=argparse.SUPPRESS)  # a child's job
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        run_variant(args.variant, args.trials, args.out, args.cache)
        return
    command = "python benchmarks/batched_trials.py" + (f" --trials {args.trials}" if args.trials != 32 else "")
    if args.report_only:
        rows = read_csv(CSV)
    else:
        with tempfile.TemporaryDirectory() as work:
            rows = [row for b in BATCHES for row in launch(b, args.trials, Path(work))]
        RESULTS.mkdir(exist_ok=True)
        write_csv(CSV, rows)
    block = report(rows, command)
    print(block)
    replace_section(HEADING, block)


if __name__ == "__main__":
    main()
