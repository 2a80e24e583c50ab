"""Tune a spiking network with the constrained asynchronous Bayesian optimizer.

    python experiments/hpo.py                          # SG/LIF network on embedded digits
    python experiments/hpo.py hpo=silent_stdp          # Diehl & Cook STDP network
    python experiments/hpo.py study=<path>/study.sqlite  # resume: no finished trial is redone

Every trial ends as an evaluation record in a SQLite study inside the Hydra run directory;
silent networks are stopped early by the detector and kept as constraint data. At the end the
ranked results table is printed and convergence / feasibility (/ Pareto) plots are saved.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from jaxsnn.evaluate import TrialObjective
from jaxsnn.hpo.executors import make_executor
from jaxsnn.hpo.loop import run_study
from jaxsnn.hpo.report import print_results, save_plots
from jaxsnn.hpo.study import Study
from jaxsnn.spaces import search_space


def silent_summary(study: Study) -> str:
    """Share of trials, and of compute, that went to silent networks: the paper's headline."""
    records = [t.record for t in study.finished()]
    total = sum(r.cost_s for r in records) or 1.0
    silent = [r for r in records if r.status == "silent_stopped"]
    return (
        f"{len(silent)}/{len(records)} trials silent, "
        f"{sum(r.cost_s for r in silent) / total:.1%} of the compute"
    )


@hydra.main(version_base="1.3", config_path="../conf", config_name="hpo")
def main(cfg: DictConfig) -> float:
    spec = OmegaConf.to_container(cfg.hpo, resolve=True)
    space = search_space(spec["trainer"], **{k: tuple(v) for k, v in spec["bounds"].items()})
    objective = TrialObjective({"trainer": spec["trainer"], **spec["evaluation"]})
    study = Study.create(
        cfg.study,
        space,
        spec["objectives"],
        spec["constraints"],
        optimizer=spec["optimizer"],
        seed=spec["seed"],
        options=spec["options"],
        exist_ok=True,
    )
    executor = make_executor(spec["executor"], spec["n_workers"], spec["dask_address"])
    try:
        run_study(study, objective, executor, spec["n_trials"], spec["n_workers"],
                  timeout_s=spec["timeout_s"], progress=cfg.progress)
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    console = Console()
    print_results(study, console=console)
    plots = save_plots(study, Path(cfg.study).parent)
    console.print(silent_summary(study))
    console.print(f"study: {cfg.study}\nplots: {', '.join(str(p) for p in plots)}")
    best = study.best()
    first = next(iter(spec["objectives"]))
    return float("nan") if best is None else float(best.record.objectives[first])


if __name__ == "__main__":
    main()
