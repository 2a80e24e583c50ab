"""Silent-aware constrained BO on SNN problems: optimizers compared at equal compute seconds.

Each problem is a table of real trials (``benchmarks/snn_tables.py``) and the random-forest
surrogate fitted on it (``jaxsnn.snnbench.surrogate``). Methods, all with the same seeds and the
same compute budget (``--budget-trials`` times the mean cost of a random trial with the detector):

- ours with the detector and the silent constraint: ``logei``, ``logei-cost`` (log-EI per predicted
  second), ``scbo``; ``random`` with the detector;
- ``logei-no-detector`` (silent networks train to the end) and ``logei-dropped`` (stopped networks
  are told as pruned, never modelled, as Optuna and Ax treat them);
- peers in their own venv (``benchmarks/snn_peers.py``): Optuna TPE and GPSampler with
  ``constraints_func``, BoTorch SCBO; each gets the detector's outcome and the constraint value.

    python benchmarks/snn_hpo.py                       # every problem with a table
    python benchmarks/snn_hpo.py --problems sg_digits --seeds 20 --peer-seeds 5
    python benchmarks/snn_hpo.py --report-only         # tables, plots and RESULTS.md from the CSVs

Writes the traces of each method to ``benchmarks/results/snn_hpo/<run>/<method>.csv``, one run
folder per problem and budget (``<problem>_b<budget trials>``, so methods can run in separate
processes and budgets sit side by side), ``snn_hpo_validation.csv``, ``snn_hpo_summary_<run>.csv``,
``snn_hpo_<run>.png`` and the "Silent-aware BO on SNN problems" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
from scipy.stats import mannwhitneyu  # noqa: E402
from results_io import read_csv, replace_section, write_csv  # noqa: E402
from snn_peers import PEERS, PEERS_PYTHON, PeerOptimizer, available_peers  # noqa: E402
from snn_tables import TABLES, preset_spec  # noqa: E402

from jaxsnn.snnbench import HPO_PRESETS, PROBLEMS, get_problem  # noqa: E402
from jaxsnn.snnbench.compare import (  # noqa: E402
    AGAIN, N_INITIAL, OURS, SEEDED, TraceRow, best_curve, run, silent_rate, summarise,
)  # fmt: skip
from jaxsnn.snnbench.surrogate import SurrogateBenchmark, calibrated_noise, cross_validate  # noqa: E402
from jaxsnn.snnbench.tables import false_stops, random_best, read_live, read_rows, with_live_costs  # noqa: E402
from jaxsnn.snnbench.targets import (  # noqa: E402
    RANDOM_SILENT_FLOOR, REACH_TARGET, SHIPPED, SILENT_TARGET, comparable, real_medians, real_verdicts,
    surrogate_verdicts,
)  # fmt: skip
from jaxsnn.tuning.spaces import dotted  # noqa: E402

RESULTS = Path(__file__).parent / "results"
TRACES = RESULTS / "snn_hpo"
CALIBRATED = RESULTS / "snn_hpo_calibrated"
"""Traces of runs whose surrogate trials carry its calibrated noise (``--calibrated``): the noise
at which random search's best of ``CALIBRATION_TRIALS`` trials on the surrogate equals its best
on as many of the table's real rows (``jaxsnn.snnbench.surrogate.calibrated_noise``)."""
CALIBRATION_TRIALS = 50
CALIBRATION_DRAWS = 4000
"""Uniform configurations the calibration predicts (about 25 s per 2,000): with 2,000 its noise moved
by about 0.1 between draw seeds."""
SECTION = "## Silent-aware BO on SNN problems"


def table(problem_name: str) -> list[dict]:
    """The problem's table, charged what a study pays for its rows where ``snn_tables.py --live``
    timed them (``<problem>.live.csv.gz``); a table row's own seconds come from a run to the end
    under a recorder, compiled otherwise, and overstate a stopped trial's cost about tenfold."""
    rows = read_rows(TABLES / f"{problem_name}.csv.gz")
    live = TABLES / f"{problem_name}.live.csv.gz"
    return with_live_costs(rows, read_live(live)) if live.exists() else rows


def validate(problem_name: str) -> dict:
    """5-fold cross-validation of the surrogate on its own table, and against the table's retest
    (its kept rows trained again with seed 1) where ``snn_tables.py --retest 1`` made one."""
    retest = TABLES / f"{problem_name}.retest1.csv.gz"
    validation = cross_validate(get_problem(problem_name), table(problem_name),
                                retest=read_rows(retest) if retest.exists() else ())
    return {"problem": problem_name, **dataclasses.asdict(validation)}


def budget_s(bench: SurrogateBenchmark, trials: int) -> float:
    """``trials`` times the mean surrogate cost of a random trial with the detector."""
    return trials * float(np.mean([bench(r["params"]).cost_s for r in bench.rows[:200]]))


def documented_default(bench: SurrogateBenchmark) -> dict:
    """The default network the product's preset enqueues, without the parameters the problem
    leaves out; refused (naming the parameter and the table's range) when the table does not
    cover it, as stdp_digits' tables stop at 150 ms presentations where the default uses 350."""
    problem = bench.problem
    point = {k: v for k, v in dotted(preset_spec(problem)["enqueue"][0]).items() if k not in problem.exclude}
    bench.check(point)
    return point


DEFAULT_CHECK = RESULTS / "snn_hpo_default_check.csv"
DEFAULT_SEEDS = (0, 1)


def default_check(problem_name: str) -> dict:
    """The surrogate against real runs (``DEFAULT_SEEDS``) of the documented default, the first
    trial of every study of the product's presets: a surrogate that misjudges it misjudges the
    region a seeded study searches. Real runs are stored in ``DEFAULT_CHECK`` and rerun only when
    missing; the surrogate's prediction is made from the current table."""
    problem = get_problem(problem_name)
    bench = SurrogateBenchmark(problem, table(problem_name))
    try:
        point = documented_default(bench)
    except ValueError as e:
        return {"problem": problem_name, "refused": str(e)}
    stored = {r["problem"]: r for r in read_csv(DEFAULT_CHECK)} if DEFAULT_CHECK.exists() else {}
    if problem_name not in stored:
        from jaxsnn.tuning.evaluate import evaluate

        records = [evaluate(problem.config(point, seed=seed)) for seed in DEFAULT_SEEDS]
        stored[problem_name] = {"problem": problem_name,
                                "real_accuracy": "/".join(f"{r.objectives.get('accuracy', 0.0):.3f}" for r in records),
                                "real_status": "/".join(r.status for r in records)}  # fmt: skip
        write_csv(DEFAULT_CHECK, list(stored.values()))
    predicted = bench.predict(point)
    return {**stored[problem_name], "surrogate_accuracy": predicted["accuracy"],
            "surrogate_p_silent": predicted["p_silent"]}


def detector_cost(problem_name: str) -> dict:
    """The detector's false stops on the problem's table (:func:`jaxsnn.snnbench.tables.false_stops`),
    a *good* network being one whose full run reached 5x chance accuracy."""
    problem = get_problem(problem_name)
    good = 5.0 / problem.n_classes
    rows = read_rows(TABLES / f"{problem_name}.csv.gz")
    return {"problem": problem_name, "good_accuracy": good, "p": problem.preset.p,
            **false_stops(rows, good, problem.preset.p)}


def same_budget(folder: Path, budget: float, trials: int, noise: float = 0.0) -> None:
    """Refuse to add runs to ``folder`` when its runs were charged another budget (the table's
    costs changed, ``--live``) or drawn with another trial noise (``--calibrated`` on another
    table or code): traces of two problems compared at one budget would compare nothing."""
    if (folder / "budget.json").exists():
        stored = json.loads((folder / "budget.json").read_text())
        before = stored["budget_s"]
        if not math.isclose(before, budget, rel_tol=1e-6):
            raise SystemExit(f"{folder} holds runs at a budget of {before:.1f} s; the table now charges "
                             f"{budget:.1f} s for {trials} random trials: move those runs aside")
        if not math.isclose(stored.get("noise", 0.0), noise, rel_tol=1e-6, abs_tol=1e-9):
            raise SystemExit(f"{folder} holds runs drawn with trial noise {stored.get('noise', 0.0):.3f}; the "
                             f"surrogate now draws {noise:.3f}: move those runs aside")


def planned_methods(requested: list[str] | None, peers: dict[str, str | None]) -> list[tuple[str, bool]]:
    """``(method, is_peer)`` to run: ours and the peers whose libraries import (``peers[p]`` is
    ``None``; ``available_peers`` says why the others cannot, with the install command), all of
    them or those ``requested``; a seeded variant (``<method>+default``) only when named. A missing
    peer library skips that peer, never the run."""
    methods = [(m, False) for m in OURS if not requested or m in requested]
    methods += [(p, True) for p in PEERS if peers.get(p) is None and (not requested or p in requested)]
    for m in requested or ():
        base = m.removesuffix(SEEDED)
        if m != base and (base in OURS or (base in PEERS and peers.get(base) is None)):
            methods.append((m, base in PEERS))
    return methods


def run_problem(problem_name: str, args: argparse.Namespace, peers: dict) -> None:
    """Every requested method on one problem; each method's traces go to their own CSV as soon
    as its seeds are done, so methods can run in separate processes and an interrupted run
    keeps what finished."""
    rows = table(problem_name)
    bench = SurrogateBenchmark(get_problem(problem_name), rows)
    if args.calibrated:
        noise = calibrated_noise(bench, CALIBRATION_TRIALS, random_best(rows, CALIBRATION_TRIALS),
                                 draws=CALIBRATION_DRAWS)
        bench = bench.with_noise(noise)
        print(f"{problem_name}: trial noise {noise:.3f} (logit accuracy)", flush=True)
    budget = budget_s(bench, args.budget_trials)
    folder = (CALIBRATED if args.calibrated else TRACES) / f"{problem_name}_b{args.budget_trials}"
    folder.mkdir(parents=True, exist_ok=True)
    same_budget(folder, budget, args.budget_trials, bench.noise)
    (folder / "budget.json").write_text(json.dumps({"budget_s": budget, "budget_trials": args.budget_trials,
                                                    "problem": problem_name,
                                                    **({"noise": bench.noise} if args.calibrated else {})}))
    for method, is_peer in planned_methods(args.methods, peers):
        enqueue = [documented_default(bench)] if method.endswith(SEEDED) else []
        done = load_traces(folder).get(method, [])  # a rerun continues where an interrupted one stopped
        traces: list[TraceRow] = [row for run in done for row in run]
        for seed in range(args.peer_seeds if is_peer else args.seeds):
            if any(run[0].seed == seed for run in done):
                continue
            t = time.perf_counter()
            if is_peer:
                with PeerOptimizer(args.peers_python, method.removesuffix(SEEDED), bench.space, seed, N_INITIAL,
                                   enqueue) as peer:
                    trace = run(bench, method, seed, budget, optimizer=peer)
            else:
                trace = run(bench, method, seed, budget, enqueue=enqueue)
            traces += trace
            best = best_curve(trace, np.array([budget]))[0]
            print(f"{problem_name} {method} seed {seed}: best {best:.3f} in {len(trace)} trials "
                  f"({time.perf_counter() - t:.0f} s)", flush=True)
            write_csv(folder / f"{method}.csv", [dataclasses.asdict(row) for row in traces])


def load_traces(folder: Path) -> dict[str, list[list[TraceRow]]]:
    """``{method: [runs]}`` of one run folder from its per-method trace CSVs."""
    out: dict[str, dict[int, list[TraceRow]]] = {}
    for path in sorted(folder.glob("*.csv")):
        for r in read_csv(path):
            row = TraceRow(r["method"], int(r["seed"]), int(r["trial"]), float(r["compute_s"]), r["status"],
                           float(r["accuracy"]), r["feasible"] == "True", r["phase"], float(r["ask_s"]))
            out.setdefault(row.method, {}).setdefault(row.seed, []).append(row)
    names = (*OURS, *PEERS)
    order = [m for m in (*names, *(n + SEEDED for n in names)) if m in out]
    return {m: list(out[m].values()) for m in order}


ABLATIONS: tuple[str, ...] = ("-no-detector", "-dropped")
"""Suffixes of the shipped method's ablations in :data:`OURS`: silent networks trained to the end,
and stopped but told as pruned (Optuna's and Ax's treatment)."""


def plotted(traces: dict[str, list[list[TraceRow]]], shipped: str) -> dict[str, list[list[TraceRow]]]:
    """The methods a run's plot shows: random search, the shipped method and its ablations, and the
    peers. The dozens of variants tried over the sessions stay in the tables: 17 curves in one panel
    repeat colours and hide each other."""
    keep = {"random", shipped, *(shipped + a for a in ABLATIONS), *PEERS}
    return {m: runs for m, runs in traces.items() if m in keep}


def plot(run_name: str, traces: dict[str, list[list[TraceRow]]], budget: float, path: Path, shipped: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    traces = plotted(traces, shipped)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [2, 1]})
    grid = np.linspace(0, budget, 200)
    for method, runs in traces.items():
        curves = np.array([best_curve(r, grid) for r in runs])
        median = np.median(curves, axis=0)
        label = f"{method} ({len(runs)} seeds)" + (": shipped" if method == shipped else "")
        line, = left.plot(grid, median, label=label, lw=2.4 if method == shipped else 1.2,
                          ls="--" if method.endswith(ABLATIONS) else "-")
        left.fill_between(grid, np.quantile(curves, 0.25, axis=0), np.quantile(curves, 0.75, axis=0),
                          color=line.get_color(), alpha=0.12)
    left.axvline(REACH_TARGET * budget, color="gray", ls=":", lw=1)
    left.set_xlabel("compute spent (s, surrogate of real trial seconds)")
    left.set_ylabel("best feasible test accuracy")
    left.set_title(f"{run_name}: median and interquartile band over seeds")
    left.legend(fontsize=7, loc="lower right")
    names = list(traces)
    x = np.arange(len(names))
    for offset, phase in ((-0.2, "initial"), (0.2, "model")):
        rates = [np.nanmean([silent_rate(r, phase) for r in runs]) for runs in traces.values()]
        right.bar(x + offset, rates, 0.4, label="initial design" if phase == "initial" else "model-guided")
    right.set_xticks(x, names, rotation=45, ha="right", fontsize=7)
    right.set_ylabel("share of trials silent")
    right.axhline(0.2, color="gray", ls=":", lw=1)
    right.legend(fontsize=7)
    right.set_title("silent rate: initial design vs model-guided trials")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def versus_cell(row: dict) -> str:
    """A summary row's ``vs_*`` columns (``compare.versus``): ``preset`` for the preset's own row."""
    p = float(row.get("vs_best_p", "nan"))
    if math.isnan(p):
        return "preset" if "vs_best_p" in row else "-"
    if math.isnan(float(row["vs_earlier"])):
        return f"p={p:.2f}"
    count = {key: int(float(row[f"vs_{key}"])) for key in ("earlier", "later", "higher", "lower")}
    return f"p={p:.2f}; {count['earlier']} / {count['later']}, {count['higher']} / {count['lower']}"


def fmt_s(value: float) -> str:
    return "never" if math.isinf(value) or math.isnan(value) else f"{value:.0f}"


def top_lines(validation: list[dict], summaries: dict[str, list[dict]], meta: dict) -> list[str]:
    """How far the surrogate lowers the bar at the top: the 95th percentile of the held-out kept
    networks' real accuracy against their predictions, and per run random search's median best on
    the surrogate (the reach anchor) against random sets of as many of the table's real rows."""
    lines = ["The top of the table against the surrogate's. The accuracy model ranks well but pulls the "
             "few networks that learn best towards the others, so its best networks are worse than the "
             "table's, and random search on it, whose best is the best of a few dozen networks, sets a lower "
             "reach anchor than a real random search does. Held-out kept networks' 95th percentile (real / "
             "predicted), and random search's median best over the run's budget, on the surrogate against "
             "2,000 random sets of as many of the table's real rows (`jaxsnn.snnbench.tables.random_best`; "
             "a set's best among the rows the detector keeps):", "",
             "| run | held-out kept, 95th percentile: real / predicted | random trials | random search's best: "
             "table rows / surrogate |", "|---|---|---|---|"]
    tops = {v["problem"]: v for v in validation}
    for run_name, rows in summaries.items():
        problem = meta["budgets"][run_name]["problem"]
        random = next(r for r in rows if r["method"] == "random")
        n, v = int(round(float(random["trials"]))), tops[problem]
        lines.append(f"| {problem} b{meta['budgets'][run_name]['budget_trials']} "
                     f"| {float(v['kept_top']):.2f} / {float(v['kept_top_predicted']):.2f} | {n} "
                     f"| {random_best(table(problem), n):.3f} / {float(random['best_100']):.3f} |")
    return lines


def section(validation: list[dict], summaries: dict[str, list[dict]], meta: dict) -> str:
    lines = [SECTION, "",
             f"Machine: {meta['machine']}; load average {meta['load']} when the report was written; the "
             "tables and runs shared the 2 cores with each other. Commands: the tables with "
             "`python benchmarks/snn_tables.py <problem> --rows N` (real trials), the runs with "
             "`cd benchmarks && python snn_hpo.py --problems <p> --methods <m> --seeds N --budget-trials B`, this report with "
             "`python snn_hpo.py --report-only`; peers in their venv (build command in `benchmarks/snn_peers.py`).", "",
             *scorecard(summaries, meta["budgets"]), "", *calibrated_lines(*meta["calibrated"]), "",
             *ablation_lines(summaries, meta["budgets"]), "",
             *quarter_lines(summaries, meta["budgets"]), "",
             "Surrogate validation (5-fold cross-validation: each row predicted by models fitted on the other "
             "four fifths; targets: accuracy Spearman >= 0.8, silent/kept agreement >= 90 %). The accuracy "
             "Spearman is given over the networks the detector keeps and over all rows. A table holds one "
             "training run per configuration, itself a noisy draw: the retest columns train the kept "
             "networks again with seed 1 (`python benchmarks/snn_tables.py <problem> --retest 1`) and give "
             "how well the table's run ranks the retest's (one real trial standing in for another) and how "
             "well the surrogate's held-out predictions rank it:", "",
             "| problem | rows fitted per fold | rows predicted | accuracy Spearman, kept / all | silent agreement "
             "| cost Spearman | kept rows retested | retest Spearman: table / surrogate |",
             "|---|---|---|---|---|---|---|---|"]
    for v in validation:
        retest = (f"{int(v['retested'])} | {float(v['retest_spearman']):.2f} / "
                  f"{float(v['surrogate_retest_spearman']):.2f}" if int(v["retested"]) else "- | -")
        lines.append(f"| {v['problem']} | {v['n_train']} | {v['n_test']} | {float(v['accuracy_spearman']):.2f} / "
                     f"{float(v['accuracy_spearman_all']):.2f} "
                     f"| {float(v['silent_agreement']):.1%} | {float(v['cost_spearman']):.2f} | {retest} |")
    lines += ["", *top_lines(validation, summaries, meta)]
    lines += ["", "The documented default network (the first trial of a study of the product's presets, "
              f"`<method>{SEEDED}` below): real runs, seeds {'/'.join(map(str, DEFAULT_SEEDS))}, against the surrogate:", "",
              "| problem | real accuracy | real status | surrogate accuracy | surrogate P(silent) |", "|---|---|---|---|---|"]
    for d in meta["defaults"]:
        if "refused" in d:
            lines.append(f"| {d['problem']} | - | - | refused: {d['refused']} | - |")
        else:
            lines.append(f"| {d['problem']} | {d['real_accuracy']} | {d['real_status']} "
                         f"| {float(d['surrogate_accuracy']):.3f} | {float(d['surrogate_p_silent']):.2f} |")
    lines += ["", "What the detector stops, on the tables (every row was trained to the end, so each stopped "
              "network's full-run accuracy is known): a *false stop* is a stopped network whose full run reached "
              "5x chance accuracy; *woke up*: its whole run ended below the tolerated silent fraction p (silent "
              "early, not later); *silent throughout*: >= 90 % of all its samples had fewer than k output spikes, "
              "and it classified anyway. Both optimizers and random search in the runs below see these networks "
              "as silent, so a share of the good region is closed to all of them alike:", "",
              "| problem | rows | stopped | reached 5x chance | of those stopped (false stops) | woke up "
              "| silent throughout | best stopped / best kept |", "|---|---|---|---|---|---|---|---|"]
    for d in meta["stops"]:
        good, false = int(d["good"]), int(d["false_stops"])
        lines.append(f"| {d['problem']} | {int(d['rows'])} | {int(d['stopped'])} "
                     f"| {good} (>= {float(d['good_accuracy']):.2f}) | {false} ({false / max(good, 1):.0%}) "
                     f"| {int(d['woke_up'])} | {int(d['silent_throughout'])} "
                     f"| {float(d['best_stopped']):.3f} / {float(d['best_kept']):.3f} |")
    for run_name, rows in summaries.items():
        run = meta["budgets"][run_name]
        budget = run["budget_s"]
        lines += ["", f"### {run['problem']}, {run['budget_trials']}-trial budget: "
                  f"{get_problem(run['problem']).description}", "",
                  f"Budget {budget:.0f} s of trial compute per run (about {run['budget_trials']} "
                  f"random trials "
                  f"with the detector). Best = median over seeds of the best feasible accuracy; reach = median "
                  f"compute until a run first matches random search's median final best; silent = share of "
                  f"trials stopped as silent in the initial design / among the model-guided trials (ours: the "
                  f"design's own Sobol points, which go on past {N_INITIAL} until 3 are feasible; peers and "
                  f"random search: the first {N_INITIAL} trials).", "",
                  "The last column holds each method against the preset's (`targets.SHIPPED`): p, the two-sided "
                  "Mann-Whitney test of the bests at 100 % (seeds as independent draws); for our methods, whose "
                  "seed n seeds the preset's random stream (a variant with the preset's design draws the same "
                  "design), the seeds on which the method reached random's best earlier / later and ended "
                  "higher / lower than the preset (ties neither). A median moved by chance shows about as many "
                  "seeds one way as the other.", "",
                  "| method | seeds | trials | reach random's best s (x random) | best @25 % | best @50 % "
                  "| best @100 % (q25-q75) | silent design / model | median ask s | reach, ask s counted (x random) "
                  "| vs the preset: best p; by seed, reach earlier / later, best higher / lower |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(
                f"| {r['method']} | {r['seeds']} | {float(r['trials']):.0f} | {fmt_s(float(r['reach_random_best_s']))} "
                f"({float(r['reach_ratio']):.2f}) | {float(r['best_25']):.3f} | {float(r['best_50']):.3f} "
                f"| {float(r['best_100']):.3f} ({float(r['best_100_q25']):.3f}-{float(r['best_100_q75']):.3f}) "
                f"| {_share(r['silent_initial'])} / {_share(r['silent_model'])} | {float(r['ask_s_median']):.2f} "
                f"| {float(r['reach_with_asks_ratio']):.2f} | {versus_cell(r)} |")
        lines += ["", f"Plot: `benchmarks/results/snn_hpo_{run_name}.png` (random search, the shipped method and "
                  "its ablations, dashed, and the peers; the dotted line marks a quarter of the budget)."]
    for real in sorted(RESULTS.glob("snn_real_studies*.csv")):
        lines += real_study_lines(real)
    for peers in sorted(RESULTS.glob("snn_real_peer_studies*.csv")):
        lines += peer_study_lines(peers)
    lines += ["", meta.get("notes", ""), ""]
    return "\n".join(lines)


def scorecard(summaries: dict[str, list[dict]], budgets: dict[str, dict]) -> list[str]:
    """The targets, per problem, for the optimizer each preset ships (``jaxsnn.snnbench.targets``):
    on the surrogate from scratch (every budget run), and in the real studies as the preset ships
    (its default network first) and from scratch."""
    lines = ["### The targets, for the optimizer each preset ships", "",
             f"Targets: reach random search's final best in <= {REACH_TARGET:.2f} of its compute (median over "
             f"seeds), best at equal compute >= every peer (Optuna TPE and GPSampler, BoTorch SCBO, where run), "
             f"model-guided trials <= {SILENT_TARGET:.0%} silent where random search's are >= "
             f"{RANDOM_SILENT_FLOOR:.0%}. Surrogate: the preset's optimizer from scratch (its method in the tables "
             "below). Real studies: as the preset ships, its default network first (on every problem that "
             "trial alone beats random search's median best, so the reach is the anchor's), and from scratch "
             "(`hpo.enqueue=[]`); reach and best are medians over seeds, the silent share their mean. The real "
             "columns are a problem's studies at its preset's trial count, the same on each of its surrogate "
             "runs (sg_randman's: 100 trials). "
             "`tests/test_snnbench.py` holds each benchmark method to the optimizer its preset builds. A "
             f"method named `...{AGAIN}` is the same method run a second time (see the notes): two valid runs "
             "of one method, whose difference is the noise any comparison here has to beat.", "",
             "| problem | preset: method | surrogate run | reach <= 1/4 | best >= every peer | model-guided silent "
             "| real, as shipped | real, from scratch |",
             "|---|---|---|---|---|---|---|---|"]
    reals = {problem_of(path, "snn_real_studies"): read_csv(path) for path in RESULTS.glob("snn_real_studies*.csv")}
    for problem in PROBLEMS:
        preset = HPO_PRESETS[PROBLEMS[problem].trainer]
        method, study_name = SHIPPED[preset]
        real_cells = []
        for name in (study_name + SEEDED, study_name):
            v = real_verdicts(reals.get(problem, []), name)
            real_cells.append("-" if v is None else f"{v['seeds']} seeds: reach {v['reach']}, best {v['best']}, "
                                                    f"silent {v['silent']}")
        for run_name, rows in summaries.items():
            if budgets[run_name]["problem"] != problem:
                continue
            again = f"{method}{AGAIN}"
            for name in [method] + ([again] if any(r["method"] == again for r in rows) else []):
                v = surrogate_verdicts(rows, name, PEERS) or {"reach": "not run", "best": "-", "silent": "-"}
                lines.append(f"| {problem} | `{preset}`: `{name}` | {budgets[run_name]['budget_trials']} trials "
                             f"| {v['reach']} | {v['best']} | {v['silent']} | {' | '.join(real_cells)} |")
    return lines


def ablation_lines(summaries: dict[str, list[dict]], budgets: dict[str, dict]) -> list[str]:
    """The paper's claim taken apart on each run: the shipped method against itself without the
    detector (silent networks train to the end) and with silent trials told as pruned (the
    constraint model never sees them), at equal compute and on the same seeds."""
    lines = ["The detector and the silent constraint, each taken away from the shipped method (surrogate, "
             "from scratch, at random search's compute; the same seeds draw the same design): *without the "
             "detector* every silent network trains to the end and costs a trained one's seconds; *silent "
             "trials pruned* stops them as the detector does but tells them as pruned trials, as Optuna and Ax "
             "do, so no model learns where the silent region is (a design that counts only the trials it is "
             "told never ends where nearly every network is silent: on stdp_digits the pruned variant stays a "
             "Sobol search, `-` in the model column). Last column: against the shipped method, the "
             "rank test's p of the bests and, by seed, reach earlier / later and best higher / lower:", "",
             "| run | method | seeds | trials | reach random's best (x random) | best @100 % | silent design / "
             "model | vs the shipped method |", "|---|---|---|---|---|---|---|---|"]
    body = []
    for run_name, rows in summaries.items():
        shipped = shipped_method(budgets[run_name]["problem"])
        by_name = {r["method"]: r for r in rows}
        chosen = [by_name[m] for m in (shipped, *(shipped + a for a in ABLATIONS)) if m in by_name]
        if len(chosen) < 2:
            continue
        body += [f"| {run_name} | {r['method']} | {r['seeds']} | {float(r['trials']):.0f} "
                 f"| {_ratio(float(r['reach_ratio']))} | {float(r['best_100']):.3f} "
                 f"| {_share(r['silent_initial'])} / {_share(r['silent_model'])} | {versus_cell(r)} |" for r in chosen]
    return [*lines, *body] if body else []


def quarter_lines(summaries: dict[str, list[dict]], budgets: dict[str, dict]) -> list[str]:
    """Why reach in a quarter is missed from scratch, by every method: per run, for random search,
    the preset's method and each peer, how many trials fit in a quarter of random search's compute,
    how many runs match random's best in them (the target needs half), and how often a design trial
    matches it against how often it would have to (``compare.quarter_odds``)."""
    lines = [f"What reach in {REACH_TARGET:.2f} of random search's compute asks (`compare.quarter_odds`; "
             "from scratch, the runs of the tables below). A median reach within it needs half the runs to "
             "match random search's best among the trials that end in that share of its compute, before a "
             "model has more than the design to go on. With m such trials each must match with probability "
             "1 - 0.5^(1/m) (*needed*); *design* is how often the design's trials match (random search and "
             f"the peers: their first {N_INITIAL}), *all* how often any trial of the run does (once a model "
             "has found the region, most of its trials match; random search's is the rate of a blind draw):",
             "", "| run | method | trials in the quarter | runs matching in it | per trial: needed / design / all |",
             "|---|---|---|---|---|"]
    for run_name, rows in summaries.items():
        shipped = shipped_method(budgets[run_name]["problem"])
        for r in rows:
            if r["method"] not in ("random", shipped, *PEERS):
                continue
            m = float(r["quarter_trials"])
            needed = 1 - 0.5 ** (1 / m) if m else math.nan
            lines.append(f"| {run_name} | {r['method']} | {m:.0f} | {float(r['quarter_hit']):.0%} "
                         f"| {needed:.1%} / {float(r['design_hit']):.1%} / {float(r['trial_hit']):.1%} |")
    return lines


def shipped_method(problem_name: str) -> str:
    """The surrogate benchmark's name of the method the problem's preset ships (``targets.SHIPPED``)."""
    return SHIPPED[HPO_PRESETS[get_problem(problem_name).trainer]][0]


def run_summaries(root: Path, tabled: list[str], summary_path: str | Path,
                  plots: bool) -> tuple[dict[str, list[dict]], dict[str, dict]]:
    """``({run: summary rows}, {run: budget})`` of every run folder under ``root`` that holds random
    search (the reach anchor) on a tabled problem; each run's summary written to ``summary_path``
    (``{run}`` filled in), and its curves plotted next to RESULTS.md where ``plots``."""
    summaries, budgets = {}, {}
    for folder in sorted(root.glob("*/budget.json")):
        run, budget = folder.parent.name, json.loads(folder.read_text())
        if budget["problem"] not in tabled:
            continue
        traces = load_traces(folder.parent)
        if "random" not in traces:
            continue
        budgets[run], shipped = budget, shipped_method(budget["problem"])
        summaries[run] = summarise(traces, budget["budget_s"], reference=shipped)
        write_csv(Path(str(summary_path).format(run=run)), summaries[run])
        if plots:
            plot(run, traces, budget["budget_s"], RESULTS / f"snn_hpo_{run}.png", shipped)
    return summaries, budgets


def calibrated_lines(summaries: dict[str, list[dict]], budgets: dict[str, dict]) -> list[str]:
    """The targets of each preset's method on the calibrated surrogate (``--calibrated``): its
    trials carry the noise that makes random search's bar the table's (``CALIBRATED``)."""
    if not summaries:
        return []
    lines = ["The same targets on the *calibrated* surrogate (`snn_hpo.py --calibrated ...`, traces in "
             f"`benchmarks/results/{CALIBRATED.name}/`): each trial's predicted accuracy moves by a draw fixed by "
             "its configuration, of the logit deviation at which random search's median best of "
             f"{CALIBRATION_TRIALS} trials on the surrogate equals that of as many of the table's real rows "
             "(`jaxsnn.snnbench.surrogate.calibrated_noise`; see \"The top of the table\" below). Random search "
             "then sets about the bar a real one does, and the plain surrogate's smoothness no longer favours "
             "the model-based methods. Peers: those run on it.", "",
             "| run | noise (logit) | random's best | preset: method | reach <= 1/4 | best >= every peer "
             "| model-guided silent |", "|---|---|---|---|---|---|---|"]
    for run_name, rows in summaries.items():
        budget = budgets[run_name]
        method = shipped_method(budget["problem"])
        v = surrogate_verdicts(rows, method, PEERS) or {"reach": "not run", "best": "-", "silent": "-"}
        random = next(r for r in rows if r["method"] == "random")
        lines.append(f"| {budget['problem']} b{budget['budget_trials']} | {float(budget['noise']):.3f} "
                     f"| {float(random['best_100']):.3f} ({int(random['seeds'])} seeds) | `{method}` | {v['reach']} "
                     f"| {v['best']} | {v['silent']} |")
    return lines


def problem_of(path: Path, prefix: str) -> str:
    """The problem a real-study summary holds, from its name as ``snn_real_studies.py`` writes it:
    ``<prefix>.csv`` is the demo problem's, ``<prefix>_<problem>.csv`` another problem's."""
    return path.stem.removeprefix(prefix).removeprefix("_") or "sg_digits"


def real_study_lines(path: Path) -> list[str]:
    """The table of one problem's real studies (``snn_real_studies.py``'s CSV: the demo problem's,
    or ``snn_real_studies_<problem>.csv``)."""
    rows = read_csv(path)
    problem = problem_of(path, "snn_real_studies")
    trials = sorted({int(r["trials"]) for r in rows})
    command = "python benchmarks/snn_real_studies.py" + ("" if problem == "sg_digits" else f" --problem {problem}")
    where = ("the demo problem" if problem == "sg_digits"
             else f"{problem} ({PROBLEMS[problem].description.split(':')[0]})")  # fmt: skip
    data = "" if problem == "sg_digits" else " on this problem's data"
    trainer = PROBLEMS[problem].trainer
    lines = ["", f"### Real studies of {where} (`{command}`)", "",
             f"Every trial trains a network with the live detector: `experiments/hpo.py` with the "
             f"`{HPO_PRESETS[trainer]}` preset{data} searched from scratch "
             f"(`hpo.enqueue=[]`), {'/'.join(map(str, trials))} trials on 2 workers, each study with its own empty "
             "compilation cache, one row per optimizer seed. Rows named `<optimizer>+default` keep the preset's "
             "enqueued default network as trial 1 (on the demo problem they are `make demo` itself, with another "
             "`hpo.seed`). Compute is the sum of trial seconds; columns as above, random search's median compute "
             "as the budget. Wall: the study's own seconds from its first trial's start, and the wall time "
             "until it matched random search's best against random's median wall time: on 2 cores the "
             "optimizer's fits and compiles run beside the 2 workers' trials and slow them, which the "
             "compute column charges to the trials. Anchor: random search's median compute the row's reach and "
             "best were measured against; a row whose anchor is not random's (below) comes from a study no "
             "longer on disk, run on earlier code against an earlier run of random search (`-`: from before "
             "the anchor was kept), and is neither comparable with the others nor judged in the targets table. "
             + ("The `silent_sg` preset's SCBO has seen each network's input drive since the `scbo-drive` "
                "rows; rows named `scbo` and `scbo+default` ran before that, without it "
                "(`scbo-nodrive` now). " if trainer == "sg" else "")
             + "Driver CPU: the seconds of "
             "CPU the study's driver process spent (the optimizer's fits, asks and compilations, the loop), "
             "kept in the study since issue 13's last session; `-` for studies run before.", "",
             *real_median_lines(rows), "",
             "Every study, one row per seed:", "",
             "| optimizer | seed | trials | compute s | best @25 % | best @50 % | best @100 % | best at the end "
             "| reach random's best s (x random) | wall s | reach in wall s (x random) | silent design / model "
             "| driver CPU s | anchor s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        wall, cpu = r.get("wall_s", "nan"), r.get("driver_cpu_s", "nan")
        cpu, anchor = _or_dash(cpu, ".0f"), _or_dash(r.get("anchor_s", "nan"), ".0f")
        wall_cells = ("- | -" if wall in ("", "nan") else
                      f"{float(wall):.0f} | {fmt_s(float(r['reach_wall_s']))} ({float(r['reach_wall_ratio']):.2f})")
        lines.append(f"| {r['optimizer']} | {r['seed']} | {r['trials']} | {float(r['compute_s']):.0f} "
                     f"| {float(r['best_25']):.3f} | {float(r['best_50']):.3f} | {float(r['best_100']):.3f} "
                     f"| {float(r['best_final']):.3f} | {fmt_s(float(r['reach_random_best_s']))} "
                     f"({float(r['reach_ratio']):.2f}) | {wall_cells} | {float(r['silent_design']):.0%} / "
                     f"{float(r['silent_model']):.0%} | {cpu} | {anchor} |")  # fmt: skip
    return lines


def peer_study_lines(path: Path) -> list[str]:
    """Real studies of the preset, random search and the Optuna peers from scratch, run on one
    machine on one day (``snn_real_studies.py --optimizers random <preset> optuna-tpe ...``; the
    demo problem's ``snn_real_peer_studies.csv``, or ``snn_real_peer_studies_<problem>.csv``), and
    each peer against the preset."""
    rows = read_csv(path)
    problem = problem_of(path, "snn_real_peer_studies")
    preset = shipped_method(problem)
    flag = "" if problem == "sg_digits" else f"--problem {problem} "
    trials = "/".join(sorted({r["trials"] for r in rows}))
    medians = {m["optimizer"]: m for m in real_medians(rows)}
    lines = ["", f"### Real studies against the peers ({problem} from scratch, one machine, one day)", "",
             f"{problem}, {trials} trials, with every trial a trained network, as in the real studies above, "
             f"for random search, the preset's optimizer (`{preset}`) and Optuna's TPE (and GPSampler, where its "
             "rows are) with `constraints_func` as the optimizer of the same study (`benchmarks/snn_real_peers.py`: "
             "`experiments/hpo.py`'s own study, workers, detector and compilation caches, the study loop asking the "
             "peer in its venv), each from scratch (`hpo.enqueue=[]`): `python benchmarks/snn_real_studies.py "
             f"{flag}--trials {trials} --optimizers random {preset} optuna-tpe --seeds <s>` for each seed in turn, "
             "so that the three met the same machine load (then `--optimizers optuna-gp` for each seed), in a "
             "checkout whose summary held no other studies. The peers' driver CPU leaves out their own process; "
             "on 2 cores it comes out of the trials' compute as the preset's does. Medians:", "",
             *real_median_lines(rows)[2:], "",
             "Each peer against the preset (two-sided Mann-Whitney p, seeds as independent draws):", "",
             "| peer | seeds | best at random's compute: peer / preset (p) | best at the end: peer / preset (p) "
             "| reach random's best (x random): peer / preset |",
             "|---|---|---|---|---|"]  # fmt: skip
    for peer in [name for name in PEERS if name in medians and preset in medians]:
        mine, theirs = ([r for r in comparable(rows) if r["optimizer"] == name] for name in (preset, peer))
        cells = []
        for key in ("best_100", "best_final"):
            p = mannwhitneyu([float(r[key]) for r in theirs], [float(r[key]) for r in mine]).pvalue
            cells.append(f"{medians[peer][key]:.3f} / {medians[preset][key]:.3f} (p={p:.2f})")
        lines.append(f"| {peer} | {len(theirs)} | {cells[0]} | {cells[1]} | {_ratio(medians[peer]['reach'])} / "
                     f"{_ratio(medians[preset]['reach'])} |")  # fmt: skip
    return lines


def real_median_lines(rows: list[dict]) -> list[str]:
    """Medians per optimizer over the studies measured against random search's current anchor
    (``targets.real_medians``): the per-seed rows below hold every variant of many sessions."""
    lines = ["Medians over the seeds of each optimizer, for the studies measured against random search's "
             "current anchor (reach: its quartiles in brackets; silent: mean shares). Random search's own reach "
             "is measured here like any optimizer's, so half its seeds never match their own median best "
             "(`never`); the surrogate tables set it to 1.00, the budget, by definition:", "",
             "| optimizer | seeds | compute s | reach random's best (x random) | best @100 % | best at the end "
             "| silent design / model | reach in wall s (x random) | driver CPU s |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for m in real_medians(rows):
        lines.append(f"| {m['optimizer']} | {m['seeds']} | {m['compute_s']:.0f} | {_ratio(m['reach'])} "
                     f"({_ratio(m['reach_q25'])}-{_ratio(m['reach_q75'])}) | {m['best_100']:.3f} "
                     f"| {m['best_final']:.3f} | {m['silent_design']:.0%} / {m['silent_model']:.0%} "
                     f"| {_ratio(m['reach_wall'])} | {_or_dash(str(m['driver_cpu_s']), '.0f')} |")  # fmt: skip
    return lines


def _share(value: float | str) -> str:
    """A phase's silent share; ``-`` where no run had the phase (a design that never ended)."""
    return "-" if math.isnan(float(value)) else f"{float(value):.0%}"


def _ratio(value: float) -> str:
    return "never" if math.isinf(value) else "-" if math.isnan(value) else f"{value:.2f}"


def _or_dash(cell: str, spec: str) -> str:
    return "-" if cell in ("", "nan") else format(float(cell), spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    tabled = [p for p in PROBLEMS if (TABLES / f"{p}.csv.gz").exists()]
    parser.add_argument("--problems", nargs="*", default=tabled, help="problems to run (the report covers all)")
    parser.add_argument("--methods", nargs="*", default=None, help="subset of method names (ours and peers)")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--peer-seeds", type=int, default=20)
    parser.add_argument("--budget-trials", type=int, default=100)
    parser.add_argument("--peers-python", default=PEERS_PYTHON)
    parser.add_argument("--calibrated", action="store_true",
                        help=f"trials with the surrogate's calibrated noise (traces in {CALIBRATED.name}/, "
                             "judged in their own targets table)")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--no-report", action="store_true",
                        help="run only (several runs in parallel processes); write the report later with --report-only")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if not args.report_only:
        peers = available_peers(args.peers_python)
        for peer, problem in peers.items():
            if problem is not None:
                print(f"skipping {peer}: {problem}", file=sys.stderr)
        for problem_name in args.problems:
            run_problem(problem_name, args, peers)
        if args.no_report:
            return
    # The report rewrites the whole section, so it covers every problem with a table, not only
    # those just run: a run of one problem used to drop the others' tables from RESULTS.md.
    validation = [validate(p) for p in tabled]
    write_csv(RESULTS / "snn_hpo_validation.csv", validation)
    defaults = [default_check(p) for p in tabled]
    stops = [detector_cost(p) for p in tabled]
    write_csv(RESULTS / "snn_hpo_false_stops.csv", stops)
    summaries, budgets = run_summaries(TRACES, tabled, RESULTS / "snn_hpo_summary_{run}.csv", plots=True)
    calibrated = run_summaries(CALIBRATED, tabled, CALIBRATED / "summary_{run}.csv", plots=False)
    notes_path = Path(__file__).parent / "snn_hpo_notes.md"
    meta = {"budgets": budgets, "defaults": defaults, "stops": stops, "calibrated": calibrated,
            "notes": notes_path.read_text() if notes_path.exists() else "",
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
            "load": "/".join(f"{x:.1f}" for x in os.getloadavg())}
    replace_section(SECTION, section(validation, summaries, meta))
    for run_name, rows in summaries.items():
        for r in rows:
            print(run_name, {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()})


if __name__ == "__main__":
    main()
