"""Distributional invariance of the GDE encoders, sensitivity to a real change, chunking, bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.data.gaussian_sets import sample_gaussians
from sciml.gde import DDPM, ENCODERS, GDE, MeanPooledBlock, encode_sets, make_encoder, validate_sets


def _set(seed=0, n=64, d=3):
    return jnp.asarray(np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32))


@pytest.mark.parametrize("name", ENCODERS)
def test_encoder_invariant_to_permutation_and_duplication(name, key):
    enc = eqx.filter_jit(make_encoder(name, 3, 8, 32, heads=4, key=key))
    x = _set()
    z = enc(x)
    perm = x[np.random.default_rng(1).permutation(len(x))]
    dup = jnp.concatenate([x, perm])  # every point twice, shuffled
    trip = jnp.tile(x, (3, 1))
    assert z.shape == (8,)
    for other in (perm, dup, trip):
        np.testing.assert_allclose(enc(other), z, atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ["deepsets", "resnet", "attention", "kme"])
def test_encoder_sees_a_change_of_covariance(name, key):
    # Same mean, covariance scaled 4x: a distribution encoder must move; noise between two samples of
    # one distribution must move it much less.
    enc = eqx.filter_jit(make_encoder(name, 2, 8, 32, key=key))
    rng = np.random.default_rng(0)
    mu, cov = np.zeros((1, 2)), np.eye(2)[None]
    a = jnp.asarray(sample_gaussians(rng, mu, cov, 2000)[0], jnp.float32)
    a2 = jnp.asarray(sample_gaussians(rng, mu, cov, 2000)[0], jnp.float32)
    b = jnp.asarray(sample_gaussians(rng, mu, 4 * cov, 2000)[0], jnp.float32)
    same, diff = jnp.linalg.norm(enc(a) - enc(a2)), jnp.linalg.norm(enc(a) - enc(b))
    assert diff > 5 * same and diff > 1e-3


def test_mean_encoder_is_blind_to_covariance(key):
    enc = make_encoder("mean", 2, 8, key=key)
    x = _set(d=2)
    c = x.mean(0)
    np.testing.assert_allclose(enc(c + 3 * (x - c)), enc(x), atol=1e-5)


@pytest.mark.parametrize("name", ["mean", "kme", "deepsets"])
def test_chunked_encoding(name, key):
    model = GDE(make_encoder(name, 3, 8, 32, key=key), DDPM(3, 8, 16, 2, 10, key=key), 0.0, 1.0)
    x = _set(n=256)
    full, chunked = model.encode(x), model.encode_chunked(x, 64)
    if name in ("mean", "kme"):  # linear in the empirical measure: chunk averaging is exact
        np.testing.assert_allclose(chunked, full, atol=1e-5)
    else:  # nonlinear encoders: close for large chunks (the paper's CLT argument), not equal
        assert jnp.linalg.norm(chunked - full) < 0.1 * jnp.linalg.norm(full) + 1e-3
    # A remainder chunk of >= 2 points is weighted by its size (exact for the linear mean encoder).
    if name == "mean":
        np.testing.assert_allclose(model.encode_chunked(x[:100], 64), model.encode(x[:100]), atol=1e-5)


def test_bad_sets_raise_clear_errors(key):
    enc = make_encoder("deepsets", 2, 8, 16, key=key)
    model = GDE(enc, DDPM(2, 8, 16, 2, 10, key=key), 0.0, 1.0)
    with pytest.raises(ValueError, match="at least 2 points"):
        enc(jnp.ones((1, 2)))
    with pytest.raises(ValueError, match="at least 2 points"):
        encode_sets(model, np.ones((4, 1, 2)))
    with pytest.raises(ValueError, match="dimension 3, but the encoder expects 2"):
        enc(jnp.ones((5, 3)))
    with pytest.raises(ValueError, match="dimension 3, but the model expects 2"):
        encode_sets(model, np.ones((4, 5, 3)))
    bad = np.ones((4, 5, 2))
    bad[2, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"sets \[2\] contain NaN or inf"):
        encode_sets(model, bad)
    with pytest.raises(ValueError, match="shape"):
        validate_sets(np.ones(5), 2)
    with pytest.raises(ValueError, match="chunk_size"):
        model.encode_chunked(jnp.ones((10, 2)), 1)
    with pytest.raises(ValueError, match="unknown encoder 'gnn'"):
        make_encoder("gnn", 2, 8, key=key)
    with pytest.raises(ValueError, match="even"):
        make_encoder("kme", 2, 7, key=key)


def test_mean_pooled_block_split_first_layer_equals_the_concatenated_form(key):
    # The block multiplies the pooled half of its first layer once per set; a slip in the weight split
    # (swapped or misaligned halves) would still train, just as a different network.
    block = MeanPooledBlock(8, 2, key=key)
    h = jax.random.normal(jax.random.fold_in(key, 1), (13, 8))

    def concatenated(b, h):
        pooled = jnp.broadcast_to(h.mean(0), h.shape)
        return jax.vmap(b.mlp)(jnp.concatenate([h, pooled], -1))

    np.testing.assert_allclose(block(h), concatenated(block, h), rtol=1e-5, atol=1e-6)
    g_split = jax.grad(lambda b: jnp.sum(b(h) ** 2))(block)
    g_concat = jax.grad(lambda b: jnp.sum(concatenated(b, h) ** 2))(block)
    for a, b in zip(jax.tree.leaves(g_split), jax.tree.leaves(g_concat), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
