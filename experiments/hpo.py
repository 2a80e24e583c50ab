"""Tune a spiking network with the constrained asynchronous Bayesian optimizer.

    python experiments/hpo.py                          # SG/LIF network on embedded digits
    python experiments/hpo.py hpo=silent_stdp          # Diehl & Cook STDP network
    python experiments/hpo.py hpo=slayer_moo           # SLAYER: accuracy / training time / latency
    python experiments/hpo.py hpo=hybrid_moo           # HYBRID: accuracy / time steps / training time
    python experiments/hpo.py study=<path>/study.sqlite  # resume: no finished trial is redone

The whole ``hpo`` spec is checked before the study file is created or a worker starts (every
problem is listed under its key) and is stored in the study, so ``study=<path>`` alone resumes it
whatever preset and overrides created it; an override that would change it is refused (only
``hpo.n_trials``, ``hpo.n_workers``, ``hpo.batch_trials``, ``hpo.executor``, ``hpo.dask_address`` and ``hpo.cluster``
may differ). On an event dataset
(shd, nmnist, dvs_gesture) the rate-coding parameter ``data.options.max_rate`` is left out of the search.
A run whose every trial failed exits non-zero with the distinct errors.

Every trial ends as an evaluation record in a SQLite study inside the Hydra run directory;
silent networks are stopped early by the detector and kept as constraint data. At the end the
ranked results table (and with several objectives the Pareto front) is printed and convergence /
feasibility (/ Pareto) plots are saved. A preset with a ``reference`` (a documented default, a
full point of the space) runs it as the study's first trial and at the end shows it beside the
front point its rule picks (``jaxsnn.tuning.reference``); the comparison is kept in
``reference.json`` beside the study. Compiled programs are kept in JAX's persistent cache
(``compilation_cache``, default ``outputs/jax_cache``; ``compilation_cache=null`` turns it off).
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from jaxsnn.cli.tables import rich_table
from jaxsnn.compile_cache import use_compilation_cache
from jaxsnn.hpo.executor_registry import make_executor
from jaxsnn.hpo.loop import run_study
from jaxsnn.hpo.report import failure_summary, print_results, save_plots, silent_report
from jaxsnn.hpo.results import best_trial
from jaxsnn.hpo.study import Study
from jaxsnn.tuning.reference import Reference, compare_with_reference, savings_rows, seed_with_reference
from jaxsnn.tuning.study_spec import SpecError, moved_keys, prepare, resume_spec
from jaxsnn.xla_defaults import add_xla_flags


def report_reference(study: Study, rule: Reference, folder: Path, console: Console) -> None:
    """Print the reference trial beside the front point ``rule`` picks; keep both in ``reference.json``."""
    comparison = compare_with_reference(study, rule)
    if comparison is None:
        console.print("the reference trial has not finished: no comparison")
        return
    headers, rows = savings_rows(comparison.reference.record, comparison.chosen and comparison.chosen.record,
                                 list(study.objectives))  # fmt: skip
    chosen = comparison.chosen.id if comparison.chosen else None
    console.print(rich_table(headers, rows, f"reference (trial {comparison.reference.id}) vs the front point of lowest "
                             f"{rule.minimize} within {rule.max_accuracy_drop:g} accuracy (trial {chosen})"))  # fmt: skip
    (folder / "reference.json").write_text(json.dumps(comparison.summary(rule), indent=1, allow_nan=True))


@hydra.main(version_base="1.3", config_path="../conf", config_name="hpo")
def main(cfg: DictConfig) -> float:
    add_xla_flags()  # a study is compile-bound; before JAX's first computation, and workers inherit it
    spec = OmegaConf.to_container(cfg.hpo, resolve=True)
    if Path(cfg.study).exists():  # resuming: the study's own spec, whatever this command composed
        with Study.open(cfg.study) as existing:
            stored, names = existing.config, existing.space.names
        if stored is not None and not any("." in name for name in names):
            raise SpecError(f"{cfg.study} names its parameters as before they were run-config paths "
                            f"({', '.join(names[:4])}, ...; now e.g. trainer.epochs, model.neuron.theta): this "
                            "version cannot resume it. Its trials stay in the file; start a new study= path.")
        moved = moved_keys(stored) if stored is not None else []
        if moved:
            raise SpecError(f"{cfg.study} was created before a trial was a run config plus overrides "
                            f"({'; '.join(moved)}): this version cannot resume it. Its trials stay "
                            "in the file; start a new study= path.")
        if stored is not None:  # None: a study from before specs were stored, resumed as composed
            spec = resume_spec(spec, HydraConfig.get().overrides.task, stored)
    plan = prepare(spec)
    console = Console()
    for note in plan.notes:
        console.print(note)
    use_compilation_cache(cfg.compilation_cache)  # before any worker starts: they inherit it
    study = Study.create(
        cfg.study,
        plan.space,
        spec["objectives"],
        spec["constraints"],
        optimizer=spec["optimizer"],
        seed=spec["seed"],
        options=plan.options,
        exist_ok=True,
        config=spec,
    )
    if plan.reference is not None:
        seed_with_reference(study, plan.reference)
    for point in plan.enqueue:  # known configurations (a documented default) run first
        study.enqueue_new(point)
    executor = make_executor(spec["executor"], spec["n_workers"], spec["dask_address"], spec.get("cluster"))
    try:
        run_study(study, plan.objective, executor, spec["n_trials"], spec["n_workers"],
                  timeout_s=spec["timeout_s"], progress=cfg.progress, batch_trials=spec.get("batch_trials", 1))
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    failures = failure_summary(study)
    if failures is not None:  # nothing measured: exit non-zero; the study file keeps every record
        raise SystemExit(failures)
    print_results(study, console=console)
    plots = save_plots(study, Path(cfg.study).parent)
    optimizer = study.fresh_optimizer()
    if "silent" in study.constraints:
        console.print(silent_report(study, optimizer, plan.enqueue))
    console.print(f"study: {cfg.study}\nplots: {', '.join(str(p) for p in plots)}")
    if plan.reference is not None:
        report_reference(study, plan.reference, Path(cfg.study).parent, console)
    first = next(iter(spec["objectives"]))
    best = best_trial(study, first)
    command = None if best is None else plan.objective.retrain_command(best.record.params)
    if command is not None:
        console.print(f"retrain the best trial (#{best.id}):")
        console.print(command, soft_wrap=True, highlight=False, markup=False)  # one line, pasteable
    return float("nan") if best is None else float(best.record.objectives[first])


if __name__ == "__main__":
    main()
