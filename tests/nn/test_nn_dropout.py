"""sciml.nn.dropout: exactly jax.random.bernoulli's and eqx.nn.Dropout's masks, and opt-in hash masks of their law."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.nn.dropout import bernoulli, dropout, dropout_masks, hash_bits, random_bits


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


def test_hash_masks_keep_the_rate_and_are_uncorrelated_along_the_array_and_across_keys():
    """The opt-in hash masks: each bit balanced, no correlation between elements at power-of-two strides (where
    a weak index hash shows structure) nor between the masks of split or folded-in keys (4 standard deviations)."""
    n = 1 << 20
    keys = list(jax.random.split(jax.random.key(0), 2)) + [jax.random.fold_in(jax.random.key(1), i) for i in (0, 1)]
    u = [np.asarray(hash_bits(k, (n,))).astype(np.float64) / 2**32 for k in keys]
    bound = 4 / np.sqrt(n)
    bits = np.unpackbits(np.asarray(hash_bits(keys[0], (n,))).view(np.uint8)).reshape(-1, 32).mean(0)
    assert np.all(np.abs(bits - 0.5) < 0.5 * bound)
    for lag in (1, 2, 64, 1024, 65536):
        assert abs(np.corrcoef(u[0][:-lag], u[0][lag:])[0, 1]) < bound, lag
    assert abs(np.corrcoef(u[0], u[1])[0, 1]) < bound and abs(np.corrcoef(u[2], u[3])[0, 1]) < bound
    with dropout_masks("hash"):
        kept = jax.jit(jax.vmap(lambda k: bernoulli(k, 0.9, (256, 512))))(jax.random.split(jax.random.key(2), 4))
    assert np.all(np.abs(np.asarray(kept.mean(axis=(1, 2))) - 0.9) < 4 * np.sqrt(0.09 / (256 * 512)))


def test_hash_masks_apply_only_inside_the_block_and_to_any_key():
    layer, x = eqx.nn.Dropout(0.5), jnp.ones((64, 64))
    key, rbg = jax.random.key(3), jax.random.key(3, impl="rbg")
    with dropout_masks("hash"):
        hashed = dropout(layer, x, key=key, inference=False)
        assert not np.array_equal(hashed, layer(x, key=key))
        np.testing.assert_array_equal(dropout(layer, x, key=rbg, inference=False) == 0,
                                      bernoulli(rbg, 0.5, x.shape) == 0)  # rbg keys: hashed too, not jax's
        assert not np.array_equal(bernoulli(rbg, 0.5, x.shape), jax.random.bernoulli(rbg, 0.5, x.shape))
    np.testing.assert_array_equal(dropout(layer, x, key=key, inference=False), layer(x, key=key))
    with pytest.raises(ValueError, match="dropout masks"):
        with dropout_masks("philox"):
            pass
