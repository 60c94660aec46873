"""The population embedding (GCN on a kNN graph) and the population-conditioned flow."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.mfm import GCNLayer, PopulationEmbedding, PopulationFlow, gcn_normalisation
from sciml.nn import knn_graph


def _dense_gcn(h, w, b, senders, receivers, n):
    """NumPy reference: D^-1/2 (A + I) D^-1/2 H W + b with A[r, s] = #edges s -> r, D = rowsum(A + I)."""
    a = np.zeros((n, n))
    np.add.at(a, (receivers, senders), 1.0)
    a_hat = a + np.eye(n)
    d = a_hat.sum(1)
    norm = a_hat / np.sqrt(d)[:, None] / np.sqrt(d)[None, :]
    return norm @ (h @ w) + b, norm


def test_gcn_layer_matches_dense_reference_on_an_irregular_graph(key):
    rng = np.random.default_rng(0)
    n, e = 9, 23
    senders, receivers = rng.integers(0, n, e), rng.integers(0, n, e)
    keep = senders != receivers
    senders, receivers = senders[keep], receivers[keep]
    # Padding edges (masked) must not count: append a few pointing anywhere.
    pad = 4
    all_s = np.concatenate([senders, rng.integers(0, n, pad)])
    all_r = np.concatenate([receivers, rng.integers(0, n, pad)])
    mask = np.arange(all_s.size) < senders.size
    h = rng.standard_normal((n, 3)).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32)  # GCNLayer starts with a zero bias: give it one
    layer = eqx.tree_at(lambda m: m.bias, GCNLayer(3, 5, key=key), jnp.asarray(bias))
    ew, sw = gcn_normalisation(jnp.asarray(all_s), jnp.asarray(all_r), n, jnp.asarray(mask))
    ours = layer(jnp.asarray(h), jnp.asarray(all_s), jnp.asarray(all_r), ew, sw)
    ref, norm = _dense_gcn(h, np.asarray(layer.weight), bias, senders, receivers, n)
    np.testing.assert_allclose(np.asarray(ours), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(sw), np.diag(norm), rtol=1e-6)
    assert np.all(np.asarray(ew)[~mask] == 0)


def test_knn_graph_normalisation_is_uniform_mean_over_neighbourhood():
    x = jax.random.normal(jax.random.PRNGKey(1), (30, 2))
    s, r, m = knn_graph(x, 4)
    ew, sw = gcn_normalisation(s, r, 30, m)
    np.testing.assert_allclose(np.asarray(ew), 1 / 5, rtol=1e-6)  # every node has in-degree k + 1 = 5
    np.testing.assert_allclose(np.asarray(sw), 1 / 5, rtol=1e-6)


@pytest.mark.parametrize("k", [0, 6])
def test_embedding_is_permutation_invariant_and_unit_norm(key, k):
    emb = PopulationEmbedding(2, width=16, num_layers=3, k=k, key=key)
    x = jax.random.normal(jax.random.PRNGKey(2), (64, 2))
    perm = jax.random.permutation(jax.random.PRNGKey(3), 64)
    z = emb(x)
    np.testing.assert_allclose(np.asarray(emb(x[perm])), np.asarray(z), atol=1e-5)
    assert z.shape == (16,) and float(jnp.linalg.norm(z)) == pytest.approx(1.0, abs=1e-5)
    # Node features are permutation-equivariant.
    np.testing.assert_allclose(np.asarray(emb.node_features(x[perm])), np.asarray(emb.node_features(x)[perm]),
                               atol=1e-5)


def test_k0_embedding_is_deepsets(key):
    emb = PopulationEmbedding(3, width=8, num_layers=3, k=0, key=key)
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(4), (20, 3)))
    h = x
    for i, layer in enumerate(emb.layers):  # a per-point MLP (ReLU between layers), then the mean
        h = h @ np.asarray(layer.weight) + np.asarray(layer.bias)
        if i < 2:
            h = np.maximum(h, 0)
    pooled = h.mean(0)
    np.testing.assert_allclose(np.asarray(emb(jnp.asarray(x))), pooled / np.linalg.norm(pooled), rtol=1e-4, atol=1e-6)
    # With k > 0 the neighbours matter: the embedding changes.
    with_graph = PopulationEmbedding(3, width=8, num_layers=3, k=5, key=key)
    assert not np.allclose(np.asarray(with_graph(jnp.asarray(x))), pooled / np.linalg.norm(pooled), atol=1e-3)


def test_flow_is_permutation_equivariant(key):
    emb = PopulationEmbedding(2, width=8, num_layers=2, k=4, key=key)
    model = PopulationFlow(2, embedding=emb, num_treatments=2, width=16, depth=2, time_dim=8, key=key)
    source = jax.random.normal(jax.random.PRNGKey(5), (40, 2))
    perm = jax.random.permutation(jax.random.PRNGKey(6), 40)
    c = model.condition(source, None, 1)
    assert c.shape == (8 + 2,)
    np.testing.assert_allclose(np.asarray(model.condition(source[perm], None, 1)), np.asarray(c), atol=1e-5)
    assert not np.allclose(np.asarray(model.condition(source, None, 0)), np.asarray(c))

    @eqx.filter_jit
    def push(model, src):  # adaptive Tsit5 and a fine fixed Heun grid, compiled once for both inputs
        return model.predict(src, c), model.predict(src, c, steps=64)

    adaptive, grid = push(model, source)
    adaptive_p, grid_p = push(model, source[perm])
    np.testing.assert_allclose(np.asarray(adaptive_p), np.asarray(adaptive[perm]), atol=1e-4)
    np.testing.assert_allclose(np.asarray(grid_p), np.asarray(grid[perm]), atol=1e-4)
    np.testing.assert_allclose(np.asarray(adaptive), np.asarray(grid), atol=2e-3)  # the two solvers agree
    assert float(jnp.abs(adaptive - source).max()) > 1e-2  # the flow moved the points


def test_bad_populations_give_clear_errors(key):
    emb = PopulationEmbedding(2, width=8, num_layers=1, k=5, key=key)
    with pytest.raises(ValueError, match="empty"):
        emb(jnp.zeros((0, 2)))
    with pytest.raises(ValueError, match="k = 5 nearest neighbours need a population of more than 5 points, got 5"):
        emb(jnp.zeros((5, 2)))
    with pytest.raises(ValueError, match="dimension 3, but the embedding expects 2"):
        emb(jnp.zeros((10, 3)))
    with pytest.raises(ValueError, match="k must be >= 0"):
        PopulationEmbedding(2, k=-1, key=key)
    cgfm = PopulationFlow(2, num_populations=4, width=8, depth=1, time_dim=8, key=key)
    with pytest.raises(ValueError, match=r"one-hot of shape \(4,\)"):
        cgfm.condition(jnp.zeros((10, 2)))
    with pytest.raises(ValueError, match="not both"):
        PopulationFlow(2, embedding=emb, num_populations=4, key=key)
    treated = PopulationFlow(2, num_treatments=3, width=8, depth=1, time_dim=8, key=key)
    with pytest.raises(ValueError, match="pass a treatment index"):
        treated.condition(jnp.zeros((10, 2)))
