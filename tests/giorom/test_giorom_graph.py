"""Farthest-point sampling, radius graphs and the graph neural operator against brute-force references."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.giorom import (
    GNOIn,
    GNOOut,
    LatentGrid,
    cell_radius_graph,
    farthest_point_sampling,
    grid_neighbors,
    particle_graph,
    random_subset,
    subset_size,
)
from sciml.giorom.neighbors import brute_force_edges, edge_set

DOMAIN = ((0.0, 1.0), (0.0, 1.0))


def _numpy_fps(x, k, start):
    idx = [start]
    d = ((x - x[start]) ** 2).sum(-1)
    for _ in range(k - 1):
        i = int(np.argmax(d))
        idx.append(i)
        d = np.minimum(d, ((x - x[i]) ** 2).sum(-1))
    return np.array(idx)


def test_fps_matches_brute_force_and_is_nested():
    x = np.random.default_rng(0).uniform(size=(300, 2)).astype(np.float32)
    fps = jax.jit(farthest_point_sampling, static_argnums=1)
    for start in (0, 17):
        got = np.asarray(fps(jnp.asarray(x), 40, start=start))
        np.testing.assert_array_equal(got, _numpy_fps(x, 40, start))
        assert len(set(got.tolist())) == 40
    big, small = np.asarray(fps(jnp.asarray(x), 60)), np.asarray(fps(jnp.asarray(x), 15))
    np.testing.assert_array_equal(big[:15], small)  # 5% of a set is a prefix of its 20%

    def covering(idx):  # largest distance from any point to the subset
        return np.sqrt(((x[:, None] - x[idx][None]) ** 2).sum(-1).min(1).max())

    # FPS is a 2-approximation of the k-centre problem: far better coverage than a random subset
    rand = np.asarray(random_subset(300, 40, key=jax.random.PRNGKey(0)))
    assert covering(big[:40]) < covering(rand)
    assert covering(big) <= covering(big[:40])


def test_fps_respects_mask_and_rejects_empty_subsets():
    x = jnp.asarray(np.random.default_rng(1).uniform(size=(50, 2)), jnp.float32)
    mask = jnp.arange(50) % 2 == 0
    idx = np.asarray(farthest_point_sampling(x, 10, mask=mask))
    assert np.all(idx % 2 == 0)
    with pytest.raises(ValueError, match="empty subsets"):
        farthest_point_sampling(x, 0)
    with pytest.raises(ValueError, match="cannot choose"):
        farthest_point_sampling(x, 51)
    with pytest.raises(ValueError, match="sparsity"):
        subset_size(100, 0.0)
    assert subset_size(512, 0.05) == 26 and subset_size(10, 0.01) == 1


def test_radius_graphs_match_brute_force():
    rng = np.random.default_rng(2)
    x = rng.uniform(-0.05, 1.05, size=(300, 2)).astype(np.float32)  # some points outside the domain
    radius = 0.1
    want = brute_force_edges(x, radius)
    s, r, m, count, overflow = jax.jit(cell_radius_graph, static_argnums=(1, 2), static_argnames=("domain",
                                       "max_per_cell"))(jnp.asarray(x), radius, 20000, domain=DOMAIN, max_per_cell=32)
    assert not bool(overflow)
    assert int(count) == len(want)
    assert edge_set(s, r, m) == want
    graph = jax.jit(particle_graph, static_argnums=(1, 2), static_argnames=("domain",))
    s, r, m, count = graph(jnp.asarray(x), radius, 20000, domain=DOMAIN)  # dense path (n <= 1024)
    assert edge_set(s, r, m) == want
    # a cell list with too few slots reports it
    *_, overflow = cell_radius_graph(jnp.asarray(x), radius, 20000, domain=DOMAIN, max_per_cell=2)
    assert bool(overflow)


def test_empty_graph_is_a_clear_error():
    x = jnp.asarray([[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]])
    with pytest.raises(Exception, match="empty graph"):
        jax.block_until_ready(particle_graph(x, 0.01, 10, domain=DOMAIN))
    with pytest.raises(ValueError, match="radius"):
        particle_graph(x, 0.0, 10, domain=DOMAIN)


def test_grid_neighbors_are_complete():
    grid = LatentGrid(16, ((0.0, 1.0), (0.0, 1.0)))
    x = np.random.default_rng(3).uniform(size=(60, 2)).astype(np.float32)
    r = 0.11
    ids, rel, mask = grid_neighbors(jnp.asarray(x), grid, r)
    nodes = grid.nodes()
    d = np.sqrt(((x[:, None] - nodes[None]) ** 2).sum(-1))
    for p in range(len(x)):
        got = set(np.asarray(ids[p])[np.asarray(mask[p])].tolist())
        assert got == set(np.nonzero(d[p] < r)[0].tolist())
    np.testing.assert_allclose(np.asarray(rel)[np.asarray(mask)],
                               ((nodes[np.asarray(ids)] - x[:, None]) / r)[np.asarray(mask)], atol=1e-5)


def test_gno_averages_match_a_direct_numpy_sum():
    grid = LatentGrid(8, ((0.0, 1.0), (0.0, 1.0)))
    rng = np.random.default_rng(4)
    n = 30
    x = rng.uniform(0.2, 0.8, size=(n, 2)).astype(np.float32)
    f = rng.normal(size=(n, 5)).astype(np.float32)
    r = 0.2
    nodes = grid.nodes()
    off = (nodes[:, None] - x[None]) / r  # [64, n, 2]
    near = np.linalg.norm(nodes[:, None] - x[None], axis=-1) < r
    gno = GNOIn(5, 3, grid, r, width=16, key=jax.random.PRNGKey(0))
    got = np.asarray(eqx.filter_jit(lambda m, a, b: m(a, b))(gno, jnp.asarray(x), jnp.asarray(f))).reshape(64, 4)
    inputs = np.concatenate([off, np.broadcast_to(f[None], (64, n, 5))], -1)
    k = np.asarray(eqx.filter_jit(lambda m, a: jax.vmap(jax.vmap(m.kernel))(a))(gno, jnp.asarray(inputs)))
    want = np.zeros((64, 4), np.float32)
    for g in range(64):  # a direct sum over the particles near each node
        if near[g].any():
            want[g, :3] = sum(k[g, p] for p in range(n) if near[g, p]) / near[g].sum()
            want[g, 3] = 1.0
    np.testing.assert_allclose(got, want, atol=1e-5)
    # grid -> particles: mean over nodes within r of kappa(offset) * v(node)
    out = GNOOut(3, grid, r, width=16, key=jax.random.PRNGKey(1))
    v = rng.normal(size=(8, 8, 3)).astype(np.float32)
    got = np.asarray(eqx.filter_jit(lambda m, a, b: m(a, b))(out, jnp.asarray(v), jnp.asarray(x)))
    k = np.asarray(eqx.filter_jit(lambda m, a: jax.vmap(jax.vmap(m.kernel))(a))(out, jnp.asarray(off)))
    for p in range(n):
        terms = [k[g, p] * v.reshape(64, 3)[g] for g in range(64) if near[g, p]]
        np.testing.assert_allclose(got[p], np.mean(terms, 0), atol=1e-5)
