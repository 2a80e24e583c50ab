"""Optimizer quality: best feasible value vs evaluations, and ask() latency, against peers.

Problems (``jaxsnn.hpo.problems``): Ackley-10 with two constraints (SCBO paper), tension spring,
pressure vessel (single objective, constrained) and Branin-Currin (two objectives, hypervolume
w.r.t. the standard reference point). Every optimizer gets the same budget and the same seeds.

Ours: random, logei, scbo (+ mobo EHVI and mobo ParEGO on Branin-Currin). Peers, when the peer
interpreter can import them: Optuna TPE and GPSampler (``constraints_func``) and BoTorch SCBO
(the loop of the BoTorch tutorial with batch size 1 and ``ConstrainedMaxPosteriorSampling``).
Peers live in their own virtual environment (``--peers-python``, default /work/peers-venv): this
file re-runs itself there with ``--peer-worker`` and talks to it over stdin/stdout, one JSON line
per ask/tell. The parent evaluates every point, so all optimizers see identical functions; peers
search the encoded unit cube, which for these all-linear float spaces is an affine map of the
original box.

    python benchmarks/bo_quality.py --quick        # 3 seeds, short budgets
    python benchmarks/bo_quality.py                # 10 seeds, full budgets
    python benchmarks/bo_quality.py --report-only  # tables and plot from the CSVs

Writes benchmarks/results/bo_quality_{traces,latency,summary}.csv and bo_quality.png, and the
"Optimizer quality" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from results_io import replace_section

RESULTS = Path(__file__).parent / "results"
SECTION = "## Optimizer quality"
PEERS_PYTHON = "/work/peers-venv/bin/python"

BUDGETS = {"ackley10": (100, 60), "tension_spring": (60, 40), "pressure_vessel": (60, 40), "branin_currin": (40, 30)}
"""Evaluations per run: (full, --quick)."""
OURS_SINGLE = {"random": ("random", {}), "logei": ("logei", {}), "scbo": ("scbo", {})}
PEERS_SINGLE = ("optuna-tpe", "optuna-gp", "botorch-scbo")
PEERS_MULTI = ("optuna-tpe", "optuna-gp")
LATENCY_SIZES = (50, 100, 200)


# ================================================================================================
# Peer side: runs in the peers' interpreter, imports only numpy + optuna / torch + botorch.
# ================================================================================================
def _send(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _receive() -> dict:
    line = sys.stdin.readline()
    if not line:
        raise SystemExit("parent closed the pipe")
    return json.loads(line)


def _optuna_study(kind: str, dim: int, n_obj: int, seed: int):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def constraints(trial):
        return trial.user_attrs.get("constraints", [])

    sampler = (
        optuna.samplers.TPESampler(seed=seed, constraints_func=constraints)
        if kind == "optuna-tpe"
        else optuna.samplers.GPSampler(seed=seed, constraints_func=constraints)
    )
    study = optuna.create_study(directions=["minimize"] * n_obj, sampler=sampler)
    dists = {f"u{i}": optuna.distributions.FloatDistribution(0.0, 1.0) for i in range(dim)}
    return study, dists


def _peer_optuna(spec: dict) -> None:
    study, dists = _optuna_study(spec["peer"], spec["dim"], spec["n_obj"], spec["seed"])
    for _ in range(spec["budget"]):
        t = time.perf_counter()
        trial = study.ask(dists)
        ask_s = time.perf_counter() - t
        _send({"x": [trial.params[f"u{i}"] for i in range(spec["dim"])], "ask_s": ask_s})
        reply = _receive()
        trial.set_user_attr("constraints", reply["c"])
        study.tell(trial, reply["y"] if spec["n_obj"] > 1 else reply["y"][0])


class _BotorchSCBO:
    """The BoTorch SCBO tutorial loop (current version) with batches of one."""

    def __init__(self, dim: int, seed: int, n_init: int = 10) -> None:
        import torch

        torch.manual_seed(seed)
        self.dim, self.n_init = dim, n_init
        self.sobol = torch.quasirandom.SobolEngine(dim, scramble=True, seed=seed)
        self.init = torch.quasirandom.SobolEngine(dim, scramble=True, seed=seed).draw(n_init).double()
        self.length, self.succ, self.fail = 0.8, 0, 0
        self.succ_tol, self.fail_tol = 10, math.ceil(max(4.0, float(dim)))
        self.best_value, self.best_violation = -math.inf, math.inf
        self.X, self.Y, self.C = [], [], []

    def _model(self, X, y):
        from botorch.models import SingleTaskGP
        from botorch.models.transforms.outcome import Standardize
        from gpytorch.constraints import Interval
        from gpytorch.kernels import MaternKernel, ScaleKernel
        from gpytorch.likelihoods import GaussianLikelihood

        likelihood = GaussianLikelihood(noise_constraint=Interval(1e-8, 1e-3))
        covar = ScaleKernel(MaternKernel(nu=2.5, ard_num_dims=self.dim, lengthscale_constraint=Interval(0.005, 4.0)))
        return SingleTaskGP(X, y, covar_module=covar, likelihood=likelihood, outcome_transform=Standardize(m=1))

    def ask(self):
        import torch
        from botorch.fit import fit_gpytorch_mll
        from botorch.generation.sampling import ConstrainedMaxPosteriorSampling
        from botorch.models.model_list_gp_regression import ModelListGP
        from gpytorch.mlls import ExactMarginalLogLikelihood

        n = len(self.X)
        if n < self.n_init:
            return self.init[n]
        X, Y, C = torch.stack(self.X), torch.tensor(self.Y).double(), torch.tensor(self.C).double()
        models = []
        for y in [Y[:, None]] + [C[:, j : j + 1] for j in range(C.shape[1])]:
            model = self._model(X, y)
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
            models.append(model)
        feasible = (C <= 0).all(dim=-1)
        if feasible.any():
            best = torch.where(feasible, Y, torch.tensor(-math.inf, dtype=Y.dtype)).argmax()
        else:
            best = C.clamp(min=0).sum(dim=-1).argmin()
        centre = X[best]
        lb, ub = (centre - self.length / 2).clamp(0, 1), (centre + self.length / 2).clamp(0, 1)
        n_cand = min(5000, max(2000, 200 * self.dim))
        pert = lb + (ub - lb) * self.sobol.draw(n_cand).double()
        mask = torch.rand(n_cand, self.dim) <= min(20.0 / self.dim, 1.0)
        rows = torch.where(mask.sum(dim=1) == 0)[0]
        mask[rows, torch.randint(0, self.dim, (len(rows),))] = True
        cand = centre.expand(n_cand, self.dim).clone()
        cand[mask] = pert[mask]
        sampler = ConstrainedMaxPosteriorSampling(
            model=models[0], constraint_model=ModelListGP(*models[1:]), replacement=False
        )
        with torch.no_grad():
            return sampler(cand, num_samples=1)[0]

    def tell(self, x, y: float, c: list[float]) -> None:
        """``y`` maximised here (the tutorial's convention)."""
        self.X.append(x)
        self.Y.append(y)
        self.C.append(c)
        if len(self.X) <= self.n_init:
            self.best_value = max(self.best_value, y) if max(c, default=0) <= 0 else self.best_value
            self.best_violation = min(self.best_violation, sum(max(v, 0) for v in c))
            return
        violation = sum(max(v, 0) for v in c)
        if violation <= 0:
            success = y > self.best_value + 1e-3 * abs(self.best_value) or not math.isfinite(self.best_value)
        else:
            success = not math.isfinite(self.best_value) and violation < self.best_violation
        if violation <= 0:
            self.best_value = max(self.best_value, y)
        self.best_violation = min(self.best_violation, violation)
        self.succ, self.fail = (self.succ + 1, 0) if success else (0, self.fail + 1)
        if self.succ == self.succ_tol:
            self.length, self.succ = min(2 * self.length, 1.6), 0
        elif self.fail == self.fail_tol:
            self.length, self.fail = self.length / 2, 0
        if self.length < 0.5**7:  # the tutorial stops here; a batch-1 loop restarts the region
            self.length, self.succ, self.fail = 0.8, 0, 0


def _peer_botorch(spec: dict) -> None:
    opt = _BotorchSCBO(spec["dim"], spec["seed"])
    for _ in range(spec["budget"]):
        t = time.perf_counter()
        x = opt.ask()
        ask_s = time.perf_counter() - t
        _send({"x": x.tolist(), "ask_s": ask_s})
        reply = _receive()
        opt.tell(x, -reply["y"][0], reply["c"])


def _peer_latency(spec: dict) -> None:
    """Time one ask after ``n`` told observations (data sent by the parent)."""
    import torch

    X, Y, C = np.array(spec["X"]), np.array(spec["Y"]), np.array(spec["C"])
    if spec["peer"].startswith("optuna"):
        import optuna

        study, dists = _optuna_study(spec["peer"], X.shape[1], 1, 0)
        for x, y, c in zip(X, Y, C):
            study.add_trial(optuna.trial.create_trial(
                params={f"u{i}": float(v) for i, v in enumerate(x)}, distributions=dists, value=float(y),
                user_attrs={"constraints": c.tolist()}, system_attrs={"constraints": c.tolist()},
            ))
        times = []
        for _ in range(spec["reps"]):
            t = time.perf_counter()
            trial = study.ask(dists)
            times.append(time.perf_counter() - t)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)  # keep the data size fixed
    else:
        times = []
        for _ in range(spec["reps"]):
            opt = _BotorchSCBO(X.shape[1], 0, n_init=1)
            opt.X, opt.Y, opt.C = list(torch.tensor(X)), list(-Y), C.tolist()
            t = time.perf_counter()
            opt.ask()
            times.append(time.perf_counter() - t)
    _send({"times": times})


def peer_worker(spec: dict) -> None:
    if spec.get("mode") == "latency":
        _peer_latency(spec)
    elif spec["peer"].startswith("optuna"):
        _peer_optuna(spec)
    else:
        _peer_botorch(spec)


# ================================================================================================
# Parent side: jaxsnn.
# ================================================================================================
def _peers_available(python: str) -> dict[str, bool]:
    code = (
        "import importlib.util as u, json; "
        "print(json.dumps({m: u.find_spec(m) is not None for m in ('optuna', 'botorch')}))"
    )
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120, check=True)
        found = json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError):
        return {}
    return {
        "optuna-tpe": found.get("optuna", False), "optuna-gp": found.get("optuna", False),
        "botorch-scbo": found.get("botorch", False),
    }


def _peer_versions(python: str) -> str:
    code = "import optuna, botorch, torch; print(f'optuna {optuna.__version__}, botorch {botorch.__version__}, torch {torch.__version__}')"
    try:
        return subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unavailable"


def _minimised(problem, objectives: dict[str, float]) -> list[float]:
    return [v if problem.objectives[n] == "min" else -v for n, v in objectives.items()]


def _progress(problem, records: list) -> list[float]:
    """Best feasible objective (single) or feasible hypervolume (multi) after each evaluation."""
    from jaxsnn.hpo.moo import hypervolume

    out, best, feasible_Y = [], math.inf, []
    ref = None if problem.ref_point is None else -np.array(problem.ref_point)
    for r in records:
        if len(problem.objectives) == 1:
            if r.feasible:
                best = min(best, _minimised(problem, r.objectives)[0])
            out.append(best)
        else:
            if r.feasible:
                feasible_Y.append([-v for v in _minimised(problem, r.objectives)])
            out.append(hypervolume(np.array(feasible_Y), ref) if feasible_Y else 0.0)
    return out


def run_ours(problem, name: str, options: dict, seed: int, budget: int) -> tuple[list, list[float]]:
    from jaxsnn.hpo import make_optimizer

    opt = make_optimizer(name, problem.space, problem.objectives, problem.constraints, seed=seed, **options)
    records, ask_s = [], []
    for _ in range(budget):
        t = time.perf_counter()
        params = opt.ask()
        ask_s.append(time.perf_counter() - t)
        record = problem.evaluate(params)
        opt.tell(record)
        records.append(record)
    return records, ask_s


def run_peer(problem, peer: str, seed: int, budget: int, python: str) -> tuple[list, list[float]]:
    spec = {"peer": peer, "dim": problem.space.dim, "n_obj": len(problem.objectives), "seed": seed, "budget": budget}
    proc = subprocess.Popen(
        [python, __file__, "--peer-worker", json.dumps(spec)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "2"},
    )
    records, ask_s = [], []
    try:
        for _ in range(budget):
            msg = json.loads(proc.stdout.readline())
            params = problem.space.decode(np.clip(np.array(msg["x"], dtype=float), 0.0, 1.0))
            record = problem.evaluate(params)
            records.append(record)
            ask_s.append(msg["ask_s"])
            proc.stdin.write(json.dumps({
                "y": _minimised(problem, record.objectives),
                "c": [record.constraints[c] for c in problem.constraints],
            }) + "\n")
            proc.stdin.flush()
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    return records, ask_s


def measure_latency(python: str | None, reps: int) -> list[dict]:
    """ask() seconds after n observations of Ackley-10 with two constraints (10-D)."""
    from jaxsnn.hpo import make_optimizer
    from jaxsnn.hpo.gp import refit_size
    from jaxsnn.hpo.problems import ACKLEY10 as problem

    rows = []
    rng = np.random.default_rng(0)
    X_all = rng.uniform(size=(max(LATENCY_SIZES), problem.space.dim))
    records = [problem.evaluate(problem.space.decode(x)) for x in X_all]
    for n in LATENCY_SIZES:
        before = refit_size(n) - 1  # told before the last refit: the ask at n then refits
        for name in ("logei", "scbo"):
            def running() -> Any:
                """An optimizer that has been asking all along, told ``before`` records so far."""
                opt = make_optimizer(name, problem.space, problem.objectives, problem.constraints, seed=0)
                for r in records[:before]:
                    opt.tell(r)
                opt.ask()
                for r in records[before:n]:
                    opt.tell(r)
                return opt

            times: dict[str, list[float]] = {}
            for rep in range(reps + 1):  # rep 0 compiles for this padded size
                opt = running()
                t = time.perf_counter()
                p = opt.ask()
                times.setdefault("first ask (compiles)" if rep == 0 else "ask with hyperparameter refit", []).append(
                    time.perf_counter() - t)
                t = time.perf_counter()
                opt.ask(pending=[p])
                if rep:
                    times.setdefault("ask between refits (1 pending)", []).append(time.perf_counter() - t)
                resumed = make_optimizer(name, problem.space, problem.objectives, problem.constraints, seed=0)
                for r in records[:n]:
                    resumed.tell(r)
                t = time.perf_counter()
                resumed.ask()
                if rep:
                    times.setdefault("first ask after resume (replays fits)", []).append(time.perf_counter() - t)
            for kind, ts in times.items():
                rows.append({"optimizer": name, "n_obs": n, "kind": kind, "seconds": float(np.median(ts))})
            print(f"latency {name} n={n}: " + ", ".join(f"{k} {np.median(v):.2f} s" for k, v in times.items()), flush=True)
        if python:
            for peer in ("optuna-gp", "botorch-scbo"):
                enc = problem.space.encode_many([r.params for r in records[:n]])
                spec = {
                    "mode": "latency", "peer": peer, "reps": reps, "X": enc.tolist(),
                    "Y": [r.objectives["f"] for r in records[:n]],
                    "C": [[r.constraints[c] for c in problem.constraints] for r in records[:n]],
                }
                out = subprocess.run([python, __file__, "--peer-worker", json.dumps(spec)], capture_output=True,
                                     text=True, timeout=3600, env={**os.environ, "PYTHONWARNINGS": "ignore"})
                try:
                    times = json.loads(out.stdout.strip().splitlines()[-1])["times"]
                except (IndexError, json.JSONDecodeError, KeyError):
                    print(f"latency {peer} n={n} failed: {out.stderr[-500:]}", flush=True)
                    continue
                rows.append({"optimizer": peer, "n_obs": n, "kind": "ask (fit + acquisition)", "seconds": float(np.median(times))})
                print(f"latency {peer} n={n}: {rows[-1]['seconds']:.2f} s", flush=True)
    return rows


# --- reporting ----------------------------------------------------------------------------------
def _write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _read_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def _curves(traces: list[dict]) -> dict[tuple[str, str], np.ndarray]:
    """(problem, optimizer) -> progress array (seeds, evaluations)."""
    groups: dict[tuple[str, str, int], list[tuple[int, float]]] = {}
    for row in traces:
        groups.setdefault((row["problem"], row["optimizer"], int(row["seed"])), []).append(
            (int(row["evaluation"]), float(row["progress"]))
        )
    curves: dict[tuple[str, str], list[np.ndarray]] = {}
    for (problem, optimizer, _), points in groups.items():
        curves.setdefault((problem, optimizer), []).append(np.array([v for _, v in sorted(points)]))
    return {k: np.stack(v) for k, v in curves.items() if len({len(a) for a in v}) == 1}


def summarise(traces: list[dict]) -> list[dict]:
    from jaxsnn.hpo.problems import PROBLEMS

    rows = []
    ask_s: dict[tuple[str, str], list[float]] = {}
    for row in traces:
        ask_s.setdefault((row["problem"], row["optimizer"]), []).append(float(row["ask_s"]))
    for (problem, optimizer), curve in sorted(_curves(traces).items()):
        final = curve[:, -1]
        multi = len(PROBLEMS[problem].objectives) > 1
        q25, med, q75 = np.percentile(final, [25, 50, 75]) if np.all(np.isfinite(final)) else (math.nan,) * 3
        if not multi and not np.all(np.isfinite(final)):
            med = float(np.median(final))  # inf when most seeds never found a feasible point
        rows.append({
            "problem": problem, "optimizer": optimizer, "metric": "hypervolume (max)" if multi else "best feasible (min)",
            "seeds": len(final), "evaluations": curve.shape[1], "median": med, "q25": q25, "q75": q75,
            "seeds_feasible": int(np.sum(np.isfinite(final) & (final > 0 if multi else True))),
            "median_ask_s": float(np.median(ask_s[(problem, optimizer)])),
            "optimum": PROBLEMS[problem].max_hypervolume if multi else PROBLEMS[problem].optimum,
        })
    return rows


def plot(traces: list[dict], latency: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = _curves(traces)
    problems = sorted({p for p, _ in curves})
    fig, axes = plt.subplots(1, len(problems) + 1, figsize=(4.2 * (len(problems) + 1), 3.6))
    for ax, problem in zip(axes, problems):
        for (p, optimizer), curve in sorted(curves.items()):
            if p != problem:
                continue
            med = np.median(curve, axis=0)
            style = "-" if optimizer in ("logei", "scbo", "mobo", "mobo-parego", "random") else "--"
            ax.plot(np.arange(1, len(med) + 1), np.where(np.isfinite(med), med, np.nan), style, label=optimizer)
        ax.set_title(problem)
        ax.set_xlabel("evaluations")
        ax.set_ylabel("median hypervolume" if problem == "branin_currin" else "median best feasible")
        if problem in ("pressure_vessel", "tension_spring"):
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    ax = axes[-1]
    for name in sorted({r["optimizer"] for r in latency}):
        for kind in sorted({r["kind"] for r in latency if r["optimizer"] == name}):
            if "first" in kind:
                continue
            pts = sorted((int(r["n_obs"]), float(r["seconds"])) for r in latency if r["optimizer"] == name and r["kind"] == kind)
            ax.plot(*zip(*pts), "o-", label=f"{name}: {kind}")
    ax.axhline(1.0, color="k", lw=0.5)
    ax.set_yscale("log")
    ax.set_xlabel("observations (Ackley-10, 2 constraints)")
    ax.set_ylabel("ask() seconds")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _fmt(v: Any) -> str:
    v = float(v)
    if math.isinf(v):
        return "none feasible"
    if math.isnan(v):
        return "-"
    return f"{v:.4g}"


def write_results_md(summary: list[dict], latency: list[dict], meta: dict) -> None:
    lines = [
        SECTION, "",
        f"Machine: {meta['machine']}. {meta['load']}",
        f"Command: `{meta['command']}` ({meta['seeds']} seeds per optimizer, same seeds and budgets for all;"
        f" wall {meta['wall_min']:.0f} min). Peers ran in `{meta['peers_python']}` ({meta['peer_versions']}).",
        "",
        "Median (and quartiles) over seeds of the best feasible objective after the full budget (lower is better),"
        " or of the feasible hypervolume w.r.t. the reference point (18, 6) for Branin-Currin (higher is better).",
        "",
        "| problem | optimizer | evals | median | q25 - q75 | seeds with a feasible point | median ask s | known optimum |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in summary:
        lines.append(
            f"| {r['problem']} | {r['optimizer']} | {r['evaluations']} | {_fmt(r['median'])} | {_fmt(r['q25'])} - {_fmt(r['q75'])}"
            f" | {r['seeds_feasible']}/{r['seeds']} | {float(r['median_ask_s']):.2f} | {_fmt(r['optimum']) if r['optimum'] not in (None, '') else '-'} |"
        )
    lines += ["", "ask() latency, Ackley-10 with two constraints (10-D, three GPs), median of repeats:", "",
              "| optimizer | kind | n = 50 | n = 100 | n = 200 |", "|---|---|---|---|---|"]
    keys = sorted({(r["optimizer"], r["kind"]) for r in latency})
    for name, kind in keys:
        vals = {int(r["n_obs"]): float(r["seconds"]) for r in latency if r["optimizer"] == name and r["kind"] == kind}
        lines.append(f"| {name} | {kind} | " + " | ".join(f"{vals[n]:.2f}" if n in vals else "-" for n in LATENCY_SIZES) + " |")
    lines += ["", meta["notes"], "", "Plot: `benchmarks/results/bo_quality.png`; data: `benchmarks/results/bo_quality_*.csv`.", ""]
    replace_section(SECTION, "\n".join(lines))


NOTES = """How to read it:
- ``logei``/``scbo``/``mobo`` are this package with default options (MAP GP, ``n_initial = max(5, min(2 dim, 20))``
  Sobol points, hyperparameters refit every observation up to 20 and then each time the data grew by 10 %).
- ``botorch-scbo`` is the loop of the current BoTorch SCBO tutorial (which already centres on the best feasible /
  least-violating point and sums positive parts) run with batches of one and 10 Sobol points; it restarts its
  trust region instead of stopping. ``optuna-*`` are Optuna's samplers at their defaults with ``constraints_func``.
- ask() "with hyperparameter refit" is an ask that has to refit the three GPs (warm-started MAP; this happens each
  time the data grew by 10 %, i.e. about every 20th ask at n = 200); "between refits" is what the other asks cost
  (posterior update + acquisition, here with one pending point fantasised); "after resume" is the first ask of an
  optimizer rebuilt from n stored records, which replays the whole refit schedule. Compilation (once per padded
  data size and process) is excluded and listed as "first ask (compiles)"."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 seeds and the short budgets")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--budget", type=int, default=None, help="override every problem's budget")
    parser.add_argument("--problems", nargs="*", default=list(BUDGETS))
    parser.add_argument("--optimizers", nargs="*", default=None, help="subset of optimizer labels")
    parser.add_argument("--peers-python", default=PEERS_PYTHON)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--latency-reps", type=int, default=3)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--peer-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_worker:
        peer_worker(json.loads(args.peer_worker))
        return

    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    from jaxsnn.hpo.problems import PROBLEMS

    RESULTS.mkdir(exist_ok=True)
    traces_path, latency_path = RESULTS / "bo_quality_traces.csv", RESULTS / "bo_quality_latency.csv"
    meta_path = RESULTS / "bo_quality_meta.json"
    t_start = time.time()
    if not args.report_only:
        seeds = args.seeds or (3 if args.quick else 10)
        available = {} if args.no_peers else _peers_available(args.peers_python)
        traces = []
        for problem_name in args.problems:
            problem = PROBLEMS[problem_name]
            budget = args.budget or BUDGETS[problem_name][1 if args.quick else 0]
            multi = len(problem.objectives) > 1
            ref = dict(zip(problem.objectives, problem.ref_point)) if multi else None
            ours = (
                {"random": ("random", {}), "mobo": ("mobo", {"ref_point": ref}),
                 "mobo-parego": ("mobo", {"parego": True, "ref_point": ref})}
                if multi else OURS_SINGLE
            )
            runners = [(label, "ours", spec) for label, spec in ours.items()]
            runners += [(peer, "peer", None) for peer in (PEERS_MULTI if multi else PEERS_SINGLE) if available.get(peer)]
            for label, kind, spec in runners:
                if args.optimizers and label not in args.optimizers:
                    continue
                for seed in range(seeds):
                    t = time.time()
                    if kind == "ours":
                        records, ask_s = run_ours(problem, spec[0], spec[1], seed, budget)
                    else:
                        records, ask_s = run_peer(problem, label, seed, budget, args.peers_python)
                    for i, (p, s) in enumerate(zip(_progress(problem, records), ask_s)):
                        traces.append({"problem": problem_name, "optimizer": label, "seed": seed, "evaluation": i + 1,
                                       "progress": p, "ask_s": s})
                    print(f"{problem_name} {label} seed {seed}: {_progress(problem, records)[-1]:.5g}"
                          f" ({time.time() - t:.0f} s)", flush=True)
                    _write_csv(traces_path, traces)  # partial results survive an interrupted run
        latency = [] if args.no_latency else measure_latency(
            None if args.no_peers or not available.get("optuna-gp") else args.peers_python, args.latency_reps)
        if latency:
            _write_csv(latency_path, latency)
        meta = {
            "command": "python benchmarks/bo_quality.py " + " ".join(sys.argv[1:]),
            "seeds": seeds, "wall_min": (time.time() - t_start) / 60, "peers_python": args.peers_python,
            "peer_versions": _peer_versions(args.peers_python) if available else "not run",
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU, "
                       f"{platform.python_implementation()} {platform.python_version()}",
            "load": f"Load average at the end: {os.getloadavg()[0]:.1f} (machine shared with other engineers).",
        }
        meta_path.write_text(json.dumps(meta, indent=1))
    traces, latency = _read_csv(traces_path), _read_csv(latency_path)
    meta = json.loads(meta_path.read_text())
    summary = summarise(traces)
    _write_csv(RESULTS / "bo_quality_summary.csv", summary)
    plot(traces, latency, RESULTS / "bo_quality.png")
    write_results_md(summary, latency, {**meta, "notes": NOTES})
    for r in summary:
        print(r)


if __name__ == "__main__":
    main()
