"""Closed-form W2 of Gaussians and mixtures against POT and against each other; McCann geodesics."""

import numpy as np
import ot
import pytest

from sciml import metrics
from sciml.data.gaussian_sets import inverse_wishart, sample_gaussians, sample_mixtures
from sciml.gde import (
    bures_w2,
    fit_gaussian,
    mccann_interpolant,
    mixture_path_moments,
    mixture_w2,
    pairwise_bures_w2,
    pairwise_mixture_w2,
)


def _gaussians(n, d, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 5, (n, d)), inverse_wishart(rng, n, d, d + 4, 3.0)


def test_bures_matches_pot_and_closed_forms():
    """Against independent implementations: POT's Bures-Wasserstein distance and the 2x2 closed form."""
    mu, cov = _gaussians(6, 3)
    mat = pairwise_bures_w2(mu, cov)
    pot = ot.gaussian.bures_wasserstein_distance(mu, mu, cov, cov)  # [6, 6], POT's own sqrtm-based formula
    np.testing.assert_allclose(mat, pot, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(mat**2, ot.gmm.dist_bures_squared(mu, mu, cov, cov), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.diag(mat), 0, atol=1e-6)
    # 2x2 closed form: tr((S1^1/2 S2 S1^1/2)^1/2) = sqrt(tr(S1 S2) + 2 sqrt(det(S1 S2))), non-commuting S1, S2.
    mu2, cov2 = _gaussians(5, 2, seed=7)
    for i in range(5):
        for j in range(i + 1, 5):
            s1, s2 = cov2[i], cov2[j]
            cross = np.sqrt(np.trace(s1 @ s2) + 2 * np.sqrt(np.linalg.det(s1 @ s2)))
            want = np.sqrt(((mu2[i] - mu2[j]) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * cross)
            np.testing.assert_allclose(bures_w2(mu2[i], s1, mu2[j], s2), want, rtol=1e-9, atol=1e-9)
    # Commuting (diagonal) covariances: W2^2 = |dmu|^2 + |sqrt(s1) - sqrt(s2)|^2.
    s1, s2 = np.array([1.0, 4.0]), np.array([9.0, 0.25])
    want = np.sqrt(1.0 + ((np.sqrt(s1) - np.sqrt(s2)) ** 2).sum())
    np.testing.assert_allclose(bures_w2(np.zeros(2), np.diag(s1), np.array([1.0, 0.0]), np.diag(s2)), want, rtol=1e-12)
    # bures_w2 is the project's metrics.gaussian_w2 under GDE's name (one implementation, tested above).
    assert bures_w2 is metrics.gaussian_w2


def test_bures_agrees_with_pot_on_large_samples():
    rng = np.random.default_rng(1)
    mu, cov = _gaussians(2, 2, seed=3)
    x = sample_gaussians(rng, mu, cov, 1500)
    exact = float(bures_w2(mu[0], cov[0], mu[1], cov[1]))
    sampled = metrics.w2(x[0], x[1])
    assert exact > 1.0
    np.testing.assert_allclose(sampled, exact, rtol=0.05)


def test_bures_bad_input():
    with pytest.raises(ValueError, match="different dimensions"):
        bures_w2(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="NaN"):
        bures_w2(np.array([np.nan, 0]), np.eye(2), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="covariances must have shape"):
        bures_w2(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))


def _mixtures(seed, k=3, d=2, spread=20.0):
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(k), size=2)
    mu = rng.uniform(0, spread, (2, k, d))
    cov = inverse_wishart(rng, 2 * k, d, d + 6, 1.0).reshape(2, k, d, d)
    return w, mu, cov


def test_mixture_w2_matches_pot_gmm_ot_loss():
    for seed in range(3):
        w, mu, cov = _mixtures(seed, spread=5.0)
        ours = mixture_w2(w[0], mu[0], cov[0], w[1], mu[1], cov[1])
        pot = ot.gmm.gmm_ot_loss(mu[0], mu[1], cov[0], cov[1], w[0], w[1])
        np.testing.assert_allclose(ours**2, pot, rtol=1e-6)
    mat = pairwise_mixture_w2(w, mu, cov)
    np.testing.assert_allclose(mat[0, 1], mixture_w2(w[0], mu[0], cov[0], w[1], mu[1], cov[1]), rtol=1e-10)
    # One component each: MW2 is the Gaussian W2.
    np.testing.assert_allclose(
        mixture_w2(np.ones(1), mu[0, :1], cov[0, :1], np.ones(1), mu[1, :1], cov[1, :1]),
        bures_w2(mu[0, 0], cov[0, 0], mu[1, 0], cov[1, 0]),
        rtol=1e-10,
    )


def test_mixture_w2_vs_pot_between_samples():
    # MW2 >= W2 always; with well-separated components the two nearly coincide, and exact OT between
    # large samples of the two mixtures (POT) recovers it.
    w, mu, cov = _mixtures(7, spread=30.0)
    rng = np.random.default_rng(0)
    x = sample_mixtures(rng, w, mu, cov, 1500)
    mw2 = mixture_w2(w[0], mu[0], cov[0], w[1], mu[1], cov[1])
    sampled = metrics.w2(x[0], x[1])
    assert sampled <= mw2 * 1.03
    np.testing.assert_allclose(sampled, mw2, rtol=0.05)


def test_mixture_w2_rejects_bad_weights():
    with pytest.raises(ValueError, match="sum to 1"):
        covs = np.tile(np.eye(2), (2, 1, 1))
        mixture_w2(np.array([0.5, 0.2]), np.zeros((2, 2)), covs, np.ones(1), np.zeros((1, 2)), np.eye(2)[None])


def test_mccann_path_is_a_constant_speed_geodesic():
    mu, cov = _gaussians(2, 3, seed=5)
    total = float(bures_w2(mu[0], cov[0], mu[1], cov[1]))
    m0, s0 = mccann_interpolant(mu[0], cov[0], mu[1], cov[1], 0.0)
    m1, s1 = mccann_interpolant(mu[0], cov[0], mu[1], cov[1], 1.0)
    np.testing.assert_allclose(s0, cov[0], atol=1e-10)
    np.testing.assert_allclose(s1, cov[1], atol=1e-8)
    for t in (0.25, 0.5, 0.8):
        mt, st = mccann_interpolant(mu[0], cov[0], mu[1], cov[1], t)
        np.testing.assert_allclose(bures_w2(mu[0], cov[0], mt, st), t * total, rtol=1e-6)
        np.testing.assert_allclose(bures_w2(mt, st, mu[1], cov[1]), (1 - t) * total, rtol=1e-6)


def test_mixture_path_moments_and_fit_gaussian():
    mu, cov = _gaussians(2, 2, seed=2)
    rng = np.random.default_rng(0)
    t, n = 0.3, 200_000
    x = sample_gaussians(rng, mu, cov, n)
    pick = rng.random(n) < t
    mix = np.where(pick[:, None], x[1], x[0])
    m_fit, c_fit = fit_gaussian(mix)
    m, c = mixture_path_moments(mu[0], cov[0], mu[1], cov[1], t)
    np.testing.assert_allclose(m_fit, m, atol=0.02)
    np.testing.assert_allclose(c_fit, c, atol=0.05)
    with pytest.raises(ValueError, match="n >= 2"):
        fit_gaussian(np.zeros((1, 2)))
