"""Train one spiking network; print the results and save the record.

    python experiments/train.py                                   # LIF net, embedded digits
    python experiments/train.py surrogate=triangle trainer.epochs=5 data=randman
    python experiments/train.py model=rlif trainer.schedule=cosine
    python experiments/train.py algorithm=stdp stdp.n_neurons=50  # or slayer, hybrid

Config groups (``conf/``): model, data, surrogate, trainer for the default ``algorithm=sg``
(surrogate gradients); nodes ``stdp``, ``slayer``, ``hybrid`` for the other algorithms. The
command ``experiments/hpo.py`` prints for a study's best trial is such a command. The evaluation
record is written as JSON into the Hydra run directory; the test accuracy is returned for Hydra
sweepers.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from jaxsnn.record import EvaluationRecord
from jaxsnn.train.schema import plain, register
from jaxsnn.tuning.retrain import train

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
    values = plain(cfg)
    record = train(values)
    path = Path(HydraConfig.get().runtime.output_dir) / cfg.record_file
    path.write_text(record.to_json())
    console = Console()
    if values.get("algorithm", "sg") == "sg":
        console.print(history_table(record))
    console.print(summary_table(record, path))
    return record.objectives.get("accuracy", float("nan"))


if __name__ == "__main__":
    main()
