"""One job of a stability sweep: train a small recurrent network, stable or default init.

    python experiments/stability_sweep.py init=default sparsity=false
    python experiments/stability_sweep.py -m launcher=joblib init=stable,default seed=0,1
    python experiments/summarize.py multirun/stability_sweep/<date_time>

``init=stable`` draws ``W_rec`` from conditions I/II and takes the surrogate's ``gamma``/``beta``
from III/IV (``jaxsnn.stability.model``); ``init=default`` uses the model and surrogate
groups as given. The record (with the chosen values in ``params["stability"]``) goes to the job
directory; the test accuracy is returned for Hydra sweepers.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from rich.console import Console

from jaxsnn.cli.launchers import require_launcher_plugins
from jaxsnn.stability.model import stable_model
from jaxsnn.train.schema import register, run_config
from jaxsnn.train.sg import train_sg

register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="stability_sweep")
def main(cfg: DictConfig) -> float:
    run = run_config(cfg)
    trainer = run.trainer
    if not cfg.sparsity:
        trainer = dataclasses.replace(
            trainer, sparsity=dataclasses.replace(trainer.sparsity, weight=0.0)
        )
    data = run.data.load()
    model, info = run.model, {}
    if cfg.init.value == "stable":
        model, info = stable_model(model, data, seed=run.seed, sample_size=cfg.sample_size)
    record = train_sg(model, trainer, data, seed=run.seed, progress=cfg.progress)
    record.params.update(init=cfg.init.value, sparsity=bool(cfg.sparsity), stability=info)
    path = Path(HydraConfig.get().runtime.output_dir) / cfg.record_file
    path.write_text(record.to_json())
    accuracy = record.objectives.get("accuracy", float("nan"))
    Console().print(
        f"init={cfg.init.value} sparsity={cfg.sparsity} seed={run.seed}: {record.status}, "
        f"test accuracy {accuracy:.2%}, surrogate {model.surrogate} -> {path}"
    )
    return accuracy


if __name__ == "__main__":
    require_launcher_plugins(sys.argv[1:])  # before Hydra, whose own error names no install
    main()
