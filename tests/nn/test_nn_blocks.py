import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.nn import MLP, AttentionPool, FourierFeatures, MultiHeadAttention, mean_pool, sinusoidal_embedding


def test_mlp_shapes_activation_and_errors(key):
    mlp = MLP(3, 2, 8, 2, act="tanh", key=key)
    assert mlp(jnp.ones(3)).shape == (2,)
    # Depth 0 is a single affine map: check linearity.
    lin = MLP(3, 2, 8, 0, key=key)
    a, b = jnp.arange(3.0), jnp.ones(3)
    np.testing.assert_allclose(lin(a + b) - lin(b), lin(a) - lin(jnp.zeros(3)), atol=1e-5)
    with pytest.raises(ValueError, match="unknown activation 'nope'"):
        MLP(3, 2, 8, 2, act="nope", key=key)


def test_mlp_residual_differs_and_is_skip(key):
    """Against a NumPy forward pass: plain h <- f(L h); residual h <- h + f(L h) between the hidden layers
    (MFM's SkipMLP), with the same weights; the first and last layers are never skipped."""
    plain = MLP(4, 3, 8, 3, key=key)
    res = MLP(4, 3, 8, 3, residual=True, key=key)
    x = jnp.linspace(-1, 1, 4)
    silu = lambda v: v / (1 + np.exp(-v))
    lin = lambda layer, v: np.asarray(layer.weight, np.float64) @ v + np.asarray(layer.bias, np.float64)

    def reference(mlp, skip):
        h = silu(lin(mlp.layers[0], np.asarray(x, np.float64)))
        for layer in mlp.layers[1:-1]:
            h = h + silu(lin(layer, h)) if skip else silu(lin(layer, h))
        return lin(mlp.layers[-1], h)

    np.testing.assert_allclose(plain(x), reference(plain, False), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res(x), reference(res, True), rtol=1e-5, atol=1e-6)
    assert not jnp.allclose(plain(x), res(x))


def test_sinusoidal_embedding_closed_form():
    e = sinusoidal_embedding(2.0, 8)
    freqs = np.exp(-np.log(10_000.0) * np.arange(4) / 4)
    np.testing.assert_allclose(e, np.concatenate([np.cos(2 * freqs), np.sin(2 * freqs)]), rtol=1e-6)
    with pytest.raises(ValueError, match="even"):
        sinusoidal_embedding(1.0, 7)


def test_fourier_features_are_frozen(key):
    ff = FourierFeatures(2, 5, 1.0, key=key)
    g = jax.grad(lambda m: m(jnp.ones(2)).sum())(ff)
    assert jnp.all(g.B == 0)
    np.testing.assert_allclose(ff(jnp.zeros(2)), np.r_[np.ones(5), np.zeros(5)])


def _reference_attention(att, q, kv, mask):
    # Independent NumPy implementation of masked multi-head attention.
    h = att.num_heads
    lin = lambda layer, x: np.asarray(x) @ np.asarray(layer.weight).T + np.asarray(layer.bias)
    Q, K, V = lin(att.q, q), lin(att.k, kv), lin(att.v, kv)
    d = Q.shape[1] // h
    out = np.zeros_like(Q)
    for i in range(h):
        s = slice(i * d, (i + 1) * d)
        logits = Q[:, s] @ K[:, s].T / np.sqrt(d)
        logits = np.where(mask, logits, -np.inf)
        w = np.exp(logits - logits.max(1, keepdims=True))
        w = w / w.sum(1, keepdims=True)
        out[:, s] = w @ V[:, s]
    return lin(att.o, out)


def test_attention_matches_reference_and_mask(key):
    k1, k2 = jax.random.split(key)
    att = MultiHeadAttention(8, 2, key=k1)
    x = jax.random.normal(k2, (5, 8))
    mask = jnp.tril(jnp.ones((5, 5), bool))
    np.testing.assert_allclose(att(x, mask=mask), _reference_attention(att, x, x, np.asarray(mask)), atol=1e-5)
    # Keys that are masked out do not influence the output.
    x2 = x.at[4].set(100.0)
    np.testing.assert_allclose(att(x, mask=mask)[:4], att(x2, mask=mask)[:4], atol=1e-5)
    # A fully masked row gives zeros, not NaN.
    m = mask.at[0].set(False)
    assert jnp.all(jnp.isfinite(att(x, mask=m)))


def test_attention_weights_dropout_acts_on_the_weights(key):
    """`weights_dropout` scales the attention weights before they weight the values (as torch's
    MultiheadAttention(dropout=p)), not the logits or the output: the output minus the projection's bias
    is linear in the weights, and zeroed weights leave only the bias."""
    k1, k2 = jax.random.split(key)
    att = MultiHeadAttention(8, 2, key=k1)
    x = jax.random.normal(k2, (5, 8))
    mask = jnp.tril(jnp.ones((5, 5), bool))
    plain = att(x, mask=mask) - att.o.bias
    np.testing.assert_allclose(att(x, mask=mask, weights_dropout=lambda w: 2.0 * w) - att.o.bias, 2 * plain, atol=1e-5)
    np.testing.assert_allclose(att(x, mask=mask, weights_dropout=jnp.zeros_like), jnp.broadcast_to(att.o.bias, (5, 8)),
                               atol=1e-6)


def test_attention_permutation_equivariance(key):
    att = MultiHeadAttention(8, 4, key=key)
    x = jax.random.normal(key, (6, 8))
    perm = jnp.array([3, 1, 5, 0, 2, 4])
    np.testing.assert_allclose(att(x)[perm], att(x[perm]), atol=1e-5)


def test_set_pooling_invariances(key):
    x = jax.random.normal(key, (7, 4))
    perm = jax.random.permutation(key, 7)
    np.testing.assert_allclose(mean_pool(x), mean_pool(x[perm]), atol=1e-6)
    np.testing.assert_allclose(mean_pool(x), mean_pool(jnp.concatenate([x, x])), atol=1e-6)
    mask = jnp.arange(7) < 4
    np.testing.assert_allclose(mean_pool(x, mask), x[:4].mean(0), atol=1e-6)
    pool = AttentionPool(4, 2, num_queries=3, key=key)
    out = pool(x)
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out, pool(x[perm]), atol=1e-5)
    np.testing.assert_allclose(pool(x, mask), pool(x[:4]), atol=1e-5)
