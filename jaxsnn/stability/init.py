"""Stability-based initialization of a recurrent LIF layer: conditions I-IV applied in order.

1. draw ``W_in`` (Glorot or He, zero mean: conditions I and II assume zero-mean input weights);
2. draw ``W_rec ~ Normal(mu_rec, sigma_rec)`` off the diagonal, with ``mu_rec`` from condition I
   and ``sigma_rec`` from condition II on the statistics of the sample inputs;
3. run the layer once on the sample inputs to measure the voltage range and ``S-``/``S+``;
4. dampening ``gamma`` from condition III; 5. sharpness ``beta`` (or tail ``q``) from condition IV.

Steps 1-4 are pure JAX (``draw_weights`` and ``measure_voltage_range`` can be ``jit``-ted and
``vmap``-ped over keys); step 5 is a host-side root search, so ``stable_init`` as a whole is not.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxsnn.core import LIFParams, Surrogate
from jaxsnn.stability.conditions import (
    TARGET_RATE,
    dampening_gamma,
    recurrent_weight_mean,
    recurrent_weight_variance,
)
from jaxsnn.stability.sharpness import NoSolutionError, sharpness_residual, solve_sharpness
from jaxsnn.stability.voltage import VoltageRange, measure_voltage_range

Array = jax.Array

INPUT_SCHEMES = {
    "glorot": jax.nn.initializers.glorot_normal(),  # Var = 2 / (n_in + n_rec): the authors' family
    "he": jax.nn.initializers.he_normal(),  # Var = 2 / n_in: stronger drive for sparse inputs
}


class Weights(NamedTuple):
    """Input and recurrent weights with the condition I/II statistics ``W_rec`` was drawn from."""

    w_in: Array
    w_rec: Array
    mu_rec: Array
    sigma_rec: Array


@dataclasses.dataclass(frozen=True)
class StableInit:
    """A recurrent LIF layer initialized by conditions I-IV, with the diagnostics behind it.

    ``params`` (``alpha``, ``theta``, ``w_rec``) and ``w_in`` go straight into
    ``lif_scan(params, x @ w_in, surrogate=surrogate)``. ``gamma_per_neuron`` is condition III per
    neuron; ``surrogate.gamma`` is their mean because one surrogate serves the whole population.
    ``sharpness_residual`` is condition IV's left side minus 1 for ``surrogate``: 0 to solver
    tolerance when IV was solved, otherwise the gap left at the nearest bracket end.
    """

    w_in: Array
    params: LIFParams
    surrogate: Surrogate
    mu_rec: Array
    sigma_rec: Array
    voltage: VoltageRange
    gamma_per_neuron: Array
    sharpness_residual: float
    target_rate: float = TARGET_RATE

    @property
    def w_rec(self) -> Array:
        """The recurrent matrix, ``W_rec[i, j]`` from neuron ``i`` to ``j``, zero diagonal."""
        return jnp.asarray(self.params.w_rec)


def draw_weights(
    key: Array,
    n_in: int,
    n_rec: int,
    alpha: ArrayLike,
    theta: ArrayLike,
    input_mean: ArrayLike,
    input_var: ArrayLike,
    scheme: Literal["glorot", "he"] = "glorot",
) -> Weights:
    """Steps 1-2: ``W_in`` from ``scheme``, then ``W_rec`` by conditions I and II.

    Condition II uses the variance of the drawn ``W_in`` (not the scheme's nominal one), so the
    recurrent fluctuations match the input fluctuations this network actually has. Per-neuron
    ``alpha``/``theta`` give per-column (postsynaptic) statistics. The diagonal is zero: a neuron's
    own spike already acts on it through the reset, and conditions I/II count ``n_rec - 1``
    presynaptic neurons. ``n_in``, ``n_rec`` and ``scheme`` are static under ``jit``.
    """
    if scheme not in INPUT_SCHEMES:
        raise ValueError(
            f"unknown input-weight scheme {scheme!r}; valid schemes: {', '.join(INPUT_SCHEMES)}"
        )
    key_in, key_rec = jax.random.split(key)
    w_in = INPUT_SCHEMES[scheme](key_in, (n_in, n_rec), jnp.float32)
    mu_rec = recurrent_weight_mean(alpha, theta, n_rec)
    sigma_rec = jnp.sqrt(
        recurrent_weight_variance(input_mean, input_var, jnp.var(w_in), n_in, n_rec, mu_rec)
    )
    noise = jax.random.normal(key_rec, (n_rec, n_rec), jnp.float32)
    w_rec = (mu_rec + sigma_rec * noise) * (1.0 - jnp.eye(n_rec, dtype=jnp.float32))
    return Weights(w_in, w_rec, mu_rec, sigma_rec)


def stable_init(
    key: Array,
    n_in: int,
    n_rec: int,
    alpha: ArrayLike,
    theta: ArrayLike,
    inputs: ArrayLike,
    surrogate_shape: str = "fast_sigmoid",
    *,
    solve_for: Literal["beta", "q"] = "beta",
    beta: float = 1.0,
    q: float = 2.0,
    bracket: tuple[float, float] | None = None,
    scheme: Literal["glorot", "he"] = "glorot",
    strict: bool = False,
) -> StableInit:
    """Initialize a recurrent LIF layer of ``n_rec`` neurons by conditions I-IV, in order.

    ``inputs`` ``(T, B, n_in)`` are sample inputs (e.g. a batch of the training data): their mean
    and variance feed condition II, and the layer is run on them to measure what III and IV need.
    ``solve_for``, ``beta``, ``q`` and ``bracket`` go to ``solve_sharpness``.

    Condition IV usually has no root for the ``gamma`` of condition III: ``gamma`` is of order
    ``(1 - alpha) / S+`` (about 0.02-0.05 for ``alpha = 0.9`` and 64-256 neurons), and the gain
    ``E[alpha^2] + ((n_rec-1) E[w^2] + E[theta^2]) E_v[sigma'^2] <= E[alpha^2] + (...) gamma^2``
    then stays below 1 however wide the surrogate. With ``strict`` that raises
    ``NoSolutionError``; by default the surrogate takes the nearest bracket end (as the authors'
    own search, which minimises the squared residual over a range, does), warns, and reports the
    remaining gap in ``sharpness_residual``.
    """
    inputs = jnp.asarray(inputs)
    if inputs.ndim != 3 or inputs.shape[-1] != n_in:
        raise ValueError(f"inputs must be (T, B, n_in={n_in}), got shape {inputs.shape}")
    if not np.all((np.asarray(alpha) >= 0) & (np.asarray(alpha) < 1)):
        raise ValueError(
            f"alpha must lie in [0, 1): condition III gives gamma = 0 at alpha = 1, got {alpha}"
        )
    weights = draw_weights(
        key, n_in, n_rec, alpha, theta, jnp.mean(inputs), jnp.var(inputs), scheme
    )
    params = LIFParams(alpha, theta, weights.w_rec)
    voltage = measure_voltage_range(params, weights.w_in, inputs, Surrogate(surrogate_shape))
    silent = int(jnp.sum(voltage.s_plus <= 0))
    if silent:
        raise ValueError(
            f"condition III is undefined for {silent} of {n_rec} neurons that received no "
            "excitatory recurrent spike during the measurement pass (S+ = 0); give more or "
            "denser sample inputs"
        )
    gamma_per_neuron = dampening_gamma(alpha, theta, voltage.s_minus, voltage.s_plus)
    off_diagonal = jnp.sum(weights.w_rec**2) / (n_rec * (n_rec - 1))
    stats = dict(
        alpha_sq_mean=float(jnp.mean(jnp.asarray(alpha) ** 2)),
        n_rec=n_rec,
        w_sq_mean=float(off_diagonal),
        theta_sq_mean=float(jnp.mean(jnp.asarray(theta) ** 2)),
        v_range=voltage.centred_range,
    )
    gamma = float(jnp.mean(gamma_per_neuron))
    try:
        options = dict(solve_for=solve_for, bracket=bracket, beta=beta, q=q)
        surrogate = solve_sharpness(surrogate_shape, **stats, gamma=gamma, **options)
    except NoSolutionError as error:
        if strict:
            raise
        warnings.warn(f"{error} Using {solve_for}={error.nearest:g}.", stacklevel=2)
        fixed = {"gamma": gamma, "beta": beta, "q": q, solve_for: error.nearest}
        surrogate = Surrogate(surrogate_shape, **fixed)
    return StableInit(
        w_in=weights.w_in,
        params=params,
        surrogate=surrogate,
        mu_rec=weights.mu_rec,
        sigma_rec=weights.sigma_rec,
        voltage=voltage,
        gamma_per_neuron=gamma_per_neuron,
        sharpness_residual=sharpness_residual(surrogate, **stats),
    )
