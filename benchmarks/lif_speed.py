"""LIF kernel speed: the DESIGN.md yardstick for every jaxsnn LIF path and for the peers.

Yardstick: 2-layer LIF 700 -> 512 -> 20, T = 100, B = 32, Bernoulli(0.05) input spikes, fast-sigmoid
surrogate, one forward + backward of a cross-entropy loss on output spike counts w.r.t. both
weight matrices; median wall time over repeats. Paths:

- ``reference_xla``   jaxsnn ``lif_scan(backend="xla")`` (the lax.scan reference), dense ``x @ W``
- ``ffi``             jaxsnn ``lif_scan(backend="ffi")`` (compiled C++ kernels), dense ``x @ W``
- ``ffi_event``       jaxsnn ``kernels.lif_dense_event`` (kernels + event-driven projections)
- ``dense_matmul_bound``  only the XLA matmuls of the projections (forward x@W1, h@W2; backward
                      x^T g1, h^T g2, g2 @ W2^T): what any dense implementation must at least pay
- ``snntorch``, ``norse``, ``spyx``  the peers, timed by this same script re-run in worker mode
  (``--peers-worker``) with the peers' virtualenv (``--peers-python``), which must not be jaxsnn's

Also the first-call time per path and, for the JAX paths, the ahead-of-time compile time. The
jaxsnn paths and the peers are timed alternately over several rounds and their times pooled.
Writes ``benchmarks/results/lif_speed.csv``, ``lif_speed.png`` and the "LIF kernel speed" section
of ``benchmarks/RESULTS.md``. Usage (from the repository root)::

    nice .venv/bin/python benchmarks/lif_speed.py --peers-python /work/peers-venv/bin/python
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

T, B, N_IN, N_HID, N_OUT = 100, 32, 700, 512, 20
DENSITY, ALPHA, THETA, SEED = 0.05, 0.9, 1.0, 0
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SECTION = "## LIF kernel speed"
NOTES = (
    "`ffi` keeps the dense `x @ W` projections in XLA, so it cannot beat `dense_matmul_bound`; "
    "what it adds on top is the LIF kernels (forward + backward, both layers) and the glue. Where "
    "the matmul bound itself is above 1/3 of Spyx (Spyx pays the same matmuls plus its scan), "
    "the 1/3-of-Spyx target is out of reach for any dense path; `ffi_event` is the path that meets it "
    "by not doing the dense matmuls (input density 5 %).",
    "Each round times the jaxsnn paths, then the peers in a subprocess (their own venv); rounds "
    "alternate so that a varying machine load hits both groups, but on a shared machine the ratios "
    "still move by tens of percent between runs. Rerun on a quiet machine for reference numbers.",
    "torch peers use 1 thread or all cores, whichever was faster in a probe (on a loaded machine "
    "OpenMP threads spin-wait on each other and several threads can be 10x slower).",
    "Compile: ahead-of-time `jit(...).lower().compile()` of the whole forward+backward; first call = "
    "compile + one run (torch: first eager call).",
)


# --- shared problem and timing (numpy only: the peers' worker imports nothing of jaxsnn) -------


def problem() -> dict[str, np.ndarray]:
    """Inputs, labels and initial weights, identical in every process (seeded numpy)."""
    rng = np.random.default_rng(SEED)
    return {
        "x": (rng.random((T, B, N_IN)) < DENSITY).astype(np.float32),
        "y": rng.integers(0, N_OUT, B),
        # ~35 active inputs per step: currents of std ~0.5 make ~10-20 % of hidden units fire.
        "w1": rng.normal(0.0, 0.5 / np.sqrt(N_IN * DENSITY), (N_IN, N_HID)).astype(np.float32),
        "w2": rng.normal(0.0, 1.0 / np.sqrt(N_HID * 0.15), (N_HID, N_OUT)).astype(np.float32),
    }


def measure(step: Callable[[], object], repeats: int, warmup: int = 3) -> dict[str, float]:
    """Wall times of ``step`` (which must block until its result is ready): first call, spread."""
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"times_ms": [t * 1e3 for t in times], "first_call_s": first}


def pool_rounds(rounds: list[list[dict]]) -> list[dict]:
    """One row per path: the times of every round pooled; first call and compile of round one."""
    pooled: dict[str, dict] = {}
    for rows in rounds:
        for row in rows:
            pooled.setdefault(row["path"], {**row, "times_ms": []})["times_ms"] += row["times_ms"]
    for row in pooled.values():
        ms = np.asarray(row.pop("times_ms"))
        row.update(median_ms=float(np.median(ms)), p10_ms=float(np.percentile(ms, 10)),
                   p90_ms=float(np.percentile(ms, 90)), samples=int(ms.size))
    return list(pooled.values())


# --- jaxsnn paths -----------------------------------------------------------------------------


def jaxsnn_rows(repeats: int) -> list[dict]:
    import jax
    import jax.numpy as jnp

    from jaxsnn.core import LIFParams, Surrogate, kernels, lif_scan

    data = {k: jnp.asarray(v) for k, v in problem().items()}
    x, y = data["x"], data["y"]
    params, surrogate = LIFParams(ALPHA, THETA), Surrogate("fast_sigmoid", 1.0, 1.0)

    def cross_entropy(spikes):
        logits = spikes.sum(0)
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(B), y])

    def dense(backend):
        def loss(w1, w2):
            hidden = lif_scan(params, x @ w1, surrogate=surrogate, backend=backend).spikes
            return cross_entropy(lif_scan(params, hidden @ w2, surrogate=surrogate, backend=backend).spikes)

        return loss

    def event(w1, w2):
        hidden = kernels.lif_dense_event(params, w1, x, surrogate=surrogate).spikes
        return cross_entropy(kernels.lif_dense_event(params, w2, hidden, surrogate=surrogate).spikes)

    def matmuls(w1, w2, hidden, g1, g2):
        """The projections' forward and backward matmuls, nothing else."""
        return (
            x @ w1,
            hidden @ w2,
            jnp.einsum("tbi,tbh->ih", x, g1),
            jnp.einsum("tbh,tbo->ho", hidden, g2),
            g2 @ w2.T,
        )

    rng = np.random.default_rng(SEED + 1)
    hidden = jnp.asarray(rng.random((T, B, N_HID)) < 0.15, jnp.float32)
    g1 = jnp.asarray(rng.normal(size=(T, B, N_HID)), jnp.float32)
    g2 = jnp.asarray(rng.normal(size=(T, B, N_OUT)), jnp.float32)
    w = (data["w1"], data["w2"])
    paths = {
        "reference_xla": (jax.value_and_grad(dense("xla"), argnums=(0, 1)), w),
        "ffi": (jax.value_and_grad(dense("ffi"), argnums=(0, 1)), w),
        "ffi_event": (jax.value_and_grad(event, argnums=(0, 1)), w),
        "dense_matmul_bound": (matmuls, (*w, hidden, g1, g2)),
    }
    rows = []
    for name, (fn, args) in paths.items():
        start = time.perf_counter()
        compiled = jax.jit(fn).lower(*args).compile()
        compile_s = time.perf_counter() - start
        row = measure(lambda: jax.block_until_ready(compiled(*args)), repeats)  # noqa: B023
        row["first_call_s"] += compile_s  # a plain jit call compiles on the first call
        rows.append({"path": name, "library": f"jaxsnn (jax {jax.__version__})", "compile_s": compile_s, **row})
        print(f"{name:20s} {np.median(row['times_ms']):8.1f} ms  (compile {compile_s:.2f} s)", flush=True)
    losses = [float(paths[k][0](*w)[0]) for k in ("reference_xla", "ffi", "ffi_event")]
    print(f"loss reference / ffi / event: {losses}", flush=True)
    return rows


# --- peers (run in the peers' virtualenv) -----------------------------------------------------


def fastest_thread_count(step: Callable[[], object]) -> int:
    """Set torch to 1 thread or all cores, whichever runs ``step`` faster here, and return it.

    On a busy machine torch's OpenMP threads spin-wait on each other and can run 10x slower than
    one thread; on an idle one all cores win. Each peer gets its better setting.
    """
    import torch

    timings = {}
    for threads in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        step()
        start = time.perf_counter()
        for _ in range(2):
            step()
        timings[threads] = time.perf_counter() - start
    best = min(timings, key=timings.get)
    torch.set_num_threads(best)
    return best


def torch_rows(repeats: int) -> list[dict]:
    import torch

    data = problem()
    x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
    rows = []

    def run(name: str, library: str, forward: Callable[[torch.Tensor], torch.Tensor], layers) -> None:
        def step():
            for layer in layers:
                layer.weight.grad = None
            loss = torch.nn.functional.cross_entropy(forward(x).sum(0), y)
            loss.backward()
            return loss

        threads = fastest_thread_count(step)
        row = measure(step, repeats)
        library = f"{library[:-1]}, {threads} thread{'s' if threads > 1 else ''})"
        rows.append({"path": name, "library": library, "compile_s": float("nan"), **row})

    def linear(w: np.ndarray) -> torch.nn.Linear:
        layer = torch.nn.Linear(*w.shape, bias=False)
        layer.weight.data = torch.from_numpy(np.ascontiguousarray(w.T))
        return layer

    try:
        import snntorch
        from snntorch import surrogate

        fc1, fc2 = linear(data["w1"]), linear(data["w2"])
        sg = surrogate.fast_sigmoid(slope=2.0)
        lif1 = snntorch.Leaky(beta=ALPHA, threshold=THETA, spike_grad=sg, reset_mechanism="subtract")
        lif2 = snntorch.Leaky(beta=ALPHA, threshold=THETA, spike_grad=sg, reset_mechanism="subtract")

        def snntorch_forward(inputs):
            mem1, mem2, out = lif1.init_leaky(), lif2.init_leaky(), []
            for t in range(T):
                spk1, mem1 = lif1(fc1(inputs[t]), mem1)
                spk2, mem2 = lif2(fc2(spk1), mem2)
                out.append(spk2)
            return torch.stack(out)

        run("snntorch", f"snntorch {snntorch.__version__} (torch {torch.__version__})", snntorch_forward, (fc1, fc2))
    except ImportError as error:
        print(f"snntorch skipped: {error}", file=sys.stderr)
    try:
        import norse
        import norse.torch as nt

        fc1, fc2 = linear(data["w1"]), linear(data["w2"])
        model = nt.SequentialState(fc1, nt.LIF(), fc2, nt.LIF())  # Norse's own LIF (SuperSpike SG)
        version = getattr(norse, "__version__", "?")
        run("norse", f"norse {version} (torch {torch.__version__})", lambda inputs: model(inputs)[0], (fc1, fc2))
    except ImportError as error:
        print(f"norse skipped: {error}", file=sys.stderr)
    return rows


def spyx_rows(repeats: int) -> list[dict]:
    try:
        import jax
        import jax.numpy as jnp
        import spyx
        from flax import nnx
    except ImportError as error:
        print(f"spyx skipped: {error}", file=sys.stderr)
        return []
    data = {k: jnp.asarray(v) for k, v in problem().items()}
    x, y = data["x"], data["y"]
    rngs = nnx.Rngs(SEED)
    fc1 = nnx.Linear(N_IN, N_HID, use_bias=False, rngs=rngs)
    fc2 = nnx.Linear(N_HID, N_OUT, use_bias=False, rngs=rngs)
    fc1.kernel.value, fc2.kernel.value = data["w1"], data["w2"]
    act = spyx.axn.superspike()  # Spyx's fast sigmoid
    model = spyx.nn.Sequential(
        fc1,
        spyx.nn.LIF((N_HID,), beta=ALPHA, threshold=THETA, activation=act, rngs=rngs),
        fc2,
        spyx.nn.LIF((N_OUT,), beta=ALPHA, threshold=THETA, activation=act, rngs=rngs),
    )
    graph, weights, rest = nnx.split(model, nnx.PathContains("kernel"), ...)

    def loss(weights):
        spikes, _ = spyx.nn.run(nnx.merge(graph, weights, rest), x)
        return -jnp.mean(jax.nn.log_softmax(spikes.sum(0))[jnp.arange(B), y])

    start = time.perf_counter()
    compiled = jax.jit(jax.value_and_grad(loss)).lower(weights).compile()
    compile_s = time.perf_counter() - start
    row = measure(lambda: jax.block_until_ready(compiled(weights)), repeats)
    row["first_call_s"] += compile_s
    return [{"path": "spyx", "library": f"spyx {spyx.__version__} (jax {jax.__version__})", "compile_s": compile_s, **row}]


def peer_rows(python: str, repeats: int) -> list[dict]:
    """Run this script in worker mode with the peers' interpreter; its rows come back as JSON."""
    done = subprocess.run(
        [python, __file__, "--peers-worker", "--repeats", str(repeats)],
        capture_output=True, text=True, check=False, env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    sys.stderr.write(done.stderr[-3000:])
    if done.returncode != 0:
        print(f"peers worker failed (exit {done.returncode}); no peer timings", file=sys.stderr)
        return []
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- reporting --------------------------------------------------------------------------------


def machine() -> str:
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores visible, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def add_ratios(rows: list[dict]) -> None:
    by_path = {r["path"]: r["median_ms"] for r in rows}
    for row in rows:
        for ref in ("dense_matmul_bound", "spyx"):
            row[f"x_{ref}"] = row["median_ms"] / by_path[ref] if ref in by_path else float("nan")


def write_csv(rows: list[dict], path: Path) -> None:
    columns = ["path", "library", "median_ms", "p10_ms", "p90_ms", "samples", "first_call_s",
               "compile_s", "x_dense_matmul_bound", "x_spyx"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([f"{row[c]:.4g}" if isinstance(row[c], float) else row[c] for c in columns])


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = sorted(rows, key=lambda r: r["median_ms"])
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(ordered) + 1.5))
    names = [r["path"] for r in ordered]
    med = np.asarray([r["median_ms"] for r in ordered])
    err = np.asarray([[m - r["p10_ms"], r["p90_ms"] - m] for m, r in zip(med, ordered)]).T
    colors = ["tab:green" if n.startswith("ffi") else "tab:gray" if n == "dense_matmul_bound" else "tab:blue" for n in names]
    ax.barh(names, med, xerr=err, color=colors, capsize=3)
    for i, (m, r) in enumerate(zip(med, ordered)):
        ax.text(r["p90_ms"], i, f"  {m:.1f}", va="center")
    ax.set_xlim(0, 1.15 * max(r["p90_ms"] for r in ordered))
    ax.set_xlabel("forward + backward, median ms (whiskers: 10th-90th percentile)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def results_section(rows: list[dict], command: str, load: tuple[tuple[float, ...], tuple[float, ...]]) -> str:
    by = {r["path"]: r for r in rows}
    table = ["| path | library | median ms | p10-p90 ms | x dense bound | x Spyx | first call s | compile s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: r["median_ms"]):
        compile_s = "-" if np.isnan(r["compile_s"]) else f"{r['compile_s']:.2f}"
        table.append(
            f"| `{r['path']}` | {r['library']} | {r['median_ms']:.1f} | {r['p10_ms']:.1f}-{r['p90_ms']:.1f} "
            f"| {r['x_dense_matmul_bound']:.2f} | {r['x_spyx']:.2f} | {r['first_call_s']:.2f} "
            f"| {compile_s} |"
        )

    def verdict(path: str, ref: str, limit: float) -> str:
        if path not in by or ref not in by:
            return f"`{path}` / `{ref}`: not measured"
        ratio = by[path]["median_ms"] / by[ref]["median_ms"]
        shown = "1/3" if abs(limit - 1 / 3) < 1e-9 else f"{limit:g}"
        return f"`{path}` / `{ref}` = {ratio:.2f} (target <= {shown}: {'met' if ratio <= limit else 'NOT met'})"

    compile_max = max((r["compile_s"] for r in rows if r["path"].startswith("ffi")), default=float("nan"))
    targets = [
        verdict("ffi", "dense_matmul_bound", 1.2),
        verdict("ffi_event", "dense_matmul_bound", 1.2),
        verdict("ffi", "spyx", 1 / 3),
        verdict("ffi_event", "spyx", 1 / 3),
        f"compile of the kernel paths: max {compile_max:.2f} s (target < 3 s: {'met' if compile_max < 3 else 'NOT met'})",
    ]
    return "\n".join([
        SECTION,
        "",
        f"Machine: {machine()}; shared with other engineers' jobs. Load average (1/5/15 min) "
        f"before: {'/'.join(f'{x:.2f}' for x in load[0])}, after: {'/'.join(f'{x:.2f}' for x in load[1])}.",
        "",
        f"Command: `{command}`",
        "",
        f"Yardstick: 2-layer LIF {N_IN}->{N_HID}->{N_OUT}, T={T}, B={B}, Bernoulli({DENSITY}) inputs, "
        "fast-sigmoid SG, one forward+backward of cross-entropy on output spike counts w.r.t. both weight "
        "matrices, wall-clock median over all rounds (jaxsnn paths and peers alternate, round by round). "
        "CSV: `benchmarks/results/lif_speed.csv`, plot: `lif_speed.png`.",
        "",
        *table,
        "",
        *[f"- {t}" for t in targets],
        "",
        "Notes:",
        "",
        *[f"- {n}" for n in NOTES],
        "",
    ])


def update_results_md(section: str, path: Path) -> None:
    """Replace (or append) the LIF kernel speed section, leaving every other section intact."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section.rstrip("\n") + ("\n\n" + text[end + 1:] if end >= 0 else "")
    path.write_text(text.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per path and round")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate jaxsnn and peers this many times (a varying load then hits both)")
    parser.add_argument("--peers-python", default="/work/peers-venv/bin/python",
                        help="interpreter of a virtualenv with torch, snntorch, norse and spyx ('' to skip)")
    parser.add_argument("--peers-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peers_worker:
        print(json.dumps(torch_rows(args.repeats) + spyx_rows(args.repeats)))
        return
    load_before = os.getloadavg()
    rounds = []
    for _ in range(args.rounds):
        rows = jaxsnn_rows(args.repeats)
        if args.peers_python and Path(args.peers_python).exists():
            rows += peer_rows(args.peers_python, args.repeats)
        rounds.append(rows)
    rows = pool_rounds(rounds)
    load_after = os.getloadavg()
    add_ratios(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_csv(rows, RESULTS / "lif_speed.csv")
    command = "nice .venv/bin/python benchmarks/lif_speed.py " + " ".join(sys.argv[1:])
    plot(rows, RESULTS / "lif_speed.png", f"LIF {N_IN}-{N_HID}-{N_OUT}, T={T}, B={B}, p={DENSITY}\n{machine()}")
    update_results_md(results_section(rows, command.strip(), (load_before, load_after)), ROOT / "benchmarks" / "RESULTS.md")
    for row in rows:
        print(f"{row['path']:20s} {row['median_ms']:8.1f} ms  x bound {row['x_dense_matmul_bound']:.2f}  x spyx {row['x_spyx']:.2f}")


if __name__ == "__main__":
    main()
