"""Conditional generators: schedules, losses, samplers; the GDE model's loss reaches both networks."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.gde import (
    DDPM,
    GDE,
    SCHEDULES,
    DirectGenerator,
    FlowMatching,
    ddpm_schedule,
    gaussian_eps_loss,
    interpolate_latents,
    linear_betas,
    make_encoder,
)
from sciml.metrics import sliced_w2


def test_linear_betas_end_at_noise_for_any_T():
    for T in (5, 50, 100, 400, 1000):
        b = linear_betas(T)
        abar_T = float(jnp.prod(1 - b))
        assert b.shape == (T,) and 0 < b[0] < b[-1] < 1
        np.testing.assert_allclose(abar_T, np.exp(-10.05), rtol=1e-3)
    np.testing.assert_allclose(np.asarray(linear_betas(1000))[[0, -1]], [1e-4, 0.02], rtol=1e-2)  # Ho et al.
    with pytest.raises(ValueError, match="at least 2"):
        linear_betas(1)


def test_original_schedule_is_the_gde_originals_betas():
    """The original's `ddpm_schedules(1e-4, 0.02, T)`: beta_i linear from 1e-4 at i = 0 to 0.02 at i = T, and
    alpha_bar_t = prod_{i=0..t} (1 - beta_i), its product starting at i = 0."""
    T = 400
    betas, abar = (np.asarray(a, np.float64) for a in ddpm_schedule(T, "original"))
    full = 1e-4 + (0.02 - 1e-4) * np.arange(T + 1) / T
    np.testing.assert_allclose(betas, full[1:], rtol=1e-6)
    np.testing.assert_allclose(abar, np.cumprod(1 - full)[1:], rtol=1e-5)  # the i = 0 factor is 1 - 1e-4
    np.testing.assert_allclose(np.log(abar[-1]), -4.06, atol=0.01)  # x_T still remembers the data
    b, a = ddpm_schedule(T, "scaled")
    np.testing.assert_allclose(b, linear_betas(T)) and np.testing.assert_allclose(a, np.cumprod(1 - np.asarray(b)))
    with pytest.raises(ValueError, match="schedule 'cosine' is unknown"):
        DDPM(2, 3, 8, 1, T, "cosine", key=jax.random.PRNGKey(0))


def test_flow_sampler_integrates_a_known_field(key):
    # Replace the network by v(x, t) = 2 t c: Heun's trapezoid rule is exact for fields linear in t,
    # so x(1) = x(0) + c exactly; this checks the time input and the direction of integration.
    class Linear(eqx.Module):
        c: jax.Array

        def __call__(self, inp):
            return 2 * inp[-1] * self.c

    gen = FlowMatching(2, 3, 8, 1, num_steps=4, key=key)
    gen = eqx.tree_at(lambda g: g.net, gen, Linear(jnp.array([2.0, -1.0])))
    x = gen.sample(jnp.zeros(3), 100, key=key)
    np.testing.assert_allclose(x, jax.random.normal(key, (100, 2)) + jnp.array([2.0, -1.0]), atol=1e-5)


@pytest.mark.parametrize("cls", [DDPM, FlowMatching, DirectGenerator])
def test_generator_losses_and_samples(cls, key):
    gen = cls(2, 4, 16, 2, key=key)
    x = jax.random.normal(key, (32, 2))
    loss = eqx.filter_jit(lambda g: g.loss(x, jnp.zeros(4), key=key))(gen)
    assert loss.shape == () and jnp.isfinite(loss) and loss > 0
    s = eqx.filter_jit(lambda g: g.sample(jnp.zeros(4), 7, key=key))(gen)
    assert s.shape == (7, 2) and jnp.all(jnp.isfinite(s))


def test_direct_loss_is_squared_sliced_w2(key):
    gen = DirectGenerator(2, 4, 16, 2, noise_dim=3, num_projections=50, key=key)
    x, z = jax.random.normal(key, (16, 2)), jnp.ones(4)
    kg, kp = jax.random.split(key)
    want = sliced_w2(gen.sample(z, 16, key=kg), x, key=kp, num_projections=50) ** 2
    np.testing.assert_allclose(eqx.filter_jit(gen.loss)(x, z, key=key), want, rtol=1e-5)
    with pytest.raises(ValueError, match="noise_dim"):
        DirectGenerator(3, 4, noise_dim=2, key=key)


def test_joint_loss_trains_encoder_and_generator(key):
    model = GDE(make_encoder("deepsets", 2, 4, 16, key=key), DDPM(2, 4, 16, 2, 20, key=key), 2.5, 1.5)
    x = 2.5 + jax.random.normal(key, (32, 2))
    grads = eqx.filter_jit(eqx.filter_grad(lambda m: m.loss(x, key=key)))(model)
    norm = lambda tree: sum(float(jnp.abs(g).sum()) for g in jax.tree_util.tree_leaves(tree))
    assert norm(grads.encoder) > 0 and norm(grads.generator) > 0
    # Normalisation is undone when sampling: data coordinates in, data coordinates out.
    z = jnp.ones(4)
    want = model.generator.sample(z, 5, key=key) * 1.5 + 2.5
    np.testing.assert_allclose(model.sample(z, 5, key=key), want, rtol=1e-6)
    with pytest.raises(ValueError, match="scale must be > 0"):
        GDE(model.encoder, model.generator, 0.0, 0.0)


def test_interpolate_latents_endpoints():
    z0, z1 = jnp.zeros(3), jnp.arange(3.0)
    zt = interpolate_latents(z0, z1, jnp.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(zt, [[0, 0, 0], [0, 0.5, 1], [0, 1, 2]])


class ExactGaussianEps(eqx.Module):
    """The exact noise predictor E[eps | x_t] for data N(m, S): sqrt(1 - abar) C_t^-1 (x_t - sqrt(abar) m),
    C_t = abar S + (1 - abar) I. It reads the DDPM's input [x, z, t/T] as the trained MLP does."""

    mean: jax.Array
    cov: jax.Array
    abar: jax.Array
    num_steps: int = eqx.field(static=True)

    def __call__(self, inp):
        d = self.mean.shape[0]
        x, tt = inp[:d], inp[-1]
        a = self.abar[jnp.round(tt * self.num_steps).astype(int) - 1]
        c = a * self.cov + (1 - a) * jnp.eye(d)
        return jnp.sqrt(1 - a) * jnp.linalg.solve(c, x - jnp.sqrt(a) * self.mean)


def _ddpm_with(net, T, latent=3, dim=2, schedule="scaled"):
    gen = DDPM(dim, latent, 8, 1, num_steps=T, schedule=schedule, key=jax.random.PRNGKey(0))
    return eqx.tree_at(lambda g: g.net, gen, net)


def test_ddpm_with_exact_noise_predictor_samples_the_gaussian():
    """Ancestral sampling driven by the exact eps of N(m, S) must return N(m, S): the squared Mahalanobis
    distances of the samples follow chi2(d) (KS test), and the sample mean and covariance agree with m and S
    within their sampling error (fixed seed, 20k samples)."""
    import scipy.stats

    T, n = 400, 20_000
    m = jnp.array([2.0, -1.0])
    S = jnp.array([[0.5, 0.3], [0.3, 0.4]])
    abar = jnp.cumprod(1 - linear_betas(T))
    gen = _ddpm_with(ExactGaussianEps(m, S, abar, T), T)
    x = np.asarray(eqx.filter_jit(lambda g: g.sample(jnp.zeros(3), n, key=jax.random.PRNGKey(1)))(gen), np.float64)
    m, S = np.asarray(m, np.float64), np.asarray(S, np.float64)
    prec = np.linalg.inv(S)
    d2 = np.einsum("ni,ij,nj->n", x - m, prec, x - m)
    assert scipy.stats.kstest(d2, scipy.stats.chi2(2).cdf).pvalue > 1e-3
    # Mean: n (xbar - m)' S^-1 (xbar - m) ~ chi2(2).
    dm = x.mean(0) - m
    assert n * dm @ prec @ dm < scipy.stats.chi2(2).ppf(1 - 1e-3)
    # Covariance, whitened: S^-1/2 S_hat S^-1/2 = I up to sampling error (sd ~ sqrt(2 / n) = 0.01).
    w, v = np.linalg.eigh(S)
    isq = v @ np.diag(w**-0.5) @ v.T
    np.testing.assert_allclose(isq @ np.cov(x.T) @ isq, np.eye(2), atol=0.04)


class PointMassEps(eqx.Module):
    """The exact noise of x_t = sqrt(abar_t) m + sqrt(1 - abar_t) eps when the data are the point m."""

    mean: jax.Array
    abar: jax.Array
    num_steps: int = eqx.field(static=True)

    def __call__(self, inp):
        d = self.mean.shape[0]
        a = self.abar[jnp.round(inp[-1] * self.num_steps).astype(int) - 1]
        return (inp[:d] - jnp.sqrt(a) * self.mean) / jnp.sqrt(1 - a)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_ddpm_loss_noises_with_its_own_schedule(schedule, key):
    """The loss forms x_t with the schedule's alpha_bar at the step it shows the network: a predictor that knows
    that alpha_bar recovers the noise exactly (loss ~ 0), one that assumes the other schedule does not."""
    T, m = 50, jnp.array([1.5, -0.5])
    x = jnp.tile(m, (256, 1))
    other = SCHEDULES[1 - SCHEDULES.index(schedule)]
    exact = _ddpm_with(PointMassEps(m, ddpm_schedule(T, schedule)[1], T), T, schedule=schedule)
    wrong = _ddpm_with(PointMassEps(m, ddpm_schedule(T, other)[1], T), T, schedule=schedule)
    assert float(exact.loss(x, jnp.zeros(3), key=key)) < 1e-6
    assert float(wrong.loss(x, jnp.zeros(3), key=key)) > 1e-3


class AffineEps(eqx.Module):
    """eps(x, t) = a_t x + b_t with coefficients that differ per step (so an off-by-one in t shows)."""

    a: jax.Array  # [T]
    b: jax.Array  # [T, d]
    num_steps: int = eqx.field(static=True)

    def __call__(self, inp):
        d = self.b.shape[1]
        i = jnp.round(inp[-1] * self.num_steps).astype(int) - 1
        return self.a[i] * inp[:d] + self.b[i]


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_ddpm_ancestral_steps_match_the_closed_form(schedule):
    """With eps affine in x, every ancestral step is an affine map plus Gaussian noise, so the samples are
    exactly Gaussian with moments given by Ho et al.'s Alg. 2: x_T ~ N(0, I); for t = T..1,
    x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps(x_t, t)) / sqrt(alpha_t) + sqrt(beta_t) z (no z at t = 1).
    The sample mean and covariance must match that recursion, computed here in float64."""
    T, n, d = 4, 200_000, 2
    betas, abar = (np.asarray(a, np.float64) for a in ddpm_schedule(T, schedule))
    alphas = 1 - betas
    # a_t chosen so that each step scales x by (0.3, 0.5, 0.4, 0.6): the variance stays O(1), so a wrong
    # noise level at any step (including noise at the last step, where there must be none) shows.
    gains = np.array([0.3, 0.5, 0.4, 0.6])
    a = jnp.asarray((1 - gains * np.sqrt(alphas)) * np.sqrt(1 - abar) / betas, jnp.float32)
    b = jnp.array([[0.5, -1.0], [1.0, 0.2], [-0.7, 0.4], [0.2, 0.9]])
    gen = _ddpm_with(AffineEps(a, b, T), T, schedule=schedule)
    x = np.asarray(eqx.filter_jit(lambda g: g.sample(jnp.zeros(3), n, key=jax.random.PRNGKey(2)))(gen), np.float64)
    mean, var = np.zeros(d), np.ones(d)  # independent coordinates stay independent: diagonal covariance
    for t in range(T, 0, -1):
        i = t - 1
        c = betas[i] / np.sqrt(1 - abar[i])
        gain = (1 - c * float(a[i])) / np.sqrt(alphas[i])
        mean = gain * mean - c * np.asarray(b[i], np.float64) / np.sqrt(alphas[i])
        var = gain**2 * var + (betas[i] if t > 1 else 0.0)
    np.testing.assert_allclose(x.mean(0), mean, atol=4 * np.sqrt(var.max() / n))
    np.testing.assert_allclose(x.var(0), var, rtol=0.02)
    np.testing.assert_allclose(np.corrcoef(x.T)[0, 1], 0.0, atol=0.01)


@pytest.mark.parametrize("model_var", [0.3, 0.05])
def test_gaussian_eps_loss_matches_monte_carlo(model_var):
    """The closed-form denoising loss (used to explain what `DDPM.loss` rewards) against sampled noise:
    x ~ N(0, var), x_t = sqrt(a) x + sqrt(1 - a) eps, eps_hat the Gaussian posterior mean for model_var."""
    rng = np.random.default_rng(0)
    var, n = 0.05, 400_000
    for a in (0.999, 0.9, 0.3, 0.01):
        x, eps = rng.normal(0, np.sqrt(var), n), rng.normal(size=n)
        xt = np.sqrt(a) * x + np.sqrt(1 - a) * eps
        eps_hat = np.sqrt(1 - a) * xt / (a * model_var + 1 - a)
        sampled = np.mean((eps - eps_hat) ** 2)
        assert gaussian_eps_loss(a, var, model_var) == pytest.approx(sampled, rel=0.01)
    # The matched model is the best denoiser: a misjudged variance always costs loss.
    a = np.linspace(0.01, 0.999, 50)
    assert np.all(gaussian_eps_loss(a, var, model_var) >= gaussian_eps_loss(a, var, var) - 1e-12)
    assert gaussian_eps_loss(0.9, var, var) == pytest.approx(0.9 * var / (0.9 * var + 0.1))
