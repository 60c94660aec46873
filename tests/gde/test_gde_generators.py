"""Conditional generators: schedules, losses, samplers; the GDE model's loss reaches both networks."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.gde import DDPM, GDE, DirectGenerator, FlowMatching, interpolate_latents, linear_betas, make_encoder
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
