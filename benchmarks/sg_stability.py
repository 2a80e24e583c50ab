"""Condition IV against a simulated surrogate-gradient backward pass (issue 18, part 1).

For recurrent LIF networks at initialization on the hard Randman task (``conf/data/randman_shd``:
700 channels, T = 100), compare per ``(gamma, beta)`` of the fast sigmoid:

- ``iv``: condition IV's left side as the paper states it (``sharpness.py``: uniform voltages);
- ``iv_observed``: the same formula with ``E[sigma'^2]`` over the *observed* voltages;
- ``mean_square_gain``: the exact one-step isotropic gain (adds the cross term the formula drops);
- ``growth``: the measured per-step growth of the BPTT gradient norm (``stability.backward``);

and where each crosses 1 in ``beta``. Networks: ``default`` (the model's own init, LeCun input
weights, ``W_rec ~ N(0, 1/N)``), ``driven`` (the same x ``weight_scale`` 5, so the hidden layer
fires) and ``stable`` (conditions I/II weights from ``stable_init``).

    python benchmarks/sg_stability.py            # ~1 min on 2 cores: CSVs + PNG in results/
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from jaxsnn.core import LIFParams, Surrogate  # noqa: E402
from jaxsnn.data import load_dataset  # noqa: E402
from jaxsnn.stability import (  # noqa: E402
    NoSolutionError,
    sharpness_residual,
    solve_sharpness,
    stable_init,
)
from jaxsnn.stability.backward import (  # noqa: E402
    backward_growth,
    centred_voltages,
    crossing,
    mean_square_gain,
)
from jaxsnn.train.config import ModelConfig  # noqa: E402
from results_io import write_csv  # noqa: E402

RESULTS = Path(__file__).parent / "results"
PRESET = Path(__file__).parents[1] / "conf" / "data" / "randman_shd.yaml"
ALPHA, THETA = 0.9, 1.0


def sample_inputs(n_samples: int, seed: int) -> jax.Array:
    """``(T, B, 700)`` training inputs of the hard task (its preset, fewer samples per class)."""
    preset = OmegaConf.to_container(OmegaConf.load(PRESET))
    options = {**preset["options"], "samples_per_class": 10}
    data = load_dataset("randman", time_steps=preset["time_steps"], seed=seed, **options)
    return jnp.swapaxes(jnp.asarray(data.train.inputs[:n_samples]), 0, 1)


def networks(inputs: jax.Array, hidden: int, seed: int) -> dict[str, tuple[LIFParams, jax.Array]]:
    """``name -> (params, w_in)`` of the three networks compared."""
    n_in = inputs.shape[-1]
    out = {}
    for name, scale in (("default", 1.0), ("driven", 5.0)):
        model = ModelConfig(hidden=(hidden,), recurrent=True, weight_scale=scale)
        layer = model.build((n_in,), 20, seed=seed).hidden[0]
        out[name] = (LIFParams(ALPHA, THETA, layer.w_rec[...]), layer.linear.kernel[...])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # IV's own solution is not used here
        init = stable_init(jax.random.key(seed), n_in, hidden, ALPHA, THETA, inputs)
    out["stable"] = (init.params, init.w_in)
    return out


def condition_iv_stats(params: LIFParams, u: jax.Array) -> dict[str, float]:
    """The summary statistics condition IV reads (``sharpness_residual``'s keyword arguments)."""
    w_rec = np.asarray(params.w_rec)
    n = w_rec.shape[0]
    off_diagonal = (np.sum(w_rec**2) - np.sum(np.diag(w_rec) ** 2)) / (n * (n - 1))
    return dict(
        alpha_sq_mean=ALPHA**2,
        n_rec=n,
        w_sq_mean=float(off_diagonal),
        theta_sq_mean=THETA**2,
        v_range=(float(jnp.min(u)), float(jnp.max(u))),
    )


def measure(
    params: LIFParams, u: jax.Array, gammas: list[float], betas: np.ndarray, key: jax.Array
) -> list[dict]:
    """One row per ``(gamma, beta)``: the four gains of the module docstring."""
    stats = condition_iv_stats(params, u)
    weight = (stats["n_rec"] - 1) * stats["w_sq_mean"] + stats["theta_sq_mean"]

    @jax.jit
    def simulated(gamma: jax.Array, beta: jax.Array) -> tuple[jax.Array, ...]:
        sg = Surrogate("fast_sigmoid", gamma, beta)
        observed_sq = jnp.mean(sg.derivative(u[:-1]) ** 2)
        return backward_growth(params, u, sg, key), mean_square_gain(params, u, sg), observed_sq

    rows = []
    for gamma in gammas:
        for beta in betas:
            growth, gain, observed_sq = simulated(jnp.float32(gamma), jnp.float32(beta))
            sg = Surrogate("fast_sigmoid", gamma, float(beta))
            rows.append(
                dict(
                    gamma=gamma,
                    beta=float(beta),
                    growth=float(growth),
                    mean_square_gain=float(gain),
                    iv=1.0 + sharpness_residual(sg, **stats),
                    iv_observed=ALPHA**2 + weight * float(observed_sq),
                )
            )
    return rows


def roots(rows: list[dict], stats: dict[str, float], bracket: tuple[float, float]) -> list[dict]:
    """Per gamma: condition IV's root (brentq) and where each measured gain crosses 1 in beta."""
    out = []
    for gamma in sorted({r["gamma"] for r in rows}):
        mine = [r for r in rows if r["gamma"] == gamma]
        betas = np.array([r["beta"] for r in mine])
        try:
            solved = solve_sharpness("fast_sigmoid", **stats, gamma=gamma, bracket=bracket)
            iv_root = float(solved.beta)
        except NoSolutionError:
            iv_root = float("nan")
        entry = dict(gamma=gamma, iv_root=iv_root)
        for key in ("iv_observed", "mean_square_gain", "growth"):
            entry[f"{key}_root"] = crossing(betas, np.array([r[key] for r in mine]))
        out.append(entry)
    return out


def plot(rows: list[dict], found: list[dict], path: Path) -> None:
    names = list(dict.fromkeys(r["network"] for r in rows))
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.8), sharey=True)
    for ax, name in zip(np.atleast_1d(axes), names):
        gammas = sorted({r["gamma"] for r in rows})
        for color, gamma in zip(plt.cm.viridis(np.linspace(0, 0.9, len(gammas))), gammas):
            mine = [r for r in rows if r["network"] == name and r["gamma"] == gamma]
            betas = [r["beta"] for r in mine]
            growth = [r["growth"] for r in mine]
            ax.plot(betas, growth, color=color, label=f"gamma {gamma:g}")
            ax.plot(betas, [r["iv"] for r in mine], color=color, ls="--", lw=0.9)
            root = next(f for f in found if f["network"] == name and f["gamma"] == gamma)
            if np.isfinite(root["iv_root"]):
                ax.axvline(root["iv_root"], color=color, ls=":", lw=1.2)
            if np.isfinite(root["growth_root"]):
                ax.plot(root["growth_root"], 1.0, "o", color=color, ms=6)
        ax.axhline(1.0, color="k", lw=0.6)
        ax.set(xscale="log", yscale="log", xlabel="sharpness beta", title=name, ylim=(0.5, 4))
    axes[0].set_ylabel("per-step gain")
    legend = "solid: measured growth\ndashed: condition IV\ndotted: IV root; o: growth = 1"
    axes[0].legend(fontsize=7, title=legend, title_fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--samples", type=int, default=64, help="batch of inputs simulated")
    parser.add_argument("--gammas", type=float, nargs="+", default=[0.5, 1.0, 1.5, 3.0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    betas = np.geomspace(0.05, 20.0, 27)
    inputs = sample_inputs(args.samples, args.seed)
    rows, found = [], []
    for name, (params, w_in) in networks(inputs, args.hidden, args.seed).items():
        u = centred_voltages(params, w_in, inputs)
        measured = measure(params, u, args.gammas, betas, jax.random.key(args.seed))
        rate = float(jnp.mean(u > 0))
        rows += [dict(network=name, rate=rate, **r) for r in measured]
        stats = condition_iv_stats(params, u)
        found += [
            dict(network=name, rate=rate, u_min=stats["v_range"][0], u_max=stats["v_range"][1],
                 u_median=float(jnp.median(u)), **r)
            for r in roots(measured, stats, (betas[0], betas[-1]))
        ]
    RESULTS.mkdir(exist_ok=True)
    write_csv(RESULTS / "sg_stability_growth.csv", rows)
    write_csv(RESULTS / "sg_stability_roots.csv", found)
    plot(rows, found, RESULTS / "sg_stability_growth.png")
    for f in found:
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in f.items()})
    print(f"wall {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
