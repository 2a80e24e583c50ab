"""The driver's CPU per study: what the optimizer and the study loop take from the trials.

On 2 cores with 2 workers every CPU second of the driver comes out of the trials' time (issue 13,
session 48: a trained network of the preset's real sg_digits studies cost 1.50 s against random
search's 1.09 s, with about 20 s of driver CPU per 40-trial study). Here the trials are free of
CPU: each pass is a fresh Python process that runs ``run_study`` (thread executor, ``--workers``
workers, ``--trials`` trials) on the SNN-HPO surrogate of ``--problem``, each trial sleeping for
the seconds its network costs (the live-cost table's, times ``--time-scale``), so the process's
CPU is the driver's own: imports, the compile-ahead thread, GP fits in the background, asks,
storage. Each method is one of ``jaxsnn.snnbench.compare.OURS`` (by default the ``silent_sg``
preset's and random search); the first of them also runs with optimizer options changed
(``--variant name:key=value,...``) or on another commit's code (``--baseline REV``), to see what
a change saves. Each pass is cold (no persistent compilation cache): a study's first run. Load
matters little: the number is CPU, not wall time.

    python benchmarks/driver_cpu.py                                  # preset and random, seeds 0-2
    python benchmarks/driver_cpu.py --baseline 2d880cf               # and the preset at that commit
    python benchmarks/driver_cpu.py --variant candidates2000:n_candidates=2000
    python benchmarks/driver_cpu.py --problem stdp_digits --trials 24 --methods logei-lag1 --inherit-threads
    python benchmarks/driver_cpu.py --report-only

Writes ``results/driver_cpu.csv`` (one row per pass) and the "Driver CPU" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from baseline_code import checked_out, import_from, imported_from
from results_io import read_csv, replace_section, write_csv

from jaxsnn.snnbench.targets import SHIPPED

RESULTS = Path(__file__).parent / "results"
CSV = RESULTS / "driver_cpu.csv"
PLOT = RESULTS / "driver_cpu.png"
SECTION = "## Driver CPU per study (issue 13)"
PRESET = SHIPPED["silent_sg"][0]
"""The ``silent_sg`` preset's method."""
CODE_ENV = "JAXSNN_DRIVER_CPU_CODE"
"""Folder of another commit's ``jaxsnn`` for a baseline pass."""


def parse_variant(text: str) -> tuple[str, dict[str, object]]:
    """``name:key=value,key=value`` (values JSON, or strings) -> (name, options)."""
    name, _, spec = text.partition(":")
    options: dict[str, object] = {}
    for item in filter(None, spec.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--variant {text!r}: {item!r} is not key=value")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return name, options


def one_pass(problem: str, method: str, options: dict[str, object], seed: int, trials: int, workers: int,
             time_scale: float) -> dict[str, object]:
    """One study in this process (called in a fresh one): CPU seconds by part, and the wall time."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    import threading

    code = os.environ.get(CODE_ENV)
    import_from(code)
    from jaxsnn.xla_defaults import add_xla_flags

    add_xla_flags()  # as experiments/hpo.py's driver has it
    from snn_hpo import table as surrogate_table  # not this module's report table

    from jaxsnn.hpo.executors import ThreadExecutor
    from jaxsnn.hpo.loop import run_study
    from jaxsnn.hpo.study import Study
    from jaxsnn.snnbench import get_problem
    from jaxsnn.snnbench.compare import N_INITIAL, OURS
    from jaxsnn.snnbench.surrogate import SurrogateBenchmark

    import_cpu = time.process_time() - cpu0
    assert imported_from(code), "baseline code not imported"
    bench = SurrogateBenchmark(get_problem(problem), surrogate_table(problem))
    setup_cpu = time.process_time() - cpu0 - import_cpu
    name, mode, base = OURS[method]
    # compare.our_method's options, spelt out: a baseline pass runs older code, which may lack any
    # helper this checkout adds
    merged = {**({} if name == "random" else {"n_initial": N_INITIAL}), **base, **options}
    objective_cpu = [0.0]
    lock = threading.Lock()

    def objective(params: dict) -> object:
        start = time.thread_time()
        record = bench(params, mode)
        spent = time.thread_time() - start
        with lock:
            objective_cpu[0] += spent
        time.sleep(record.cost_s * time_scale)
        return record

    with tempfile.TemporaryDirectory() as folder:
        study = Study.create(Path(folder) / "study.sqlite", bench.space, {"accuracy": "max"}, ["silent"],
                             optimizer=name, seed=seed, options=json.loads(json.dumps(merged)))
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        loop_cpu0, loop_wall0 = time.process_time(), time.perf_counter()
        run_study(study, objective, ThreadExecutor(), trials, workers, progress=False)
        loop_cpu = time.process_time() - loop_cpu0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        loop_wall = time.perf_counter() - loop_wall0
        records = study.records()
        study.close()
    return {"import_cpu_s": import_cpu, "setup_cpu_s": setup_cpu, "loop_cpu_s": loop_cpu - objective_cpu[0],
            "objective_cpu_s": objective_cpu[0], "loop_wall_s": loop_wall,
            "loop_system_cpu_s": usage.ru_stime - usage0.ru_stime,
            "compute_s": sum(r.cost_s for r in records), "silent": sum(r.status == "silent_stopped" for r in records),
            "best": max((r.objectives["accuracy"] for r in records if r.feasible), default=0.0),
            "total_cpu_s": time.process_time() - cpu0, "total_wall_s": time.perf_counter() - wall0,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_pass(problem: str, label: str, method: str, options: dict[str, object], seed: int, trials: int,
             workers: int, time_scale: float, code: str | None = None,
             blas_threads: int | None = 1) -> dict[str, object]:
    """:func:`one_pass` in a fresh process with a cold compilation cache (a first study), on the
    ``jaxsnn`` in folder ``code`` (``None``: this checkout's), with ``OMP_NUM_THREADS`` set to
    ``blas_threads`` (``None``: left as this process has it, as `make demo` runs)."""
    program = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import driver_cpu; "
                f"print(json.dumps(driver_cpu.one_pass({problem!r}, {method!r}, {options!r}, {seed}, {trials}, "
                f"{workers}, {time_scale})))")
    env = {**os.environ, **({} if blas_threads is None else {"OMP_NUM_THREADS": str(blas_threads)})}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env.pop(CODE_ENV, None)
    env.update({CODE_ENV: code} if code else {})
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"the {label} pass of seed {seed} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    row = {"problem": problem, "variant": label, "method": method, "options": json.dumps(options), "seed": seed,
           "trials": trials, "workers": workers, "time_scale": time_scale,
           "omp_num_threads": env.get("OMP_NUM_THREADS", ""),
           **{k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}}
    print(f"{label:>10} seed {seed}: loop CPU {row['loop_cpu_s']:.1f} s (imports {row['import_cpu_s']:.1f} s), "
          f"wall {row['loop_wall_s']:.1f} s, compute {row['compute_s']:.1f} s, best {row['best']:.3f}", flush=True)
    return row


def groups(rows: list[dict]) -> dict[tuple[str, str, str], list[dict]]:
    """Rows by (problem, trials, variant), in the order they first appear."""
    grouped: dict[tuple[str, str, str], list[dict]] = {}
    for row in rows:
        grouped.setdefault((row["problem"], str(row["trials"]), row["variant"]), []).append(row)
    return grouped


def table(rows: list[dict]) -> str:
    """Median per variant: the driver's CPU per study and per trial, beside the trials' compute."""
    lines = ["| problem | variant | options | trials | seeds | driver CPU s (median, per seed) | per trial | "
             "of which system | imports CPU s | compute s | driver CPU / compute | best |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (problem, _, variant), group in groups(rows).items():
        def median(key: str) -> float:
            return float(np.median([float(r[key]) for r in group]))

        per_seed = " / ".join(f"{float(r['loop_cpu_s']):.1f}" for r in group)
        lines.append(f"| {problem} | {variant} | `{group[0]['options']}` | {group[0]['trials']} | {len(group)} | "
                     f"{median('loop_cpu_s'):.1f} "
                     f"({per_seed}) | {median('loop_cpu_s') / float(group[0]['trials']):.2f} | "
                     f"{median('loop_system_cpu_s'):.1f} | {median('import_cpu_s'):.1f} | {median('compute_s'):.0f} | "
                     f"{median('loop_cpu_s') / median('compute_s'):.2f} | {median('best'):.3f} |")
    return "\n".join(lines)


def plot(rows: list[dict]) -> None:
    """Driver CPU per study by variant, one point per seed, beside the trials' compute."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grouped = groups(rows)
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(grouped) + 1.5))
    for i, group in enumerate(grouped.values()):
        cpu = [float(r["loop_cpu_s"]) for r in group]
        compute = [float(r["compute_s"]) for r in group]
        ax.barh(i, np.median(cpu), color="tab:blue", alpha=0.5, label="driver CPU (median)" if i == 0 else None)
        ax.plot(cpu, [i] * len(cpu), "o", color="tab:blue")
        ax.plot(compute, [i] * len(compute), "x", color="tab:gray", label="trials' compute" if i == 0 else None)
    ax.set_yticks(range(len(grouped)), [f"{p}, {n} trials\n{v}" for p, n, v in grouped], fontsize=7)
    ax.set_xlabel("seconds per study")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(PLOT, dpi=120)
    plt.close(fig)


REPORT = """{section}

What a study's driver (the optimizer, the study loop, its storage) spends in CPU beside its
trials, which on 2 cores with 2 workers comes out of the trials' time. Each pass runs a study
(40 trials, as the `silent_sg` preset's; 100 for sg_randman, as its real studies) of the SNN-HPO
surrogate with 2 workers whose trials only sleep for the network's live-cost seconds, in a fresh
process with no persistent compilation cache (a study's first run, as every real study of the
benchmark is), so the process's CPU is the driver's own; imports are counted apart. Passes run
with `OMP_NUM_THREADS=1`, as the real studies do, unless the variant says "threads inherited"
(as `make demo` runs: nothing set, 2 BLAS threads on this machine).

Issue 13, session 49: SCBO's Thompson draws compute the prior's random features at the
candidates (a cosine per candidate and feature, 4M per GP and ask) in NumPy's float32, about 10x
XLA:CPU's float64 cosine; the draws move by about 1e-6 of their spread and the surrogate
benchmark's preset traces are reproduced exactly. And the study loop holds the driver's BLAS and
OpenMP pools at one thread (OpenBLAS's idle threads spin on the cores the workers need). The `@`
rows are the code before both.

`{command}` on {machine}, {cores} cores, load {load:.1f} when the report was written.

{table}

CSV: `benchmarks/results/driver_cpu.csv` (one row per pass); plot: `benchmarks/results/driver_cpu.png`.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problem", default="sg_digits")
    parser.add_argument("--methods", nargs="*", default=[PRESET, "random"])
    parser.add_argument("--variant", action="append", default=[],
                        help="name:key=value,... options changed on the first of --methods (repeatable)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--baseline", default=None, help="a git revision whose code runs the first of --methods too")
    parser.add_argument("--inherit-threads", action="store_true",
                        help="leave OMP_NUM_THREADS as it is (default: 1 in every pass, as the real studies run)")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    rows = read_csv(CSV) if CSV.exists() else []
    if not args.report_only:
        passes = [(m, m, {}) for m in args.methods]
        first = args.methods[0]  # the one a variant or the baseline changes
        passes += [(label, first, options) for label, options in map(parse_variant, args.variant)]
        with contextlib.ExitStack() as stack:
            if args.baseline:
                passes.append((f"{first} @ {args.baseline}", first, {}))
                code = stack.enter_context(checked_out(args.baseline))
            threads = None if args.inherit_threads else 1
            suffix = ", threads inherited" if args.inherit_threads else ""
            for seed in args.seeds:  # interleaved, so a change of the machine's load hits every variant
                for name, method, options in passes:
                    label = name + suffix
                    rows = [r for r in rows if not (r["problem"] == args.problem and r["variant"] == label
                                                    and int(r["trials"]) == args.trials and int(r["seed"]) == seed)]
                    row = run_pass(args.problem, label, method, options, seed, args.trials, args.workers,
                                   args.time_scale, code if "@" in label else None, threads)
                    rows.append({"command": " ".join(["python benchmarks/driver_cpu.py", *sys.argv[1:]]), **row})
                    write_csv(CSV, rows)
    commands = dict.fromkeys(r["command"] for r in rows)  # the runs that wrote the rows, in order
    body = REPORT.format(section=SECTION, command="`, `".join(commands), machine=platform.machine(),
                         cores=os.cpu_count(), load=os.getloadavg()[0], table=table(rows))
    plot(rows)
    replace_section(SECTION, body)
    print(body)


if __name__ == "__main__":
    main()
