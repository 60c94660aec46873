"""sciml.nn.dropout draws exactly jax.random.bernoulli's and eqx.nn.Dropout's masks."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.nn.dropout import bernoulli, dropout, random_bits


@pytest.mark.parametrize("shape", [(7,), (5, 33), (3, 4, 17)])
def test_random_bits_match_jax(shape):
    for key in (jax.random.PRNGKey(3), jax.random.key(11)):
        np.testing.assert_array_equal(random_bits(key, shape), jax.random.bits(key, shape))


def test_dropout_matches_eqx_under_vmap_and_grad():
    layer = eqx.nn.Dropout(0.1)
    keys = jax.random.split(jax.random.PRNGKey(0), 6)
    x = jax.random.normal(jax.random.PRNGKey(1), (6, 20, 48))
    ref = jax.vmap(lambda x, k: layer(x, key=k))(x, keys)
    new = jax.jit(jax.vmap(lambda x, k: dropout(layer, x, key=k, inference=False)))(x, keys)
    np.testing.assert_array_equal(new, ref)
    assert 0 < float((ref == 0).mean()) < 0.2
    fast = lambda x, k: dropout(layer, x, key=k, inference=False)
    g_ref = jax.grad(lambda x: jnp.sum(jnp.sin(jax.vmap(lambda x, k: layer(x, key=k))(x, keys))))(x)
    g_new = jax.grad(lambda x: jnp.sum(jnp.sin(jax.vmap(fast)(x, keys))))(x)
    np.testing.assert_array_equal(g_new, g_ref)


def test_dropout_inference_and_other_keys_fall_back():
    layer = eqx.nn.Dropout(0.5)
    x = jnp.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(dropout(layer, x, key=None, inference=True), x)
    rbg = jax.random.key(0, impl="rbg")
    assert random_bits(rbg, x.shape) is None
    np.testing.assert_array_equal(dropout(layer, x, key=rbg, inference=False), layer(x, key=rbg))


@pytest.mark.parametrize("p", [0.13, 0.5, 0.87])
def test_bernoulli_matches_jax_under_vmap_and_jit(p):
    keys = jax.random.split(jax.random.PRNGKey(5), 4)
    ref = jax.vmap(lambda k: jax.random.bernoulli(k, p, (16, 16, 32)))(keys)
    new = jax.jit(jax.vmap(lambda k: bernoulli(k, p, (16, 16, 32))))(keys)
    np.testing.assert_array_equal(new, ref)
    assert abs(float(new.mean()) - p) < 0.02
