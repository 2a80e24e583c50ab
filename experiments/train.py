"""Train one spiking network with surrogate gradients; print the results and save the record.

    python experiments/train.py                                   # LIF net, embedded digits
    python experiments/train.py surrogate=triangle trainer.epochs=5 data=randman
    python experiments/train.py model=rlif trainer.schedule=cosine

Config groups (``conf/``): model, data, surrogate, trainer. The evaluation record is written as
JSON into the Hydra run directory; the test accuracy is returned for Hydra sweepers.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from jaxsnn.record import EvaluationRecord
from jaxsnn.train.schema import register, run_config
from jaxsnn.train.sg import train_sg

register()  # conf/train.yaml's `train_schema`: typos and wrong types fail while composing


def history_table(record: EvaluationRecord) -> Table:
    """One row per epoch: loss, accuracies, firing rate per layer, spikes, time."""
    history = record.metrics.get("history", [])
    layers = list(history[0]["rates"]) if history else []
    table = Table(title="Training history")
    for column in [
        "epoch",
        "loss",
        "train acc",
        "test acc",
        *(f"rate {n}" for n in layers),
        "spikes",
        "epoch s",
    ]:
        table.add_column(column, justify="right")
    for entry in history:
        test = entry["test_accuracy"]
        table.add_row(
            f"{entry['epoch']}{'*' if entry['partial'] else ''}",
            f"{entry['loss']:.4f}",
            f"{entry['train_accuracy']:.2%}",
            "-" if test is None else f"{test:.2%}",
            *(f"{entry['rates'][n]:.4f}" for n in layers),
            f"{entry['spikes_per_sample']:.1f}",
            f"{entry['epoch_time_s']:.2f}",
        )
    if any(entry["partial"] for entry in history):
        table.caption = "* epoch ended early"
    return table


def summary_table(record: EvaluationRecord, path: Path) -> Table:
    """Status, objectives, constraints, costs and where the record went."""
    table = Table(title="Evaluation record", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    rows = {"status": record.status}
    if record.error:
        rows["error"] = record.error
    rows.update({name: f"{value:.4g}" for name, value in record.objectives.items()})
    rows.update(
        {f"constraint {name}": f"{value:.4g}" for name, value in record.constraints.items()}
    )
    rows["output spikes/sample"] = "-" if record.spikes is None else f"{record.spikes:.1f}"
    rows["epochs run"] = str(record.epochs_run)
    rows["compile time s"] = f"{record.metrics.get('compile_time_s', float('nan')):.2f}"
    rows["total cost s"] = f"{record.cost_s:.2f}"
    rows["record"] = str(path)
    for name, value in rows.items():
        table.add_row(name, value)
    return table


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    run = run_config(cfg)
    record = train_sg(run.model, run.trainer, run.data.load(), seed=run.seed, progress=cfg.progress)
    record.params["data"] = dataclasses.asdict(run.data)
    path = Path(HydraConfig.get().runtime.output_dir) / cfg.record_file
    path.write_text(record.to_json())
    console = Console()
    console.print(history_table(record))
    console.print(summary_table(record, path))
    return record.objectives.get("accuracy", float("nan"))


if __name__ == "__main__":
    main()
