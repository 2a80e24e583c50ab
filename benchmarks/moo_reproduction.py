"""Confirm what a multi-objective study picked against its reference, on seeds the study never saw.

    .venv/bin/python experiments/hpo.py hpo=slayer_moo hydra.run.dir=outputs/repro/slayer
    .venv/bin/python benchmarks/moo_reproduction.py outputs/repro/slayer --seeds 1 2 3

``experiments/hpo.py`` with a ``reference`` preset leaves the study and its composed config
(``.hydra/config.yaml``) in the run directory. The study ran on seed 0 with two trials at a time,
so its accuracies carry selection bias and its train times the other worker's load. This script
re-trains the reference and the front points that qualified against it (the rule's pick first,
then the next cheapest; when none qualified, the most accurate front points) one after the other,
alone, on held-out seeds (data split + initialisation), and writes ``<name>_confirm.csv`` and
``<name>.png`` to ``--out``; the Markdown it prints goes into ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from omegaconf import OmegaConf

from jaxsnn.cli.tables import markdown_table
from jaxsnn.hpo.results import pareto_trials
from jaxsnn.hpo.study import Study
from jaxsnn.train.run import Run
from jaxsnn.tuning.evaluate import evaluate
from jaxsnn.tuning.reference import Reference, compare_with_reference
from jaxsnn.tuning.spaces import dotted
from jaxsnn.tuning.study_spec import moved_keys

FIELDS = ("accuracy", "train_time_s", "inference_steps", "spikes_per_sample")


def confirm(run: Run, evaluation: dict[str, Any], params: dict[str, Any], seeds: list[int]) -> list[dict[str, Any]]:
    """One row per seed: status and objectives of ``params`` set on the study's base ``run`` and
    trained on that seed (data split and initialisation), watched as the study's ``evaluation``."""
    rows = []
    for seed in seeds:
        on_seed = dataclasses.replace(run, seed=seed, data=dataclasses.replace(run.data, seed=seed))
        record = evaluate({"run": on_seed, **evaluation, "params": params})
        rows.append({"seed": seed, "status": record.status, "cost_s": record.cost_s,
                     **{name: record.objectives.get(name, float("nan")) for name in FIELDS}})  # fmt: skip
        print(f"  seed {seed}: {rows[-1]}", flush=True)
    return rows


def mean_std(rows: list[dict[str, Any]], name: str) -> tuple[float, float]:
    values = np.array([row[name] for row in rows], dtype=float)
    return float(np.nanmean(values)), float(np.nanstd(values))


def plot(study: Study, confirmed: dict[str, list[dict[str, Any]]], title: str) -> Figure:
    """Accuracy against training time and against time steps: every trial of the study, its front,
    and the confirmed means (error bars: std over seeds) of the reference and the qualifying points."""
    finished = [t for t in study.finished() if t.record.informative]
    on_front = {t.id for t in pareto_trials(study)}
    groups = (
        ("silent (stopped)", "tab:red", "v", [t.record for t in finished if t.record.status == "silent_stopped"]),
        ("other trials", "lightgrey", "o",
         [t.record for t in finished if t.record.status != "silent_stopped" and t.id not in on_front]),
        ("Pareto front (seed 0)", "tab:blue", "o", [t.record for t in finished if t.id in on_front]),
    )  # fmt: skip
    fig = Figure(figsize=(10, 4.4), layout="constrained")
    colors = ["black", "tab:green", "tab:olive", "tab:cyan", "tab:purple", "tab:brown"]
    for ax, cost in zip(fig.subplots(1, 2), ("train_time_s", "inference_steps")):
        for label, color, marker, records in groups:
            ax.scatter([r.objectives[cost] for r in records], [r.objectives["accuracy"] for r in records],
                       s=16, c=color, marker=marker, label=label)  # fmt: skip
        for (name, rows), color in zip(confirmed.items(), colors):
            (x, dx), (y, dy) = mean_std(rows, cost), mean_std(rows, "accuracy")
            ax.errorbar([x], [y], xerr=[dx], yerr=[dy], fmt="s", ms=6, color=color, capsize=3, label=f"{name}, held-out")
        ax.set_xlabel(f"{cost} (min)")
        ax.set_ylabel("test accuracy (max)")
        ax.set_ylim(max(0.0, min(mean_std(rows, "accuracy")[0] for rows in confirmed.values()) - 0.15), 1.0)
        if cost == "train_time_s":
            ax.set_xscale("log")
        ax.legend(fontsize="x-small", loc="lower right")
    fig.suptitle(title)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="an experiments/hpo.py run directory of a reference preset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--max-points", type=int, default=3,
                        help="front points to confirm: the qualifying ones cheapest first or, when none "
                             "qualified, the most accurate ones")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()

    spec = OmegaConf.to_container(OmegaConf.load(args.run_dir / ".hydra" / "config.yaml"), resolve=False)["hpo"]
    if moved_keys(spec):
        raise SystemExit(f"{args.run_dir} was run before a trial was a run config plus its point "
                         f"({'; '.join(moved_keys(spec))}): confirm it with the code that ran it")
    run = Run.from_dict(spec["run"])
    with Study.open(args.run_dir / "study.sqlite") as study:
        # The preset writes the reference point nested; the study ran it flat, without the
        # parameters the dataset left out of its space (as jaxsnn.tuning.study_spec does).
        names = study.space.names
        point = {k: v for k, v in dotted(spec["reference"].get("params") or {}).items() if k in names}
        rule = Reference.from_dict({**spec["reference"], "params": point}, spec["objectives"])
        comparison = compare_with_reference(study, rule)
        if comparison is None:
            raise SystemExit(f"{args.run_dir}: the reference trial has not finished")
        points = {"reference": comparison.reference}
        for i, trial in enumerate(comparison.eligible[: args.max_points]):
            points[f"trial {trial.id}{' (chosen)' if i == 0 else ''}"] = trial
        if not comparison.eligible:  # a seed-0 screen can miss: see what the held-out seeds say
            others = [t for t in pareto_trials(study) if t.id != comparison.reference.id]
            for trial in sorted(others, key=lambda t: -t.record.objectives["accuracy"])[: args.max_points]:
                points[f"trial {trial.id} (not qualifying)"] = trial
        confirmed = {}
        for label, trial in points.items():
            print(f"{label}: {trial.params}", flush=True)
            confirmed[label] = confirm(run, spec["evaluation"], trial.params, args.seeds)
        counts = study.counts()
        title = (f"{run.algorithm}: {sum(counts.values())} trials ({counts['silent_stopped']} silent); "
                 f"confirmed on seeds {args.seeds}")  # fmt: skip
        fig = plot(study, confirmed, title)

    name = f"moo_{run.algorithm}"
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / f"{name}.png", dpi=120)
    with open(args.out / f"{name}_confirm.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["config", "trial", "params", "seed", "status", *FIELDS, "cost_s"])
        writer.writeheader()
        for label, rows in confirmed.items():
            for row in rows:
                writer.writerow({"config": label, "trial": points[label].id, "params": json.dumps(points[label].params), **row})

    seeds = ",".join(map(str, args.seeds))
    headers = ["configuration", "accuracy (seed 0, study)", *(f"{n} (seeds {seeds})" for n in FIELDS)]
    table = []
    for label, rows in confirmed.items():
        cells = [f"{m:.3f} ± {sd:.3f}" if n == "accuracy" else f"{m:.3g} ± {sd:.2g}"
                 for n in FIELDS for m, sd in [mean_std(rows, n)]]  # fmt: skip
        table.append([label, round(points[label].record.objectives["accuracy"], 3), *cells])
    first_label, first = list(confirmed.items())[1]
    ratios = [mean_std(confirmed["reference"], n)[0] / mean_std(first, n)[0] for n in FIELDS]
    table.append([f"reference / {first_label}", "-", *(f"{r:.2f}x" for r in ratios)])
    print(markdown_table(headers, table))
    print(f"wrote {args.out / f'{name}_confirm.csv'} and {args.out / f'{name}.png'}")


if __name__ == "__main__":
    main()
