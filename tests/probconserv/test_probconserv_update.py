"""The ProbConserv update against independent NumPy Gaussian conditioning, its limits and its errors."""

import contextlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.probconserv import evaluation as ev
from sciml.probconserv import (
    grid_constraint,
    hardc_grid,
    hardc_projection,
    probconserv_update,
    probconserv_update_dense,
    sample_conditioned,
    trapezoid_weights,
    update_grid,
)


def numpy_condition(mu, cov, G, b, sigma_g):
    """Gaussian conditioning by the joint-Gaussian formula: [u; y] with y = G u + eps, observe y = b."""
    m = G.shape[0]
    s_yy = G @ cov @ G.T + np.diag(np.broadcast_to(np.asarray(sigma_g, float) ** 2, (m,)))
    s_uy = cov @ G.T
    gain = np.linalg.solve(s_yy.T, s_uy.T).T
    return mu + gain @ (b - G @ mu), cov - gain @ s_uy.T


def problem(seed=0, n=15, m=3):
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=n)
    var = rng.uniform(0.05, 1.0, size=n)
    G = rng.normal(size=(m, n))
    b = rng.normal(size=m)
    A = rng.normal(size=(n, n))
    cov = A @ A.T / n + np.diag(var)
    return mu, var, G, b, cov


@pytest.mark.parametrize("sigma_g", [0.0, 1e-3, 0.3, np.array([0.1, 0.0, 2.0])])
def test_diagonal_path_equals_numpy_conditioning(sigma_g):
    mu, var, G, b, _ = problem(1)
    m_ref, c_ref = numpy_condition(mu, np.diag(var), G, b, sigma_g)
    m, v = probconserv_update(mu, var, G, b, sigma_g)
    assert m.dtype == np.float64 and v.dtype == np.float64
    np.testing.assert_allclose(m, m_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(v, np.diag(c_ref), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sigma_g", [0.0, 0.05, 1.0])
def test_dense_path_equals_numpy_conditioning(sigma_g):
    mu, _, G, b, cov = problem(2)
    m_ref, c_ref = numpy_condition(mu, cov, G, b, sigma_g)
    m, c = probconserv_update_dense(mu, cov, G, b, sigma_g)
    np.testing.assert_allclose(m, m_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c, c_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(c, c.T)


def test_dense_and_diagonal_paths_agree():
    mu, var, G, b, _ = problem(3)
    m1, v1 = probconserv_update(mu, var, G, b, 0.2)
    m2, c2 = probconserv_update_dense(mu, np.diag(var), G, b, 0.2)
    np.testing.assert_allclose(m1, m2, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(v1, np.diag(c2), rtol=1e-12, atol=1e-13)


def test_hard_limit_satisfies_the_constraint_exactly():
    mu, var, G, b, cov = problem(4, n=40, m=4)
    m, v = probconserv_update(mu, var, G, b, 0.0)
    assert np.abs(G @ m - b).max() < 1e-10
    md, cd = probconserv_update_dense(mu, cov, G, b, 0.0)
    assert np.abs(G @ md - b).max() < 1e-10
    # the conditioned covariance has no variance left along the constraint directions
    assert np.abs(G @ cd @ G.T).max() < 1e-10


def test_variance_never_increases_and_shrinks_with_sigma_g():
    mu, var, G, b, cov = problem(5)
    prev = None
    for sg in [10.0, 1.0, 0.1, 0.0]:
        _, v = probconserv_update(mu, var, G, b, sg)
        assert np.all(v <= var + 1e-15) and np.all(v >= -1e-12)
        if prev is not None:
            assert np.all(v <= prev + 1e-15)
        prev = v
        _, c = probconserv_update_dense(mu, cov, G, b, sg)
        assert np.linalg.eigvalsh(cov - c).min() > -1e-10  # Sigma - Sigma~ is positive semi-definite


def test_large_sigma_g_leaves_prediction_unchanged():
    mu, var, G, b, _ = problem(6)
    m, v = probconserv_update(mu, var, G, b, 1e6)
    np.testing.assert_allclose(m, mu, atol=1e-9)
    np.testing.assert_allclose(v, var, atol=1e-9)


def test_grid_update_equals_block_constraint_on_the_flat_grid():
    rng = np.random.default_rng(7)
    nt, nx = 5, 13
    x = np.sort(rng.uniform(0, 2, nx))
    mean, var = rng.normal(size=(nt, nx)), rng.uniform(0.1, 1, (nt, nx))
    mass = rng.normal(size=nt)
    G = grid_constraint(nt, x)
    assert G.shape == (nt, nt * nx)
    for sg in [0.0, 0.1]:
        m1, v1 = update_grid(mean, var, x, mass, sg)
        m2, v2 = probconserv_update(mean.ravel(), var.ravel(), G, mass, sg)
        np.testing.assert_allclose(m1.ravel(), m2, rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(v1.ravel(), v2, rtol=1e-11, atol=1e-12)
        m3, c3 = update_grid(mean, var, x, mass, sg, dense=True)
        np.testing.assert_allclose(m3, m1, atol=1e-12)
        np.testing.assert_allclose(np.diagonal(c3, axis1=1, axis2=2), v1, atol=1e-12)


def test_trapezoid_weights_integrate_exactly_linear_functions():
    x = np.sort(np.random.default_rng(0).uniform(0, 3, 20))
    g = trapezoid_weights(x)
    assert g @ (2 * x + 1) == pytest.approx((x[-1] ** 2 + x[-1]) - (x[0] ** 2 + x[0]), rel=1e-13)
    g2 = trapezoid_weights(np.linspace(0, 2 * np.pi, 201))
    assert abs(g2 @ np.sin(np.linspace(0, 2 * np.pi, 201))) < 1e-13


def test_hardc_is_the_euclidean_projection_with_variance_unchanged():
    mu, var, G, b, _ = problem(8)
    p = hardc_projection(mu, G, b)
    ref = mu - np.linalg.lstsq(G, G @ mu - b, rcond=None)[0]  # minimum-norm correction
    np.testing.assert_allclose(p, ref, rtol=1e-10, atol=1e-12)
    x = np.linspace(0, 1, 9)
    means = np.random.default_rng(1).normal(size=(2, 4, 3, 9))
    stds = np.full_like(means, 0.1)
    mass = np.array([0.1, 0.2, 0.3])
    m, v = ev.constrain("hardc", means, stds, x, mass)
    np.testing.assert_allclose(m @ trapezoid_weights(x), np.broadcast_to(mass, (2, 4, 3)), atol=1e-13)
    np.testing.assert_array_equal(v, stds**2)
    np.testing.assert_allclose(hardc_grid(means[0, 0], x, mass) @ trapezoid_weights(x), mass, atol=1e-13)


def test_mixture_of_updated_samples_conserves_mass():
    rng = np.random.default_rng(9)
    x = np.linspace(0, 1, 21)
    means, stds = rng.normal(size=(3, 6, 2, 21)), rng.uniform(0.01, 0.5, (3, 6, 2, 21))
    mass = np.array([0.4, -0.2])
    m, v = ev.mixture(*ev.constrain("probconserv", means, stds, x, mass))
    assert np.abs(m @ trapezoid_weights(x) - mass).max() < 1e-12
    m0, v0 = ev.mixture(*ev.constrain("anp", means, stds, x, mass))
    assert np.abs(m0 @ trapezoid_weights(x) - mass).max() > 1e-2
    assert np.all(v > 0)


def test_matheron_samples_have_the_conditioned_law():
    mu, var, G, b, _ = problem(10, n=6, m=2)
    for sg in [0.0, 0.2]:
        m_ref, c_ref = numpy_condition(mu, np.diag(var), G, b, sg)
        s = sample_conditioned(mu, var, G, b, sg, key=jax.random.PRNGKey(0), num_samples=100_000)
        assert s.shape == (100_000, 6)
        np.testing.assert_allclose(s.mean(0), m_ref, atol=0.01)
        np.testing.assert_allclose(np.cov(s.T), c_ref, atol=0.01)
        if sg == 0.0:
            assert np.abs(s @ G.T - b).max() < 1e-10  # every sample satisfies the hard constraint
    batched = sample_conditioned(np.stack([mu, mu + 1]), np.stack([var, var]), G, b, key=jax.random.PRNGKey(1),
                                 num_samples=3)
    assert batched.shape == (2, 3, 6)


def test_update_runs_under_jit_in_the_callers_dtype():
    mu, var, G, b, _ = problem(11)
    f = jax.jit(lambda m, v: probconserv_update(m, v, jnp.asarray(G, jnp.float32), jnp.asarray(b, jnp.float32)))
    m, v = f(jnp.asarray(mu, jnp.float32), jnp.asarray(var, jnp.float32))
    assert m.dtype == jnp.float32
    m_ref, v_ref = probconserv_update(mu, var, G, b)
    np.testing.assert_allclose(np.asarray(m), m_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(v), v_ref, rtol=1e-3, atol=1e-5)


def test_front_position_is_the_first_crossing():
    x = np.linspace(0, 1, 11)
    samples = np.array([[1, 0.8, 0.5, -0.1, 0.2, 0, 0, 0, 0, 0, 0], [1] * 11], float)
    np.testing.assert_allclose(ev.front_position(samples, x), [0.3, 1.0])


@contextlib.contextmanager
def shape_error(message, parameter):
    """Our ValueError, or the jaxtyping check (active in the tests) naming the offending parameter."""
    with pytest.raises((ValueError, TypeError)) as err:
        yield
    text = str(err.value)
    assert re.search(message, text) or f"parameter '{parameter}'" in text, text


def test_bad_inputs_raise_clear_errors():
    mu, var, G, b, cov = problem(12)
    with shape_error("G has width 14 but the prediction has 15 points", "G"):
        probconserv_update(mu, var, G[:, :-1], b)
    with pytest.raises(ValueError, match="sigma_g must be >= 0"):
        probconserv_update(mu, var, G, b, -0.1)
    with pytest.raises(ValueError, match="non-finite"):
        probconserv_update(np.where(np.arange(15) == 3, np.nan, mu), var, G, b)
    with pytest.raises(ValueError, match="non-finite"):
        probconserv_update_dense(mu, np.where(np.eye(15) > 0, np.inf, cov), G, b)
    with pytest.raises(ValueError, match="variance must be >= 0"):
        probconserv_update(mu, -var, G, b)
    with shape_error("one value per row", "b"):
        probconserv_update(mu, var, G, b[:-1])
    with shape_error("covariance must have shape", "cov"):
        probconserv_update_dense(mu, cov[:-1], G, b)
    with pytest.raises(ValueError, match="zero variance"):
        probconserv_update(mu, np.zeros_like(var), G, b, 0.0)
    x = np.linspace(0, 1, 15)
    with shape_error("x-nodes", "x"):
        update_grid(mu[None, :-1], var[None, :-1], x, b[:1])
    with pytest.raises(ValueError, match="sigma_g must be >= 0"):
        update_grid(mu[None], var[None], x, b[:1], -1.0)
    with pytest.raises(ValueError, match="non-finite"):
        update_grid(np.full((1, 15), np.inf), var[None], x, b[:1])
    with pytest.raises(ValueError, match="sorted"):
        trapezoid_weights(x[::-1])
    with pytest.raises(ValueError, match="unknown method"):
        ev.constrain("pinn", mu[None, None, None], var[None, None, None], x, b[:1])
