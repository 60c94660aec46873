"""Edge attention, masks, equivariance and locality of MeshGraphNet and the mesh transformer."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from beartype import beartype
from jaxtyping import jaxtyped
from scipy.spatial import Delaunay

from sciml.data.cylinder_flow import INFLOW, NORMAL, OUTFLOW, WALL_BOUNDARY
from sciml.data.mesh_graph import cells_to_edges, check_mesh, k_hop_edges, pad_edges, ring_edges
from sciml.meshformer import (
    EdgeAttention,
    MeshGraphNet,
    MeshInputs,
    MeshSimulator,
    MeshTransformer,
    Normaliser,
    TransformerBlock,
    rollout,
)
from sciml.meshformer.attention import rotary
from sciml.meshformer.simulator import EDGE_FEATURES, NODE_FEATURES, edge_features, node_features
from sciml.nn import Graph


def _mesh(n=40, seed=0):
    rng = np.random.default_rng(seed)
    pos = rng.uniform([0, 0], [1.6, 0.41], (n, 2)).astype(np.float32)
    cells = Delaunay(pos).simplices.astype(np.int32)
    return pos, cells


def _dense_adjacency(s, r, n):
    a = np.zeros((n, n), bool)
    a[r, s] = True
    return a


def test_edges_k_hop_and_rings_match_dense_matrix_powers():
    pos, cells = _mesh(30)
    n = len(pos)
    s, r = cells_to_edges(cells, n)
    a = _dense_adjacency(s, r, n).astype(np.int64)
    assert (a == a.T).all() and not a.diagonal().any()  # both directions, no self-loops
    reach = [np.eye(n, dtype=bool)]
    power = np.eye(n, dtype=np.int64)
    for _ in range(4):
        power = power @ a
        reach.append(reach[-1] | (power > 0))
    for k in (1, 2, 3, 4):
        want = reach[k] & ~np.eye(n, dtype=bool)
        np.testing.assert_array_equal(_dense_adjacency(*k_hop_edges(s, r, n, k), n), want)
        ring = reach[k] & ~reach[k - 1]
        np.testing.assert_array_equal(_dense_adjacency(*ring_edges(s, r, n, k), n), ring)
    ps, pr, pm = pad_edges(s, r, len(s) + 5)
    assert pm.sum() == len(s) and (ps[~pm] == 0).all()
    with pytest.raises(ValueError, match="fit"):
        pad_edges(s, r, len(s) - 1)


def test_bad_meshes_raise():
    pos, cells = _mesh(10)
    bad = cells.copy()
    bad[0, 0] = 10
    with pytest.raises(ValueError, match="dangling"):
        cells_to_edges(bad, 10)
    with pytest.raises(ValueError, match=r"\[C, 3\]"):
        check_mesh(cells[:, :2], 10)
    with pytest.raises(ValueError, match="degenerate"):
        check_mesh(np.array([[0, 0, 1]]), 10)


def test_edge_attention_equals_dense_masked_attention(key):
    n, d, heads = 12, 16, 4
    rng = np.random.default_rng(0)
    adj = rng.random((n, n)) < 0.3
    np.fill_diagonal(adj, False)
    adj[3] = False  # node 3 receives nothing: output 0
    r, s = np.nonzero(adj)
    s, r, m = pad_edges(s, r, len(s) + 7)  # padded edges must not count
    att = EdgeAttention(d, heads, key=key)
    x = jax.random.normal(jax.random.PRNGKey(1), (n, d))
    pos = jax.random.uniform(jax.random.PRNGKey(2), (n, 2)) * 50
    @eqx.filter_jit
    def both(att, x, p):
        got = att(x, jnp.asarray(s), jnp.asarray(r), jnp.asarray(m), p)
        q, k, v = att.project(x, p)  # [n, h, dh]
        logits = jnp.einsum("ihd,jhd->hij", q, k) / np.sqrt(d // heads)
        logits = jnp.where(adj[None], logits, -jnp.inf)
        w = jnp.where(adj[None], jax.nn.softmax(logits, axis=-1), 0.0)
        dense = jnp.einsum("hij,jhd->ihd", jnp.nan_to_num(w), v).reshape(n, d)
        return got, jax.vmap(att.out)(dense)

    for p in (None, pos):
        got, want = both(att, x, p)
        want = want.at[3].set(att.out(jnp.zeros(d)))  # no incoming edge: attention output 0
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_rotary_scores_depend_on_relative_positions_only(key):
    q = jax.random.normal(key, (5, 2, 12))
    k = jax.random.normal(jax.random.PRNGKey(3), (5, 2, 12))
    pos = jax.random.uniform(jax.random.PRNGKey(4), (5, 2)) * 30
    score = jax.jit(lambda p: jnp.einsum("ihd,jhd->hij", rotary(q, p), rotary(k, p)))
    np.testing.assert_allclose(score(pos), score(pos + jnp.array([7.0, -3.0])), atol=2e-4)
    assert not np.allclose(score(pos), score(pos * 1.5), atol=1e-2)


def test_changing_a_non_neighbour_leaves_a_node_unchanged_after_one_block(key):
    pos, cells = _mesh(40)
    n = len(pos)
    s, r = cells_to_edges(cells, n)
    block = TransformerBlock(16, 4, key=key)
    h = jax.random.normal(jax.random.PRNGKey(5), (n, 16))
    args = (jnp.asarray(s), jnp.asarray(r), jnp.ones(len(s), bool), jnp.asarray(pos))
    block_call = eqx.filter_jit(lambda b, x: b(x, *args))
    out = block_call(block, h)
    i = 7
    nbrs = set(s[r == i].tolist())
    far = next(j for j in range(n) if j != i and j not in nbrs)
    near = next(iter(nbrs))
    for j, should_change in ((far, False), (near, True)):
        moved = block_call(block, h.at[j].add(3.0))
        changed = not np.allclose(moved[i], out[i], atol=1e-6)
        assert changed == should_change, (j, should_change)


def _simulator(kind, key, tokens=0):
    stats = lambda d: Normaliser(np.zeros(d), np.ones(d))  # noqa: E731
    if kind == "mgn":
        net = MeshGraphNet(NODE_FEATURES, EDGE_FEATURES, 2, width=16, layers=2, key=key)
        return MeshSimulator(net, stats(NODE_FEATURES), stats(2), stats(EDGE_FEATURES))
    net = MeshTransformer(NODE_FEATURES, 2, width=16, heads=2, layers=3, layer_adjacency=(0, 1, 2),
                          global_tokens=tokens, rope_scale=20.0, key=key)
    return MeshSimulator(net, stats(NODE_FEATURES), stats(2), None)


def _inputs(pos, cells, n_pad=0):
    """Mesh inputs with edge lists (mesh, 2-ring, 2-hop power), optionally padded with fake nodes."""
    n = len(pos)
    s, r = cells_to_edges(cells, n)
    lists = [(s, r), ring_edges(s, r, n, 2), k_hop_edges(s, r, n, 2)]
    types = np.full(n + n_pad, NORMAL, np.int32)
    types[:3], types[3:5], types[5:9] = INFLOW, OUTFLOW, WALL_BOUNDARY
    posp = np.concatenate([pos, np.full((n_pad, 2), 9.0, np.float32)])
    adjacency = tuple(tuple(jnp.asarray(a) for a in pad_edges(a, b, len(a) + 11)) for a, b in lists)
    return MeshInputs(jnp.asarray(types), jnp.asarray(posp), jnp.arange(n + n_pad) < n, adjacency)


@pytest.mark.parametrize("kind, tokens", [("mgn", 0), ("transformer", 3)])
def test_models_are_permutation_equivariant_and_ignore_padding(kind, tokens, key):
    pos, cells = _mesh(35)
    n = len(pos)
    sim = _simulator(kind, key, tokens)
    vel = jax.random.normal(jax.random.PRNGKey(6), (n, 2))
    call = eqx.filter_jit(lambda model, v, mesh: model(v, mesh))
    out = call(sim, vel, _inputs(pos, cells))
    perm = np.random.default_rng(1).permutation(n)
    inv = np.argsort(perm)
    mesh_p = _inputs(pos[perm], inv[cells])
    # The node-type pattern follows the permutation too.
    mesh_p = MeshInputs(_inputs(pos, cells).node_type[perm], mesh_p.mesh_pos, mesh_p.node_mask, mesh_p.adjacency)
    out_p = call(sim, vel[perm], mesh_p)
    np.testing.assert_allclose(out_p, out[perm], atol=2e-5)
    # Padding nodes (masked) change nothing on the real ones.
    padded = call(sim, jnp.concatenate([vel, jnp.ones((4, 2))]), _inputs(pos, cells, n_pad=4))
    np.testing.assert_allclose(padded[:n], out, atol=2e-5)


def test_wrong_feature_widths_raise(key):
    pos, cells = _mesh(20)
    mesh = _inputs(pos, cells)
    sim = _simulator("mgn", key)
    # Our ValueError, or the jaxtyping run-time check of the tests naming the same parameter and shape.
    with pytest.raises((ValueError, TypeError), match=r"velocity must have 2 components|velocity.*n 2"):
        sim(jnp.zeros((20, 3)), mesh)
    with pytest.raises(ValueError, match="node features"):
        sim.net(jnp.zeros((20, 5)), jnp.zeros((4, 3)), jnp.zeros(4, int), jnp.zeros(4, int),
                jnp.ones(20, bool), jnp.ones(4, bool))
    with pytest.raises(ValueError, match="edge lists"):
        net = _simulator("transformer", key).net
        net(jnp.zeros((20, NODE_FEATURES)), mesh.adjacency[:1], mesh.node_mask, mesh.mesh_pos)
    with pytest.raises((ValueError, TypeError), match=r"mesh_pos must be \[20, 2\] to match node_type|mesh_pos"):
        MeshInputs(mesh.node_type, mesh.mesh_pos[:5], mesh.node_mask, mesh.adjacency)
    with pytest.raises(ValueError, match="features"):
        Normaliser(np.zeros(3), np.ones(3))(jnp.zeros((2, 4)))


def test_split_edge_mlp_equals_the_concatenated_form(key):
    net = MeshGraphNet(NODE_FEATURES, EDGE_FEATURES, 2, width=8, layers=1, mlp_depth=2, norm="rms", key=key)
    block = net.blocks[0]
    pos, cells = _mesh(15)
    s, r = cells_to_edges(cells, 15)
    nodes = jax.random.normal(jax.random.PRNGKey(1), (15, 8))
    edges = jax.random.normal(jax.random.PRNGKey(2), (len(s), 8))
    s, r = jnp.asarray(s), jnp.asarray(r)
    concatenated = lambda b: jax.vmap(b.edge_norm)(  # noqa: E731
        jax.vmap(b.edge_mlp)(jnp.concatenate([edges, nodes[s], nodes[r]], -1)))
    split, want = eqx.filter_jit(lambda b: (b.messages(Graph(nodes, edges, s, r)), concatenated(b)))(block)
    np.testing.assert_allclose(split, want, atol=1e-5)


def test_rollout_resets_boundaries_and_features_are_typed(key):
    pos, cells = _mesh(25)
    mesh = _inputs(pos, cells)
    sim = _simulator("transformer", key)
    known = jax.random.normal(jax.random.PRNGKey(2), (4, 25, 2))
    frames = jax.jit(rollout)(sim, mesh, known[0], known)
    boundary = ~np.asarray(mesh.predicted())
    np.testing.assert_array_equal(np.asarray(frames)[:, boundary], np.asarray(known)[:, boundary])
    # jaxtyping annotations hold at run time on the public helpers.
    checked = jaxtyped(typechecker=beartype)
    feats = checked(node_features)(jnp.zeros((25, 2)), mesh.node_type)
    assert feats.shape == (25, NODE_FEATURES) and np.all(feats[:, 2:].sum(1) == 1)
    s, r, _ = mesh.adjacency[0]
    e = checked(edge_features)(mesh.mesh_pos, s, r)
    np.testing.assert_allclose(e[:, 2], np.linalg.norm(np.asarray(e[:, :2]), axis=1), rtol=1e-5)
    with pytest.raises(TypeError):  # jaxtyping's TypeCheckError
        checked(node_features)(jnp.zeros((25, 2)), jnp.zeros(24, int))


def test_normaliser_round_trip_and_statistics():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (1000, 2))
    norm = Normaliser.from_data(x)
    z = np.asarray(norm(jnp.asarray(x, jnp.float32)))
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-4)
    np.testing.assert_allclose(norm.inverse(norm(jnp.asarray(x[:5], jnp.float32))), x[:5], atol=1e-5)
    const = Normaliser.from_data(np.ones((10, 1)))
    assert float(const(jnp.ones((1, 1)))[0, 0]) == 0.0  # std floored, no division by zero


def test_head_products_written_as_matmuls_equal_the_plain_sums_and_their_gradients():
    from sciml.meshformer.attention import head_dots, head_weighted

    kq, kk, ka = jax.random.split(jax.random.PRNGKey(3), 3)
    q, k = jax.random.normal(kq, (50, 4, 16)), jax.random.normal(kk, (50, 4, 16))
    alpha = jax.random.uniform(ka, (50, 4))
    np.testing.assert_allclose(head_dots(q, k), (q * k).sum(-1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(head_weighted(alpha, k), alpha[..., None] * k, rtol=1e-6)
    loss_new = lambda a, q: jnp.sum(jnp.sin(head_weighted(a, q) + head_dots(q, k)[..., None]))  # noqa: E731
    loss_old = lambda a, q: jnp.sum(jnp.sin(a[..., None] * q + (q * k).sum(-1)[..., None]))  # noqa: E731
    for g_new, g_old in zip(jax.grad(loss_new, (0, 1))(alpha, q), jax.grad(loss_old, (0, 1))(alpha, q)):
        np.testing.assert_allclose(g_new, g_old, rtol=1e-4, atol=1e-5)
