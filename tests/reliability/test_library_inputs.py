"""Issue 16.12: library functions reject impossible inputs at their public boundary with a clear message."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml import metrics
from sciml.pfgmpp import sample_perturbation
from sciml.sim.gillespie import MAX_EXPECTED_JUMPS, sample_paths


def test_gaussian_w2_rejects_a_covariance_that_is_not_psd():
    m = np.zeros(2)
    with pytest.raises(ValueError, match=r"first Gaussian: covariance is not positive semi-definite \(smallest eigen"):
        metrics.gaussian_w2(m, np.array([[1.0, 0.0], [0.0, -1.0]]), m, np.eye(2))
    with pytest.raises(ValueError, match="second Gaussian: covariance is not symmetric"):
        metrics.gaussian_w2(m, np.eye(2), m, np.array([[1.0, 0.5], [0.0, 1.0]]))
    assert metrics.gaussian_w2(m, np.diag([1.0, 0.0]), m, np.diag([1.0, 0.0])) == pytest.approx(0.0)  # PSD is fine


@pytest.mark.parametrize("fn", ["mmd_rbf", "sliced_w2"])
def test_sample_distances_reject_nan_and_mismatched_dimensions(fn):
    call = (lambda x, y: metrics.mmd_rbf(x, y)) if fn == "mmd_rbf" else (
        lambda x, y: metrics.sliced_w2(x, y, key=jax.random.PRNGKey(0)))
    x = jnp.ones((5, 2))
    with pytest.raises(ValueError, match=f"{fn}: x contains NaN or inf"):
        call(x.at[0, 0].set(jnp.nan), x)
    with pytest.raises(ValueError, match=f"{fn}: y contains NaN or inf"):
        call(x, x.at[1, 1].set(jnp.inf))
    # Shapes: the tests' jaxtyping import hook already rejects these from the annotations; users run
    # without it, so the boundary check itself must say what is wrong.
    with pytest.raises(ValueError, match=f"{fn}: x and y have different dimensions: 2 vs 3"):
        metrics._check_clouds(fn, x, jnp.ones((5, 3)))
    with pytest.raises(ValueError, match=rf"{fn}: y must be a point cloud of shape \[n, d\]"):
        metrics._check_clouds(fn, x, jnp.ones((5, 2, 1)))
    with pytest.raises(ValueError, match=f"{fn}: x is an empty point cloud"):
        metrics._check_clouds(fn, jnp.ones((0, 2)), x)
    assert np.isfinite(float(jax.jit(lambda a, b: call(a, b))(x, x + 1)))  # still jit-able


def test_w2_of_an_empty_set_is_a_clear_error():
    with pytest.raises(ValueError, match=r"x is an empty point cloud"):
        metrics.w2(np.zeros((0, 2)), np.ones((3, 2)))


@pytest.mark.parametrize("sigma", [-0.1, float("nan"), float("inf")])
def test_sample_perturbation_rejects_negative_or_nonfinite_sigma(sigma):
    with pytest.raises(ValueError, match=r"sigma must be finite and >= 0"):
        sample_perturbation((4,), sigma, 8, key=jax.random.PRNGKey(0))
    out = sample_perturbation((4,), 0.5, 8, key=jax.random.PRNGKey(0))
    assert out.shape == (4,) and np.isfinite(np.asarray(out)).all()


def test_gillespie_refuses_a_billion_jumps_per_path():
    q = np.array([[-1e6, 1e6], [1e6, -1e6]])
    want = rf"about 1e\+09 jumps per path, more than MAX_EXPECTED_JUMPS = {MAX_EXPECTED_JUMPS:,}"
    with pytest.raises(ValueError, match=want):
        sample_paths(q, np.array([0.5, 0.5]), np.linspace(0, 1000, 5), 2, key=jax.random.PRNGKey(0))


def test_infer_rate_matrix_with_zero_paths_is_a_clear_error():
    from sciml.fim.inference import infer_rate_matrix
    from sciml.fim.model import FIMMJP

    model = object.__new__(FIMMJP)  # never reached: the check comes first
    with pytest.raises(ValueError, match=r"needs at least one observed path; got times of shape \(0, 5\)"):
        infer_rate_matrix(model, np.zeros((0, 5)), np.zeros((0, 5), int))
