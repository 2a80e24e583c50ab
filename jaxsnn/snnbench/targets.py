"""Issue 13's three targets, judged for the optimizer each HPO preset ships, from the benchmark's
summaries and the real studies' rows.

The surrogate benchmark and the real studies compare dozens of methods; a reader who wants to
know whether the *product* keeps its claim needs one line per problem: the preset as it ships,
each target met or missed, with the number. The verdicts are computed here from the same
summaries the tables print, so a rerun that moves a number past a target moves the verdict too.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

REACH_TARGET = 0.25
"""Compute to reach random search's final best, as a share of random's compute: at most this."""
SILENT_TARGET = 0.20
"""Share of model-guided trials stopped as silent: at most this ..."""
RANDOM_SILENT_FLOOR = 0.60
"""... on a problem where random search's trials are at least this often silent."""

SHIPPED: dict[str, tuple[str, str]] = {
    "silent_sg": ("scbo-drive-screen-n6-guard05-prior", "scbo-drive-screen-n6-guard05-prior"),
    "silent_stdp": ("logei-lag1", "logei"),
}
"""Preset (``conf/hpo/<preset>.yaml``) -> (its method in the surrogate benchmark,
``jaxsnn.snnbench.compare.OURS``; its name in the real studies, ``benchmarks/snn_real_studies.py``).
The names differ where the benchmark's plain name keeps options of an earlier version (``logei``
there refits on the ask path); a test builds both optimizers and holds them equal."""


def _verdict(met: bool) -> str:
    return "met" if met else "missed"


def surrogate_verdicts(rows: Sequence[Mapping[str, Any]], method: str, peers: Sequence[str]) -> dict[str, str] | None:
    """The three targets for ``method`` in one run's summary (``compare.summarise``'s rows), as
    ``{reach, best, silent}`` cells; None when the run has no such method. The reach cell also
    gives the compute the initial design took (a share of random's, as the reach): the part of
    the reach no model can shorten.

    Best is at 100 % of the budget against every peer in ``peers`` that ran (unseeded: a seeded
    peer starts from the default, a different claim); where the rows were summarised against
    ``method`` (``compare.summarise``'s ``reference``), the cell also gives the rank test's p of
    the strongest peer's bests against its: the verdict is on medians, the p says how much of the
    gap 20 seeds' spread could make by chance."""
    by_name = {r["method"]: r for r in rows}
    if method not in by_name or "random" not in by_name:
        return None
    ours, rand = by_name[method], by_name["random"]
    reach = float(ours["reach_ratio"])
    ran = [by_name[p] for p in peers if p in by_name]
    best = float(ours["best_100"])
    if ran:
        top = max(ran, key=lambda r: float(r["best_100"]))
        p = float(top.get("vs_best_p", "nan"))  # against the method judged, where the summary compared them
        chance = "" if math.isnan(p) else f"; p={p:.2f}"
        best_cell = (f"{best:.3f} vs {top['method']} {float(top['best_100']):.3f} "
                     f"({_verdict(best >= float(top['best_100']))}{chance})")  # fmt: skip
    else:
        best_cell = f"{best:.3f} (no peer run)"
    silent, random_silent = float(ours["silent_model"]), float(rand["silent_model"])
    return {
        "reach": f"{_fmt_ratio(reach)} ({_verdict(reach <= REACH_TARGET)}; design {float(ours['design_ratio']):.2f})",
        "best": best_cell,
        "silent": f"{silent:.0%} vs random {random_silent:.0%} (" + (
            _verdict(silent <= SILENT_TARGET) if random_silent >= RANDOM_SILENT_FLOOR
            else f"not applicable, random below {RANDOM_SILENT_FLOOR:.0%}") + ")",
    }  # fmt: skip


def real_verdicts(rows: Sequence[Mapping[str, Any]], name: str) -> dict[str, str] | None:
    """Reach and silent share over the real studies named ``name`` (rows of
    ``snn_real_studies*.csv``): the median reach over seeds (with the median compute its design
    took, where the rows keep it), the mean model-guided silent share, and the median best at
    random search's compute; None when there are none.

    Only rows measured against the random-search anchor the random rows hold (``anchor_s``:
    random's median compute when the row was summarised) are judged: a row kept from a study no
    longer on disk holds its reach against an earlier anchor, on earlier code."""
    chosen = [r for r in comparable(rows) if r["optimizer"] == name]
    if not chosen:
        return None
    reach = statistics.median(float(r["reach_ratio"]) for r in chosen)
    silent = statistics.fmean(float(r["silent_model"]) for r in chosen)
    best = statistics.median(float(r["best_100"]) for r in chosen)
    designs = [d for d in (float(r.get("design_ratio", "nan")) for r in chosen) if not math.isnan(d)]
    design = f"; design {statistics.median(designs):.2f}" if designs else ""  # rows from before it was kept: none
    return {
        "seeds": str(len(chosen)),
        "reach": f"{_fmt_ratio(reach)} ({_verdict(reach <= REACH_TARGET)}{design})",
        "best": f"{best:.3f}",
        "silent": f"{silent:.0%} ({_verdict(silent <= SILENT_TARGET)})",
    }


def comparable(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The real-study rows measured against the random-search anchor the random rows hold
    (``anchor_s``); every row where no random row keeps one."""
    anchor = {r.get("anchor_s", "nan") for r in rows if r["optimizer"] == "random"}
    return [r for r in rows if not anchor or r.get("anchor_s", "nan") in anchor]


def real_medians(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One line per optimizer over its :func:`comparable` real studies: seeds, median reach (and
    its quartiles) and best at random search's compute, median best at the end, mean silent shares,
    median driver CPU. The per-seed rows hold dozens of variants run over many sessions; these
    medians are what a comparison between them reads."""
    by_name: dict[str, list[Mapping[str, Any]]] = {}
    for r in comparable(rows):
        by_name.setdefault(r["optimizer"], []).append(r)

    def median(chosen: Sequence[Mapping[str, Any]], key: str) -> float:
        values = [float(r.get(key, "nan")) for r in chosen]
        values = [v for v in values if not math.isnan(v)]
        return statistics.median(values) if values else float("nan")

    medians = []
    for name, chosen in sorted(by_name.items()):
        reach = sorted(float(r["reach_ratio"]) for r in chosen)
        q25, q75 = (statistics.quantiles(reach, n=4, method="inclusive")[::2] if len(reach) > 1 else (reach[0],) * 2)
        medians.append({
            "optimizer": name, "seeds": len(chosen), "compute_s": median(chosen, "compute_s"),
            "reach": statistics.median(reach), "reach_q25": q25, "reach_q75": q75,
            "best_100": median(chosen, "best_100"), "best_final": median(chosen, "best_final"),
            "silent_design": statistics.fmean(float(r["silent_design"]) for r in chosen),
            "silent_model": statistics.fmean(float(r["silent_model"]) for r in chosen),
            "driver_cpu_s": median(chosen, "driver_cpu_s"), "reach_wall": median(chosen, "reach_wall_ratio"),
        })  # fmt: skip
    return medians


def _fmt_ratio(value: float) -> str:
    return "never" if math.isinf(value) or math.isnan(value) else f"{value:.2f}"
