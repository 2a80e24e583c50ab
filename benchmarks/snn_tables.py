"""Generate the tables of the SNN-HPO benchmark: real trials of random configurations.

    python benchmarks/snn_tables.py sg_digits --rows 1000 --shard 0 --shards 2 &
    python benchmarks/snn_tables.py sg_digits --rows 1000 --shard 1 --shards 2 &
    python benchmarks/snn_tables.py sg_digits --merge      # -> benchmarks/tables/sg_digits.csv.gz

Each shard appends to ``benchmarks/tables/<problem>.shard<k>.csv`` and skips rows already there
or in the merged table, so a killed generator resumes where it stopped and a fresh clone extends
the committed table (``--rows 1000`` on a 108-row table trains rows 108-999 only); ``--merge``
keeps the table's rows and adds the shards'. Row ``i`` is fixed by ``(seed, i)``
(``jaxsnn.snnbench.tables.row_params``): the same command regenerates the same configurations.

    python benchmarks/snn_tables.py sg_digits --retest 1 --shard 0 --shards 2 &   # (and shard 1)
    python benchmarks/snn_tables.py sg_digits --retest 1 --merge   # -> tables/sg_digits.retest1.csv.gz

    python benchmarks/snn_tables.py sg_digits --live --shard 0 --shards 2 &   # (and shard 1)
    python benchmarks/snn_tables.py sg_digits --live --merge   # -> tables/sg_digits.live.csv.gz

``--live`` runs every row as a study's trial runs it (the detector deciding live, compiled with
the preset's ``run`` and XLA flags, as ``experiments/hpo.py`` runs it) and keeps its status and
seconds: the costs the surrogate charges (``tables.with_live_costs``), since a table row's own
run, to the end under a recorder, pays what a study's trial does not. One process that times
hundreds of rows has compiled every network shape early on; a study's worker sees a dozen trials
and compiles most of them. ``--limit 12`` in a loop gives every dozen rows a fresh process:

    until python benchmarks/snn_tables.py stdp_digits --live --limit 12 --shard 0 --shards 2 \
          | grep -q "nothing left"; do :; done &          # (and shard 1)

    python benchmarks/snn_tables.py sg_digits --rules   # other detector rules replayed on the table

``--rules`` trains nothing: it replays the problem's rule and the same rule judged on its last
interval after a grace (:data:`RULES`) on the merged table's ``checks``, and prints what each stops
and what the table's compute comes to under it (``jaxsnn.snnbench.tables.rule_outcome``).

``--retest SEED`` trains the merged table's kept rows (complete, not stopped by the detector) again
with training seed SEED instead of 0: how well one real run ranks another is the yardstick for the
surrogate's accuracy ranking (``snn_hpo.py`` reports both beside the validation).
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from results_io import renamed  # noqa: E402

from omegaconf import OmegaConf  # noqa: E402

from jaxsnn.snnbench import HPO_PRESETS, get_problem  # noqa: E402
from jaxsnn.snnbench.problems import SNNProblem  # noqa: E402
from jaxsnn.snnbench.tables import (  # noqa: E402
    LIVE_COLUMNS, append_rows, read_live, read_rows, rule_outcome, run_live, run_row, write_live, write_table,
)  # fmt: skip
from jaxsnn.train.silent import SilentNetworkDetector  # noqa: E402

TABLES = Path(__file__).parent / "tables"
CONF = Path(__file__).resolve().parent.parent / "conf"
RULES: dict[str, dict] = {"the paper's": {}, **{f"last interval, grace {g:,}": {"window": "interval", "grace": g}
                                                for g in (300, 1000, 3000)}}
"""``--rules``: departures from the problem's detector preset (``SilentNetworkDetector`` options)."""


def preset_spec(problem: SNNProblem) -> dict:
    """The product's HPO preset whose studies ``problem`` stands for (``conf/hpo/<preset>.yaml``)."""
    spec = OmegaConf.load(CONF / "hpo" / f"{HPO_PRESETS[problem.trainer]}.yaml")
    return OmegaConf.to_container(spec)  # type: ignore[return-value]


def study_run(problem: SNNProblem) -> dict:
    """The run config of a study's trial of ``problem``: its preset's ``run`` (compile settings
    included) with the problem's own data on top."""
    merged = OmegaConf.merge(preset_spec(problem)["run"], {"algorithm": problem.trainer}, problem.run)
    return OmegaConf.to_container(merged)  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("problem")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--merge", action="store_true", help="merge the shards into the .csv.gz table")
    parser.add_argument("--retest", type=int, metavar="SEED",
                        help="train the table's kept rows again with this training seed")
    parser.add_argument("--live", action="store_true", help="time the table's rows as a study's trials run")
    parser.add_argument("--rules", action="store_true", help="replay other detector rules on the table (no training)")
    parser.add_argument("--limit", type=int, default=None,
                        help="with --live: time at most this many rows, then exit (a fresh process per study-sized "
                             "chunk pays the compilations a study's worker pays)")
    args = parser.parse_args()
    problem = get_problem(args.problem)
    if args.live:
        return live(problem, args)
    if args.rules:
        return rules(problem)
    stem = problem.name if args.retest is None else f"{problem.name}.retest{args.retest}"
    table = TABLES / f"{stem}.csv.gz"
    tabled = read_rows(table) if table.exists() else []
    if args.merge:
        shards = [r for path in sorted(TABLES.glob(f"{stem}.shard*.csv")) for r in read_rows(path)]
        for r in shards:  # a shard begun before issue 14's rename holds the old flat names: the table has the new
            r["params"] = renamed(problem.trainer, r["params"])
        rows = {r["index"]: r for r in [*tabled, *shards]}
        write_table(table, list(rows.values()))
        print(f"{len(rows)} rows ({len(rows) - len(tabled)} new) -> {table}")
        return
    shard = TABLES / f"{stem}.shard{args.shard}.csv"
    done = {r["index"] for r in tabled}
    if shard.exists() and shard.stat().st_size:
        done |= {r["index"] for r in read_rows(shard)}
    if args.retest is None:
        params = {i: None for i in range(args.rows)}
    else:
        kept = [r for r in read_rows(TABLES / f"{problem.name}.csv.gz") if r["status"] == "complete" and not r["stopped"]]
        params = {r["index"]: r["params"] for r in kept}
    todo = [i for i in sorted(params)[args.shard::args.shards] if i not in done]
    start = time.perf_counter()
    for n, index in enumerate(todo, 1):
        row = run_row(problem, index, args.seed, params=params[index], train_seed=args.retest or 0)
        append_rows(shard, [row])
        print(f"[{problem.name} {index}] {row['status']:8s} acc={row['accuracy']!s:.5} cost={row['cost_s']:.2f}s "
              f"stop={'@' + str(row['stop_samples']) if row['stopped'] else '-'} "
              f"({n}/{len(todo)}, {time.perf_counter() - start:.0f} s)", flush=True)


def rules(problem: SNNProblem) -> None:
    """``--rules``: each of :data:`RULES` replayed on the merged table, as a markdown table."""
    rows = read_rows(TABLES / f"{problem.name}.csv.gz")
    k, p, interval = problem.preset.k, problem.preset.p, problem.preset.update_interval
    good = 5.0 / problem.n_classes
    print(f"| rule (k={k}, p={p}, a check every {interval} samples) | stopped | false stops (full run >= {good:.2f}) "
          "| compute, share of training every row to the end |\n|---|---|---|---|")
    for name, options in RULES.items():
        outcome = rule_outcome(rows, partial(SilentNetworkDetector.preset, problem.detector, **options), interval,
                               good)
        print(f"| {name} | {outcome['stopped']} of {outcome['rows']} | {outcome['false_stops']} "
              f"| {outcome['compute_share']:.2f} |")


def live(problem: SNNProblem, args: argparse.Namespace) -> None:
    """``--live``: every row of the merged table run as a study runs it (its shards, or their merge)."""
    table = TABLES / f"{problem.name}.live.csv.gz"
    shards = sorted(TABLES.glob(f"{problem.name}.live.shard*.csv"))
    if args.merge:
        rows = read_live(table) if table.exists() else {}
        for path in shards:
            rows.update(read_live(path))
        write_live(table, [{"index": i, **r} for i, r in rows.items()])
        print(f"{len(rows)} live rows -> {table}")
        return
    from jaxsnn.xla_defaults import add_xla_flags

    add_xla_flags()  # as experiments/hpo.py does before a study's first computation
    run = study_run(problem)
    shard = TABLES / f"{problem.name}.live.shard{args.shard}.csv"
    done = set(read_live(table)) if table.exists() else set()
    done |= set(read_live(shard)) if shard.exists() and shard.stat().st_size else set()
    rows = [r for r in read_rows(TABLES / f"{problem.name}.csv.gz") if r["status"] == "complete"]
    todo = [r for r in rows[args.shard::args.shards] if r["index"] not in done][: args.limit]
    if not todo:
        print(f"{problem.name} live shard {args.shard}: nothing left")
        return
    for n, row in enumerate(todo, 1):
        timed = run_live(problem, row["index"], row["params"], run)
        append_rows(shard, [timed], LIVE_COLUMNS)
        print(f"[{problem.name} live {row['index']}] {timed['status']:14s} {timed['cost_s']:.2f} s "
              f"(table: {'stopped' if row['stopped'] else 'kept'}) ({n}/{len(todo)})", flush=True)


if __name__ == "__main__":
    main()
