"""EDM preconditioning identities, the loss weight, the log-normal sigma law and the PFGM++ loss."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from sciml.pfgmpp import (
    EDMPrecond,
    MLPDenoiser,
    edm_scalings,
    loss_weight,
    pfgmpp_loss,
    sample_perturbation,
    sample_sigma,
)

SIGMAS = np.array([0.002, 0.05, 0.5, 1.0, 7.0, 80.0])


@pytest.mark.parametrize("sd", [0.5, 1.3])
def test_scalings_identities(sd):
    c_skip, c_out, c_in, c_noise = (np.asarray(c, np.float64) for c in edm_scalings(jnp.asarray(SIGMAS), sd))
    s2 = SIGMAS**2 + sd**2
    np.testing.assert_allclose(c_in**2 * s2, 1, rtol=1e-5)  # unit-variance network input
    np.testing.assert_allclose(c_skip * s2, sd**2, rtol=1e-5)
    np.testing.assert_allclose(c_out**2 * s2, SIGMAS**2 * sd**2, rtol=1e-5)
    np.testing.assert_allclose(c_noise, np.log(SIGMAS) / 4, rtol=1e-5)
    # The effective target (y - c_skip (y + n)) / c_out has unit variance for Var y = sd², Var n = sigma².
    var_target = ((1 - c_skip) ** 2 * sd**2 + c_skip**2 * SIGMAS**2) / c_out**2
    np.testing.assert_allclose(var_target, 1, rtol=1e-4)
    # lambda = 1 / c_out²: the weighted loss is the plain loss on the network output.
    np.testing.assert_allclose(np.asarray(loss_weight(jnp.asarray(SIGMAS), sd)) * c_out**2, 1, rtol=1e-5)


def test_precond_wraps_any_network():
    zero = EDMPrecond(lambda x, c: jnp.zeros_like(x), 0.5)
    x = jnp.arange(6.0).reshape(2, 3)
    c_skip = edm_scalings(2.0, 0.5)[0]
    np.testing.assert_allclose(zero(x, 2.0), c_skip * x, rtol=1e-6)
    # sigma -> 0: D(x) -> x whatever the network says (c_skip -> 1, c_out -> 0).
    ones = EDMPrecond(lambda x, c: jnp.ones_like(x), 0.5)
    np.testing.assert_allclose(ones(x, 1e-6), x, atol=1e-5)
    # The network receives c_in x and c_noise.
    seen = EDMPrecond(lambda x, c: x + c, 0.5)
    _, c_out, c_in, c_noise = edm_scalings(3.0, 0.5)
    np.testing.assert_allclose(seen(x, 3.0), c_skip_at(3.0) * x + c_out * (c_in * x + c_noise), rtol=1e-5)
    with pytest.raises(ValueError, match="sigma_data"):
        EDMPrecond(lambda x, c: x, 0.0)


def c_skip_at(sigma, sd=0.5):
    return sd**2 / (sigma**2 + sd**2)


def test_log_normal_sigma():
    s = np.asarray(sample_sigma(key=jax.random.PRNGKey(0), P_mean=-1.2, P_std=1.2, shape=(20_000,)))
    assert scipy.stats.kstest(np.log(s), scipy.stats.norm(-1.2, 1.2).cdf).pvalue > 1e-3


def test_loss_is_network_regression_on_effective_target():
    """lambda ||D - y||² = ||F(c_in x, c_noise) - (y - c_skip x) / c_out||², recomputed by hand."""
    key = jax.random.PRNGKey(1)
    model = EDMPrecond(MLPDenoiser((8,), 32, 2, key=key), 0.5)
    y = jax.random.normal(jax.random.PRNGKey(2), (8,)) * 0.5
    for D in (4.0, math.inf):
        loss = pfgmpp_loss(model, y, D, key=key)
        ks, kn = jax.random.split(key)
        sigma = sample_sigma(key=ks)
        x = y + sample_perturbation(y.shape, sigma, D, key=kn)
        c_skip, c_out, c_in, c_noise = edm_scalings(sigma)
        target = (y - c_skip * x) / c_out
        manual = jnp.sum((model.net(c_in * x, c_noise) - target) ** 2)
        assert float(loss) == pytest.approx(float(manual), rel=1e-4)


def test_loss_is_jittable_and_differentiable():
    import equinox as eqx

    model = EDMPrecond(MLPDenoiser((1, 4, 4), 32, 1, key=jax.random.PRNGKey(0)))
    y = jnp.zeros((1, 4, 4))
    loss = lambda m: pfgmpp_loss(m, y, 2.0, key=jax.random.PRNGKey(3), clip=1e-3)
    f = eqx.filter_jit(eqx.filter_value_and_grad(loss))
    val, grads = f(model)
    assert np.isfinite(float(val)) and float(val) > 0
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree_util.tree_leaves(eqx.filter(grads, eqx.is_array)))
