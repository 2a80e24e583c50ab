"""Trial throughput of a study on embedded digits: today's path against warm workers + caches.

Issue 17. One study, run four ways, each in its own process with fresh workers:

``today``   the code at ``--baseline`` (the commit before issue 17), run from an extracted copy
            of that tree: every trial draws its initial weights with one compilation per weight
            shape and compiles its train and test programs.
``warm``    this code, the preset as it ships, with an empty persistent compilation cache: workers
            keep compiled programs (by static configuration) and the bucketed weight draws in
            memory, write every program to the cache, and compile the train and test steps
            without XLA's optimisation passes (``run.trainer.xla_optimizations: false``).
``warm-optimized``  ``warm`` with XLA's optimisations (``xla_optimizations: true``), in a cache of
            its own: what the preset's switch buys.
``warm-new-emitters``  ``warm-optimized`` with XLA's own CPU fusion emitters, which studies replace
            by the classic ones (``jaxsnn.xla_defaults``), in a cache of its own.
``batched``  ``warm`` with ``hpo.batch_trials=4`` (issue 17's batched trials), in a cache of its
            own: each worker task takes 4 trials, and those of one network shape train as one
            vmapped population (``jaxsnn.tuning.batch``); the others run one after another.
``rerun``   this code again on the cache ``warm`` filled: a rerun or resume of the study.

The study is the ``silent_sg`` preset's (space, run, evaluation, 2 process workers, its enqueued
default first) with *random search* at a fixed seed instead of ``logei``, so that every variant
trains the same points and the comparison is one of throughput alone (the best accuracy must
then agree). Per trial, measured the same way in every variant by this script's objective:
setup (start of ``evaluate`` to the end of the first training batch, the definition of
``silent_savings.py``), executables compiled and loaded (``jaxsnn.compile_cache``'s counter,
copied into the baseline tree as an instrument), cost, status. Per variant: trials per minute of
study wall time (worker start included), median setup, compilations per study, silent share of
worker time.

    .venv/bin/python benchmarks/trial_throughput.py                  # 40 trials per variant
    .venv/bin/python benchmarks/trial_throughput.py --preset silent_stdp --trials 16
    .venv/bin/python benchmarks/trial_throughput.py --report-only    # tables and plots from the CSVs

``--preset silent_stdp`` runs the STDP preset's study the same way, as ``today``, ``warm`` and
``rerun`` (its trainer has no XLA-optimisation switch to vary): its CSV and plot are its own and
the report shows it below the SG study.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from types import ModuleType
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from results_io import flattened, old_config, old_name, read_csv, renamed, replace_section, write_csv  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
HEADING = "## Trial throughput: warm workers and the compilation cache (issue 17)"
BASELINE = "31cc630"
"""The last commit before issue 17's work: today's path."""
PRESETS: dict[str, tuple[str, ...]] = {
    "silent_sg": ("today", "warm-new-emitters", "warm-optimized", "warm", "batched", "rerun"),
    "silent_stdp": ("today", "warm", "rerun"),
}
"""The variants each preset's study runs; the STDP trainer has no XLA-optimisation switch."""
VARIANTS = PRESETS["silent_sg"]
COLORS = {"today": "0.5", "warm-new-emitters": "tab:purple", "warm-optimized": "tab:orange", "warm": "tab:blue",
          "batched": "tab:red", "rerun": "tab:green"}  # fmt: skip
BATCH_TRIALS = {"batched": 4}
"""Trials per worker task of the variants that batch them (the others: 1, as every preset)."""
OPTIMIZED = ("today", "warm-new-emitters", "warm-optimized")
"""Variants whose trials compile with XLA's optimisations (the baseline predates the setting)."""
NEW_EMITTERS = "--xla_cpu_use_fusion_emitters=true"
"""XLA's own default, which ``jaxsnn.xla_defaults`` replaces: the ``warm-new-emitters`` variant."""
_SG_NOTES = """\
What a first run of the study saves, variant by variant. `warm-new-emitters`: what no longer
depends on a trial's shapes (initial weights drawn from one program per distribution up to
65,536 elements, power-of-two lengths above, no compilation per weight matrix; the test step
compiled only when a trial tests, which silent-stopped trials never do; states stacked on the
host; today's workers were long-lived too, so imports were already paid once per worker). `warm-optimized`: XLA's classic CPU emitters (`jaxsnn.xla_defaults`), which
compile these small programs faster. `warm`, the preset as it ships: the train and test steps
compiled without XLA's optimisation passes (`run.trainer.xla_optimizations: false`), about half
the compile time for 1.4-1.7x slower steps, a good trade where most trials are short or stopped
silent early. In this space nearly every trial still has shapes of its own (`n_hidden` 8-256,
`batch_size` 32-128, `time_steps` 10-30, and layers, recurrence, readout, reset and surrogate
shape drawn per trial), so a warm worker rarely meets a program twice: what is left of a first
run's setup is tracing and lowering the vmapped BPTT step and compiling it (one process, quiet
machine, 12 new-shape trials: trace 71 ms, lower 35 ms, compile 138 ms, building the network
15 ms, median). Session 39 took two programs out of every new shape: the weight draws' own
compilations (the build's median was 106 ms, when about every other new trial met a new
power-of-two length) and the optimiser's init program (21 ms; its zero state is now built on the
host), 111 -> 75 compilations per study. Session 40 judges a trial's first batch on a
forward-only program before compiling its training step, and the detector stops once the check
at 100 samples is already lost: a network silent on its whole first batch (batches are 32-128
here) ends there and never compiles the step. `warm` went from 4.04x to 4.46x, its median setup
from 0.39 to 0.24 s and the silent trials' share of worker time from 38 % to 23 % (same 25
silent trials); a kept trial compiles the forward program too (75 -> 83 compilations per
study). A rerun or resume of the study loads every program from the persistent cache; only tracing,
lowering, loading and the network are left. Shape buckets
(hidden width, batch and time steps padded with exact masking) would let programs repeat, but
with five categorical choices per trial a 40-trial study would still rarely meet one twice; they
are not built. `batched` (session 41) asks 4 trials per worker task: in this space nearly no two
trials of a task share a network shape, so they run one after another and nothing is shared
(compilations per study as `warm`); the cost is coarser scheduling (a task's 4 trials on one
worker, the other idle at the study's end): 3.07x today against `warm`'s 4.48x. Where trials
share a shape (traced hyperparameters only) `benchmarks/batched_trials.py` measures the
populations themselves: on this 2-core CPU they do not pay either. The load each variant
started at is above; the ratios are within one run."""
_STDP_NOTES = """\
An STDP trial was compile-bound too. At commit 31cc630 (`today`) it compiled about 14 programs of
its own shape (242 per 16-trial study): the two chunk simulations, for its number of neurons and
of time steps per presentation (both searched), and a dozen small operations around them.
Session 40 drew the weights from the shared bucketed program (`jaxsnn.nn.init`), normalised them
in one program, checked them on the host and pinned XLA's own CPU emitters for the simulations
(the study's process-wide classic ones ran them 1.5-1.7x slower): 56 programs per study, median
setup 1.09 s. Session 41 took the shape out of the configuration. The steps per presentation are
a traced loop bound, and the excitatory layer is simulated at 16, 24, 32, 48, 64, 96, ... neurons
with never-spiking extras (`jaxsnn.train.stdp.padded_width`; a test holds the padded, traced
simulation equal to the static scan at the configured width): a chunk program serves every
configuration of its width bucket, 9 buckets for the preset's 10-200 neurons. Each image draws
its noise from its own index, so the chunk between two looks of the detector went from 50 images
to 10 at no cost to a full run, and a silent network now stops after 10 images: silent trials'
share of the wall fell from 27 % to the figure above. What a first run still pays is one chunk
compilation (about 1 s) per width bucket and worker, so a 16-trial study meets most buckets for
the first time: median setup about 0.9 s. A rerun on the cache loads them (median 0.2 s). Trials
per minute stay near today's because the study's wall is its few complete networks' training
(the documented default alone 23-26 s of it), which none of this shortens: even the rerun, with
nothing compiled, runs 1.4x today's trials per minute. Target <= 0.5 s setup: met by the rerun,
missed by a first run; >= 3x trials per minute (set for the SG digits study): not within reach of
compile savings on this preset. Probes of session 41 behind the choices (one process, load about
2, not a committed benchmark): one 25-image chunk of 350 steps ran 0.17 s at 128 neurons, 0.24 s
at 200 and 0.31 s at 256, against 0.8-1.0 s to compile a chunk program, hence buckets 1.5x apart
rather than powers of two; 600 digits trained in 5.35 s with 10-image chunks and 5.43 s with 50.
The preset's own study, `python experiments/hpo.py hpo=silent_stdp` (24 trials, one run): 152 s
of wall time, best 0.900."""
NOTES = {"silent_sg": _SG_NOTES, "silent_stdp": _STDP_NOTES}
STUDIES = {
    "silent_sg": "One study per variant (preset `silent_sg`: its space, evaluation and 2 process workers, its "
    "enqueued default first; random search, seed 0, so the variants train the same points, but for one or two "
    "that the asynchronous loop's ask-ahead draws differently). "
    f"`today` is commit {BASELINE} run from an extracted copy; `warm` is this code, the preset as it ships "
    "(trial programs compiled without XLA's optimisation passes), with an empty persistent compilation cache; "
    "`warm-optimized` the same with the optimisations, `warm-new-emitters` that with XLA's own CPU emitters; "
    "`batched` is `warm` with 4 trials per worker task (`hpo.batch_trials=4`; those of one network shape train "
    "as one vmapped population), in a cache of its own; `rerun` is `warm`'s study again on its cache. Setup: start of the trial to "
    "the end of its first training batch. Silent share: silent-stopped trials' share of worker time.",
    "silent_stdp": "The same three ways for the STDP preset (`silent_stdp`: its space with presentations up to "
    "400 ms, evaluation, 2 process workers, the documented default first; random search, seed 0): `today` is "
    f"commit {BASELINE}, `warm` this code with an empty persistent compilation cache, `rerun` `warm`'s study "
    "again on its cache.",
}
"""What each preset's study is, above its table."""


def tuning_module(name: str) -> ModuleType:
    """``jaxsnn.tuning.<name>``, or ``jaxsnn.<name>`` in the baseline tree, which predates the
    ``tuning`` package."""
    try:
        return importlib.import_module(f"jaxsnn.tuning.{name}")
    except ModuleNotFoundError:
        return importlib.import_module(f"jaxsnn.{name}")


@dataclasses.dataclass(frozen=True)
class MeasuredObjective:
    """The preset's trial objective plus what this benchmark measures, identically in both code
    trees (the worker imports whichever ``jaxsnn`` its path holds)."""

    base: dict[str, Any]

    def __call__(self, params: dict[str, Any]) -> Any:
        from jaxsnn.compile_cache import compilation_counts
        from jaxsnn.snnbench.tables import SpikeRecorder

        evaluate = tuning_module("evaluate").evaluate
        recorder, before = SpikeRecorder(), compilation_counts()
        record = evaluate({**self.base, "params": params}, stoppers=[recorder])
        after = compilation_counts()
        setup_s = recorder.times[0] if recorder.times else record.cost_s
        return with_bench(record, setup_s, {kind: after[kind] - before[kind] for kind in after})

    def batch(self, points: list[dict[str, Any]]) -> list[Any]:
        """The trials of one worker task through ``jaxsnn.tuning.batch`` (this code only). Setup is
        each record's own ``first_batch_s`` (the same span the recorder measures alone); the
        task's compilations are counted on its first trial, so a study's sum is exact."""
        from jaxsnn.compile_cache import compilation_counts
        from jaxsnn.tuning.batch import evaluate_batch

        before = compilation_counts()
        records = evaluate_batch([{**self.base, "params": params} for params in points])
        after = compilation_counts()
        return [with_bench(record, (record.metrics or {}).get("first_batch_s") or record.cost_s,
                           {kind: (after[kind] - before[kind]) if i == 0 else 0 for kind in after})
                for i, record in enumerate(records)]  # fmt: skip


def with_bench(record: Any, setup_s: float, compiled: dict[str, int]) -> Any:
    """``record`` with this benchmark's measurements in ``metrics["bench"]``: setup, the programs
    compiled and loaded, and which code (tree, LIF backend) ran it."""
    import jaxsnn

    metrics = record.metrics or {}
    bench = {"setup_s": setup_s, **compiled, "code": str(Path(jaxsnn.__file__).parents[1]),
             "backend": metrics.get("backend")}  # fmt: skip
    return dataclasses.replace(record, metrics={**metrics, "bench": bench})


def csv_path(name: str) -> Path:
    """One CSV per preset; the SG study keeps the name it always had."""
    return RESULTS / ("trial_throughput.csv" if name == "silent_sg" else f"trial_throughput_{name}.csv")


def preset(name: str) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "hpo" / f"{name}.yaml"), resolve=True)


def evaluation(variant: str, name: str) -> dict[str, Any]:
    """The preset's trial config (its run and evaluation) as ``variant`` runs it; ``today``'s in
    the baseline's vocabulary (``trainer``, ``dataset``, ...)."""
    spec = preset(name)
    config = {"run": spec["run"], **spec["evaluation"]}
    if variant == "today":  # its evaluate() has no xla_optimizations: it always optimised
        return {key: value for key, value in old_config(config).items() if key != "xla_optimizations"}
    if variant in OPTIMIZED:
        config["run"] = {**spec["run"], "trainer": {**spec["run"].get("trainer", {}), "xla_optimizations": True}}
    return config


def run_variant(variant: str, name: str, n_trials: int, out: Path, cache: Path | None) -> None:
    """One study of ``variant`` in this process (whose ``jaxsnn`` the caller chose) through the
    persistent compilation ``cache`` if one is given: rows to ``out``."""
    if cache is not None:  # this code (the baseline tree has neither setting)
        from jaxsnn.xla_defaults import add_xla_flags

        add_xla_flags()  # as experiments/hpo.py does; warm-new-emitters' own value wins
        from jaxsnn.compile_cache import use_compilation_cache

        use_compilation_cache(cache)
    from jaxsnn.hpo.executors import ProcessExecutor
    from jaxsnn.hpo.loop import run_study
    from jaxsnn.hpo.study import Study

    spec, spaces = preset(name), tuning_module("spaces")
    trainer, exclude = spec["run"]["algorithm"], list(spec["exclude"])
    dotted = getattr(spaces, "dotted", flattened)  # the baseline's spaces module predates dotted()
    bounds = {k: tuple(v) for k, v in dotted(spec["bounds"]).items()}  # the preset writes them nested
    enqueue = [dotted(point) for point in spec["enqueue"]]
    if variant == "today":  # the baseline names parameters as before issue 14 and takes bounds as keywords
        space = spaces.search_space(trainer, [old_name(trainer, n) for n in exclude],
                                    **{old_name(trainer, n): pair for n, pair in bounds.items()})
        enqueue = [{old_name(trainer, n): v for n, v in point.items()} for point in enqueue]
    else:
        space = spaces.search_space(trainer, exclude, bounds)
    with tempfile.TemporaryDirectory() as folder:
        study = Study.create(Path(folder) / "study.sqlite", space, spec["objectives"], spec["constraints"],
                             optimizer="random", seed=spec["seed"])  # fmt: skip
        for point in enqueue:
            study.enqueue_new(point)
        start = time.perf_counter()
        executor = ProcessExecutor(spec["n_workers"])
        try:
            run_study(study, MeasuredObjective(evaluation(variant, name)), executor, n_trials, spec["n_workers"],
                      timeout_s=spec["timeout_s"], progress=False,
                      **({"batch_trials": BATCH_TRIALS[variant]} if variant in BATCH_TRIALS else {}))  # fmt: skip
        finally:
            executor.shutdown()
        wall = time.perf_counter() - start
        # params under the current names in every variant's rows (``today``'s trials have the old ones)
        rows = [{"trial": t.id, "status": t.record.status, "accuracy": t.record.objectives.get("accuracy", ""),
                 "cost_s": round(t.record.cost_s, 4), **t.record.metrics["bench"],
                 "study_wall_s": round(wall, 2), "params": json.dumps(renamed(trainer, t.params))}
                for t in study.finished()]  # fmt: skip
        study.close()
    out.write_text(json.dumps(rows))


def baseline_tree(commit: str, folder: Path) -> Path:
    """``jaxsnn`` at ``commit`` in ``folder``, with this build's kernels and the compile counter."""
    archive = subprocess.run(["git", "archive", commit, "jaxsnn"], cwd=REPO, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    kernels = next((REPO / "build").glob("*/jaxsnn/core/kernels/_lif_ffi*.so"))
    shutil.copy(kernels, folder / "jaxsnn" / "core" / "kernels")
    shutil.copy(REPO / "jaxsnn" / "compile_cache.py", folder / "jaxsnn")
    return folder


def launch(variant: str, name: str, n_trials: int, work: Path, baseline: str) -> list[dict[str, Any]]:
    """Run one variant in a child process; ``today`` imports the baseline tree instead of this one
    (the editable install's finder is told to stand aside for it, and the child runs in the tree:
    workers put their working directory first on their path). Checks that every trial ran the
    intended code with the compiled kernels."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COMPILATION", "JAX_PERSISTENT"))}
    command = [sys.executable, __file__, "--variant", variant, "--preset", name, "--trials", str(n_trials),
               "--out", str(work / variant)]
    tree = REPO
    if variant == "today":
        tree = baseline_tree(baseline, work / "baseline")
        env["PYTHONPATH"] = os.pathsep.join([str(tree), str(Path(__file__).parent)])
        env["SKBUILD_EDITABLE_SKIP"] = os.pathsep.join(str(p) for p in (REPO / "build").glob("cp*"))
    else:
        cache = {"warm-new-emitters": "jax_cache_new_emitters", "warm-optimized": "jax_cache_optimized",
                 "batched": "jax_cache_batched"}.get(variant, "jax_cache")  # fmt: skip
        if variant == "warm-new-emitters":  # XLA's default emitters
            env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {NEW_EMITTERS}".strip()
        command += ["--cache", str(work / cache)]
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    subprocess.run(command, env=env, check=True, cwd=tree)
    rows = [{"variant": variant, "preset": name, "load": load, **row} for row in json.loads((work / variant).read_text())]
    wrong = {(r["code"], r["backend"]) for r in rows} - {(str(tree), "ffi"), (str(tree), None)}  # None: no run
    if wrong:
        raise RuntimeError(f"variant {variant} ran {sorted(wrong)}, not {tree} with the ffi kernels")
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, float]:
    cost = np.array([float(r["cost_s"]) for r in rows])
    silent = np.array([r["status"] == "silent_stopped" for r in rows])
    accuracy = [float(r["accuracy"]) for r in rows if r["accuracy"] not in ("", None) and r["status"] == "complete"]
    wall = float(rows[0]["study_wall_s"])
    return {
        "trials": len(rows),
        "study_wall_s": wall,
        "trials_per_min": 60 * len(rows) / wall,
        "median_setup_s": float(np.median([float(r["setup_s"]) for r in rows])),
        "median_cost_s": float(np.median(cost)),
        "compiled": int(sum(int(r["compiled"]) for r in rows)),
        "loaded": int(sum(int(r["loaded"]) for r in rows)),
        "silent_trials": int(silent.sum()),
        "silent_share": float(cost[silent].sum() / cost.sum()),
        "best_accuracy": max(accuracy, default=float("nan")),
    }


def plot(summaries: dict[str, dict[str, float]], rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    names = list(summaries)
    left.bar(names, [summaries[n]["trials_per_min"] for n in names], color=[COLORS[n] for n in names])
    left.set_ylabel("trials per minute (2 workers)")
    left.set_title(f"study throughput, {rows[0].get('preset') or 'silent_sg'}")
    for name in names:
        setup = np.sort([float(r["setup_s"]) for r in rows if r["variant"] == name])
        right.plot(setup, np.arange(1, len(setup) + 1) / len(setup), label=name, color=COLORS[name])
    right.axvline(0.5, color="k", ls=":", lw=1, label="target 0.5 s")
    right.set_xscale("log")
    right.set_xlabel("setup per trial, s (start to end of first batch)")
    right.set_ylabel("fraction of trials")
    right.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def study_lines(name: str, rows: list[dict[str, Any]]) -> list[str]:
    """The command, load, table and targets of one preset's study, from its CSV rows."""
    summaries = {v: summarize([r for r in rows if r["variant"] == v]) for v in PRESETS[name]
                 if any(r["variant"] == v for r in rows)}  # fmt: skip
    path = csv_path(name)
    plot(summaries, rows, path.with_suffix(".png"))
    today = summaries["today"]
    trials = int(today["trials"])
    command = ("python benchmarks/trial_throughput.py" + (f" --preset {name}" if name != "silent_sg" else "")
               + (f" --trials {trials}" if trials != 40 else ""))  # fmt: skip
    lines = [
        f"`{command}` on {platform.node()} ({os.cpu_count()} cores, {platform.processor() or platform.machine()}). "
        "Load (`uptime`) as each variant started: "
        + "; ".join(f"{v}: `{next(r['load'] for r in rows if r['variant'] == v).split('load average: ')[-1]}`"
                    for v in summaries) + ".",
        STUDIES[name], "",
        "| variant | trials/min | vs today | median setup s | median trial s | XLA compiled / loaded per study "
        "| silent trials | silent share of wall | best accuracy |",
        "|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for variant, s in summaries.items():
        lines.append(f"| {variant} | {s['trials_per_min']:.1f} | {s['trials_per_min'] / today['trials_per_min']:.2f}x "
                     f"| {s['median_setup_s']:.2f} | {s['median_cost_s']:.2f} | {s['compiled']} / {s['loaded']} "
                     f"| {s['silent_trials']} | {s['silent_share']:.0%} | {s['best_accuracy']:.3f} |")  # fmt: skip
    lines += ["", "Targets of issue 17 (ratios within this run):", ""]
    for variant in [v for v in summaries if v != "today"]:
        s = summaries[variant]
        ratio = s["trials_per_min"] / today["trials_per_min"]
        lines.append(f"- `{variant}`: median setup {s['median_setup_s']:.2f} s "
                     f"({'met' if s['median_setup_s'] <= 0.5 else 'missed'}: <= 0.5 s); trials per minute "
                     f"{ratio:.2f}x today ({'met' if ratio >= 3 else 'missed'}: >= 3x).")  # fmt: skip
    lines += ["", NOTES[name], "", f"CSV: `benchmarks/results/{path.name}` (one row per trial); plot: "
              f"`benchmarks/results/{path.with_suffix('.png').name}`.", ""]  # fmt: skip
    return lines


def report(studies: dict[str, list[dict[str, Any]]]) -> str:
    lines = [HEADING, ""]
    for name, rows in studies.items():
        if name != "silent_sg":
            lines += [f"### The `{name}` preset", ""]
        lines += study_lines(name, rows)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--preset", choices=PRESETS, default="silent_sg", help="the study to run")
    parser.add_argument("--baseline", default=BASELINE, help="commit of today's path")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # a child's job
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        run_variant(args.variant, args.preset, args.trials, args.out, args.cache)
        return
    if not args.report_only:
        with tempfile.TemporaryDirectory() as work:
            rows = [row for v in PRESETS[args.preset] for row in launch(v, args.preset, args.trials, Path(work),
                                                                         args.baseline)]  # fmt: skip
        RESULTS.mkdir(exist_ok=True)
        write_csv(csv_path(args.preset), rows)
    block = report({name: read_csv(csv_path(name)) for name in PRESETS if csv_path(name).exists()})
    print(block)
    replace_section(HEADING, block)


if __name__ == "__main__":
    main()
