import itertools

import jax
import jax.numpy as jnp
import numpy as np
import ot
import pytest

from sciml import metrics


def _brute_w(x, y, p):
    # Uniform equal-size clouds: optimal plans are permutations (Birkhoff), so enumerate them.
    best = min(
        np.mean(np.linalg.norm(x - y[list(perm)], axis=1) ** p) for perm in itertools.permutations(range(len(y)))
    )
    return best ** (1 / p)


@pytest.mark.parametrize("n", [3, 5, 7])
def test_w1_w2_against_brute_force(n):
    rng = np.random.default_rng(n)
    x, y = rng.standard_normal((n, 2)), rng.standard_normal((n, 2)) + 0.5
    np.testing.assert_allclose(metrics.w2(x, y), _brute_w(x, y, 2), rtol=1e-8)
    np.testing.assert_allclose(metrics.w1(x, y), _brute_w(x, y, 1), rtol=1e-8)


def test_w2_translation_closed_form():
    x = np.random.default_rng(0).standard_normal((50, 3))
    shift = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(metrics.w2(x, x + shift), np.linalg.norm(shift), rtol=1e-6)


def test_gaussian_w2_against_pot_samples():
    rng = np.random.default_rng(1)
    m1, m2 = np.array([0.0, 1.0]), np.array([1.5, -0.5])
    a = rng.standard_normal((2, 2))
    s1, s2 = np.eye(2) * 0.5, a @ a.T + 0.2 * np.eye(2)
    exact = metrics.gaussian_w2(m1, s1, m2, s2)
    x = rng.multivariate_normal(m1, s1, 2000)
    y = rng.multivariate_normal(m2, s2, 2000)
    assert abs(metrics.w2(x, y) - exact) < 0.05 * exact
    # Commuting case: closed form ||m1 - m2||^2 + ||S1^1/2 - S2^1/2||_F^2.
    d1, d2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    want = np.sqrt(np.sum((m1 - m2) ** 2) + (1 - 3) ** 2 + (2 - 1) ** 2)
    np.testing.assert_allclose(metrics.gaussian_w2(m1, d1, m2, d2), want, rtol=1e-8)


def test_mmd_against_numpy_reference():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((40, 3)), rng.standard_normal((30, 3)) + 0.3

    def k(a, b, g):
        d = ((a[:, None] - b[None]) ** 2).sum(-1)
        return np.exp(-g * d)

    want = np.mean([k(x, x, g).mean() + k(y, y, g).mean() - 2 * k(x, y, g).mean() for g in metrics.MMD_GAMMAS])
    np.testing.assert_allclose(metrics.mmd_rbf(jnp.asarray(x), jnp.asarray(y)), want, rtol=1e-4)
    assert float(metrics.mmd_rbf(jnp.asarray(x), jnp.asarray(x))) == pytest.approx(0.0, abs=1e-6)


def test_sliced_w2_against_pot_and_translation(key):
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((500, 2)), rng.standard_normal((500, 2)) * 2
    ours = float(metrics.sliced_w2(jnp.asarray(x), jnp.asarray(y), key=key, num_projections=2000))
    theirs = ot.sliced_wasserstein_distance(x, y, n_projections=2000, seed=0)
    assert ours == pytest.approx(theirs, rel=0.05)
    # 1-D: sliced W2 of a translation equals the translation's length times E|cos| ... in 1-D it is exact.
    z = rng.standard_normal((100, 1))
    np.testing.assert_allclose(metrics.sliced_w2(jnp.asarray(z), jnp.asarray(z + 2.0), key=key), 2.0, rtol=1e-5)


def test_rmse_and_errors():
    np.testing.assert_allclose(metrics.rmse(jnp.array([1.0, 3.0]), jnp.array([0.0, 0.0])), np.sqrt(5))
    np.testing.assert_allclose(metrics.rmse(jnp.array([1.0, 3.0]), jnp.zeros(2), jnp.array([True, False])), 1.0)
    with pytest.raises(ValueError, match="shape"):
        metrics.w2(np.ones(3), np.ones((3, 1)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.w2(np.array([[np.nan]]), np.ones((3, 1)))
    with pytest.raises(ValueError, match="different dimensions"):
        metrics.w1(np.ones((3, 2)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="equal shapes"):
        metrics.sliced_w2(jnp.ones((3, 2)), jnp.ones((4, 2)), key=jax.random.PRNGKey(0))


def test_gaussian_w2_singular_and_batched():
    # Rank-deficient covariances (dead features): exact, no sqrtm warning. Commuting closed form again.
    s1, s2 = np.diag([1.0, 0.0]), np.diag([4.0, 0.0])
    np.testing.assert_allclose(metrics.gaussian_w2(np.zeros(2), s1, np.zeros(2), s2), 1.0, atol=1e-12)
    rng = np.random.default_rng(3)
    a = rng.standard_normal((5, 3, 3))
    means, covs = rng.standard_normal((5, 3)), a @ np.swapaxes(a, 1, 2) + 0.1 * np.eye(3)
    batched = metrics.gaussian_w2(means[:, None], covs[:, None], means[None], covs[None])
    assert batched.shape == (5, 5) and np.allclose(np.diag(batched), 0.0, atol=1e-6)
    np.testing.assert_allclose(batched, batched.T, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(batched[1, 3], metrics.gaussian_w2(means[1], covs[1], means[3], covs[3]), rtol=1e-12)
    with pytest.raises(ValueError, match="different dimensions"):
        metrics.gaussian_w2(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
