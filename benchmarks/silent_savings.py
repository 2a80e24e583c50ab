"""How much compute the silent-network detector saves on random points of the wide search spaces.

Method: every configuration runs *to the end without* a detector (``silent=None``) while a
recorder (an ``EarlyStopper`` that never stops) keeps each training batch's output spike counts
and the wall time at which the trainer reported them. Replaying a detector on that sequence tells
exactly where it would have stopped: both trainers consult their stoppers after every batch and
the detector is deterministic, so the replayed stop batch is the live stop batch (the live run
would then only build its record: no test pass). One run per configuration thus gives both
"without" (its whole cost) and "with" (the time of the stop batch) and, for a stopped network,
the accuracy it would have reached, which is what a *false stop* is judged on.

Costs are the trial's wall time as ``evaluate`` measures it (data, compilation, training, test).
Compilation is paid by every trial, stopped or not, so the training-only share (wall minus the
trainer's ``compile_time_s``) is reported too.

    python benchmarks/silent_savings.py                    # 120 SG configs (+ STDP if asked)
    python benchmarks/silent_savings.py --stdp-configs 30 --stdp-seeds 0 1 2
    python benchmarks/silent_savings.py --report-only      # tables and plot from the CSVs
    python benchmarks/silent_savings.py --as-study         # SG trials compiled as a study compiles them

``--as-study`` runs the SG trials with the settings of ``experiments/hpo.py`` and the ``silent_sg``
preset (XLA's classic CPU emitters, train steps without XLA's optimisation passes) into CSVs of
their own (``*_study.csv``), so the table holds both: issue 17's question is the silent share of
the wall time a *study* pays, which is mostly setup on this small task. It then runs the same
configurations once more with the SG preset's detector *live* (``*_study_live.csv``): a replay
prices a stopped trial at the time of its stop batch in a full run, which compiled the training
step first, while a live trial judged on its first batch never compiles that step
(``jaxsnn.train.sg``), so only the live run measures what a study pays for its silent networks.

    python benchmarks/silent_savings.py --as-study --live-only   # the live run alone
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402

from jaxsnn.snnbench.tables import SpikeRecorder, replay  # noqa: E402
from jaxsnn.train.silent import PRESETS, SilentNetworkDetector  # noqa: E402
from jaxsnn.tuning.evaluate import evaluate  # noqa: E402
from jaxsnn.tuning.spaces import search_space  # noqa: E402
from jaxsnn.xla_defaults import add_xla_flags  # noqa: E402
from results_io import read_csv, write_csv  # noqa: E402

RESULTS = Path(__file__).parent / "results"
GOOD_ACCURACY = 0.5
"""A stopped network that would have reached this test accuracy (5x chance) is a false stop."""

SG_BOUNDS = {"model.hidden.width": (8, 256), "model.hidden.depth": (1, 2)}
"""Everything else keeps the wide ranges of ``search_space("sg")``; only width/depth are capped
so that 120 runs finish on 2 CPU cores."""
SG_DETECTORS: list[Detector] = [
    ("dvs_slayer", 100, {}),
    ("dvs_slayer", 500, {}),
    ("dvs_slayer", 100, {"window": "interval", "grace": 1500}),
    ("dvs_slayer", 100, {"window": "interval", "grace": 3000}),
    ("mnist_stdp", 100, {}),
]
"""The paper's rule and SG preset first; a grace of 1500 samples is about one epoch of digits."""
STDP_DETECTORS: list[Detector] = [("mnist_stdp", 100, {}), ("mnist_stdp", 500, {})]
STDP_BOUNDS = {"stdp.n_neurons": (10, 200), "stdp.presentation_ms": (50.0, 250.0), "stdp.epochs": (1, 2)}
STUDY_COMPILE = {"trainer": {"xla_optimizations": False}}
"""How the ``silent_sg`` preset's trials compile (its ``run``; with ``add_xla_flags``' emitters): ``--as-study``."""
TIME_BUDGET_S = 300


Detector = tuple[str, int, dict]
"""A replayed detector: paper preset, update interval, departures from the paper's rule."""


def detector_name(preset: str, interval: int, options: dict) -> str:
    return ",".join([f"{preset}@{interval}", *(f"{k}={v}" for k, v in sorted(options.items()))])


def trial(trainer: str, params: dict, seed: int, settings: dict) -> dict:
    """The ``evaluate`` config of ``params``: ``trainer`` on model seed ``seed`` with the run ``settings``
    (part of a train.yaml), within ``TIME_BUDGET_S``."""
    return {"run": {**settings, "algorithm": trainer, "seed": seed}, "params": params, "time_budget_s": TIME_BUDGET_S}


def run_trials(trainer: str, configs: list[dict], detectors: list[Detector], settings: dict, seed: int) -> list[dict]:
    rows = []
    for i, params in enumerate(configs):
        recorder = SpikeRecorder()
        record = evaluate({**trial(trainer, params, seed, settings), "silent": None}, stoppers=[recorder])
        flat = np.concatenate(recorder.counts) if recorder.counts else np.zeros(0)
        row = {
            "trial": i,
            "status": record.status,
            "accuracy": record.objectives.get("accuracy", ""),
            "cost_s": round(record.cost_s, 4),
            "compile_s": round(record.metrics.get("compile_time_s", 0.0), 4) if record.metrics else 0.0,
            "batches": len(recorder.counts),
            "samples": int(flat.size),
            "error": (record.error or "")[:120],
            "params": json.dumps(params),
            "first_batch_s": round(recorder.times[0], 4) if recorder.times else "",
        }
        for preset, interval, options in detectors:
            name = detector_name(preset, interval, options)
            row[f"{name}_silent_fraction"] = round(float(np.mean(flat < PRESETS[preset].k)), 4) if flat.size else ""
            detector = SilentNetworkDetector.preset(preset, interval, **options)
            row.update({f"{name}_{key}": v for key, v in replay(detector, recorder.counts, recorder.times).items()})
        rows.append(row)
        names = [detector_name(*d) for d in detectors[:2]]
        stops = " ".join(f"{n}:" + (f"STOP@{row[f'{n}_stop_samples']}" if row[f"{n}_stopped"] else "run") for n in names)
        print(f"[{trainer} {i + 1}/{len(configs)}] {record.status:8s} acc={row['accuracy']!s:.5} "
              f"cost={record.cost_s:6.2f}s {stops}", flush=True)
    return rows


def run_live(configs: list[dict], settings: dict, seed: int) -> list[dict]:
    """Each SG configuration with the preset's detector deciding live, as a study trial runs."""
    rows = []
    for i, params in enumerate(configs):
        record = evaluate(trial("sg", params, seed, settings))  # the preset's detector
        metrics = record.metrics or {}
        rows.append({"trial": i, "status": record.status, "accuracy": record.objectives.get("accuracy", ""),
                     "cost_s": round(record.cost_s, 4), "compile_s": round(metrics.get("compile_time_s", 0.0), 4),
                     "first_batch_s": round(metrics.get("first_batch_s") or record.cost_s, 4),
                     "samples": metrics.get("samples_seen", ""), "params": json.dumps(params)})  # fmt: skip
        print(f"[sg live {i + 1}/{len(configs)}] {record.status:14s} cost={record.cost_s:6.2f}s", flush=True)
    return rows


def summarize_live(rows: list[dict]) -> dict[str, float]:
    """Wall time with the detector as measured live, and the stopped trials' share of it."""
    cost = np.array([float(r["cost_s"]) for r in rows])
    stopped = np.array([r["status"] == "silent_stopped" for r in rows])
    setup = np.array([float(r["first_batch_s"]) for r in rows])
    return {
        "live": True, "configs": len(rows), "failed": sum(r["status"] == "failed" for r in rows),
        "stopped": int(stopped.sum()), "silent_fraction": float(stopped.mean()), "compute_with_s": float(cost.sum()),
        "silent_share_with": float(cost[stopped].sum() / cost.sum()),
        "after_setup_share_with": float((cost - setup)[stopped].sum() / (cost - setup).sum()),
        "median_stopped_s": float(np.median(cost[stopped])), "median_setup_s": float(np.median(setup)),
    }  # fmt: skip


def summarize(rows: list[dict], name: str) -> dict[str, float]:
    """Silent fraction, compute with and without detector ``name``, silent share, false stops.

    Two accountings: *wall* (everything a trial costs) and *after setup* (wall minus the time to
    the first reported batch: data, build, compilation and that first batch, which every trial
    pays whether it is stopped or not and which no detector can save).
    """
    stopped = [r for r in rows if r[f"{name}_stopped"] == "1"]
    cost = lambda r: float(r["cost_s"])  # noqa: E731
    stop = lambda r: float(r[f"{name}_stop_time_s"])  # noqa: E731
    setup = lambda r: float(r["first_batch_s"] or r["cost_s"])  # noqa: E731
    accuracy = lambda r: float(r["accuracy"]) if r["accuracy"] else 0.0  # noqa: E731
    without = sum(map(cost, rows))
    saved = sum(cost(r) - stop(r) for r in stopped)
    after_without = sum(cost(r) - setup(r) for r in rows)
    after_silent_with = sum(stop(r) - setup(r) for r in stopped)
    false = [r for r in stopped if r["status"] == "complete" and accuracy(r) >= GOOD_ACCURACY]
    return {
        "configs": len(rows),
        "failed": sum(r["status"] == "failed" for r in rows),
        "stopped": len(stopped),
        "silent_fraction": len(stopped) / len(rows),
        "compute_without_s": without,
        "compute_with_s": without - saved,
        "saved_fraction": saved / without,
        "silent_share_without": sum(map(cost, stopped)) / without,
        "silent_share_with": sum(map(stop, stopped)) / (without - saved),
        "after_setup_share_without": sum(cost(r) - setup(r) for r in stopped) / after_without,
        "after_setup_share_with": after_silent_with / (after_without - saved),
        "false_stops": len(false),
        "false_stop_trials": [int(r["trial"]) for r in false],
        "best_stopped_accuracy": max(map(accuracy, stopped), default=float("nan")),
        "best_accuracy": max(map(accuracy, rows), default=float("nan")),
        "mean_stop_samples": float(np.mean([float(r[f"{name}_stop_samples"]) for r in stopped] or [np.nan])),
    }


def plot(rows: list[dict], name: str, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    stopped = np.array([r[f"{name}_stopped"] == "1" for r in rows])
    cost = np.array([float(r["cost_s"]) for r in rows])
    setup = np.array([float(r["first_batch_s"] or r["cost_s"]) for r in rows])
    with_detector = np.array([float(r[f"{name}_stop_time_s"]) if s else c for r, s, c in zip(rows, stopped, cost)])
    bars = {"wall,\nwithout": cost, "wall,\nwith": with_detector,
            "after setup,\nwithout": cost - setup, "after setup,\nwith": with_detector - setup}
    for x, values in enumerate(bars.values()):
        kept, silent = values[~stopped].sum(), values[stopped].sum()
        left.bar(x, kept, color="tab:blue", label="kept" if x == 0 else None)
        left.bar(x, silent, bottom=kept, color="tab:red", label="stopped as silent" if x == 0 else None)
        left.text(x, kept + silent, f"silent {silent / (kept + silent):.1%}", ha="center", va="bottom", fontsize=8)
    left.set_xticks(range(len(bars)), list(bars), fontsize=8)
    left.set_ylabel("summed over all trials (s)")
    left.set_title("compute without / with the detector", fontsize=9)
    left.legend(fontsize=8)
    accuracy = np.array([float(r["accuracy"]) if r["accuracy"] else np.nan for r in rows])
    fraction = np.array([float(r[f"{name}_silent_fraction"]) if r[f"{name}_silent_fraction"] else np.nan for r in rows])
    right.scatter(fraction[~stopped], accuracy[~stopped], c="tab:blue", s=18, label="kept")
    right.scatter(fraction[stopped], accuracy[stopped], c="tab:red", marker="x", s=22,
                  label="stopped (accuracy of the full run)")
    preset = PRESETS[name.split("@")[0]]  # names start with "<preset>@<interval>"
    right.axvline(preset.p, color="gray", ls="--", lw=1)
    right.axhline(GOOD_ACCURACY, color="gray", ls=":", lw=1)
    right.set_xlabel(f"silent fraction over the whole run (fewer than k={preset.k} spikes)")
    right.set_ylabel("test accuracy of the full run")
    right.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def stdp_accuracy(seeds: list[int]) -> list[dict]:
    rows = []
    for seed in seeds:
        record = evaluate({"run": {"algorithm": "stdp", "seed": seed}})
        rows.append({"seed": seed, "status": record.status, "accuracy": record.objectives.get("accuracy"),
                     "train_accuracy": record.objectives.get("train_accuracy"), "cost_s": round(record.cost_s, 2),
                     "spikes_per_test_image": record.spikes})
        print(f"[stdp default seed {seed}] {rows[-1]}", flush=True)
    return rows


def table(summary: dict[str, dict[str, float]]) -> str:
    lines = [
        "| trainer, detector | configs (failed) | stopped as silent | wall without -> with | saved "
        "| silent share of wall, without -> with | same, after setup | false stops (acc >= 0.5) "
        "| best acc. stopped / all |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summary.items():
        if s.get("live"):
            lines.append(
                f"| {name} | {s['configs']} ({s['failed']}) | {s['stopped']} ({s['silent_fraction']:.0%}) "
                f"| - -> {s['compute_with_s']:.0f} s | - | - -> {s['silent_share_with']:.1%} "
                f"| - -> {s['after_setup_share_with']:.1%} | (the replay above) | - |"
            )
            continue
        lines.append(
            f"| {name} | {s['configs']} ({s['failed']}) | {s['stopped']} ({s['silent_fraction']:.0%}) "
            f"| {s['compute_without_s']:.0f} s -> {s['compute_with_s']:.0f} s | {s['saved_fraction']:.0%} "
            f"| {s['silent_share_without']:.1%} -> {s['silent_share_with']:.1%} "
            f"| {s['after_setup_share_without']:.1%} -> {s['after_setup_share_with']:.1%} "
            f"| {s['false_stops']} | {s['best_stopped_accuracy']:.2f} / {s['best_accuracy']:.2f} |"
        )
    return "\n".join(lines)


def random_configs(trainer: str, bounds: dict, n: int, seed: int) -> list[dict]:
    """The ``n`` configurations of a run: uniform draws of the bounded wide space, fixed by ``seed``
    (the live run of ``--as-study`` trains the very configurations its replay ran)."""
    return search_space(trainer, bounds=bounds).sample(np.random.default_rng(seed), n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sg-configs", type=int, default=120)
    parser.add_argument("--stdp-configs", type=int, default=0)
    parser.add_argument("--stdp-seeds", type=int, nargs="*", default=[])
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (and model seed)")
    parser.add_argument("--report-only", action="store_true", help="re-read the CSVs, skip the runs")
    parser.add_argument("--as-study", action="store_true",
                        help="run the SG trials compiled as a study compiles them (CSV *_study.csv), "
                        "then again with the detector live (*_study_live.csv)")
    parser.add_argument("--live-only", action="store_true", help="with --as-study: only the live run")
    args = parser.parse_args()
    if args.as_study:
        add_xla_flags()  # as experiments/hpo.py does, before JAX's first computation
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs = {  # name: (trainer, bounds, detectors replayed (the first one is plotted), configs wanted, run settings)
        "sg": ("sg", SG_BOUNDS, SG_DETECTORS, 0 if args.as_study else args.sg_configs, {}),
        "sg_study": ("sg", SG_BOUNDS, SG_DETECTORS[:1],
                     args.sg_configs if args.as_study and not args.live_only else 0, STUDY_COMPILE),
        "stdp": ("stdp", STDP_BOUNDS, STDP_DETECTORS, args.stdp_configs, {}),
    }
    summary = {}
    for name, (trainer, bounds, detectors, wanted, settings) in runs.items():
        path = RESULTS / f"silent_savings_{name}.csv"
        if not args.report_only and wanted > 0:
            configs = random_configs(trainer, bounds, wanted, args.seed)
            start = time.perf_counter()
            write_csv(path, run_trials(trainer, configs, detectors, settings, args.seed))
            print(f"{name}: {wanted} configs in {time.perf_counter() - start:.0f} s", flush=True)
        if not path.exists():
            continue
        rows = read_csv(path)
        for preset, interval, options in detectors:
            p, extra = PRESETS[preset], "".join(f", {k}={v}" for k, v in sorted(options.items()))
            how = ", compiled as a study" if settings else ""
            label = f"{trainer}, k={p.k} p={p.p} every {interval}{extra}{how}"
            summary[label] = summarize(rows, detector_name(preset, interval, options))
        first = detector_name(*detectors[0])
        plot(rows, first, f"{name}: {len(rows)} random configs of the wide space, detector {first}",
             RESULTS / f"silent_savings_{name}.png")
    live = RESULTS / "silent_savings_sg_study_live.csv"
    if args.as_study and not args.report_only:
        configs = random_configs("sg", SG_BOUNDS, args.sg_configs, args.seed)
        write_csv(live, run_live(configs, STUDY_COMPILE, args.seed))
    if live.exists():
        summary["sg, k=1 p=0.3 every 100, compiled as a study, **detector live**"] = summarize_live(read_csv(live))
    if args.stdp_seeds and not args.report_only:
        write_csv(RESULTS / "silent_savings_stdp_accuracy.csv", stdp_accuracy(args.stdp_seeds))
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.platform()}"
    (RESULTS / "silent_savings_summary.json").write_text(json.dumps({"machine": machine, **summary}, indent=1))
    print(table(summary))


if __name__ == "__main__":
    main()
