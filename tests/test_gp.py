"""GP surrogates: posterior on known functions, hyperparameter recovery, padding, paths, fantasies."""

import jax
import numpy as np
import numpyro.distributions as dist
import pytest

import jaxsnn.hpo.gp as gp_module
from jaxsnn.hpo.gp import (
    GPConfig,
    ScheduledGPs,
    believe,
    fit_gps,
    fit_hypers,
    gaussian_log_likelihood,
    posterior,
    predict,
    refit_size,
    sample_paths,
)


def matern52_np(a, b, lengthscale, outputscale=1.0):
    r = np.sqrt((((a[:, None, :] - b[None, :, :]) / lengthscale) ** 2).sum(-1))
    return outputscale * (1 + np.sqrt(5) * r + 5 / 3 * r**2) * np.exp(-np.sqrt(5) * r)


@pytest.fixture(scope="module")
def sine_gp():
    rng = np.random.default_rng(0)
    X = np.sort(rng.uniform(0.0, 0.6, size=(14, 1)), axis=0)  # nothing observed on (0.6, 1]
    y = np.sin(6 * X[:, 0])
    (gp,) = fit_gps(X, y[:, None], jax.random.PRNGKey(0))
    return gp, X, y


def test_posterior_interpolates_data_and_is_uncertain_away(sine_gp):
    gp, X, y = sine_gp
    mean, var = map(np.asarray, predict(gp, X))
    np.testing.assert_allclose(mean, y, atol=0.02)
    assert np.all(np.sqrt(var) < 0.05)
    grid = np.linspace(0.05, 0.55, 11)[:, None]
    mean_in, var_in = map(np.asarray, predict(gp, grid))
    np.testing.assert_allclose(mean_in, np.sin(6 * grid[:, 0]), atol=0.05)
    _, var_far = map(np.asarray, predict(gp, np.array([[0.95]])))
    assert np.sqrt(var_far[0]) > 5 * np.sqrt(var_in.max())


def test_prediction_matches_dense_gp_formula(sine_gp):
    """Padding and standardisation must not change the posterior: compare with plain NumPy."""
    gp, X, y = sine_gp
    h = jax.tree.map(lambda a: np.asarray(a)[0], gp.hyper)
    loc, scale = y.mean(), y.std()
    K = matern52_np(X, X, h.lengthscale, h.outputscale) + (h.noise + 1e-6) * np.eye(len(X))
    Xq = np.array([[0.1], [0.33], [0.8]])
    Ks = matern52_np(Xq, X, h.lengthscale, h.outputscale)
    mean = h.mean + Ks @ np.linalg.solve(K, (y - loc) / scale - h.mean)
    var = h.outputscale - np.einsum("ij,ji->i", Ks, np.linalg.solve(K, Ks.T))
    m, v = map(np.asarray, predict(gp, Xq))
    np.testing.assert_allclose(m, loc + scale * mean, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(v, scale**2 * var, rtol=1e-5, atol=1e-10)


def test_lengthscale_recovered_from_gp_sample():
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(60, 2))
    true = np.array([0.15, 1.5])  # wiggly along x0, nearly flat along x1
    K = matern52_np(X, X, true) + 1e-6 * np.eye(len(X))
    y = np.linalg.cholesky(K) @ rng.normal(size=len(X))
    (h,) = fit_hypers(X, y[:, None], jax.random.PRNGKey(0))
    ls = np.asarray(h.lengthscale)[0]
    assert 0.5 * true[0] < ls[0] < 2.0 * true[0]
    assert ls[1] > 3 * ls[0]


def test_custom_gradient_matches_numpyro_multivariate_normal():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(5, 5))
    K = A @ A.T + 5 * np.eye(5)
    r = rng.normal(size=5)
    with jax.enable_x64(True):
        # jitted: one program each instead of one per primitive (the values are the same)
        ours = jax.jit(jax.value_and_grad(gaussian_log_likelihood, argnums=(0, 1)))(K, r)
        ref = jax.jit(jax.value_and_grad(
            lambda K, r: dist.MultivariateNormal(np.zeros(5), covariance_matrix=K).log_prob(r), argnums=(0, 1)
        ))(K, r)
    np.testing.assert_allclose(ours[0], ref[0], rtol=1e-10)
    # d/dK is only defined up to symmetrisation: compare symmetric parts
    sym = lambda G: 0.5 * (np.asarray(G) + np.asarray(G).T)
    np.testing.assert_allclose(sym(ours[1][0]), sym(ref[1][0]), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(ours[1][1], ref[1][1], rtol=1e-8)


@pytest.mark.xla_optimized
def test_pathwise_samples_match_posterior_moments(sine_gp):
    gp, _, _ = sine_gp
    Xq = np.array([[0.2], [0.7], [0.9], [0.92]])
    with jax.enable_x64(True):
        draws = np.asarray(sample_paths(gp, jax.random.PRNGKey(3), Xq, n=1000))
    mean, var = map(np.asarray, predict(gp, Xq))
    sd = np.sqrt(var)
    assert np.all(np.abs(draws.mean(0) - mean) < 4 * sd / np.sqrt(1000) + 0.02 * sd.max())
    np.testing.assert_allclose(draws.std(0), sd, rtol=0.15)
    # joint, not marginal: nearby points move together, far ones much less
    near = np.corrcoef(draws[:, 2], draws[:, 3])[0, 1]
    assert near > 0.95 and np.corrcoef(draws[:, 1], draws[:, 3])[0, 1] < near - 0.1


def test_paths_float32_prior_features_keep_the_float64_draws_and_their_order(monkeypatch):
    """The prior's random features at the query points are computed in NumPy's float32 (an SCBO
    ask's largest CPU cost); against the same draws' features in float64 they move the path by
    well under 1e-5 of its spread and keep the candidates' order, chunked or not."""
    rng = np.random.default_rng(1)
    X = rng.random((30, 6))
    (gp,) = fit_gps(X, np.sin(3 * X.sum(1))[:, None], jax.random.PRNGKey(0))
    Xq = rng.random((2000, 6))
    key = jax.random.PRNGKey(5)
    with jax.enable_x64(True):
        terms = gp_module._path_terms(gp, key, jax.numpy.asarray(Xq), 2, 512)
    omega, phase, weight, Zw, rest = (np.asarray(a, dtype=np.float64) for a in terms)
    prior64 = np.einsum("nqf,nf->nq", np.cos(np.einsum("nqd,nfd->nqf", Zw, omega) + phase[:, None, :]), weight)
    reference = float(gp.y_loc) + float(gp.y_scale) * (rest + prior64)
    draws = sample_paths(gp, key, Xq, n=2, num_features=512)
    assert np.abs(draws - reference).max() < 1e-5 * reference.std()
    assert all(np.array_equal(np.argsort(a)[-20:], np.argsort(b)[-20:]) for a, b in zip(draws, reference))
    monkeypatch.setattr(gp_module, "_PRIOR_CHUNK", 512 * 7)  # 7 rows per chunk, the last one short
    np.testing.assert_allclose(sample_paths(gp, key, Xq, n=2, num_features=512), draws, rtol=0, atol=1e-6)


def test_kriging_believer_collapses_variance_at_pending_point(sine_gp):
    gp, _, _ = sine_gp
    x_pending = np.array([[0.85]])
    before_mean, before_var = map(np.asarray, predict(gp, x_pending))
    fantasy = believe(gp, x_pending)
    after_mean, after_var = map(np.asarray, predict(fantasy, x_pending))
    np.testing.assert_allclose(after_mean, before_mean, atol=1e-3 * float(np.sqrt(before_var[0])))
    assert after_var[0] < 0.01 * before_var[0]


def test_refit_schedule_and_scheduled_fits_are_deterministic(monkeypatch):
    assert [refit_size(n) for n in (1, 5, 20)] == [1, 5, 20]
    sizes = [refit_size(n) for n in range(20, 200)]
    assert sizes == sorted(sizes) and len(set(sizes)) < 30  # geometric: few refits
    assert [refit_size(n, first=10) for n in (4, 10, 15, 20, 23)] == [4, 10, 15, 20, 22]
    rng = np.random.default_rng(4)
    X = rng.uniform(size=(23, 2))
    Y = np.c_[X.sum(1), X[:, 0] - X[:, 1]]
    fitted: list[int] = []
    fit_sites = gp_module._fit_sites
    monkeypatch.setattr(gp_module, "_fit_sites", lambda X, *a: fitted.append(len(X)) or fit_sites(X, *a))
    # 10 L-BFGS steps from one start, the prior median, which init_to_median estimates from draws
    # of the seed (so the seed matters). The L-BFGS budget is not part of the compiled programs:
    # these are those of test_optimizers' 2-D two-output runs.
    config = GPConfig(restarts=1, map_steps=10)
    a, b = ScheduledGPs(config, seed=7, first_size=20)(X, Y), ScheduledGPs(config, seed=7, first_size=20)(X, Y)
    for ga, gb in zip(a, b):
        np.testing.assert_array_equal(np.asarray(ga.hyper.lengthscale), np.asarray(gb.hyper.lengthscale))
    # The chain starts at first_size (an optimizer's design size), not at one observation: two
    # fits per history (20, then 22 on the geometric schedule) where it used to take 21.
    assert fitted == [20, 22, 20, 22]
    # the posterior uses all 23 points even though hyperparameters come from the first 22
    assert int(np.asarray(a[0].mask).sum()) == 23
    with pytest.raises(ValueError, match="first_size must be >= 1"):
        ScheduledGPs(config, seed=7, first_size=0)


def test_a_lagged_chain_fits_in_the_background_what_the_next_call_uses(monkeypatch):
    """``lag=1``: a call uses the fit of one observation less and starts its own refit in a
    background thread; the fits are the lag-0 chain's, so resuming replays them exactly."""
    import copy
    import threading

    rng = np.random.default_rng(4)
    X = rng.uniform(size=(23, 2))
    Y = np.c_[X.sum(1), X[:, 0] - X[:, 1]]
    fitted: list[tuple[int, str]] = []
    fit_sites = gp_module._fit_sites
    monkeypatch.setattr(gp_module, "_fit_sites",
                        lambda X, *a: fitted.append((len(X), threading.current_thread().name)) or fit_sites(X, *a))
    config = GPConfig(restarts=1, map_steps=10)  # the programs of the test above
    lagged = ScheduledGPs(config, seed=7, first_size=20, lag=1)
    with jax.enable_x64(True):
        lagged(X[:20], Y[:20])  # nothing older to use: the first fit is the caller's
        lagged(X[:22], Y[:22])  # uses the fit at 21 -> refit_size 20; 22 starts in the background
        copy.deepcopy(lagged)  # a compile-ahead clone, taken while the refit may still run
        lagged.wait()
        gps = lagged(X, Y)  # 23 observations: uses the fit at 22, done; no fit on the caller's thread
    main = threading.current_thread().name
    assert fitted == [(20, main), (22, "jaxsnn-gp-refit")]
    assert lagged.hyper_size(23) == 22 and int(np.asarray(gps[0].mask).sum()) == 23
    with jax.enable_x64(True):
        unlagged = ScheduledGPs(config, seed=7, first_size=20)(X[:22], Y[:22])
    for a, b in zip(gps, unlagged):
        np.testing.assert_array_equal(np.asarray(a.hyper.lengthscale), np.asarray(b.hyper.lengthscale))
    with pytest.raises(ValueError, match="lag"):
        ScheduledGPs(config, seed=7, lag=-1)


def test_a_call_whose_fit_is_done_does_not_wait_for_the_background_refit(monkeypatch):
    """Another ask on the same data (the next point of a batch, an ask ahead) needs the older fit:
    it returns while the background refit still runs."""
    import threading

    rng = np.random.default_rng(4)
    X = rng.uniform(size=(22, 2))
    Y = np.c_[X.sum(1), X[:, 0] - X[:, 1]]
    release = threading.Event()
    fit_sites = gp_module._fit_sites

    def held_in_background(X, *args):
        if threading.current_thread().name == "jaxsnn-gp-refit":
            assert release.wait(60), "the background refit was never released"
        return fit_sites(X, *args)

    monkeypatch.setattr(gp_module, "_fit_sites", held_in_background)
    lagged = ScheduledGPs(GPConfig(restarts=1, map_steps=10), seed=7, first_size=20, lag=1)
    try:
        with jax.enable_x64(True):
            lagged(X[:20], Y[:20])
            lagged(X, Y)  # starts the refit at 22, held
            refit = lagged._background
            gps = lagged(X, Y)  # the same data again: the fit at 20 is done, so no wait
            # still the held refit, unfinished: the second call neither joined it nor started another
            assert lagged._background is refit and refit.is_alive() and 22 not in lagged._fits[2]
    finally:
        release.set()
        lagged.wait()
    assert int(np.asarray(gps[0].mask).sum()) == 22


def test_warping_and_saas_map_fits_run_and_interpolate():
    rng = np.random.default_rng(5)
    X = rng.uniform(size=(20, 4))
    y = np.log(X[:, 0] + 0.05)  # only x0 matters, and non-stationarily
    for config in (GPConfig(warp=True, restarts=1), GPConfig(prior="saas", restarts=1)):  # one start: half the compile
        (gp,) = fit_gps(X, y[:, None], jax.random.PRNGKey(0), config)
        mean, _ = map(np.asarray, predict(gp, X))
        np.testing.assert_allclose(mean, y, atol=0.1 * np.ptp(y))
    ls = np.asarray(gp.hyper.lengthscale)[0]
    assert ls[0] < ls[1:].min()  # SAAS shrinks the irrelevant dimensions away


@pytest.mark.slow
def test_nuts_fit_gives_a_posterior_sample_mixture():
    rng = np.random.default_rng(6)
    X = rng.uniform(size=(15, 2))
    y = np.sin(4 * X[:, 0]) + X[:, 1]
    config = GPConfig(inference="nuts", prior="saas", num_warmup=100, num_samples=80, thinning=10)
    (gp,) = fit_gps(X, y[:, None], jax.random.PRNGKey(0), config)
    assert np.asarray(gp.hyper.lengthscale).shape == (8, 2)
    mean, var = map(np.asarray, predict(gp, X))
    np.testing.assert_allclose(mean, y, atol=0.1)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="zero observations"):
        fit_gps(np.zeros((0, 2)), np.zeros((0, 1)), jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="finite"):
        fit_gps(np.zeros((3, 1)), np.array([[1.0], [np.nan], [0.0]]), jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="inference"):
        GPConfig(inference="vi")
    with pytest.raises(ValueError, match="growth"):
        ScheduledGPs(GPConfig(), 0, growth=1.0)
    with pytest.raises(ValueError, match="zero observations"):
        posterior(None, np.zeros((0, 1)), np.zeros(0))
