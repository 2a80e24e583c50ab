"""Confirm what a multi-objective study picked against its reference, on seeds the study never saw.

    .venv/bin/python experiments/hpo.py hpo=slayer_moo hydra.run.dir=outputs/repro/slayer
    .venv/bin/python benchmarks/moo_reproduction.py outputs/repro/slayer --seeds 1 2 3

``experiments/hpo.py`` with a ``reference`` preset leaves the study, its composed config
(``.hydra/config.yaml``) and ``reference.json`` (the reference record and the front point its rule
chose) in the run directory. The study itself ran on seed 0 with two trials at a time, so its
accuracies carry selection bias and its train times carry the other worker's load. This script
re-trains the reference and the chosen point one after the other, alone, on held-out seeds
(data split + initialisation), and writes ``<name>_confirm.csv`` and ``<name>.png`` to
``--out``; the Markdown it prints goes into ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from omegaconf import OmegaConf

from jaxsnn.evaluate import evaluate
from jaxsnn.experiments.tables import markdown_table
from jaxsnn.hpo.study import Study

FIELDS = ("accuracy", "train_time_s", "inference_steps", "spikes_per_sample")


def confirm(base: dict[str, Any], params: dict[str, Any], seeds: list[int]) -> list[dict[str, Any]]:
    """One row per seed: status and objectives of ``params`` trained on that seed."""
    rows = []
    for seed in seeds:
        record = evaluate({**base, "params": params, "seed": seed, "data_seed": seed})
        rows.append({"seed": seed, "status": record.status, "cost_s": record.cost_s,
                     **{name: record.objectives.get(name, float("nan")) for name in FIELDS}})  # fmt: skip
        print(f"  seed {seed}: {rows[-1]}", flush=True)
    return rows


def mean_std(rows: list[dict[str, Any]], name: str) -> tuple[float, float]:
    values = np.array([row[name] for row in rows], dtype=float)
    return float(np.nanmean(values)), float(np.nanstd(values))


def plot(study: Study, confirmed: dict[str, list[dict[str, Any]]], title: str) -> Figure:
    """Accuracy against training time and against time steps: every trial of the study, its front,
    and the confirmed means (error bars: std over seeds) of the reference and the chosen point."""
    finished = [t.record for t in study.finished() if t.record.informative]
    front = {id(t.record) for t in study.pareto_front()}
    front_records = [t.record for t in study.pareto_front()]
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    for ax, cost in zip(fig.subplots(1, 2), ("train_time_s", "inference_steps")):
        for label, color, marker, chosen in (
            ("silent (stopped)", "tab:red", "v", [r for r in finished if r.status == "silent_stopped"]),
            ("other trials", "lightgrey", "o", [r for r in finished if r.status != "silent_stopped" and id(r) not in front]),
            ("Pareto front (seed 0)", "tab:blue", "o", front_records),
        ):  # fmt: skip
            ax.scatter([r.objectives[cost] for r in chosen], [r.objectives["accuracy"] for r in chosen],
                       s=16, c=color, marker=marker, label=label)  # fmt: skip
        for (name, rows), color in zip(confirmed.items(), ("black", "tab:green")):
            (x, dx), (y, dy) = mean_std(rows, cost), mean_std(rows, "accuracy")
            ax.errorbar([x], [y], xerr=[dx], yerr=[dy], fmt="s", ms=7, color=color, capsize=3,
                        label=f"{name} (held-out seeds)")  # fmt: skip
        ax.set_xlabel(f"{cost} (min)")
        ax.set_ylabel("test accuracy (max)")
        if cost == "train_time_s":
            ax.set_xscale("log")
        ax.legend(fontsize="small")
    fig.suptitle(title)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="an experiments/hpo.py run directory of a reference preset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()

    composed = OmegaConf.to_container(OmegaConf.load(args.run_dir / ".hydra" / "config.yaml"), resolve=False)
    spec = composed["hpo"]
    summary = json.loads((args.run_dir / "reference.json").read_text())
    if summary["chosen"] is None:
        raise SystemExit(f"{args.run_dir}: no front point met the reference rule {summary['rule']}; nothing to confirm")
    base = {"trainer": spec["trainer"], **spec["evaluation"]}
    name = f"moo_{spec['trainer']}"
    configs = {"reference": summary["reference"]["params"], f"chosen (trial {summary['chosen_trial']})": summary["chosen"]["params"]}
    confirmed = {}
    for label, params in configs.items():
        print(f"{label}: {params}", flush=True)
        confirmed[label] = confirm(base, params, args.seeds)

    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / f"{name}_confirm.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["config", "params", "seed", "status", *FIELDS, "cost_s"])
        writer.writeheader()
        for label, rows in confirmed.items():
            for row in rows:
                writer.writerow({"config": label, "params": json.dumps(configs[label]), **row})
    with Study.open(args.run_dir / "study.sqlite") as study:
        counts = study.counts()
        fig = plot(study, confirmed, f"{spec['trainer']}: {sum(counts.values())} trials "
                   f"({counts['silent_stopped']} silent), reference vs chosen on seeds {args.seeds}")  # fmt: skip
        fig.savefig(args.out / f"{name}.png", dpi=120)
        in_study = {"reference": summary["reference"], f"chosen (trial {summary['chosen_trial']})": summary["chosen"]}

    headers = ["configuration", *(f"{n} (seed 0, study)" for n in ("accuracy", "train_time_s")),
               *(f"{n} (seeds {','.join(map(str, args.seeds))})" for n in FIELDS)]  # fmt: skip
    table = []
    for label, rows in confirmed.items():
        seen = in_study[label]["objectives"]
        cells = [f"{m:.3f} ± {s:.3f}" if n == "accuracy" else f"{m:.3g} ± {s:.2g}"
                 for n in FIELDS for m, s in [mean_std(rows, n)]]  # fmt: skip
        table.append([label, round(seen["accuracy"], 3), round(seen["train_time_s"], 3), *cells])
    ratios = {n: mean_std(confirmed["reference"], n)[0] / mean_std(list(confirmed.values())[1], n)[0] for n in FIELDS}
    table.append(["reference / chosen", "-", "-", *(f"{ratios[n]:.2f}x" for n in FIELDS)])
    print(markdown_table(headers, table))
    print(f"wrote {args.out / f'{name}_confirm.csv'} and {args.out / f'{name}.png'}")


if __name__ == "__main__":
    main()
