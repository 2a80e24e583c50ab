"""What a finished (or running) study looks like: a ranked rich table and matplotlib plots.

Plots use ``matplotlib.figure.Figure`` directly (no pyplot), so they render headless and never
touch the user's interactive backend. Silent networks are drawn in red everywhere: they are the
constraint violations the method is about, not noise to hide.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table

from jaxsnn.hpo.acquisition import violation
from jaxsnn.hpo.optimizers import DEFAULT_N_INITIAL, point_key
from jaxsnn.hpo.results import pareto_trials
from jaxsnn.hpo.spec import improves, signed
from jaxsnn.hpo.study import Study, Trial

SILENT = "tab:red"
FEASIBLE = "tab:blue"
INFEASIBLE = "tab:orange"


def ranked(study: Study) -> list[Trial]:
    """Finished trials best first: feasible by the first objective, then infeasible by total
    violation (positive parts only), then failed/pruned ones."""
    first, direction = next(iter(study.objectives.items()))

    def key(t: Trial) -> tuple[int, float]:
        r = t.record
        if r.feasible:
            return 0, -signed(direction, r.objectives[first])
        if r.informative:
            return 1, float(violation(list(r.constraints.values())))
        return 2, float(t.id)

    return sorted(study.finished(), key=key)


def failure_summary(study: Study) -> str | None:
    """When the study has finished trials and every one failed: its distinct errors, most
    frequent first, so a run that measured nothing says why instead of ending quietly; else
    ``None``."""
    finished = study.finished()
    if not finished or any(t.status != "failed" for t in finished):
        return None
    errors = Counter((t.record.error or "unknown failure").splitlines()[0] for t in finished)
    lines = [f"{count} x {error}" for error, count in errors.most_common()]
    return f"every trial of study {study.path} failed ({len(finished)}):\n  " + "\n  ".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


INLINE_OUTCOMES = 2
"""Objectives + constraints up to which the params share the outcome table's rows; beyond it
an 80-column log has no width left for them, so they follow in a table of their own."""


def _table(title: str) -> Table:
    # No vertical rules or edge padding: two columns more fit in an 80-column log.
    return Table(title=title, header_style="bold", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                 collapse_padding=True)


def short_names(names: Sequence[str]) -> dict[str, str]:
    """Each dotted name's shortest tail that no other name ends with (``model.neuron.theta`` ->
    ``theta``): the run-config paths a study searches keep its table readable in 80 columns."""
    def tail(name: str) -> str:
        parts = name.split(".")
        for k in range(1, len(parts)):
            suffix = ".".join(parts[-k:])
            if not any(other != name and (other == suffix or other.endswith("." + suffix)) for other in names):
                return suffix
        return name

    return {name: tail(name) for name in names}


def _details(trial: Trial, names: Mapping[str, str], errors: bool) -> list[str]:
    """The folded params cell, under the ``names`` given (and the error cell when any shown
    trial has one)."""
    params = " ".join(f"{short}={_fmt(trial.params[p])}" for p, short in names.items() if p in trial.params)
    return [params, *([(trial.record.error or "")[:80]] if errors else [])]


def _style(trial: Trial) -> str | None:
    r = trial.record
    return "red" if r.status == "silent_stopped" else ("dim" if not r.informative else None)


def results_table(study: Study, limit: int | None = 20, *, trials: list[Trial] | None = None,
                  title: str | None = None) -> RenderableType:
    """The ``limit`` best finished trials (all with ``None``), or the given ``trials`` in their
    order; Pareto members marked with *."""
    front = {t.id for t in pareto_trials(study)} if len(study.objectives) > 1 else set()
    counts = study.counts()
    if title is None:
        title = (f"{study.path.name}: {sum(counts[s] for s in ('complete', 'silent_stopped', 'failed', 'pruned'))} "
                 f"finished, {counts['silent_stopped']} silent, {counts['failed']} failed")  # fmt: skip
    table = _table(title)
    # Outcome columns first and every parameter in one folded column: a wide search space must
    # stay readable in an 80-column log, where a column per parameter would be truncated to "…".
    for name in ("trial", "status", *study.objectives, *study.constraints, "cost s"):
        table.add_column(name, justify="left" if name == "status" else "right", no_wrap=True)
    shown = ranked(study)[:limit] if trials is None else trials
    errors = any(t.record.error for t in shown)
    inline = len(study.objectives) + len(study.constraints) <= INLINE_OUTCOMES
    details = table if inline else _table("params")
    if not inline:
        details.add_column("trial", justify="right", no_wrap=True)
    details.add_column("params", overflow="fold", ratio=3)
    names = short_names(study.space.names)
    if errors:
        details.add_column("error", overflow="fold", ratio=1)
    for t in shown:
        r = t.record
        label = f"{t.id}{'*' if t.id in front else ''}"
        outcomes = [
            label,
            r.status,
            *(_fmt(r.objectives.get(o, math.nan)) for o in study.objectives),
            *(_fmt(r.constraints.get(c, math.nan)) for c in study.constraints),
            f"{r.cost_s:.3g}",
        ]
        if inline:
            table.add_row(*outcomes, *_details(t, names, errors), style=_style(t))
        else:
            table.add_row(*outcomes, style=_style(t))
            details.add_row(label, *_details(t, names, errors), style=_style(t))
    return table if inline else Group(table, details)


def pareto_table(study: Study) -> RenderableType:
    """The feasible Pareto front, by the first objective best first: the trade-offs on offer."""
    first, direction = next(iter(study.objectives.items()))
    front = sorted(pareto_trials(study), key=lambda t: float(t.record.objectives[first]), reverse=direction == "max")
    return results_table(study, trials=front, title=f"Pareto front: {len(front)} feasible trials, "
                         f"none dominated in {', '.join(study.objectives)}")  # fmt: skip


def print_results(study: Study, limit: int | None = 20, console: Console | None = None) -> None:
    """The ranked table and, with several objectives, the Pareto front table."""
    console = console or Console()
    console.print(results_table(study, limit))
    if len(study.objectives) > 1:
        console.print(pareto_table(study))


def plot_convergence(study: Study) -> Figure:
    """Each objective per completed trial, with the best feasible value so far as a step line."""
    trials = [t for t in study.finished() if t.record.informative]
    fig = Figure(figsize=(6.4, 2.8 * len(study.objectives)), layout="constrained")
    axes = fig.subplots(len(study.objectives), 1, squeeze=False)[:, 0]
    for ax, (name, direction) in zip(axes, study.objectives.items()):
        best, xs, ys = None, [], []
        for t in trials:
            value = float(t.record.objectives[name])
            if t.record.feasible and improves(direction, value, best):
                best = value
            if best is not None:
                xs.append(t.seq)
                ys.append(best)
        for label, color, marker, pick in (
            ("feasible", FEASIBLE, "o", lambda r: r.feasible),
            ("infeasible", INFEASIBLE, "x", lambda r: not r.feasible and r.status != "silent_stopped"),
            ("silent", SILENT, "v", lambda r: r.status == "silent_stopped"),
        ):
            chosen = [t for t in trials if pick(t.record)]
            if chosen:
                ax.scatter([t.seq for t in chosen], [t.record.objectives[name] for t in chosen],
                           s=14, c=color, marker=marker, label=label)
        if xs:
            ax.step(xs, ys, where="post", color="black", label="best feasible")
        ax.set_xlabel("trial (completion order)")
        ax.set_ylabel(f"{name} ({direction})")
        ax.legend(fontsize="small")
    fig.suptitle("convergence")
    return fig


def plot_feasibility(study: Study) -> Figure | None:
    """Each constraint per completed trial against its ``<= 0`` bound; ``None`` without constraints."""
    if not study.constraints:
        return None
    trials = [t for t in study.finished() if t.record.informative]
    fig = Figure(figsize=(6.4, 2.4 * len(study.constraints)), layout="constrained")
    axes = fig.subplots(len(study.constraints), 1, squeeze=False)[:, 0]
    silent = [t for t in trials if t.record.status == "silent_stopped"]
    others = [t for t in trials if t.record.status != "silent_stopped"]
    for ax, name in zip(axes, study.constraints):
        ax.axhline(0.0, color="black", lw=0.8)
        ax.scatter([t.seq for t in others], [t.record.constraints[name] for t in others],
                   s=14, c=[FEASIBLE if t.record.feasible else INFEASIBLE for t in others], label="evaluated")
        if silent:
            ax.scatter([t.seq for t in silent], [t.record.constraints[name] for t in silent],
                       s=22, c=SILENT, marker="v", label="silent (stopped early)")
        ax.set_xlabel("trial (completion order)")
        ax.set_ylabel(f"{name}  (<= 0 feasible)")
        ax.legend(fontsize="small")
    fig.suptitle(f"feasibility: {len(silent)} of {len(trials)} trials silent")
    return fig


def plot_pareto(study: Study) -> Figure | None:
    """Feasible trials in every pair of objectives, the Pareto front highlighted; ``None`` for one objective."""
    names = list(study.objectives)
    if len(names) < 2:
        return None
    feasible = [t for t in study.finished() if t.record.feasible]
    front = pareto_trials(study)
    pairs = list(itertools.combinations(names, 2))
    fig = Figure(figsize=(4.8 * len(pairs), 4.2), layout="constrained")
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    for ax, (a, b) in zip(axes, pairs):
        ax.scatter([t.record.objectives[a] for t in feasible], [t.record.objectives[b] for t in feasible],
                   s=14, c="lightgrey", label="feasible")
        ax.scatter([t.record.objectives[a] for t in front], [t.record.objectives[b] for t in front],
                   s=26, c=FEASIBLE, label="Pareto front")
        ax.set_xlabel(f"{a} ({study.objectives[a]})")
        ax.set_ylabel(f"{b} ({study.objectives[b]})")
        ax.legend(fontsize="small")
    fig.suptitle(f"Pareto front: {len(front)} of {len(feasible)} feasible trials")
    return fig


def save_plots(study: Study, folder: str | Path, dpi: int = 120) -> list[Path]:
    """Write ``convergence.png``, ``feasibility.png`` (with constraints) and ``pareto.png``
    (with 2+ objectives) to ``folder``; return the written paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in (
        ("convergence", plot_convergence(study)),
        ("feasibility", plot_feasibility(study)),
        ("pareto", plot_pareto(study)),
    ):
        if fig is not None:
            path = folder / f"{name}.png"
            fig.savefig(path, dpi=dpi)
            written.append(path)
    return written


def detector_savings_s(trials: list[Trial]) -> float:
    """Training seconds the silent-network detector skipped, estimated per stopped trial as its
    measured training time per sample times the samples it did not train on.

    Trainers that record ``samples_seen``, ``planned_samples`` and ``train_time_s`` (SG, STDP)
    are counted; a stop before any timed sample contributes nothing, which under-estimates.
    """
    saved = 0.0
    for trial in trials:
        m = trial.record.metrics
        if trial.record.status != "silent_stopped" or not m.get("samples_seen") or "planned_samples" not in m:
            continue
        per_sample = float(m["train_time_s"]) / float(m["samples_seen"])
        saved += per_sample * max(0.0, float(m["planned_samples"]) - float(m["samples_seen"]))
    return saved


def design_flags(points: Sequence[Mapping[str, Any]], optimizer: object,
                 enqueued: Sequence[Mapping[str, Any]] = ()) -> list[bool]:
    """Whether each trial's ``points`` (in the order they were asked) belong to the initial
    design: an enqueued configuration or a point of the optimizer's design sequence
    (``optimizer.design_points``), else the model proposed them.

    Asked of the points themselves, not of their position: with two asynchronous workers and a
    design that goes on until it holds enough feasible networks, the trials just after the first
    ``n_initial`` are often still design points, and counting them as the model's would charge
    the random design's silent networks to the model. An optimizer without a design (random
    search) is split where a model-based one would switch, after ``DEFAULT_N_INITIAL`` trials.
    """
    if not hasattr(optimizer, "design_points"):
        return [i < DEFAULT_N_INITIAL for i in range(len(points))]
    space = optimizer.space
    design = {point_key(x) for x in optimizer.design_points(len(points) + 64)}
    design |= {point_key(space.encode(p)) for p in enqueued}
    return [point_key(space.encode(p)) in design for p in points]


def phase_rows(finished: Sequence[Trial], is_design: Sequence[bool]) -> list[list[str]]:
    """Silent share of the initial design and of the model-guided trials (``is_design`` per
    finished trial, see :func:`design_flags`), with each phase's compute."""
    rows = []
    for label, phase in (("initial design", True), ("model-guided", False)):
        trials = [t for t, d in zip(finished, is_design) if d == phase]
        silent = [t for t in trials if t.record.status == "silent_stopped"]
        cost = sum(t.record.cost_s for t in trials)
        share = f"{len(silent) / len(trials):.0%}" if trials else "-"
        compute = f"{sum(t.record.cost_s for t in silent) / cost:.0%}" if cost else "-"
        rows.append([label, str(len(trials)), f"{len(silent)} ({share})", compute, f"{cost:.0f}"])
    return rows


def silent_report(study: Study, optimizer: object, enqueued: Sequence[Mapping[str, Any]] = ()) -> RenderableType:
    """The paper's headline for one study: silent trials per phase, and what the detector saved."""
    table = _table("silent networks: initial design vs model-guided")
    for header in ("phase", "trials", "silent", "silent share of compute", "compute s"):
        table.add_column(header, justify="left" if header == "phase" else "right")
    finished = sorted(study.finished(), key=lambda t: t.id)
    for row in phase_rows(finished, design_flags([t.params for t in finished], optimizer, enqueued)):
        table.add_row(*row)
    total = sum(t.record.cost_s for t in finished)
    saved = detector_savings_s(finished)
    stopped = sum(t.record.status == "silent_stopped" for t in finished)
    networks = "network" if stopped == 1 else "networks"
    note = (f"the detector stopped {stopped} silent {networks} and saved about {saved:.0f} s of training "
            f"(the study's compute was {total:.0f} s; without the detector about {total + saved:.0f} s)")
    driver_cpu_s = study.driver_cpu_s
    if driver_cpu_s is not None:
        note += (f"; the optimizer and the study loop used {driver_cpu_s:.0f} s of CPU beside the trials "
                 "(on a machine the workers fill, out of the trials' time)")
    return Group(table, note)
