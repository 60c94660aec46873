"""Denoiser networks: shapes, zero-initialised U-Net output, size of the benchmark configuration."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.pfgmpp import EDMPrecond, MLPDenoiser, UNet, edm_scalings, host_init


def build(*args):
    # Host-drawn parameters: eager init compiles one small XLA program per parameter shape (slow on CPU).
    return host_init(lambda k: UNet(*args, key=k), key=jax.random.PRNGKey(0))


@eqx.filter_jit
def call(model, x, sigma):
    return model(x, sigma)


def count(model):
    return sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(model) if hasattr(x, "shape"))


@pytest.mark.parametrize("res,mult", [(8, (1, 2)), (16, (1, 2, 2))])
def test_unet_shapes_and_zero_init(res, mult):
    net = build(1, res, 16, mult, 1)
    x = jax.random.normal(jax.random.PRNGKey(1), (1, res, res))
    model = EDMPrecond(net)
    np.testing.assert_allclose(call(model, x, 2.0), edm_scalings(2.0)[0] * x, rtol=1e-6)
    # Batched through vmap, each example is processed independently of the others.
    net = eqx.tree_at(lambda n: n.conv_out.weight, net, replace_fn=lambda w: w + 0.01)
    xs = jnp.stack([x, 2 * x])
    out = eqx.filter_jit(lambda m, x: jax.vmap(m, in_axes=(0, None))(x, 0.1))(net, xs)
    assert out.shape == (2, 1, res, res)
    np.testing.assert_allclose(out[1], call(net, 2 * x, 0.1), atol=1e-4)
    assert float(jnp.abs(out[1] - out[0]).max()) > 1e-4


def test_unet_attention_resolution_and_errors():
    net = eqx.filter_eval_shape(lambda: UNet(1, 16, 32, (1, 2, 2), 2, (8,), key=jax.random.PRNGKey(0)))
    assert any(b.attn is not None for b in net.enc if hasattr(b, "attn"))
    # The original's decoder has attention in the last block of each listed resolution only.
    assert sum(b.attn is not None for b in net.dec if hasattr(b, "attn")) == 1
    # Exact parity with the original's SongUNet: tests/pfgmpp/test_pfgmpp_unet.py.
    assert count(net) == 1_775_905 + net.map_noise.B.size
    with pytest.raises(ValueError, match="divisible"):
        UNet(1, 6, 16, (1, 2, 2), 1, key=jax.random.PRNGKey(0))


def test_mlp_denoiser():
    net = host_init(lambda k: MLPDenoiser((1, 4, 4), 32, 2, key=k), key=jax.random.PRNGKey(0))
    assert net(jnp.ones((1, 4, 4)), 0.2).shape == (1, 4, 4)
    a, b = net(jnp.ones((1, 4, 4)), -1.0), net(jnp.ones((1, 4, 4)), 1.0)
    assert float(jnp.abs(a - b).max()) > 1e-4  # conditioned on the noise level
