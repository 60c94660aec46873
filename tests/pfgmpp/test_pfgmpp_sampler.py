"""The Heun sampler: schedule values, NFE count, closed-form ODE solutions, noise injection, oracle."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.pfgmpp import (
    edm_schedule,
    generate,
    heun_sample,
    num_function_evals,
    posterior_log_weights,
    posterior_mean_denoiser,
    sample_prior,
)

#: EDM/PFGM++ schedule for n = 18: Karras et al. 2022, Eq. 5 (sigma 0.002..80, rho = 7), rounded to 3-4 digits.
REFERENCE_18 = [80, 57.586, 40.786, 28.375, 19.353, 12.910, 8.401, 5.315, 3.257, 1.923, 1.088, 0.585,
                0.296, 0.1395, 0.0599, 0.0229, 0.00753, 0.002]


def test_schedule_matches_reference():
    s = edm_schedule(18)
    assert s.shape == (19,) and s[-1] == 0
    np.testing.assert_allclose(s[:-1], REFERENCE_18, rtol=2e-3)  # reference rounded to 3-4 digits
    assert s[0] == 80 and s[-2] == pytest.approx(0.002)
    assert np.all(np.diff(s) < 0)
    np.testing.assert_array_equal(edm_schedule(1), [80, 0])
    for bad in (0, -1, 2.5):
        with pytest.raises((ValueError, TypeError), match="num_steps"):
            edm_schedule(bad)
    with pytest.raises(ValueError, match="sigma_min"):
        edm_schedule(5, sigma_min=90)


def counting(denoise):
    calls = []

    def f(x, sigma):
        jax.debug.callback(lambda: calls.append(1))
        return denoise(x, sigma)

    return f, calls


@pytest.mark.parametrize("solver", ["diffrax", "scan"])
@pytest.mark.parametrize("n", [1, 2, 5, 18])
def test_nfe_is_2n_minus_1(n, solver):
    f, calls = counting(lambda x, s: 0.5 * x)
    out = jax.jit(lambda x: heun_sample(f, x, edm_schedule(n), solver=solver))(jnp.ones(3))
    jax.block_until_ready(out)
    assert len(calls) == num_function_evals(n) == 2 * n - 1
    assert num_function_evals(18) == 35


def test_single_point_data_lands_exactly():
    """D(x, sigma) = y0: the ODE solution x(sigma) = y0 + (x_T - y0) sigma / sigma_max is linear in sigma."""
    y0 = jnp.array([0.3, -1.0, 2.0])
    x = heun_sample(lambda x, s: y0, jnp.array([50.0, 10.0, -70.0]), edm_schedule(6))
    np.testing.assert_allclose(x, y0, atol=1e-5)


@pytest.mark.parametrize("solver", ["diffrax", "scan"])
def test_gaussian_data_closed_form(solver):
    """Data N(mu, s² I): D = mu + s²/(s² + sigma²)(x - mu); exact flow x - mu ∝ sqrt(s² + sigma²)."""
    mu, s = jnp.array([1.0, -2.0]), 0.5
    denoise = lambda x, sig: mu + s**2 / (s**2 + sig**2) * (x - mu)
    x_T = jnp.array([40.0, -25.0])
    exact = mu + (x_T - mu) * s / math.sqrt(s**2 + 80.0**2)
    err = [float(jnp.abs(heun_sample(denoise, x_T, edm_schedule(n), solver=solver) - exact).max())
           for n in (18, 36, 72)]
    # 18 steps: within 6% of the displacement x_0 - mu (~0.25); Heun is second order: error / 4 per doubling.
    assert err[0] < 0.015
    assert err[1] < err[0] / 3.5 and err[2] < err[1] / 3.5


def test_diffrax_and_scan_agree():
    w = jax.random.normal(jax.random.PRNGKey(0), (4, 4)) * 0.3
    denoise = lambda x, s: jnp.tanh(w @ x) / (1 + s)
    x_T = jax.random.normal(jax.random.PRNGKey(1), (4,)) * 80
    a = heun_sample(denoise, x_T, edm_schedule(10), solver="diffrax")
    b = heun_sample(denoise, x_T, edm_schedule(10), solver="scan", alpha=0.0, key=jax.random.PRNGKey(2))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_noise_injection():
    mu = jnp.zeros(16)
    denoise = lambda x, sig: mu + 0.25 / (0.25 + sig**2) * x
    x_T, sig = jnp.ones(16) * 10, edm_schedule(8)
    base = heun_sample(denoise, x_T, sig)
    k = jax.random.PRNGKey(0)
    noisy = heun_sample(denoise, x_T, sig, alpha=0.2, key=k)
    again = heun_sample(denoise, x_T, sig, alpha=0.2, key=k)
    np.testing.assert_array_equal(noisy, again)
    assert float(jnp.abs(noisy - base).max()) > 1e-3
    with pytest.raises(ValueError, match="needs a key"):
        heun_sample(denoise, x_T, sig, alpha=0.1)
    with pytest.raises(ValueError, match="noise injection"):
        heun_sample(denoise, x_T, sig, alpha=0.1, key=k, solver="diffrax")


def training_set():
    return jax.random.uniform(jax.random.PRNGKey(3), (12, 16), minval=-1, maxval=1)


@pytest.mark.parametrize("D", [1.0, 4.0, 64.0, math.inf])
def test_oracle_sampler_lands_on_training_points(D):
    """With the exact posterior-mean denoiser of a finite set, every sample is (nearly) a training point."""
    data = training_set()
    samples = generate(posterior_mean_denoiser(data, D), 64, (16,), D, key=jax.random.PRNGKey(4))
    d = jnp.sqrt(((samples[:, None] - data[None]) ** 2).sum(-1)).min(1)
    assert np.isfinite(np.asarray(samples)).all()
    assert float(d.max()) < 1e-2
    # Different prior draws reach different training points.
    assert len(np.unique(np.asarray(jnp.argmin(((samples[:, None] - data[None]) ** 2).sum(-1), 1)))) >= 4


def test_oracle_large_D_matches_gaussian():
    data = training_set()
    x = data[0] + 0.7
    for sigma in (0.05, 0.5, 3.0, 30.0):
        w_big = jax.nn.softmax(posterior_log_weights(x, data, sigma, 1e7))
        w_inf = jax.nn.softmax(posterior_log_weights(x, data, sigma, math.inf))
        np.testing.assert_allclose(w_big, w_inf, atol=1e-4)
    # Same starting points: the D = 1e7 and D = inf flows end at the same samples.
    x_T = jax.vmap(lambda k: sample_prior((16,), 80.0, math.inf, key=k))(jax.random.split(jax.random.PRNGKey(5), 16))
    sig = edm_schedule(18)
    run = lambda D: jax.vmap(lambda x: heun_sample(posterior_mean_denoiser(data, D), x, sig))(x_T)
    np.testing.assert_allclose(run(1e7), run(math.inf), atol=1e-4)


def test_generate_is_seeded():
    den = posterior_mean_denoiser(training_set(), 8.0)
    a = generate(den, 5, (16,), 8.0, key=jax.random.PRNGKey(0), num_steps=4)
    b = generate(den, 5, (16,), 8.0, key=jax.random.PRNGKey(0), num_steps=4, chunk=2)
    np.testing.assert_allclose(a, b, atol=2e-5)  # chunking changes XLA's batch shapes, not the maths
    assert a.shape == (5, 16)


@pytest.mark.parametrize("D", [1, 4, 64, 2048])
def test_oracle_weights_match_the_posterior_formula(D):
    """softmax(posterior_log_weights) = softmax(-(N + D)/2 log(||x - y_i||² + σ² D)), computed here in float64,
    and the oracle denoiser is the posterior mean sum_i w_i y_i."""
    data = training_set()
    N = data.shape[1]
    y = np.asarray(data, np.float64)
    rng = np.random.default_rng(0)
    for sigma in (0.1, 0.5, 2.0, 10.0):
        x = y[rng.integers(len(y))] + sigma * rng.standard_normal(N)
        logw = -(N + D) / 2 * np.log(((x - y) ** 2).sum(-1) + sigma**2 * D)
        want = np.exp(logw - logw.max())
        want /= want.sum()
        got = jax.nn.softmax(posterior_log_weights(jnp.asarray(x, jnp.float32), data, sigma, D))
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-3)
        den = posterior_mean_denoiser(data, D)(jnp.asarray(x, jnp.float32), jnp.asarray(sigma, jnp.float32))
        np.testing.assert_allclose(den, want @ y, atol=1e-4)


@pytest.mark.parametrize("D", [4.0, 64.0, math.inf])
def test_oracle_samples_hit_training_points_uniformly(D):
    """The exact denoiser's flow carries the prior onto the empirical distribution, uniform over the training
    points: the counts of nearest training points over 800 samples pass a chi-square test (fixed seed)."""
    import scipy.stats

    data = training_set()[:8]
    samples = generate(posterior_mean_denoiser(data, D), 800, (16,), D, key=jax.random.PRNGKey(6))
    d2 = ((samples[:, None] - data[None]) ** 2).sum(-1)
    assert float(jnp.sqrt(d2.min(1)).max()) < 1e-2  # every sample lands on a training point
    counts = np.bincount(np.asarray(jnp.argmin(d2, 1)), minlength=len(data))
    assert scipy.stats.chisquare(counts).pvalue > 1e-3, counts
