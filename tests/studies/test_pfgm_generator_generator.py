"""The PFGM++ conditional generator of the GDE study: its kernel at D = inf and large D, its training loss
against a closed form, and its sampler driven by the exact denoiser."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from sciml.pfgmpp import edm_scalings, posterior_mean_denoiser
from sciml.studies.pfgm_generator import PFGMGenerator, pfgm_generator

DIM, LATENT = 5, 3


def _radii(D, num=4000, sigma_max=80.0):
    gen = pfgm_generator(DIM, LATENT, 8, 1, D=D, sigma_max=sigma_max, key=jax.random.PRNGKey(1))
    x = np.asarray(gen.prior(num, key=jax.random.PRNGKey(2)), np.float64)
    return x, np.linalg.norm(x, axis=1) / sigma_max


def test_infinite_D_prior_is_a_gaussian_of_std_sigma_max():
    x, _ = _radii("inf")
    flat = x.ravel() / 80.0
    assert scipy.stats.kstest(flat, "norm").pvalue > 1e-3
    np.testing.assert_allclose(flat.std(), 1.0, rtol=0.03)


def test_large_D_radius_law_approaches_the_gaussian_chi_law_and_small_D_does_not():
    # Independent of the kernel's construction: ||n|| / sigma of an N-d Gaussian is chi(N); the D-kernel
    # approaches it as D grows (PFGM++ Sec. 4) and is heavy-tailed at D ~ N (E R^2 = N sigma^2 D / (D - 2)).
    chi = scipy.stats.chi(DIM)
    _, r_big = _radii(1e6)
    _, r_small = _radii(4)
    assert scipy.stats.kstest(r_big, chi.cdf).pvalue > 1e-3
    assert scipy.stats.kstest(r_small, chi.cdf).pvalue < 1e-6
    np.testing.assert_allclose(np.mean(r_small**2), DIM * 4 / 2, rtol=0.25)  # D / (D - 2) = 2


class _Zero(eqx.Module):
    def __call__(self, inp):
        return jnp.zeros(DIM, inp.dtype)


@pytest.mark.parametrize("D", [8.0, float("inf")])
def test_loss_of_a_zero_network_matches_its_closed_form_for_D(D):
    # With F = 0 the denoiser is c_skip x; for data y = 0 the EDM-weighted error is
    # lambda c_skip^2 ||n||^2 = sd^2 / (sigma^2 + sd^2) ||n||^2 / sigma^2, and E||n||^2 = N sigma^2 D / (D - 2)
    # (N sigma^2 at D = inf). Averaged over ln sigma ~ N(P_mean, P_std^2) by Gauss-Hermite quadrature.
    sd, p_mean, p_std = 1.3, -0.8, 1.1
    gen = pfgm_generator(DIM, LATENT, 8, 1, D=D, sigma_data=sd, P_mean=p_mean, P_std=p_std,
                         key=jax.random.PRNGKey(0))
    gen = eqx.tree_at(lambda g: g.net, gen, _Zero())
    m = 40000
    loss = float(eqx.filter_jit(gen.loss)(jnp.zeros((m, DIM)), jnp.zeros(LATENT), key=jax.random.PRNGKey(3)))
    u, w = np.polynomial.hermite_e.hermegauss(80)
    sigma = np.exp(p_mean + p_std * u)
    tail = 1.0 if np.isinf(D) else D / (D - 2)
    want = np.sum(w * sd**2 / (sigma**2 + sd**2)) / np.sum(w) * tail  # per coordinate (loss / d)
    np.testing.assert_allclose(loss, want, rtol=0.04)


class _Oracle(eqx.Module):
    """F such that EDMPrecond gives the exact posterior mean of a finite set that moves with z."""

    base: jax.Array
    D: float = eqx.field(static=True)
    sigma_data: float = eqx.field(static=True)

    def __call__(self, inp):
        x_in, z, c_noise = inp[:DIM], inp[DIM:-1], inp[-1]
        sigma = jnp.exp(4 * c_noise)
        c_skip, c_out, c_in, _ = edm_scalings(sigma, self.sigma_data)
        x = x_in / c_in
        target = posterior_mean_denoiser(self.base + z[:1], self.D)(x, sigma)
        return (target - c_skip * x) / c_out


@pytest.mark.parametrize("D", [4.0, 64.0, float("inf")])
def test_sampler_driven_by_the_exact_denoiser_lands_on_the_data_of_its_latent(D):
    # PFGM++ Sec. 3.3: the sampler from the D-prior with the optimal denoiser lands on training points;
    # the points depend on z, so a generator that drops the latent misses them.
    base = jnp.asarray(np.random.default_rng(0).normal(size=(3, DIM)) * 2, jnp.float32)
    gen = pfgm_generator(DIM, LATENT, 8, 1, D=D, key=jax.random.PRNGKey(0))
    gen = eqx.tree_at(lambda g: g.net, gen, _Oracle(base, gen.D, gen.sigma_data))
    z = jnp.array([1.5, 0.0, 0.0])
    x = np.asarray(eqx.filter_jit(lambda g: g.sample(z, 200, key=jax.random.PRNGKey(4)))(gen))
    dist = np.linalg.norm(x[:, None] - (np.asarray(base) + 1.5)[None], axis=-1).min(1)
    assert np.all(np.isfinite(x)) and np.quantile(dist, 0.95) < 0.02, np.quantile(dist, [0.5, 0.95, 1.0])


def test_with_num_steps_keeps_everything_but_the_sampler_length():
    gen = pfgm_generator(DIM, LATENT, 8, 1, D=16, num_steps=18, sigma_min=0.01, sigma_max=20.0, rho=5.0,
                         sigma_data=0.7, P_mean=-1.0, P_std=1.5, clip=1e-3, key=jax.random.PRNGKey(0))
    short = gen.with_num_steps(3)
    assert short.num_steps == 3 and short.nfe == 5 and gen.nfe == 35
    for name in ("dim", "D", "sigma_min", "sigma_max", "rho", "sigma_data", "P_mean", "P_std", "clip"):
        assert getattr(short, name) == getattr(gen, name), name
    assert short.net is gen.net


def test_bad_generator_settings_are_clear_errors():
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="D must be >= 1"):
        pfgm_generator(DIM, LATENT, D=0.5, key=key)
    with pytest.raises(ValueError, match="num_steps must be an integer >= 1"):
        pfgm_generator(DIM, LATENT, D=4, num_steps=0, key=key)
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        pfgm_generator(DIM, LATENT, D=4, sigma_min=1.0, sigma_max=0.5, key=key)
    with pytest.raises(ValueError, match="clip must be None"):
        pfgm_generator(DIM, LATENT, D=4, clip=0.7, key=key)
    assert isinstance(pfgm_generator(DIM, LATENT, D="inf", key=key), PFGMGenerator)
