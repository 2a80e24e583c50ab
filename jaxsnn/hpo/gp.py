"""Gaussian-process surrogates: a NumPyro model, MAP or NUTS fits, posteriors, paths, fantasies.

Inputs are ``Space.encode`` features in the unit cube. One GP models one output (an objective or a
constraint); outputs are standardised before fitting and predictions come back in original units.

Kernel: Matérn-5/2 with ARD lengthscales, optionally after a per-dimension Kumaraswamy CDF input
warping ``w(x) = 1 - (1 - x^a)^b`` that lets a stationary kernel model non-stationary responses
(Snoek et al. 2014). Hyperparameters carry priors and are fit by

- ``map`` (default): maximum a posteriori over the constrained parameters with L-BFGS-B from a
  handful of restarts (prior median + prior draws); all outputs and restarts share one vmapped,
  jit-compiled value-and-gradient call per iteration;
- ``nuts``: fully Bayesian, NumPyro's NUTS; predictions are mixtures over the thinned samples.

Priors: ``lognormal`` puts LogNormal(sqrt(2) + log(d)/2, sqrt(3)) on lengthscales (Hvarfner et al.
2024: the prior median grows with the dimension so that 10-20-D problems are not over-fit);
``saas`` is the sparse axis-aligned subspace prior of SAASBO (Eriksson & Jankowiak 2021):
``tau ~ HalfCauchy(0.1)``, inverse squared lengthscales ``rho_i ~ HalfCauchy(tau)``; meant for NUTS
in many dimensions.

Precision: everything here runs in float64 through ``jax.enable_x64`` *locally* (the ``float64``
decorator), because Cholesky factors of kernel matrices over nearby points fail or lose all
accuracy in float32 (the same reason GPyTorch/BoTorch work in double). The library default stays
float32.

Compilation: training arrays are padded to bucketed sizes (a mask turns padded rows into
independent unit-variance dummies that do not touch the real posterior), so a study of a few
hundred trials compiles each jitted function only about ten times.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import threading
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import scipy.optimize
from jax.flatten_util import ravel_pytree
from jax.scipy.linalg import cho_solve, solve_triangular
from numpyro import handlers
from numpyro.infer import MCMC, NUTS, init_to_median
from numpyro.infer.util import constrain_fn, log_density, unconstrain_fn

F = TypeVar("F", bound=Callable[..., Any])

NOISE_FLOOR = 1e-6
"""Added to the fitted noise variance (standardised units): keeps Cholesky factors well defined."""
_WARP_EPS = 1e-6
MIN_BUCKET = 16

COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}
"""XLA options of every GP and acquisition program. These programs are small (a few dozen rows)
and each is compiled for every padded size, so a study's optimizer spends more of its CPU
compiling them than running them; without LLVM's optimisation passes XLA compiles them about
twice as fast. SCBO on Ackley-10 with 2 constraints, 40 asks, fresh process, empty cache, 2
cores, twice each: 46-50 s of process CPU -> 26-28 s, the asks' wall time 37-42 s -> 22 s (61
programs either way). Over 200 asks (``benchmarks/ask_latency.py``, cold): first model-based ask
10.7-11.5 s -> 6.2-6.4 s, all asks 73-76 s -> 56-61 s. The price is on a warm cache, where
nothing compiles: the later asks' median rose from 0.09 / 0.14-0.16 s (log-EI / SCBO) to 0.13 /
0.18 s, and a warm 200-ask SCBO study took 53 s (36 s in the previous table, another day).
Keeping the default for the programs over thousands of candidates (paths, predictions,
acquisitions) was tried: it lost most of the cold saving and did not clearly win warm. The
trials' programs keep XLA's default: there the same setting cut setup by a third but slowed
training by 10-15 % and changed the trained weights in the last bits. Part of the persistent
cache's key, so cached entries of either setting stay valid."""


def gp_jit(fn: Callable | None = None, **options: Any) -> Any:
    """``jax.jit`` with :data:`COMPILER_OPTIONS`: for the optimizer's programs, not the trials'."""
    if fn is None:
        return functools.partial(gp_jit, **options)
    return jax.jit(fn, compiler_options=COMPILER_OPTIONS, **options)


def float64(fn: F) -> F:
    """Run ``fn`` with JAX 64-bit types enabled, leaving the global default untouched."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with jax.enable_x64(True):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@dataclasses.dataclass(frozen=True)
class GPConfig:
    """How GP hyperparameters are inferred (hashable: it is a static argument of jitted fits).

    ``restarts`` MAP starts are used while fewer than ``multistart_below`` observations are
    known; beyond that, a fit warm-started from the previous one (see :class:`ScheduledGPs`)
    uses that single start: the marginal likelihood is then sharply peaked (on Ackley-10 with
    200 points, one start from the prior median reaches the same optimum as three) and the
    multi-start would triple the cost of the most expensive step of an ask.
    """

    inference: str = "map"
    prior: str = "lognormal"
    warp: bool = False
    restarts: int = 3
    map_steps: int = 60
    multistart_below: int = 100
    num_warmup: int = 256
    num_samples: int = 256
    thinning: int = 16

    def __post_init__(self) -> None:
        if self.inference not in ("map", "nuts"):
            raise ValueError(f"GP inference must be 'map' or 'nuts', got {self.inference!r}")
        if self.prior not in ("lognormal", "saas"):
            raise ValueError(f"GP prior must be 'lognormal' or 'saas', got {self.prior!r}")
        if self.restarts < 1 or self.map_steps < 1:
            raise ValueError("restarts and map_steps must be >= 1")


class Hyper(NamedTuple):
    """Kernel hyperparameters; every field has a leading axis over posterior samples ``S``."""

    lengthscale: jax.Array  # (S, d)
    outputscale: jax.Array  # (S,)
    noise: jax.Array  # (S,)
    mean: jax.Array  # (S,)
    warp_a: jax.Array  # (S, d); ones when warping is off (identity)
    warp_b: jax.Array  # (S, d)


class GP(NamedTuple):
    """A fitted GP for one output: a pytree, so it can be passed to jitted functions.

    ``X``, ``y`` and ``mask`` are padded to a power-of-two length; ``y`` is standardised
    (``(value - y_loc) / y_scale``) and zero at padding. ``L`` and ``alpha`` are the Cholesky
    factor of the noisy Gram matrix and ``K^-1 (y - mean)``, one per hyperparameter sample.
    """

    hyper: Hyper
    X: jax.Array
    y: jax.Array
    mask: jax.Array
    L: jax.Array
    alpha: jax.Array
    y_loc: jax.Array
    y_scale: jax.Array


# --- kernel -------------------------------------------------------------------------------------
def _warp(x: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    x = jnp.clip(x, _WARP_EPS, 1.0 - _WARP_EPS)
    return 1.0 - (1.0 - x**a) ** b


def matern52(x1: jax.Array, x2: jax.Array, lengthscale: jax.Array, outputscale: jax.Array) -> jax.Array:
    """Matérn-5/2 ARD kernel matrix between rows of ``x1`` and ``x2``."""
    d2 = jnp.sum(((x1[:, None, :] - x2[None, :, :]) / lengthscale) ** 2, axis=-1)
    r = jnp.sqrt(d2 + 1e-12)  # the offset keeps the gradient finite at r = 0
    s5r = math.sqrt(5.0) * r
    return outputscale * (1.0 + s5r + 5.0 / 3.0 * d2) * jnp.exp(-s5r)


def _kernel(h: Hyper, x1: jax.Array, x2: jax.Array) -> jax.Array:
    """Kernel of one hyperparameter sample (fields without the ``S`` axis)."""
    return matern52(_warp(x1, h.warp_a, h.warp_b), _warp(x2, h.warp_a, h.warp_b), h.lengthscale, h.outputscale)


def _gram(h: Hyper, X: jax.Array, mask: jax.Array) -> jax.Array:
    """Noisy Gram matrix; padded rows/columns become the identity (independent dummies)."""
    both = mask[:, None] * mask[None, :]
    K = _kernel(h, X, X) * both + jnp.diag(mask * (h.noise + NOISE_FLOOR))
    return K + jnp.diag(1.0 - mask)


# --- Gaussian log-likelihood with a closed-form gradient -----------------------------------------
@jax.custom_vjp
def gaussian_log_likelihood(K: jax.Array, r: jax.Array) -> jax.Array:
    """``log N(r; 0, K)``.

    Same value as ``dist.MultivariateNormal(...).log_prob``, but the gradient is the textbook
    ``dK = (alpha alpha^T - K^-1) / 2``, ``dr = -alpha`` (Rasmussen & Williams eq. 5.9) instead of
    differentiating through the Cholesky factorisation, which on CPU costs several times more.
    """
    return _gaussian_log_likelihood_fwd(K, r)[0]


def _gaussian_log_likelihood_fwd(K: jax.Array, r: jax.Array) -> tuple[jax.Array, tuple]:
    L = jnp.linalg.cholesky(K)
    a = solve_triangular(L, r, lower=True)
    alpha = solve_triangular(L.T, a, lower=False)
    value = -0.5 * a @ a - jnp.sum(jnp.log(jnp.diag(L))) - 0.5 * r.shape[0] * math.log(2 * math.pi)
    return value, (L, alpha)


def _gaussian_log_likelihood_bwd(res: tuple, g: jax.Array) -> tuple[jax.Array, jax.Array]:
    L, alpha = res
    L_inv = solve_triangular(L, jnp.eye(L.shape[0], dtype=L.dtype), lower=True)
    return g * 0.5 * (jnp.outer(alpha, alpha) - L_inv.T @ L_inv), -g * alpha


gaussian_log_likelihood.defvjp(_gaussian_log_likelihood_fwd, _gaussian_log_likelihood_bwd)


# --- the probabilistic model --------------------------------------------------------------------
def gp_model(X: jax.Array, y: jax.Array, mask: jax.Array, config: GPConfig) -> None:
    """NumPyro model of standardised observations ``y`` at unit-cube inputs ``X``."""
    d = X.shape[1]
    if config.prior == "saas":
        tau = numpyro.sample("tau", dist.HalfCauchy(0.1))
        rho = numpyro.sample("rho", dist.HalfCauchy(jnp.ones(d)).to_event(1))
        lengthscale = numpyro.deterministic("lengthscale", 1.0 / jnp.sqrt(tau * rho))
    else:
        loc = math.sqrt(2.0) + 0.5 * math.log(d)
        lengthscale = numpyro.sample("lengthscale", dist.LogNormal(loc, math.sqrt(3.0)).expand([d]).to_event(1))
    outputscale = numpyro.sample("outputscale", dist.LogNormal(0.0, 1.0))
    noise = numpyro.sample("noise", dist.LogNormal(-4.0, 1.0))
    mean = numpyro.sample("mean", dist.Normal(0.0, 1.0))
    if config.warp:
        warp_a = numpyro.sample("warp_a", dist.LogNormal(0.0, 0.75).expand([d]).to_event(1))
        warp_b = numpyro.sample("warp_b", dist.LogNormal(0.0, 0.75).expand([d]).to_event(1))
    else:
        warp_a = warp_b = jnp.ones(d)
    h = Hyper(lengthscale, outputscale, noise, mean, warp_a, warp_b)
    numpyro.factor("y", gaussian_log_likelihood(_gram(h, X, mask), (y - mean) * mask))


def _hyper_from_samples(samples: dict[str, jax.Array], d: int) -> Hyper:
    """``Hyper`` from a dict of constrained values with a leading sample axis."""
    if "rho" in samples:  # SAAS: the lengthscale is a function of the shrinkage sites
        ls = 1.0 / jnp.sqrt(samples["tau"][:, None] * samples["rho"])
    else:
        ls = samples["lengthscale"]
    ones = jnp.ones((ls.shape[0], d))
    return Hyper(
        lengthscale=ls,
        outputscale=samples["outputscale"],
        noise=samples["noise"],
        mean=samples["mean"],
        warp_a=samples.get("warp_a", ones),
        warp_b=samples.get("warp_b", ones),
    )


# --- fitting ------------------------------------------------------------------------------------
def padded_size(n: int) -> int:
    """Padded size for ``n`` rows: powers of two up to 64, then steps of a quarter power of two.

    Bounds both the wasted cubic work (at most ~25 % padding beyond 64 rows) and the number of
    distinct shapes, i.e. compilations (about ten up to 300 observations).
    """
    if n <= 64:
        return max(MIN_BUCKET, 1 << math.ceil(math.log2(max(n, 1))))
    step = (1 << (n.bit_length() - 1)) // 4
    return -(-n // step) * step


def _pad(X: np.ndarray, y: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, d = X.shape
    Xp = np.full((size, d), 0.5)
    Xp[:n] = X
    yp = np.zeros(size)
    yp[:n] = y
    mask = np.zeros(size)
    mask[:n] = 1.0
    return Xp, yp, mask


def _standardize(y: np.ndarray) -> tuple[np.ndarray, float, float]:
    loc = float(np.mean(y))
    scale = float(np.std(y))
    scale = scale if scale > 1e-12 * max(1.0, abs(loc)) else 1.0
    return (y - loc) / scale, loc, scale


def _map_loss_one(u: dict, X: jax.Array, y: jax.Array, mask: jax.Array, config: GPConfig) -> jax.Array:
    """Negative log joint of one output at unconstrained parameters ``u`` (MAP objective)."""
    args = (X, y, mask, config)
    return -log_density(gp_model, args, {}, constrain_fn(gp_model, args, {}, u))[0]


@gp_jit(static_argnames="config")
def _map_value_and_grad(u: dict, X: jax.Array, Y: jax.Array, mask: jax.Array, config: GPConfig) -> tuple:
    """Summed loss, its gradient and per-problem losses for parameters batched ``(outputs, restarts)``.

    The problems are independent, so the gradient of the sum holds each one's own gradient and a
    single quasi-Newton run optimises them all with one compiled call per iteration.
    """

    n_out, n_restarts = Y.shape[1], config.restarts
    flat = jax.tree.map(lambda a: a.reshape(n_out * n_restarts, *a.shape[2:]), u)
    ys = jnp.repeat(Y.T, n_restarts, axis=0)

    def one(args: tuple) -> tuple[jax.Array, dict]:
        ui, y = args
        return jax.value_and_grad(_map_loss_one)(ui, X, y, mask, config)

    # lax.map, not vmap: one Gram matrix at a time stays in cache and is about 2x faster on CPU
    # than the batched linear algebra vmap produces.
    losses, grads = jax.lax.map(one, (flat, ys))
    grads = jax.tree.map(lambda a: a.reshape(n_out, n_restarts, *a.shape[1:]), grads)
    return losses.sum(), grads, losses.reshape(n_out, n_restarts)


@gp_jit(static_argnames="config")
def _map_starts(keys: jax.Array, X: jax.Array, Y: jax.Array, mask: jax.Array, config: GPConfig) -> dict:
    """Unconstrained starting points ``(outputs, restarts, ...)``: the prior median, then prior draws."""

    def initial(k: jax.Array, y: jax.Array, median: bool) -> dict:
        model = handlers.seed(gp_model, k)
        if median:  # the seed must sit inside substitute: init_to_median draws with it
            model = handlers.substitute(model, substitute_fn=init_to_median)
        args = (X, y, mask, config)
        tr = handlers.trace(model).get_trace(*args)
        values = {n: s["value"] for n, s in tr.items() if s["type"] == "sample" and not s["is_observed"]}
        return unconstrain_fn(gp_model, args, {}, values)

    def per_output(key: jax.Array, y: jax.Array) -> dict:
        ks = jax.random.split(key, config.restarts)
        median = initial(ks[0], y, True)
        # vmap over the draws' keys: the same values as one call per key, one traced model to compile
        draws = jax.vmap(lambda k: initial(k, y, False))(ks[1:])
        return jax.tree.map(lambda m, d: jnp.concatenate([m[None], d]), median, draws)

    return jax.vmap(per_output)(keys, Y.T)


@gp_jit(static_argnames="config")
def _constrain(u: dict, X: jax.Array, mask: jax.Array, config: GPConfig) -> dict:
    y = jnp.zeros(X.shape[0])  # only fixes shapes: constraining does not look at the data
    return jax.vmap(lambda ui: constrain_fn(gp_model, (X, y, mask, config), {}, ui))(u)


@gp_jit(static_argnames="config")
def _unconstrain(sites: dict, X: jax.Array, mask: jax.Array, config: GPConfig) -> dict:
    y = jnp.zeros(X.shape[0])
    return jax.vmap(lambda si: unconstrain_fn(gp_model, (X, y, mask, config), {}, si))(sites)


def _jit_config(config: GPConfig) -> GPConfig:
    """``config`` as a static argument of the jitted MAP functions: only the model (prior, warping)
    and the number of starts shape their programs, so fits that differ in the L-BFGS budget (or in
    NUTS settings) share the compiled ones instead of compiling their own."""
    return GPConfig(prior=config.prior, warp=config.warp, restarts=config.restarts)


def _fit_map(X: jax.Array, Y: jax.Array, mask: jax.Array, keys: jax.Array, config: GPConfig,
             init: dict | None = None) -> dict:
    """MAP sample sites (constrained, leading axis = outputs) for each column of ``Y``.

    Starts: ``init`` (a previous fit) or the prior median, then prior draws. L-BFGS-B from SciPy
    drives the jitted value-and-gradient; unconstrained coordinates are boxed to ``[-12, 12]`` so
    that a flat likelihood cannot push a lengthscale or noise to 0 or infinity.
    """
    budget, config = config.map_steps, _jit_config(config)
    # The priors and the constraining transforms do not look at the data, only at the input
    # dimension: one-row stand-ins give the same values with one compilation per study instead of
    # one per padded size (drawing the starts alone took ~10 s of XLA compile per size).
    X1, Y1, mask1 = jnp.zeros((1, X.shape[1])), jnp.zeros((1, Y.shape[1])), jnp.ones(1)
    u0 = _map_starts(keys, X1, Y1, mask1, config)
    if init is not None:
        warm = _unconstrain(init, X1, mask1, config)
        u0 = jax.tree.map(lambda a, w: a.at[:, 0].set(w), u0, warm)
    flat0, unravel = ravel_pytree(u0)

    def fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad, _ = _map_value_and_grad(unravel(jnp.asarray(flat)), X, Y, mask, config)
        g = np.asarray(ravel_pytree(grad)[0])
        if not (np.isfinite(value) and np.all(np.isfinite(g))):  # a failed Cholesky: step back
            return 1e10, np.zeros_like(g)
        return float(value), g

    res = scipy.optimize.minimize(
        fun,
        np.clip(np.asarray(flat0), -12.0, 12.0),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-12.0, 12.0)] * flat0.size,
        options={"maxiter": budget, "ftol": 1e-7},
    )
    u = unravel(jnp.asarray(res.x))
    losses = _map_value_and_grad(u, X, Y, mask, config)[2]
    best = jnp.argmin(jnp.where(jnp.isfinite(losses), losses, jnp.inf), axis=1)  # (outputs,)
    u_best = jax.tree.map(lambda a: a[jnp.arange(a.shape[0]), best], u)
    return _constrain(u_best, X1, mask1, config)


@functools.lru_cache(maxsize=8)
def _mcmc(config: GPConfig) -> MCMC:
    """One MCMC object per config: with ``jit_model_args`` it recompiles only for new shapes."""
    kernel = NUTS(functools.partial(gp_model, config=config), init_strategy=init_to_median, max_tree_depth=6)
    return MCMC(
        kernel,
        num_warmup=config.num_warmup,
        num_samples=config.num_samples,
        thinning=config.thinning,
        progress_bar=False,
        jit_model_args=True,
    )


@gp_jit
def _cache(hyper: Hyper, X: jax.Array, y: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    def one(h: Hyper) -> tuple[jax.Array, jax.Array]:
        L = jnp.linalg.cholesky(_gram(h, X, mask))
        return L, cho_solve((L, True), (y - h.mean) * mask)

    return jax.vmap(one)(hyper)


def _assemble(hyper: Hyper, X: np.ndarray, y_std: np.ndarray, loc: float, scale: float) -> GP:
    Xp, yp, mask = _pad(X, y_std, padded_size(len(X)))
    Xp, yp, mask = jnp.asarray(Xp), jnp.asarray(yp), jnp.asarray(mask)
    L, alpha = _cache(hyper, Xp, yp, mask)
    return GP(hyper, Xp, yp, mask, L, alpha, jnp.asarray(loc), jnp.asarray(scale))


def _check_data(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    if len(X) == 0:
        raise ValueError("cannot fit a GP to zero observations")
    Y = np.asarray(Y, dtype=np.float64).reshape(len(X), -1)
    if not np.all(np.isfinite(Y)):
        raise ValueError("GP targets must be finite")
    return X, Y


@float64
def fit_hypers(X: np.ndarray, Y: np.ndarray, key: jax.Array, config: GPConfig = GPConfig()) -> list[Hyper]:
    """Hyperparameters (MAP point or NUTS samples) of one GP per column of ``Y``."""
    return _fit_sites(X, Y, key, config)[0]


_MODEL_LOCK = threading.RLock()
"""Held while the GP model is traced or sampled: NumPyro's effect handlers live on one
module-global stack, so two threads fitting at once (a background compile-ahead and a real ask,
see ``BayesianOptimizer.compile_ahead``) would push onto each other's traces."""


def _fit_sites(X: np.ndarray, Y: np.ndarray, key: jax.Array, config: GPConfig,
               init: dict | None = None) -> tuple[list[Hyper], dict | None]:
    """``fit_hypers`` plus the MAP sample sites (to warm-start the next fit; ``None`` for NUTS)."""
    with _MODEL_LOCK:
        return _fit_sites_unlocked(X, Y, key, config, init)


def _fit_sites_unlocked(X: np.ndarray, Y: np.ndarray, key: jax.Array, config: GPConfig,
                        init: dict | None) -> tuple[list[Hyper], dict | None]:
    X, Y = _check_data(X, Y)
    Ys = np.stack([_standardize(y)[0] for y in Y.T], axis=1)
    Xp, _, mask = _pad(X, Ys[:, 0], padded_size(len(X)))
    Yp = np.zeros((len(Xp), Ys.shape[1]))
    Yp[: len(X)] = Ys
    keys = jax.random.split(jnp.asarray(key), Ys.shape[1])
    Xp, Yp, mask = jnp.asarray(Xp), jnp.asarray(Yp), jnp.asarray(mask)
    if config.inference == "map":
        if init is not None and len(X) >= config.multistart_below:
            config = dataclasses.replace(config, restarts=1)
        sites = _fit_map(Xp, Yp, mask, keys, config, init)
        hypers = [_hyper_from_samples(jax.tree.map(lambda a: a[m : m + 1], sites), X.shape[1]) for m in range(Ys.shape[1])]
        return hypers, sites
    hypers = []
    for m, k in enumerate(keys):
        mcmc = _mcmc(config)
        mcmc.run(k, Xp, Yp[:, m], mask)
        hypers.append(_hyper_from_samples(mcmc.get_samples(), X.shape[1]))
    return hypers, None


@float64
def posterior(hyper: Hyper, X: np.ndarray, y: np.ndarray) -> GP:
    """The GP posterior given fixed hyperparameters and data ``(X, y)`` (original units)."""
    X, Y = _check_data(X, y)
    y_std, loc, scale = _standardize(Y[:, 0])
    return _assemble(hyper, X, y_std, loc, scale)


def fit_gps(X: np.ndarray, Y: np.ndarray, key: jax.Array, config: GPConfig = GPConfig()) -> list[GP]:
    """Fit one GP per column of ``Y`` (shape ``(n, m)``) at inputs ``X`` (shape ``(n, d)``)."""
    X, Y = _check_data(X, Y)
    return [posterior(h, X, y) for h, y in zip(fit_hypers(X, Y, key, config), Y.T)]


def _next_fit_size(size: int, growth: float, always_below: int, first: int = 1) -> int:
    """The schedule's size after ``size``: ``first`` before it is reached, then ``+1`` below
    ``always_below``, then ``growth`` times more."""
    if size < first:
        return first
    return size + 1 if size < always_below else max(size + 1, math.ceil(size * growth))


def refit_size(n: int, growth: float = 1.1, always_below: int = 20, first: int = 1) -> int:
    """Number of leading observations the hyperparameters are fit on when ``n`` are known.

    ``first``, then every size up to ``always_below``, then a geometric schedule (each fit on
    ``growth`` times more data than the last); ``n`` itself while ``n < first``. The posterior
    always uses all ``n`` observations; only the hyperparameter optimisation, the expensive part,
    is amortised.
    """
    if n < first:
        return n
    size = max(first, min(n, always_below))
    while _next_fit_size(size, growth, always_below) <= n:
        size = _next_fit_size(size, growth, always_below)
    return size


class ScheduledGPs:
    """GPs for an optimizer whose data only grows (records are appended, never edited).

    Hyperparameters are refit at every size of the ``refit_size`` schedule from ``first_size``
    on, each fit warm-started from the one before (and keyed by its size), so they are a pure
    function of the record sequence: a resumed optimizer replays the schedule on its first ask
    and ends with the same hyperparameters. Between schedule sizes only the posterior is updated.

    ``first_size`` is the smallest history worth a fit: optimizers pass their initial-design size,
    below which they never ask the model. Starting the chain at one observation made the first
    model-based ask replay a fit at every size from 1 up (20 fits with their compilations for a
    20-point design: 68 s under load on Ackley-10), to warm-start fits no ask ever used.

    ``lag`` keeps the refits off the ask path: a call with ``n`` observations uses the
    hyperparameters of the schedule's size for ``n - lag`` (the posterior still conditions on all
    ``n``), and starts the fit for ``n`` itself in a background thread, where it runs while the
    trial just proposed trains. The next call, one observation later, finds it done. Fits are
    the same pure function of the record prefix as without the lag, so resuming replays them
    exactly; the price is hyperparameters one observation older. The first call at ``first_size``
    has nothing older to use and fits in the foreground.
    """

    def __init__(self, config: GPConfig, seed: int, growth: float = 1.1, first_size: int = 1, lag: int = 0) -> None:
        if growth <= 1.0:
            raise ValueError(f"refit growth must be > 1, got {growth}")
        if first_size < 1:
            raise ValueError(f"first_size must be >= 1, got {first_size}")
        if int(lag) != lag or lag < 0:
            raise ValueError(f"refit lag must be an integer >= 0, got {lag!r}")
        self.config, self.seed, self.growth, self.first_size, self.lag = config, seed, growth, first_size, int(lag)
        self._fits: dict[int, dict[int, tuple[list[Hyper], dict | None]]] = {}  # outputs -> size -> fit
        self._lock = threading.Lock()  # one chain at a time: the caller's or the background's
        self._background: threading.Thread | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Copies (a compile-ahead clone) take the fits done so far, not the lock or the thread,
        and do not wait for a running background fit (that would put it on the ask path)."""
        state = {k: v for k, v in vars(self).items() if k not in ("_lock", "_background")}
        state["_fits"] = {k: dict(v) for k, v in list(self._fits.items())}  # C-level copies: atomic
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        vars(self).update(state, _lock=threading.Lock(), _background=None)

    def first_fit_from(self, n: int) -> int:
        """The first size of the refit schedule at or above ``n`` observations."""
        size = self.first_size
        while size < n:
            size = _next_fit_size(size, self.growth, 20, self.first_size)
        return size

    def hyper_size(self, n: int) -> int:
        """The number of leading observations whose fit a call with ``n`` observations uses."""
        behind = n - self.lag
        return refit_size(behind if behind >= self.first_size else n, self.growth, first=self.first_size)

    def wait(self) -> None:
        """Join the background fit, if one is running."""
        if self._background is not None:
            self._background.join()
            self._background = None

    def __call__(self, X: np.ndarray, Y: np.ndarray) -> list[GP]:
        X, Y = _check_data(X, Y)
        hypers = self._fit_to(X, Y, self.hyper_size(len(X)))
        self._refit_in_background(X, Y)
        return [posterior(h, X, y) for h, y in zip(hypers, Y.T)]

    def fit_ahead(self, X: np.ndarray, Y: np.ndarray) -> None:
        """Start in the background the fits the next call will use, from the data so far.

        Optimizers call it on the asks of an initial design that goes on past ``first_size``
        (waiting for feasible points): otherwise the first model-based ask replays the chain from
        ``first_size`` up in the foreground (ten fits, 1-10 s, for a 20-point design on
        Ackley-10). The fits are the schedule's own, from the same prefixes, so the chain and
        every proposal stay what they are without it; only when the fits run changes."""
        if self.lag and len(X) >= self.first_size:
            self._refit_in_background(*_check_data(X, Y))

    def _refit_in_background(self, X: np.ndarray, Y: np.ndarray) -> None:
        """With a lag, fit the schedule's size for ``len(X)`` in a background thread, unless it
        is done or another background fit still runs."""
        ahead = refit_size(len(X), self.growth, first=self.first_size)
        refitting = self._background is not None and self._background.is_alive()
        if self.lag and not refitting and ahead not in self._fits.get(Y.shape[1], {}):
            self._background = threading.Thread(target=self._fit_in_background, args=(X, Y, ahead),
                                                name="jaxsnn-gp-refit")  # fmt: skip
            self._background.start()

    def _fit_in_background(self, X: np.ndarray, Y: np.ndarray, target: int) -> None:
        with jax.enable_x64(True):  # the caller's x64 context does not reach this thread
            self._fit_to(X, Y, target)

    def _fit_to(self, X: np.ndarray, Y: np.ndarray, target: int) -> list[Hyper]:
        """The hyperparameters at schedule size ``target``: the chain's fits up to it, each
        warm-started from the one before, from the largest one already done. A fit already done
        is returned at once: a call that needs an older fit than the one the background refit is
        computing (another ask with the same data, e.g. the next point of a batch) does not wait
        for it; one that needs the running fit waits on the lock the refit holds."""
        done = self._fits.get(Y.shape[1], {}).get(target)  # entries are written whole, under the lock
        if done is not None:
            return done[0]
        with self._lock:
            fits = self._fits.setdefault(Y.shape[1], {})
            size = max((s for s in fits if s <= target), default=0)
            hypers, sites = fits.get(size, ([], None))
            while size < target:
                size = min(_next_fit_size(size, self.growth, 20, self.first_size), target)  # target < first_size: fit on all
                key = jax.random.fold_in(jax.random.PRNGKey(self.seed), size)
                hypers, sites = _fit_sites(X[:size], Y[:size], key, self.config, sites)
                fits[size] = (hypers, sites)
            return hypers


# --- posterior ----------------------------------------------------------------------------------
def predict_samples(gp: GP, Xq: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Latent mean and variance at ``Xq`` per hyperparameter sample, shape ``(S, q)``, original units.

    Pure and differentiable in ``Xq``: acquisitions call it inside their own jitted functions.
    """

    def one(h: Hyper, L: jax.Array, alpha: jax.Array) -> tuple[jax.Array, jax.Array]:
        Ks = _kernel(h, Xq, gp.X) * gp.mask
        mu = h.mean + Ks @ alpha
        v = solve_triangular(L, Ks.T, lower=True)
        var = jnp.maximum(h.outputscale - jnp.sum(v**2, axis=0), 1e-12)
        return mu, var

    mu, var = jax.vmap(one)(gp.hyper, gp.L, gp.alpha)
    return gp.y_loc + gp.y_scale * mu, gp.y_scale**2 * var


@float64
@gp_jit
def predict(gp: GP, Xq: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Posterior mean and variance of the latent function at ``Xq`` (mixture over samples)."""
    mu, var = predict_samples(gp, Xq)
    mean = mu.mean(0)
    return mean, jnp.mean(var + mu**2, axis=0) - mean**2


@float64
def condition(gp: GP, Xp: np.ndarray, yp: np.ndarray) -> GP:
    """The GP with extra observations ``(Xp, yp)`` (original units), hyperparameters unchanged.

    Used for fantasies: conditioning on pending points at their predicted values (kriging
    believer) collapses the variance there, so acquisitions stop proposing them again.
    """
    Xp = np.asarray(Xp, dtype=np.float64).reshape(-1, gp.X.shape[1])
    if len(Xp) == 0:
        return gp
    n = int(np.asarray(gp.mask).sum())
    X = np.concatenate([np.asarray(gp.X)[:n], Xp])
    y = np.concatenate([np.asarray(gp.y)[:n], (np.asarray(yp, dtype=np.float64) - float(gp.y_loc)) / float(gp.y_scale)])
    return _assemble(gp.hyper, X, y, float(gp.y_loc), float(gp.y_scale))


def believe(gp: GP, Xp: np.ndarray) -> GP:
    """Kriging-believer fantasy: condition on pending points at the posterior mean."""
    Xp = np.asarray(Xp, dtype=np.float64).reshape(-1, gp.X.shape[1])
    return condition(gp, Xp, np.asarray(predict(gp, Xp)[0])) if len(Xp) else gp


class _PathTerms(NamedTuple):
    """``n`` path draws at query points but their prior's features (:func:`_path_terms`)."""

    omega: jax.Array  # (n, F, d) spectral frequencies
    phase: jax.Array  # (n, F)
    weight: jax.Array  # (n, F) feature weights, times the prior's scale
    Zw: jax.Array  # (n, q, d) the warped query points
    rest: jax.Array  # (n, q) the mean plus the exact update at the query points


@gp_jit(static_argnames=("n", "num_features"))
def _path_terms(gp: GP, key: jax.Array, Xq: jax.Array, n: int, num_features: int) -> _PathTerms:
    S, d = gp.hyper.lengthscale.shape
    k_s, k_z, k_u, k_b, k_w, k_e = jax.random.split(key, 6)
    s = jax.random.randint(k_s, (n,), 0, S)
    h = jax.tree.map(lambda a: a[s], gp.hyper)
    # Matérn-5/2 spectral density: multivariate Student-t with 5 degrees of freedom, scaled by 1/l.
    z = jax.random.normal(k_z, (n, num_features, d))
    # chi-square(5) as the sum of five squared normals: exact, and unlike jax.random.gamma's
    # rejection loop cheap to compile (1.5 -> 0.6 s) and to run (a 1000-path draw 6.7 -> 1.0 s
    # unoptimised), which every study's first SCBO ask and the test suite pay.
    chi2 = jnp.sum(jax.random.normal(k_u, (n, num_features, 1, 5)) ** 2, axis=-1)
    omega = z / jnp.sqrt(chi2 / 5.0) / h.lengthscale[:, None, :]
    phase = jax.random.uniform(k_b, (n, num_features), maxval=2 * jnp.pi)
    weight = jax.random.normal(k_w, (n, num_features)) * jnp.sqrt(2.0 * h.outputscale / num_features)[:, None]

    def warped(Z: jax.Array) -> jax.Array:  # (n, m, d)
        return jax.vmap(_warp, in_axes=(None, 0, 0))(Z, h.warp_a, h.warp_b)

    def prior(Zw: jax.Array) -> jax.Array:  # (n, m) prior path values at warped rows, as _prior_at has them
        angle = jnp.einsum("nmd,nfd->nmf", Zw.astype(jnp.float32), omega.astype(jnp.float32))
        feats = jnp.cos(angle + phase[:, None, :].astype(jnp.float32))
        return jnp.einsum("nmf,nf->nm", feats, weight.astype(jnp.float32)).astype(Zw.dtype)

    eps = jax.random.normal(k_e, (n, gp.X.shape[0])) * jnp.sqrt(h.noise + NOISE_FLOOR)[:, None]
    resid = (gp.y[None] - h.mean[:, None] - prior(warped(gp.X)) - eps) * gp.mask
    L = gp.L[s]
    update = jax.vmap(lambda Ls, r: cho_solve((Ls, True), r))(L, resid)  # (n, N)
    Ks = jax.vmap(lambda hs: _kernel(hs, Xq, gp.X))(h) * gp.mask  # (n, q, N)
    return _PathTerms(omega, phase, weight, warped(Xq), h.mean[:, None] + jnp.einsum("nqN,nN->nq", Ks, update))


_PRIOR_CHUNK = 2**24
"""Feature values :func:`_prior_at` holds at once (64 MiB of float32)."""


def _prior_at(terms: _PathTerms) -> np.ndarray:
    """The prior draws' values at the query points, ``(n, q)``, in NumPy's float32.

    Their random features, a cosine per (draw, point, feature), are most of an SCBO ask's CPU and
    of what its driver takes from the trials: 4M of them per GP for 4,000 candidates. NumPy's
    float32 cosine is about 10x XLA:CPU's (3 vs 30 ms for 4M), and float32 moves a draw by about
    1e-6 of its spread, leaving the candidates' order as it was (``tests/test_gp.py``). The
    training rows' features are computed the same way in :func:`_path_terms`, so the update
    through the data stays exact.
    """
    omega, phase, weight, Zw = (np.asarray(a, dtype=np.float32) for a in terms[:4])
    n, q, _ = Zw.shape
    out = np.empty((n, q))
    rows = max(1, _PRIOR_CHUNK // max(1, omega.shape[1]))
    for i in range(n):
        for start in range(0, q, rows):
            angle = Zw[i, start:start + rows] @ omega[i].T
            angle += phase[i]
            np.cos(angle, out=angle)
            out[i, start:start + rows] = angle @ weight[i]
    return out


def sample_paths(gp: GP, key: jax.Array, Xq: np.ndarray, n: int = 1, num_features: int = 1024) -> np.ndarray:
    """``n`` joint posterior function draws evaluated at the rows of ``Xq``, shape ``(n, q)``.

    Pathwise conditioning (Wilson et al. 2020): a random-Fourier-feature draw from the prior plus
    an exact kernel-space update through the training data. Costs O(q) instead of the O(q^3) of a
    Cholesky over candidates, so Thompson sampling can score thousands of candidates per ask.
    """
    with jax.enable_x64(True):
        terms = _path_terms(gp, jnp.asarray(key), jnp.asarray(Xq, dtype=jnp.float64), n, num_features)
        rest = np.asarray(terms.rest)
    return float(gp.y_loc) + float(gp.y_scale) * (rest + _prior_at(terms))
