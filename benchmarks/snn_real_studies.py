"""Real studies of the SNN problems: the surrogate benchmark's claim checked on trained networks.

Runs ``experiments/hpo.py`` (the ``silent_sg`` preset searched from scratch, ``hpo.enqueue=[]``:
40 trials, 2 workers, every trial a real network with the real detector) for each optimizer and
seed on the demo problem (``--problem sg_digits``) or on another SG problem of
``jaxsnn.snnbench`` (``--problem sg_randman``: the preset on that problem's dataset, whose
rate-code parameter the study leaves out by itself), or the ``silent_stdp`` preset (24 trials)
for ``--problem stdp_digits``, then compares the studies at equal compute: best feasible
accuracy after 25/50/100 % of random search's median compute, compute to reach random's median
final best, and the silent share of the initial design vs the model-guided
trials (``jaxsnn.hpo.report.design_flags``: the design's own points, not the first 10 trials).

    python benchmarks/snn_real_studies.py --optimizers logei random --seeds 0 1 2
    python benchmarks/snn_real_studies.py --optimizers scbo logei-saas   # more optimizers later
    python benchmarks/snn_real_studies.py --optimizers scbo+default --seeds 0 1 2 3 4   # the demo
    python benchmarks/snn_real_studies.py --report-only              # every study on disk
    python benchmarks/snn_real_studies.py --problem sg_randman --trials 100 --optimizers random scbo

Studies go to ``outputs/real_studies/<optimizer>_<seed>/study.sqlite`` (other problems:
``outputs/real_studies_<problem>/``; an existing study is kept, not rerun), each with its own
compilation cache, so that every study pays what a first run pays and none profits from the
programs another compiled; the summary to ``benchmarks/results/snn_real_studies.csv``
(``snn_real_studies_<problem>.csv``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from results_io import read_csv, write_csv
from snn_real_peers import STUDY_PEERS

from jaxsnn.hpo.features import INPUT_DRIVE_PRIOR, LEARNING_RATE_PRIOR, STDP_DRIVE, STDP_DRIVE_PRIOR, TRAINING
from jaxsnn.hpo.report import design_flags
from jaxsnn.hpo.study import Study
from jaxsnn.snnbench import HPO_PRESETS, get_problem
from jaxsnn.snnbench.compare import SEEDED
from jaxsnn.train.silent import PRESETS as SILENT_PRESETS
from jaxsnn.tuning.spaces import dotted

REPO = Path(__file__).resolve().parent.parent
DEMO_PROBLEM = "sg_digits"
"""The problem ``make demo`` studies; its studies and summary keep the names they always had."""


def outputs(problem: str) -> tuple[Path, Path]:
    """The folder of a problem's studies and the CSV of its summary."""
    suffix = "" if problem == DEMO_PROBLEM else f"_{problem}"
    return REPO / "outputs" / f"real_studies{suffix}", REPO / "benchmarks" / "results" / f"snn_real_studies{suffix}.csv"


def problem_overrides(problem: str) -> list[str]:
    """``experiments/hpo.py`` overrides that run the problem's preset on the problem's trials: the
    run they set (``hpo.run``: data, seed) and how they are watched (``hpo.evaluation``: detector,
    time budget), as the problem's ``evaluate`` config (``SNNProblem.config``) has them. The space
    stays the preset's (the STDP preset searches presentations up to 400 ms, where the stdp_digits
    table stops at 150)."""
    spec = get_problem(problem)
    if spec.trainer not in HPO_PRESETS:
        raise SystemExit(f"real studies run the {' or '.join(HPO_PRESETS.values())} preset; {problem} trains "
                         f"{spec.trainer!r}")  # fmt: skip
    config = spec.config({})
    evaluation = {key: value for key, value in config.items() if key not in ("run", "params")}
    values = {**dotted(config["run"], "hpo.run."), **dotted(evaluation, "hpo.evaluation.")}
    # ++: add or replace; JSON values are in Hydra's grammar (null, "digits", [16, 32])
    return [f"hpo={HPO_PRESETS[spec.trainer]}", *(f"++{key}={json.dumps(value)}" for key, value in values.items())]


UNSCREENED = ["++hpo.options.screen_design=false", "++hpo.options.n_initial=10"]
"""The design as the preset ran it before it was screened: 10 Sobol points, on until 3 are feasible."""

UNGUARDED = ["++hpo.options.screen_proposals=false"]
"""The model-guided candidates as the preset ranked them before its features screened them too."""

GUARD05 = ["hpo.optimizer=scbo", "++hpo.options.screen_design=true", "++hpo.options.n_initial=6",
           "++hpo.options.proposal_screen_below=0.5"]
"""The preset's options spelt out (so that a later change of the preset's defaults does not change
what these studies' name runs); with :data:`BEFORE_PRIOR`, as it shipped until issue 13's session 46."""

BEFORE_PRIOR = "++hpo.screen_prior=null"
"""The preset's screens without the prior it ships (``hpo.screen_prior``), as every study named
before it ran: each variant below but the ``-prior`` ones gets it."""


def feature_overrides(features: dict[str, dict[str, float]], key: str = "features") -> list[str]:
    """``experiments/hpo.py`` overrides that add ``features`` (``{name: {parameter path: exponent}}``,
    as ``jaxsnn.hpo.features`` spells them) to a study's ``hpo.features`` (or ``hpo.<key>``: the
    ``design_prior``), beside any its preset names."""
    return [f"++hpo.{key}.{feature}.{name}={power}" for feature, powers in features.items()
            for name, power in powers.items()]


STDP_FEATURES = feature_overrides(STDP_DRIVE)
"""``jaxsnn.hpo.features.STDP_DRIVE`` as GP and screen inputs of an STDP study (the preset names none)."""

def prior_overrides(prior: dict[str, int]) -> list[str]:
    """``experiments/hpo.py`` overrides that set ``prior`` (``{feature: sign}``, as
    ``jaxsnn.hpo.features`` spells them) as a study's ``hpo.screen_prior``."""
    return [f"++hpo.screen_prior.{feature}={sign}" for feature, sign in prior.items()]


_BEFORE_PRIOR = {"logei-saas": ["hpo.optimizer=logei", "+hpo.options.prior=saas"],
            "logei-cost": ["hpo.optimizer=logei", "++hpo.options.cost_aware=true"],
            "scbo-fobj": ["hpo.optimizer=scbo", "+hpo.options.feasible_objective=true"],
            "scbo-warp": ["hpo.optimizer=scbo", "+hpo.options.warp=true"],
            "scbo-drive": ["hpo.optimizer=scbo", *UNSCREENED],
            "scbo-drive-cost": ["hpo.optimizer=scbo", "+hpo.options.cost_aware=true", *UNSCREENED],
            "scbo-drive-screen": ["hpo.optimizer=scbo", "++hpo.options.screen_design=true",
                                  "++hpo.options.n_initial=10", *UNGUARDED],
            "scbo-drive-screen-n6-guard": ["hpo.optimizer=scbo", "++hpo.options.screen_design=true",
                                           "++hpo.options.n_initial=6", "++hpo.options.proposal_screen_below=0.3"],
            "scbo-drive-screen-n6-guard05": GUARD05,
            "scbo-drive-screen-n6-guard05-target02": [*GUARD05, "++hpo.options.design_target=0.2"],
            "scbo-drive-screen-n6-guard05-global02": [*GUARD05, "++hpo.options.global_below=0.2"],
            "scbo-drive-screen-n6": ["hpo.optimizer=scbo", "++hpo.options.screen_design=true",
                                     "++hpo.options.n_initial=6", *UNGUARDED],
            "scbo-drive-screen-n6-frozen": ["hpo.optimizer=scbo", "++hpo.options.screen_design=true",
                                            "++hpo.options.n_initial=6", "++hpo.options.categorical_region=false",
                                            "++hpo.options.refit_lag=0", *UNGUARDED],
            "scbo-drive-screen-n6-asked": ["hpo.optimizer=scbo", "++hpo.options.screen_design=true",
                                           "++hpo.options.n_initial=6", "++hpo.options.refit_lag=0", *UNGUARDED],
            "scbo-nodrive": ["hpo.optimizer=scbo", "hpo.features=null"],
            "scbo-drive-training": ["hpo.optimizer=scbo", *feature_overrides(TRAINING)],
            "scbo-stdp-drive": ["hpo.optimizer=scbo", *STDP_FEATURES],
            "logei-stdp-drive": ["hpo.optimizer=logei", *STDP_FEATURES]}


def sg_rule(**options: object) -> str:
    """An override watching the SG preset's trials with its detector rule (``dvs_slayer``) and
    ``options`` (``window``, ``grace``: ``SilentNetworkDetector``) on top."""
    settings = {**dataclasses.asdict(SILENT_PRESETS["dvs_slayer"]), **options}
    return "++hpo.evaluation.silent={" + ",".join(f"{key}:{value}" for key, value in settings.items()) + "}"


NO_DETECTOR = sg_rule(grace=1_000_000_000)
"""The SG preset's rule (``dvs_slayer``) with a grace no run reaches: every network trains to the
end and reports its silent fraction over the whole run, the surrogate benchmark's ``no_detector``
mode on real networks (its silent columns, which count stopped trials, then read 0)."""
GRACE = sg_rule(window="interval", grace=1000)
"""The SG preset's rule judged on the last 100 samples once 1,000 have been seen (about 0.7 of an
epoch of digits): a network silent at initialisation that wakes up within that epoch is kept and
reports its last interval's silent fraction. On the sg_digits table it stops 27 of the 100 networks
that reach 5x chance where the paper's rule stops 51, for 0.80 of the table's no-detector compute
against the rule's 0.72."""

VARIANTS = {**{name: [*choice, BEFORE_PRIOR] for name, choice in _BEFORE_PRIOR.items()},
            "scbo-drive-screen-n6-guard05-prior": [*GUARD05, *prior_overrides(INPUT_DRIVE_PRIOR)],
            "scbo-drive-screen-n6-guard05-prior-cost": [*GUARD05, *prior_overrides(INPUT_DRIVE_PRIOR),
                                                        "++hpo.options.cost_aware=true"],
            "scbo-drive-screen-n6-guard05-prior-lr": [*GUARD05, *prior_overrides(INPUT_DRIVE_PRIOR),
                                                      *feature_overrides(LEARNING_RATE_PRIOR, "design_prior")],
            "scbo-drive-screen-n6-guard05-prior-no-detector": [*GUARD05, *prior_overrides(INPUT_DRIVE_PRIOR),
                                                               NO_DETECTOR],
            "scbo-drive-screen-n6-guard05-prior-grace": [*GUARD05, *prior_overrides(INPUT_DRIVE_PRIOR), GRACE],
            "logei-stdp-drive-prior": ["hpo.optimizer=logei", *STDP_FEATURES, *prior_overrides(STDP_DRIVE_PRIOR)]}
"""Study names that are an optimizer with options (``logei-cost``: log-EI per predicted second, the
cost modelled from the trials' ``cost_s``; ``scbo-fobj``: SCBO with its objective GP on
the feasible trials only; ``scbo-warp``: SCBO with Kumaraswamy input warping; ``scbo-drive``:
SCBO whose GPs also see the log input drive, ``jaxsnn.hpo.features``, with the 10-point design
unscreened, as the ``silent_sg`` preset ran it from the studies named ``scbo`` and
``scbo+default`` on file until the design was screened; ``scbo-nodrive``: SCBO without it, what
those rows ran; ``scbo-drive-cost``: with the drive and cost-aware, improvement per predicted
second; ``scbo-drive-screen``: with the drive and a 10-point design that skips points the drive
predicts silent; ``scbo-drive-screen-n6-guard05``: the same with a 6-point design and the
model-guided candidates screened too (those under a 0.5 probability of training set back), the
preset as it ships; ``scbo-drive-screen-n6-guard05-target02``: the preset whose design also
goes on until a trained network reaches 0.2 accuracy (``design_target``); ``...-global02``: the
preset whose model-guided candidates span the whole space until a trained network reaches 0.2
(``global_below``); ``...-prior``: the preset whose screens take more drive for fewer silent
networks until a study holds a silent and a trained one (``hpo.screen_prior``); ``...-prior-cost``:
and its candidates ranked by improvement per predicted second (``cost_aware``); ``...-prior-lr``:
the ``-prior`` preset whose design tries the upper half of the learning rate's log range first
(``hpo.design_prior``, ``jaxsnn.hpo.features.LEARNING_RATE_PRIOR``);
``scbo-drive-screen-n6-guard``: that screen at 0.3; ``scbo-drive-screen-n6``:
without it, as the studies of that name ran; ``scbo-drive-screen-n6-frozen``: also before its
trust region moved categorical choices; ``scbo-drive-screen-n6-asked``: with its GP refits on the
ask path, as it ran before ``refit_lag``; ``scbo-drive-training``: the preset with the amount of
training, ``jaxsnn.hpo.features.TRAINING``, as one more GP input and screen input;
``scbo-stdp-drive``: SCBO on an STDP problem with the GP inputs of
``jaxsnn.hpo.features.STDP_DRIVE``, its screened design and candidates; ``logei-stdp-drive``: the
``silent_stdp`` preset's log-EI with them; ``logei-stdp-drive-prior``: and their signs as the
screens' prior; ``...-prior-no-detector``: the SG preset with :data:`NO_DETECTOR`; ``...-prior-grace``: with
:data:`GRACE`); any other
name is an ``hpo.optimizer``. A name ending in ``+default``
(``scbo+default``) keeps the preset's enqueued default network: the demo's own study, seed by
seed."""


def study_overrides(optimizer: str, problem: str) -> list[str]:
    """A real study's ``experiments/hpo.py`` overrides: the problem's (:func:`problem_overrides`),
    then the optimizer name's (:data:`VARIANTS`, or ``hpo.optimizer``). The name's come last, so that
    one may also change how the problem's trials are watched (:data:`NO_DETECTOR`)."""
    return [*problem_overrides(problem), *VARIANTS.get(optimizer, [f"hpo.optimizer={optimizer}"])]


def run_study(name: str, seed: int, problem: str, trials: int | None) -> Path:
    """Run the study ``name`` of ``problem`` with ``seed`` unless its folder holds it already. A
    peer's name (:data:`STUDY_PEERS`) runs the preset's study with the peer as its optimizer
    (``snn_real_peers.py``), from scratch as every name without ``+default``."""
    folder = outputs(problem)[0] / f"{name}_{seed}"
    if not (folder / "study.sqlite").exists():
        search = [] if name.endswith(SEEDED) else ["hpo.enqueue=[]"]  # seeded: the demo exactly
        budget = [] if trials is None else [f"hpo.n_trials={trials}"]
        if name in STUDY_PEERS:
            command, optimizer = [str(REPO / "benchmarks" / "snn_real_peers.py"), name], problem_overrides(problem)
        else:
            command = [str(REPO / "experiments" / "hpo.py")]
            optimizer = study_overrides(name.removesuffix(SEEDED), problem)
        subprocess.run([sys.executable, *command, f"hydra.run.dir={folder}", "progress=false", *search, *optimizer,
                        *budget, f"hpo.seed={seed}", f"compilation_cache={folder / 'jax_cache'}"],
                       check=True, cwd=REPO)  # fmt: skip
    return folder / "study.sqlite"


Trace = list[tuple[float, float, bool, bool, float]]
"""Per trial in id order: cumulative compute, accuracy if feasible else 0, silent, design point,
and the study's wall time when the trial finished (from the first trial's start)."""


def trace(path: Path) -> Trace:
    """The study's trials as a :data:`Trace`."""
    with Study.open(path) as study:
        trials = sorted(study.finished(), key=lambda t: t.id)
        design = design_flags([t.params for t in trials], study.fresh_optimizer())
    start = min(t.started_at for t in trials)
    records = [t.record for t in trials]
    compute = np.cumsum([r.cost_s for r in records])
    return [(float(c), float(r.objectives["accuracy"]) if r.feasible else 0.0, r.status == "silent_stopped", d,
             t.finished_at - start) for c, r, d, t in zip(compute, records, design, trials)]  # fmt: skip


def driver_cpu(path: Path) -> float:
    """CPU seconds the study's driver spent beside its trials (nan for a study run before it
    was kept): the optimizer's price, which on 2 cores comes out of the trials' time."""
    with Study.open(path) as study:
        cpu = study.driver_cpu_s
    return float("nan") if cpu is None else round(cpu, 1)


def best_at(rows: Trace, budget: float) -> float:
    return max([a for c, a, *_ in rows if c <= budget], default=0.0)


def wall_to_reach(rows: Trace, target: float) -> float:
    """Wall seconds until a finished trial first matched ``target`` (compute seconds hide what a
    2-core machine shares: the optimizer's own fits and compiles run beside the trials)."""
    return min((w for _, a, *_, w in rows if a >= target), default=float("inf"))


def random_budget(runs: list[Trace], rows: list[dict]) -> tuple[float, float]:
    """Random search's median compute (the budget every study is compared at) and its median best
    within it, from its studies on disk or, when none is, from the summary's kept rows.

    A kept row holds the best at the budget of the report that wrote it, not at this one: the two
    kinds are never pooled, so a report with some random seeds on disk and others only as rows
    refuses rather than give a budget that silently leaves some seeds out."""
    if runs and rows:
        seeds = sorted(int(r["seed"]) for r in rows)
        raise ValueError(f"random search's seeds {seeds} are only summary rows while others are studies on disk: "
                         "the budget needs every random study on disk (or none); move the new ones aside")
    if runs:
        budget = float(np.median([t[-1][0] for t in runs]))
        return budget, float(np.median([best_at(t, budget) for t in runs]))
    if rows:
        budget = float(np.median([float(r["compute_s"]) for r in rows]))
        return budget, float(np.median([float(r["best_100"]) for r in rows]))
    raise ValueError("no random-search study on disk or in the summary: run --optimizers random first (the budget)")


COLUMNS: tuple[str, ...] = (
    "optimizer", "seed", "trials", "compute_s", "best_25", "best_50", "best_100", "best_final",
    "reach_random_best_s", "reach_ratio", "silent_design", "silent_model", "wall_s", "reach_wall_s",
    "reach_wall_ratio", "driver_cpu_s", "design_ratio", "anchor_s",
)  # fmt: skip
"""The summary CSV's columns, in order (a report from the CSV alone, with no study on disk, writes
them too)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--optimizers", nargs="*", default=["logei", "random"])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--problem", default=DEMO_PROBLEM, choices=["sg_digits", "sg_randman", "stdp_digits"])
    parser.add_argument("--trials", type=int, default=None,
                        help="trials per study (default: the preset's, 40 for SG, 24 for STDP)")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    out, summary_csv = outputs(args.problem)
    if not args.report_only:
        for optimizer in args.optimizers:
            for seed in args.seeds:
                run_study(optimizer, seed, args.problem, args.trials)
    # The summary covers every study on disk, not only this command's: random search's median
    # compute is the budget of all of them. Rows of studies no longer on disk (another machine's
    # outputs/) are kept from the CSV, and so is the budget when no random study is on disk.
    traces, cpus = {}, {}
    for path in sorted(out.glob("*_*/study.sqlite")):
        optimizer, seed = path.parent.name.rsplit("_", 1)
        traces[optimizer, int(seed)] = trace(path)
        cpus[optimizer, int(seed)] = driver_cpu(path)
    on_file = read_csv(summary_csv) if summary_csv.exists() else []
    kept = {(r["optimizer"], int(r["seed"])): r for r in on_file if (r["optimizer"], int(r["seed"])) not in traces}
    random_runs = [t for (o, _), t in traces.items() if o == "random"]
    random_rows = [r for (o, _), r in kept.items() if o == "random"]
    try:
        budget, target = random_budget(random_runs, random_rows)
    except ValueError as error:
        raise SystemExit(f"{error} (studies under {out}, rows of {summary_csv})") from None
    walls = [max(w for *_, w in t) for (o, _), t in traces.items() if o == "random"]
    walls = walls or [float(r["wall_s"]) for (o, _), r in kept.items() if o == "random" and r["wall_s"] != "nan"]
    wall_budget = float(np.median(walls)) if walls else float("nan")
    rows = list(kept.values())
    for (optimizer, seed), t in traces.items():
        reach = next((c for c, a, *_ in t if a >= target), float("inf"))
        wall_reach = wall_to_reach(t, target)
        rows.append({"optimizer": optimizer, "seed": seed, "trials": len(t), "compute_s": round(t[-1][0], 1),
                     "best_25": best_at(t, 0.25 * budget), "best_50": best_at(t, 0.5 * budget),
                     "best_100": best_at(t, budget), "best_final": best_at(t, float("inf")),
                     "reach_random_best_s": round(reach, 1), "reach_ratio": round(reach / budget, 3),
                     "silent_design": float(np.mean([s for *_, s, d, _ in t if d])),
                     "silent_model": float(np.mean([s for *_, s, d, _ in t if not d])),
                     "wall_s": round(max(w for *_, w in t), 1), "reach_wall_s": round(wall_reach, 1),
                     "reach_wall_ratio": round(wall_reach / wall_budget, 3),
                     "driver_cpu_s": cpus[optimizer, seed],
                     # compute when the design's last trial ended, of random's: what precedes any model
                     "design_ratio": round(max((c for c, *_, d, _ in t if d), default=0.0) / budget, 3),
                     "anchor_s": round(budget, 1)})  # fmt: skip
    rows.sort(key=lambda r: (r["optimizer"], int(r["seed"])))
    rows = [{k: r.get(k, "nan") for k in COLUMNS} for r in rows]  # older rows lack the wall, CPU, design, anchor
    write_csv(summary_csv, rows)
    print(f"random search's median compute {budget:.0f} s (wall {wall_budget:.0f} s), its median best {target:.3f}")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
