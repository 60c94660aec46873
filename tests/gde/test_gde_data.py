"""The Gaussian and Gaussian-mixture set generators: determinism, priors, errors."""

import numpy as np
import pytest

from sciml.data.gaussian_sets import default_df, gaussian_sets, inverse_wishart, mixture_sets


def test_sets_are_deterministic_and_shaped():
    a = gaussian_sets(np.random.default_rng(3), 4, 10, 2)
    b = gaussian_sets(np.random.default_rng(3), 4, 10, 2)
    np.testing.assert_array_equal(a.points, b.points)
    assert a.points.shape == (4, 10, 2) and a.points.dtype == np.float32
    assert a.means.shape == (4, 2) and a.covs.shape == (4, 2, 2)
    assert (a.means >= 0).all() and (a.means <= 5).all()


def test_inverse_wishart_mean_matches_original_prior():
    # The original: Sigma = inv(Wishart(df = 10 (d - 1), I)), so E[Sigma] = I / (df - d - 1).
    for d, want in ((2, 1 / 7), (5, 1 / 34)):
        cov = inverse_wishart(np.random.default_rng(0), 20_000, d, default_df(d))
        np.testing.assert_allclose(cov.mean(0), want * np.eye(d), atol=0.05 * want)
        assert np.all(np.linalg.eigvalsh(cov) > 0)


def test_set_moments_match_parameters():
    s = gaussian_sets(np.random.default_rng(1), 2, 50_000, 3, cov_scale=3.0, df=7)
    for i in range(2):
        np.testing.assert_allclose(s.points[i].mean(0), s.means[i], atol=0.05)
        np.testing.assert_allclose(np.cov(s.points[i].T), s.covs[i], atol=0.1 * np.abs(s.covs[i]).max())


def test_shared_mean_benchmark_varies_only_covariance():
    s = gaussian_sets(np.random.default_rng(0), 50, 5, 2, shared_mean=True, df=6, cov_scale=3.0)
    np.testing.assert_array_equal(s.means, np.full((50, 2), 2.5))
    assert np.std(s.covs[:, 0, 0]) > 0.3  # covariance varies a lot across sets


def test_mixture_sets_weights_and_proportions():
    s = mixture_sets(np.random.default_rng(0), 3, 40_000, 2, components=3, alpha=1.0)
    np.testing.assert_allclose(s.weights.sum(1), 1.0)
    assert s.means.shape == (3, 3, 2) and s.covs.shape == (3, 3, 2, 2)
    # The mixture's mean is the weighted mean of its components.
    np.testing.assert_allclose(s.points.mean(1), np.einsum("nk,nkd->nd", s.weights, s.means), atol=0.05)


def test_generator_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="needs dim >= 2"):
        gaussian_sets(rng, 2, 5, 1)
    with pytest.raises(ValueError, match="df must be >= dim"):
        inverse_wishart(rng, 2, 3, 2)
    with pytest.raises(ValueError, match="m must be a positive integer"):
        gaussian_sets(rng, 2, 0, 2)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        mixture_sets(rng, 2, 5, 2, alpha=0.0)
