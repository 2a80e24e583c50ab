"""Reproductions of Herranz-Celotti & Rouat's surrogate-gradient studies, one function per study.

Each study trains grids with ``train_multi`` (one compiled, vmapped program per surrogate shape and
trainer setting: seeds x learning rates x gamma/beta/q values share it) and writes a Markdown
table and a PNG figure into ``out``. ``grid`` holds the study's knobs for one size (seeds,
epochs, hidden sizes, value lists; see ``conf/experiment/*.yaml``); the model, surrogate, trainer
and data come from the composed run config, so ``data=shd`` runs the same study on SHD.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display on clusters or in tests
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxsnn.cli.tables import markdown_table  # noqa: E402
from jaxsnn.core import Surrogate  # noqa: E402
from jaxsnn.data import DataSplits  # noqa: E402
from jaxsnn.record import EvaluationRecord  # noqa: E402
from jaxsnn.stability.model import stable_model  # noqa: E402
from jaxsnn.train.config import ModelConfig, RunConfig, TrainerConfig  # noqa: E402
from jaxsnn.train.multi import sweep, train_multi  # noqa: E402
from jaxsnn.train.sg import Member  # noqa: E402

Study = Callable[[RunConfig, DataSplits, Mapping[str, Any], Path, bool], list[Path]]


def accuracy(record: EvaluationRecord) -> float:
    """Test accuracy; NaN for a run that failed (diverged), so means skip it and say so."""
    return record.objectives.get("accuracy", float("nan")) if record.informative else float("nan")


def mean_std(values: Sequence[float]) -> str:
    """``mean +- std`` over seeds in percent, with ``(k failed)`` when some runs diverged."""
    values = np.asarray(values, dtype=float)
    failed = int(np.isnan(values).sum())
    if failed == len(values):
        return "failed"
    text = f"{100 * np.nanmean(values):.1f} +- {100 * np.nanstd(values):.1f}"
    return text + (f" ({failed} failed)" if failed else "")


def _configs(run: RunConfig, grid: Mapping[str, Any]) -> tuple[ModelConfig, TrainerConfig]:
    """The run's model and trainer with the grid's ``hidden`` and ``epochs``."""
    model = dataclasses.replace(run.model, hidden=tuple(grid["hidden"]))
    return model, dataclasses.replace(run.trainer, epochs=grid["epochs"])


def _grid_accuracies(
    model: ModelConfig,
    trainer: TrainerConfig,
    data: DataSplits,
    surrogates: Sequence[Surrogate],
    lrs: Sequence[float | None],
    seeds: Sequence[int],
    progress: bool,
) -> np.ndarray:
    """Test accuracies ``(len(surrogates), len(lrs), len(seeds))`` from one vmapped call."""
    members = sweep(model, seeds=seeds, surrogates=surrogates, lrs=lrs)
    records = train_multi(members, trainer, data, progress=progress)
    return np.array([accuracy(r) for r in records]).reshape(len(surrogates), len(lrs), len(seeds))


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def sg_shape_lr(
    run: RunConfig, data: DataSplits, grid: Mapping[str, Any], out: Path, progress: bool
) -> list[Path]:
    """Every SG shape at equal peak ``gamma`` and area ``gamma/beta`` across learning rates.

    Paper claim: the fast sigmoid is the best shape across learning rates. Shapes are ranked by
    their accuracy averaged over learning rates and seeds.
    """
    model, trainer = _configs(run, grid)
    base, lrs, seeds = run.model.surrogate, list(grid["lrs"]), list(grid["seeds"])
    results = {
        shape: _grid_accuracies(
            model, trainer, data, [dataclasses.replace(base, shape=shape)], lrs, seeds, progress
        )[0]
        for shape in grid["shapes"]
    }
    ranked = sorted(results, key=lambda shape: -np.nanmean(results[shape]))
    headers = ["rank", "shape", *(f"lr {lr:.0e}" for lr in lrs), "mean over lrs"]
    rows = [
        [i + 1, shape, *(mean_std(acc) for acc in results[shape]), mean_std(results[shape].ravel())]
        for i, shape in enumerate(ranked)
    ]
    table = out / "sg_shape_lr.md"
    table.write_text(
        f"Test accuracy (%) on {data.train.name}, mean +- std over seeds {seeds}, "
        f"{trainer.epochs} epochs, gamma={base.gamma}, beta={base.beta}.\n\n"
        + markdown_table(headers, rows)
    )
    fig, ax = plt.subplots(figsize=(6, 4))
    for shape in ranked:
        acc = results[shape]
        ax.errorbar(lrs, np.nanmean(acc, 1), yerr=np.nanstd(acc, 1), label=shape, capsize=2)
    ax.set(xscale="log", xlabel="learning rate", ylabel="test accuracy", title="SG shape x LR")
    ax.legend(fontsize=7)
    return [table, _save(fig, out / "sg_shape_lr.png")]


def gamma_beta_q(
    run: RunConfig, data: DataSplits, grid: Mapping[str, Any], out: Path, progress: bool
) -> list[Path]:
    """Dampening ``gamma`` and sharpness ``beta`` (the run's shape), tail ``q`` (q-PseudoSpike).

    Paper claims (SHD): accuracy holds for ``gamma <= 1`` and collapses at 1.5; ``beta >= 1`` is
    good; the best tail is ``q ~ 1.6``.
    """
    model, trainer = _configs(run, grid)
    base, seeds = run.model.surrogate, list(grid["seeds"])
    q_base = dataclasses.replace(base, shape="q_pseudo_spike")
    sweeps = {
        "gamma": (base, grid["gammas"]),
        "beta": (base, grid["betas"]),
        "q": (q_base, grid["qs"]),
    }
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.5))
    sections = []
    for ax, (name, (sg, values)) in zip(axes, sweeps.items()):
        surrogates = [dataclasses.replace(sg, **{name: float(v)}) for v in values]
        acc = _grid_accuracies(model, trainer, data, surrogates, [None], seeds, progress)[:, 0]
        rows = [[f"{v:.4g}", mean_std(a)] for v, a in zip(values, acc)]
        fixed = {k: getattr(sg, k) for k in ("gamma", "beta", "q") if k != name}
        heading = f"### {name} sweep ({sg.shape}, {fixed})\n\n"
        sections.append(heading + markdown_table([name, "accuracy %"], rows))
        ax.errorbar(values, np.nanmean(acc, 1), yerr=np.nanstd(acc, 1), marker="o", capsize=2)
        ax.set(xlabel=name, ylabel="test accuracy", xscale="log" if name == "q" else "linear")
        ax.set_title(f"{name} sweep ({sg.shape})", fontsize=9)
    table = out / "gamma_beta_q.md"
    table.write_text(
        f"Test accuracy (%) on {data.train.name}, mean +- std over seeds {seeds}, "
        f"{trainer.epochs} epochs, lr={trainer.lr}.\n\n" + "\n".join(sections)
    )
    return [table, _save(fig, out / "gamma_beta_q.png")]


def stability_init(
    run: RunConfig, data: DataSplits, grid: Mapping[str, Any], out: Path, progress: bool
) -> list[Path]:
    """Stability-chosen ``W_rec`` and surrogate vs the default init, with and without sparsity.

    The stable members take ``W_rec ~ N(mu_rec, sigma_rec)`` (conditions I/II) and the surrogate's
    ``gamma``/``beta`` (III/IV) per seed; all members of one sparsity setting train in one call.
    """
    model, trainer = _configs(run, grid)
    model, seeds = dataclasses.replace(model, recurrent=True), list(grid["seeds"])
    chosen = [stable_model(model, data, seed=s, sample_size=grid["sample_size"]) for s in seeds]
    members = [Member(m, s) for (m, _), s in zip(chosen, seeds)] + [Member(model, s) for s in seeds]
    runs: dict[tuple[str, bool], list[EvaluationRecord]] = {}
    for sparsity in (True, False):
        weight = trainer.sparsity.weight if sparsity else 0.0
        setting = dataclasses.replace(
            trainer, sparsity=dataclasses.replace(trainer.sparsity, weight=weight)
        )
        records = train_multi(members, setting, data, progress=progress)
        runs["stable", sparsity] = records[: len(seeds)]
        runs["default", sparsity] = records[len(seeds) :]
    infos = [info for _, info in chosen]
    surrogate_of = {
        "stable": f"gamma {np.mean([i['gamma'] for i in infos]):.3g}, "
        f"beta {np.mean([i['beta'] for i in infos]):.3g}",
        "default": f"gamma {model.surrogate.gamma}, beta {model.surrogate.beta}",
    }
    rows = []
    fig, (ax_acc, ax_rate) = plt.subplots(1, 2, figsize=(10, 3.5))
    for (init, sparsity), records in runs.items():
        rates = _padded([_hidden_rates(r) for r in records])
        rows.append(
            [
                init,
                "on" if sparsity else "off",
                surrogate_of[init],
                mean_std([accuracy(r) for r in records]),
                f"{np.nanmean(rates[:, 0]):.3f}",
                f"{np.nanmean(rates[:, -1]):.3f}",
            ]
        )
        label = f"{init}, sparsity {'on' if sparsity else 'off'}"
        curves = _padded([[h["train_accuracy"] for h in _history(r)] for r in records])
        ax_acc.plot(np.nanmean(curves, 0), label=label)
        ax_rate.plot(np.nanmean(rates, 0), label=label)
    ax_acc.set(xlabel="epoch", ylabel="train accuracy")
    ax_rate.set(xlabel="epoch", ylabel="hidden firing rate", yscale="log")
    ax_acc.legend(fontsize=7)
    mu = np.mean([i["mu_rec"] for i in infos])
    sigma = np.mean([i["sigma_rec"] for i in infos])
    table = out / "stability_init.md"
    table.write_text(
        f"Test accuracy (%) on {data.train.name}, recurrent hidden {list(model.hidden)}, mean +- "
        f"std over seeds {seeds}, {trainer.epochs} epochs. Stable init: mu_rec {mu:.3g}, "
        f"sigma_rec {sigma:.3g}; condition IV solved for "
        f"{sum(i['iv_solved'] for i in infos)}/{len(infos)} seeds.\n\n"
        + markdown_table(
            ["init", "sparsity", "surrogate", "accuracy %", "rate epoch 1", "rate last"], rows
        )
    )
    return [table, _save(fig, out / "stability_init.png")]


def _history(record: EvaluationRecord) -> list[dict[str, Any]]:
    return record.metrics.get("history", [])


def _hidden_rates(record: EvaluationRecord) -> list[float]:
    """Mean hidden-layer firing rate per epoch."""
    return [float(np.mean(list(h["rates"].values()))) for h in _history(record)]


def _padded(curves: Sequence[Sequence[float]]) -> np.ndarray:
    """Per-epoch curves as ``(runs, epochs)``, NaN after a run that stopped early (diverged)."""
    length = max(1, *(len(c) for c in curves))
    return np.array([list(c) + [np.nan] * (length - len(c)) for c in curves], dtype=float)


STUDIES: dict[str, Study] = {
    "sg_shape_lr": sg_shape_lr,
    "gamma_beta_q": gamma_beta_q,
    "stability_init": stability_init,
}


def reproduce(
    study: str,
    run: RunConfig,
    grid: Mapping[str, Any],
    out: Path,
    *,
    progress: bool = False,
) -> list[Path]:
    """Run ``study`` with one size's ``grid``; the written table and figure paths."""
    if study not in STUDIES:
        raise ValueError(f"unknown study {study!r}; valid studies: {', '.join(STUDIES)}")
    out.mkdir(parents=True, exist_ok=True)
    return STUDIES[study](run, run.data.load(), grid, out, progress)
