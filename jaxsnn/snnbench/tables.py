"""Tables of real trials: random configurations run to the end, the detector replayed on them.

Every row runs one configuration *without* a detector while :class:`SpikeRecorder` keeps each
training batch's output spike counts and the wall time at which the trainer reported them.
Replaying the problem's detector on that sequence gives exactly where a live run would have
stopped (trainers consult their stoppers after every batch and the detector is deterministic), so
one run yields both outcomes the benchmark needs: the full run (accuracy, cost) and the stopped
one (stop batch, samples, seconds, silent fraction at every check).

Rows are deterministic in ``(problem, index)``: row ``i`` is a uniform draw of the problem's space
from ``default_rng([seed, i])``, so generation can be sharded over processes and resumed.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxsnn.snnbench.problems import SNNProblem
from jaxsnn.train.silent import SilentNetworkDetector
from jaxsnn.tuning.evaluate import evaluate

COLUMNS: tuple[str, ...] = (
    "index", "status", "accuracy", "cost_s", "setup_s", "samples", "silent_fraction", "checks",
    "stopped", "stop_samples", "stop_time_s", "error", "params",
)  # fmt: skip
"""``checks``: the detector's silent fraction at each of its check boundaries (JSON list)."""


class SpikeRecorder:
    """An early stopper that never stops: per-batch output spike counts and their wall times."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.counts: list[np.ndarray] = []
        self.times: list[float] = []

    def update(self, output_spike_counts: np.ndarray, mean_rates: dict[str, float]) -> None:
        self.counts.append(np.asarray(output_spike_counts).copy())
        self.times.append(time.perf_counter() - self.start)

    def constraints(self) -> dict[str, float]:
        return {}


def replay(detector: SilentNetworkDetector, counts: Sequence[np.ndarray], times: Sequence[float]) -> dict[str, Any]:
    """Where ``detector`` stops on recorded batches (batch, samples seen, wall time), or that it
    does not."""
    for batch, (c, t) in enumerate(zip(counts, times), 1):
        if detector.update(c, {}) is not None:
            return {"stopped": 1, "stop_batch": batch, "stop_samples": detector.seen, "stop_time_s": t}
    return {"stopped": 0, "stop_batch": "", "stop_samples": "", "stop_time_s": ""}


def check_fractions(counts: np.ndarray, k: int, interval: int) -> list[float]:
    """Silent fraction over all samples seen, at every ``interval``-th sample (the paper's rule)."""
    silent = np.cumsum(np.asarray(counts).reshape(-1) < k)
    at = np.arange(interval, silent.size + 1, interval)
    return [round(float(silent[i - 1] / i), 4) for i in at]


def row_params(problem: SNNProblem, index: int, seed: int = 0) -> dict[str, Any]:
    """The configuration of row ``index``: a uniform draw of the space, fixed by ``(seed, index)``."""
    return problem.space().sample(np.random.default_rng([seed, index]), 1)[0]


def run_row(
    problem: SNNProblem, index: int, seed: int = 0, params: dict[str, Any] | None = None, train_seed: int = 0
) -> dict[str, Any]:
    """Run row ``index`` (or the given ``params``) to the end without a detector and replay the
    problem's detector on it. ``train_seed`` seeds the trial's weights and batches: a table trains
    every row with 0, a retest the same configurations again with another."""
    params = row_params(problem, index, seed) if params is None else params
    recorder = SpikeRecorder()
    record = evaluate(problem.config(params, silent=None, seed=train_seed), stoppers=[recorder])
    preset = problem.preset
    counts = np.concatenate(recorder.counts) if recorder.counts else np.zeros(0)
    detector = SilentNetworkDetector(preset.k, preset.p, preset.update_interval)
    return {
        "index": index,
        "status": record.status,
        "accuracy": record.objectives.get("accuracy", ""),
        "cost_s": round(record.cost_s, 4),
        "setup_s": round(recorder.times[0], 4) if recorder.times else round(record.cost_s, 4),
        "samples": int(counts.size),
        "silent_fraction": round(float(np.mean(counts < preset.k)), 4) if counts.size else "",
        "checks": json.dumps(check_fractions(counts, preset.k, preset.update_interval)),
        **{k: v for k, v in replay(detector, recorder.counts, recorder.times).items() if k != "stop_batch"},
        "error": (record.error or "")[:160],
        "params": json.dumps(params),
    }


def append_rows(path: Path, rows: Iterable[dict[str, Any]], columns: Sequence[str] = COLUMNS) -> None:
    """Append rows to a CSV shard (header written once): a killed generator loses one row at most."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow(row)
            f.flush()


def _csv_records(path: Path) -> list[dict[str, str]]:
    """The records of a ``.csv`` or ``.csv.gz`` file, as strings."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        return list(csv.DictReader(f))


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a table (``.csv`` or ``.csv.gz``), typed: numbers as floats, params and checks parsed."""
    raw = _csv_records(path)
    missing = sorted(set(COLUMNS) - set(raw[0])) if raw else []
    if missing:
        raise ValueError(f"{path} is not an SNN benchmark table: columns {missing} missing")
    rows = []
    for r in raw:
        number = lambda key: float(r[key]) if r[key] != "" else float("nan")  # noqa: E731
        rows.append({
            "index": int(r["index"]), "status": r["status"], "accuracy": number("accuracy"),
            "cost_s": number("cost_s"), "setup_s": number("setup_s"), "samples": int(r["samples"]),
            "silent_fraction": number("silent_fraction"), "checks": json.loads(r["checks"]),
            "stopped": r["stopped"] == "1", "stop_samples": number("stop_samples"),
            "stop_time_s": number("stop_time_s"), "error": r["error"], "params": json.loads(r["params"]),
        })  # fmt: skip
    return rows


def write_table(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write the merged table compressed (what the repository keeps), sorted by index."""
    with gzip.open(path, "wt", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in sorted(rows, key=lambda r: int(r["index"])):
            writer.writerow({**row, "checks": json.dumps(row["checks"]) if isinstance(row["checks"], list)
                             else row["checks"], "params": json.dumps(row["params"])
                             if isinstance(row["params"], dict) else row["params"],
                             "stopped": int(row["stopped"])})  # fmt: skip


def false_stops(rows: Sequence[dict[str, Any]], good_accuracy: float, p: float) -> dict[str, Any]:
    """What the detector costs on a table: of the networks whose full run reached
    ``good_accuracy``, how many it stopped (a *false stop*), and the best accuracy it stopped.

    A table trains every row to the end, so this is measured on the full uniform sample rather
    than on the few dozen configurations ``benchmarks/silent_savings.py`` can afford; a rate of
    a few percent of the stopped networks is invisible in 30. ``woke_up``: false stops whose
    whole run ended below the detector's tolerated silent fraction ``p`` (silent early, not
    later); ``silent_throughout``: false stops with at least 90 % of all their samples silent,
    which classified anyway (a silent sample is one with fewer than ``k`` output spikes, and
    fewer can still name the class).
    """
    complete = [r for r in rows if r["status"] == "complete"]
    stopped = [r for r in complete if r["stopped"]]
    good = [r for r in complete if r["accuracy"] >= good_accuracy]
    false = [r for r in good if r["stopped"]]
    return {
        "rows": len(complete), "stopped": len(stopped), "good": len(good), "false_stops": len(false),
        "woke_up": sum(1 for r in false if r["silent_fraction"] <= p),
        "silent_throughout": sum(1 for r in false if r["silent_fraction"] >= 0.9),
        "best_stopped": max((r["accuracy"] for r in stopped), default=math.nan),
        "best_kept": max((r["accuracy"] for r in complete if not r["stopped"]), default=math.nan),
    }  # fmt: skip


def replay_checks(detector: SilentNetworkDetector, checks: Sequence[float], interval: int) -> int | None:
    """The samples a row had seen when ``detector`` stopped it, replayed from the row's ``checks``
    (the silent fraction over all samples at every ``interval``-th one), or ``None`` if it trains on.

    Why: a table keeps how many samples of each interval were silent, not the spike counts, and a
    rule the table was not made with (a grace, a window of the last interval) is still to be judged
    on every row. Each interval is fed as that many silent samples, then spiking ones: the decision
    at every check is the live detector's, and a stop it settles before its check comes one interval
    early at most. The fractions' four decimals give exact counts below 10,000 samples.
    """
    if detector.update_interval % interval:
        raise ValueError(f"a table checked every {interval} samples cannot replay a rule checked every "
                         f"{detector.update_interval}")  # fmt: skip
    silent = np.round(np.asarray(checks, dtype=float) * interval * np.arange(1, len(checks) + 1))
    within = np.clip(np.diff(silent, prepend=0.0), 0, interval).astype(int)
    batches = [np.r_[np.zeros(n), np.full(interval - n, detector.k)] for n in within]
    stop = replay(detector, batches, [math.nan] * len(batches))  # no times in a check: only the samples count
    return stop["stop_samples"] if stop["stopped"] else None


def rule_outcome(rows: Sequence[dict[str, Any]], make_detector: Callable[[], SilentNetworkDetector], interval: int,
                 good_accuracy: float) -> dict[str, Any]:
    """What a detector rule does on a table (:func:`replay_checks`): the rows it stops, its false
    stops (stopped networks whose full run reached ``good_accuracy``), and the table's compute under
    it as a share of training every row to the end, a stopped row paying its setup and its training
    up to the stop. Table seconds, not a study's (``with_live_costs``): the share compares rules."""
    complete = [r for r in rows if r["status"] == "complete"]
    stopped = false = 0
    spent = 0.0
    for r in complete:
        stop = replay_checks(make_detector(), r["checks"], interval)
        if stop is None:
            spent += r["cost_s"]
            continue
        stopped += 1
        false += r["accuracy"] >= good_accuracy
        spent += r["setup_s"] + (r["cost_s"] - r["setup_s"]) * min(1.0, stop / r["samples"])
    return {"rows": len(complete), "stopped": stopped, "false_stops": false,
            "compute_share": spent / sum(r["cost_s"] for r in complete)}  # fmt: skip


def random_best(rows: Sequence[dict[str, Any]], n: int, draws: int = 2000, seed: int = 0) -> float:
    """Random search's median best on the table itself: over ``draws`` random sets of ``n`` of its
    complete rows, the median of the best accuracy among those the detector keeps (0 where it keeps
    none). The rows are uniform draws of the space trained for real, so this is the bar a real
    random search of ``n`` trials sets, against which the surrogate's own random search (the reach
    anchor of its benchmark) can be held: a surrogate that smooths its best networks sets a lower one."""
    complete = [r for r in rows if r["status"] == "complete"]
    if not 1 <= n <= len(complete):
        raise ValueError(f"random_best: n must be in [1, {len(complete)}] (the table's complete rows), got {n}")
    kept = np.array([0.0 if r["stopped"] else r["accuracy"] for r in complete])
    rng = np.random.default_rng(seed)
    return float(np.median([kept[rng.choice(len(kept), n, replace=False)].max() for _ in range(draws)]))


LIVE_COLUMNS: tuple[str, ...] = ("index", "status", "accuracy", "cost_s")


def run_live(problem: SNNProblem, index: int, params: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """Row ``index`` as a study's trial runs it: its detector deciding live, compiled as the
    preset's ``run`` compiles it. A table row runs to the end under a recorder, so its costs are
    not what a study pays: a live trial the detector stops ends before it compiles its training
    step, and the presets compile without XLA's optimisations."""
    config = problem.config(params)
    record = evaluate({**config, "run": {**run, "seed": config["run"]["seed"]}})
    return {"index": index, "status": record.status, "accuracy": record.objectives.get("accuracy", ""),
            "cost_s": round(record.cost_s, 4)}  # fmt: skip


def read_live(path: Path) -> dict[int, dict[str, Any]]:
    """A live-cost table (:func:`run_live` rows) by row index."""
    return {int(r["index"]): {"status": r["status"], "cost_s": float(r["cost_s"])} for r in _csv_records(path)}


def write_live(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with gzip.open(path, "wt", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LIVE_COLUMNS)
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: int(r["index"])))


def with_live_costs(rows: Sequence[dict[str, Any]], live: Mapping[int, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The table's rows with the seconds a study pays for them (``live``, from :func:`run_live`).

    A kept row's ``cost_s`` and a stopped row's ``stop_time_s`` become the live trial's seconds.
    A stopped network's full run (what it costs without the detector) was never run live: its
    table seconds are scaled by the kept rows' median live / table ratio. Where the live run's
    outcome differs from the table's replay (another compilation rounds differently), both
    seconds are scaled by the ratio of the table's outcome, so every row keeps the table's
    outcome and accuracy. A table without live rows for every complete row is refused.
    """
    complete = [r for r in rows if r["status"] == "complete"]
    missing = [r["index"] for r in complete if r["index"] not in live]
    if missing:
        raise ValueError(f"the live costs lack {len(missing)} of the table's {len(complete)} rows "
                         f"(first: {missing[:5]})")
    agree = {r["index"] for r in complete if _same_outcome(r, live[r["index"]])}
    kept = [live[r["index"]]["cost_s"] / r["cost_s"] for r in complete if r["index"] in agree and not r["stopped"]]
    stop = [live[r["index"]]["cost_s"] / r["stop_time_s"] for r in complete if r["index"] in agree and r["stopped"]]
    full_ratio, stop_ratio = float(np.median(kept)), float(np.median(stop))
    out = []
    for r in rows:
        r = dict(r)
        if r["status"] == "complete":
            same = r["index"] in agree
            seconds = live[r["index"]]["cost_s"]
            if r["stopped"]:
                r["stop_time_s"] = seconds if same else r["stop_time_s"] * stop_ratio
                r["cost_s"] = r["cost_s"] * full_ratio
            else:
                r["cost_s"] = seconds if same else r["cost_s"] * full_ratio
        out.append(r)
    return out


def _same_outcome(row: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """Whether the live trial ended as the table's replay did: stopped, or trained to the end."""
    return live["status"] == ("silent_stopped" if row["stopped"] else "complete")
