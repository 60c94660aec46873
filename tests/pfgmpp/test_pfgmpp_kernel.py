"""The PFGM++ perturbation kernel against closed forms (moments, Beta/F laws, quantiles, D -> inf)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from sciml.pfgmpp import BETA_CLIP, check_D, log_radius_ratio, radius_moments, sample_perturbation, sample_prior

M = 20_000  # Monte Carlo draws; KS resolution ~ 1/sqrt(M)


def norms(N, D, sigma=1.0, *, seed=0, clip=None, m=M):
    keys = jax.random.split(jax.random.PRNGKey(seed), m)
    f = jax.jit(jax.vmap(lambda k: jnp.linalg.norm(sample_perturbation((N,), sigma, D, key=k, clip=clip))))
    return np.asarray(f(keys), np.float64)


@pytest.mark.parametrize("bad", [0.5, 0, -3, float("nan")])
def test_D_below_one_is_a_value_error(bad):
    with pytest.raises(ValueError, match="D must be >= 1"):
        check_D(bad)
    with pytest.raises(ValueError, match="D must be >= 1"):
        sample_perturbation((4,), 1.0, bad, key=jax.random.PRNGKey(0))


@pytest.mark.parametrize("bad", ["abc", None, True, [128], 1 + 2j])
def test_non_numeric_D_is_a_type_error(bad):
    with pytest.raises(TypeError, match="D must be a real number"):
        check_D(bad)


def test_D_accepts_numbers_and_inf():
    assert check_D(1) == 1.0 and check_D(np.int64(64)) == 64.0 and check_D(2048.0) == 2048.0
    assert math.isinf(check_D("inf")) and math.isinf(check_D(float("inf"))) and math.isinf(check_D("Infinity"))


@pytest.mark.parametrize("N,D", [(64, 8), (64, 64), (3072, 128), (10, 30)])
def test_mean_square_norm(N, D):
    m = 5000 if N > 1000 else M
    r = norms(N, D, sigma=0.7, m=m)
    ref = radius_moments(N, D, sigma=0.7)
    assert ref["mean_sq"] == pytest.approx(N * 0.49 * D / (D - 2))
    se = math.sqrt(ref["var_sq"] / m)
    assert abs((r**2).mean() - ref["mean_sq"]) < 4 * se
    # Var ||n||² against its closed form (needs D > 8 for a stable sample variance).
    if D > 8:
        assert (r**2).var() == pytest.approx(ref["var_sq"], rel=0.15)
    assert r.mean() == pytest.approx(ref["mean"], rel=4 * se / ref["mean_sq"] + 1e-3)


@pytest.mark.parametrize("N,D,sigma", [(64, 1, 1.0), (64, 2.5, 0.3), (64, 128, 2.0), (3072, 128, 1.0), (2, 2048, 5.0)])
def test_beta_law_ks(N, D, sigma):
    """||n||² / (||n||² + D sigma²) ~ Beta(N/2, D/2), i.e. ||n||²/(N sigma²) ~ F(N, D) (Student-t form)."""
    r2 = norms(N, D, sigma, seed=1, m=5000 if N > 1000 else M) ** 2
    b = r2 / (r2 + D * sigma**2)
    assert scipy.stats.kstest(b, scipy.stats.beta(N / 2, D / 2).cdf).pvalue > 1e-3
    assert scipy.stats.kstest(r2 / (N * sigma**2), scipy.stats.f(N, D).cdf).pvalue > 1e-3


@pytest.mark.parametrize(
    "N,D,median,q99",
    [(3072, 128, 55.56, 64.93), (3072, 64, 55.71, 69.67), (3072, 8, 57.84, 122.2), (64, 8, 8.306, 17.93),
     (64, 64, 8.000, 10.73)],
)
def test_reference_quantiles(N, D, median, q99):
    """Tabulated quantiles of ||n|| (sigma = 1), four significant digits; scipy's F law (exact) agrees."""
    m = 5000 if N > 1000 else M
    r = norms(N, D, seed=2, m=m)
    exact = np.sqrt(N * scipy.stats.f(N, D).ppf([0.5, 0.99]))
    np.testing.assert_allclose(exact, [median, q99], rtol=2e-3)
    # Distribution-free check: the fraction of draws below the p-quantile is Binomial(m, p) / m.
    for p, q in ((0.5, median), (0.99, q99)):
        assert abs((r <= q).mean() - p) < 4 * math.sqrt(p * (1 - p) / m) + 2e-3


def test_large_D_matches_gaussian():
    """D -> inf with r = sigma sqrt(D): ||n||²/sigma² -> chi²_N; D = inf is exactly Gaussian."""
    N, sigma = 64, 1.5
    for D in (1e7, math.inf):
        r2 = norms(N, D, sigma, seed=3) ** 2 / sigma**2
        assert scipy.stats.kstest(r2, scipy.stats.chi2(N).cdf).pvalue > 1e-3
    # Each coordinate of the D = inf kernel is N(0, sigma²).
    keys = jax.random.split(jax.random.PRNGKey(4), M)
    n = np.asarray(jax.vmap(lambda k: sample_perturbation((3,), sigma, math.inf, key=k))(keys))
    assert scipy.stats.kstest(n[:, 0] / sigma, "norm").pvalue > 1e-3
    # At finite D the norm's spread is wider than the Gaussian's, and shrinks towards it as D grows.
    q = [np.quantile(norms(3072, D, seed=5, m=4000), 0.99) for D in (64, 2048, math.inf)]
    assert q[0] > q[1] > q[2]


def test_direction_uniform_and_covariance():
    """n is isotropic: zero mean, covariance sigma² D/(D - 2) I (a Student-t with D d.o.f.)."""
    N, D, sigma = 3, 10.0, 2.0
    keys = jax.random.split(jax.random.PRNGKey(6), 50_000)
    n = np.asarray(jax.vmap(lambda k: sample_perturbation((N,), sigma, D, key=k))(keys), np.float64)
    np.testing.assert_allclose(n.mean(0), 0, atol=0.06)
    np.testing.assert_allclose(np.cov(n.T), sigma**2 * D / (D - 2) * np.eye(N), atol=0.25)
    # Each coordinate / sigma is Student-t with D degrees of freedom.
    assert scipy.stats.kstest(n[:, 0] / sigma, scipy.stats.t(D).cdf).pvalue > 1e-3


def test_shape_and_dtype():
    x = sample_perturbation((1, 8, 8), 2.0, 16, key=jax.random.PRNGKey(0))
    assert x.shape == (1, 8, 8) and x.dtype == jnp.float32


def test_small_D_is_finite_and_exact_in_float32():
    """D << N: the original's B/(1 - B) in float32 breaks; the log-Gamma ratio keeps the exact law."""
    N, D = 3072, 1.0
    keys = jax.random.split(jax.random.PRNGKey(7), M)
    lr = np.asarray(jax.vmap(lambda k: log_radius_ratio(N, D, key=k))(keys), np.float64)
    assert np.isfinite(lr).all()
    # exp(lr) ~ BetaPrime(N/2, D/2) = (N/D) F(N, D)
    assert scipy.stats.kstest(np.exp(lr) * D / N, scipy.stats.f(N, D).cdf).pvalue > 1e-3
    # What float32 B would have done: many draws at B == 1 exactly (division by zero in the original).
    b32 = (1 / (1 + np.exp(-lr))).astype(np.float32)
    assert (b32 == 1).mean() > 0.002


def test_training_clip():
    """The clip bounds B to [c, 1 - c] and acts on the fraction the Beta law predicts; D = inf ignores it."""
    N, D, c = 64, 1.0, BETA_CLIP
    keys = jax.random.split(jax.random.PRNGKey(8), M)
    lr = np.asarray(jax.vmap(lambda k: log_radius_ratio(N, D, key=k, clip=c))(keys), np.float64)
    b = 1 / (1 + np.exp(-lr))
    assert b.max() <= 1 - c + 1e-6 and b.min() >= c - 1e-6
    clipped = (b >= 1 - c - 1e-6).mean()
    expected = scipy.stats.beta(N / 2, D / 2).sf(1 - c)
    assert clipped == pytest.approx(expected, abs=4 * math.sqrt(expected / M))
    assert expected > 0.15  # the clip binds often at small D
    # Radii with the clip never exceed sigma sqrt(D (1 - c) / c).
    r = norms(N, D, 1.0, clip=c)
    assert r.max() <= math.sqrt(D * (1 - c) / c) * (1 + 1e-5)
    r_inf = norms(N, math.inf, 1.0, clip=c, seed=9)
    assert scipy.stats.kstest(r_inf**2, scipy.stats.chi2(N).cdf).pvalue > 1e-3
    with pytest.raises(ValueError, match="clip"):
        log_radius_ratio(N, D, key=keys[0], clip=0.7)


def test_prior_scales_with_sigma_max():
    N, D = 64, 4.0
    keys = jax.random.split(jax.random.PRNGKey(10), M)
    x = np.asarray(jax.vmap(lambda k: sample_prior((N,), 80.0, D, key=k))(keys), np.float64)
    r2 = (x**2).sum(1) / 80.0**2
    assert scipy.stats.kstest(r2 / N, scipy.stats.f(N, D).cdf).pvalue > 1e-3


def test_radius_moments_limits():
    big, inf = radius_moments(64, 1e6), radius_moments(64, math.inf)
    for k in ("mean_sq", "var_sq", "mean", "mode"):
        assert big[k] == pytest.approx(inf[k], rel=1e-4)
    assert math.isinf(radius_moments(64, 2)["mean_sq"]) and math.isinf(radius_moments(64, 4)["var_sq"])
    # Mode of ||n||, closed form sqrt(D (N - 1) / (D + 1)) at sigma = 1, against a density maximum.
    N, D = 16, 6.0
    grid = np.linspace(0.5, 10, 200_001)
    logpdf = (N - 1) * np.log(grid) - (N + D) / 2 * np.log(grid**2 + D)
    assert grid[np.argmax(logpdf)] == pytest.approx(radius_moments(N, D)["mode"], abs=1e-3)
