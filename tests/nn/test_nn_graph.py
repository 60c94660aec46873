import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial import cKDTree

from sciml.nn import (
    Graph,
    InteractionNetwork,
    knn_graph,
    radius_graph,
    segment_max,
    segment_mean,
    segment_softmax,
    segment_sum,
)


def test_segment_ops_against_numpy():
    rng = np.random.default_rng(0)
    data = rng.standard_normal((20, 3)).astype(np.float32)
    ids = rng.integers(0, 5, 20)
    ids[ids == 4] = 3  # segment 4 empty
    mask = rng.random(20) < 0.7
    for j in range(5):
        sel = (ids == j) & mask
        want_sum = data[sel].sum(0)
        want_max = data[sel].max(0) if sel.any() else np.zeros(3)
        want_mean = data[sel].mean(0) if sel.any() else np.zeros(3)
        np.testing.assert_allclose(segment_sum(data, ids, 5, mask)[j], want_sum, atol=1e-5)
        np.testing.assert_allclose(segment_max(data, ids, 5, mask)[j], want_max, atol=1e-6)
        np.testing.assert_allclose(segment_mean(data, ids, 5, mask)[j], want_mean, atol=1e-5)
    w = segment_softmax(data[:, 0], ids, 5, mask)
    for j in range(4):
        sel = (ids == j) & mask
        if sel.any():
            e = np.exp(data[sel, 0] - data[sel, 0].max())
            np.testing.assert_allclose(w[sel], e / e.sum(), atol=1e-6)
    assert np.all(np.asarray(w)[~mask] == 0)


def test_knn_graph_matches_kdtree():
    x = np.random.default_rng(1).standard_normal((30, 2)).astype(np.float32)
    s, r, m = knn_graph(jnp.asarray(x), 4)
    assert m.all() and s.shape == (120,)
    _, nbr = cKDTree(x).query(x, k=5)  # includes self first
    for i in range(30):
        assert set(np.asarray(s)[np.asarray(r) == i]) == set(nbr[i, 1:])
    with pytest.raises(ValueError, match="k <= 29"):
        knn_graph(jnp.asarray(x), 30)


def test_knn_graph_respects_mask():
    x = jnp.asarray(np.random.default_rng(2).standard_normal((10, 2)))
    mask = jnp.arange(10) < 6
    s, r, m = knn_graph(x, 3, mask)
    s, r, m = map(np.asarray, (s, r, m))
    assert not m[r >= 6].any()
    assert (s[m] < 6).all()


def test_radius_graph_matches_kdtree():
    x = np.random.default_rng(3).random((40, 2)).astype(np.float32)
    s, r, m, count = radius_graph(jnp.asarray(x), 0.2, 400)
    pairs = cKDTree(x).query_pairs(0.2)
    want = {(i, j) for i, j in pairs} | {(j, i) for i, j in pairs}
    got = {(int(a), int(b)) for a, b, k in zip(s, r, m) if k}
    assert got == want and int(count) == len(want)
    _, _, m_small, count_small = radius_graph(jnp.asarray(x), 0.2, 5)
    assert int(count_small) > 5 and m_small.all()  # truncation is visible through count


def test_interaction_network_permutation_equivariance(key):
    n = 12
    x = jax.random.normal(key, (n, 2))
    s, r, m = knn_graph(x, 3)
    edges = x[s] - x[r]
    g = Graph(jnp.concatenate([x, jnp.ones((n, 1))], -1), edges, s, r, edge_mask=m)
    net = InteractionNetwork(3, 2, 16, key=key)
    out = net(g)
    perm = jax.random.permutation(jax.random.PRNGKey(5), n)
    inv = jnp.argsort(perm)
    gp = Graph(g.nodes[perm], edges, inv[s], inv[r], edge_mask=m)
    outp = net(gp)
    np.testing.assert_allclose(outp.nodes, out.nodes[perm], atol=1e-5)
    np.testing.assert_allclose(outp.edges, out.edges, atol=1e-5)


def test_interaction_network_split_messages_equal_the_concatenated_mlp(key):
    x = jax.random.normal(key, (7, 3))
    s, r, m = knn_graph(x, 2)
    e = jax.random.normal(jax.random.PRNGKey(2), (s.shape[0], 2))
    for depth, norm in [(0, "none"), (2, "layer"), (3, "rms")]:
        net = InteractionNetwork(3, 2, 8, depth, norm=norm, key=key)
        want = jax.vmap(net.edge_mlp)(jnp.concatenate([e, x[s], x[r]], -1))
        if net.edge_norm is not None:
            want = jax.vmap(net.edge_norm)(want)
        np.testing.assert_allclose(net.messages(Graph(x, e, s, r, edge_mask=m)), want, atol=1e-5)
    with pytest.raises(ValueError, match="norm must be one of"):
        InteractionNetwork(3, 2, 8, norm="batch", key=key)


def test_interaction_network_ignores_padding(key):
    x = jax.random.normal(key, (6, 3))
    s = jnp.array([0, 1, 2, 0])
    r = jnp.array([1, 2, 0, 5])
    e = jnp.ones((4, 2))
    net = InteractionNetwork(3, 2, 8, key=key)
    out_masked = net(Graph(x, e, s, r, edge_mask=jnp.array([True, True, True, False])))
    out_small = net(Graph(x, e[:3], s[:3], r[:3]))
    np.testing.assert_allclose(out_masked.nodes, out_small.nodes, atol=1e-6)


def test_graph_shape_errors():
    with pytest.raises(ValueError, match="senders"):
        Graph(jnp.ones((3, 2)), jnp.ones((2, 1)), jnp.array([0, 1]), jnp.array([0, 1, 2]))
