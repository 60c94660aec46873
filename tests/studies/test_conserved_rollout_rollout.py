"""The per-step constrained rollout against a Python loop of dense float64 linear algebra, and its limits."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.data import cylinder_flow as cf
from sciml.data.mesh_graph import cells_to_edges, pad_edges
from sciml.meshformer import MeshGraphNet, MeshInputs, MeshSimulator, Normaliser
from sciml.meshformer.simulator import EDGE_FEATURES, NODE_FEATURES
from sciml.studies.conserved_rollout import condition_step, conserved_rollout, flux_constraint

PAD = 3  # padding nodes, as in a batch of meshes of different sizes


@pytest.fixture(scope="module")
def setup():
    geo = cf.Geometry(1.6, 0.41, (0.3, 0.2), 0.05)
    pos, cells, types = cf.make_mesh(geo, 0.04, 0.09, rng=np.random.default_rng(1))
    n = len(pos)
    s, r = cells_to_edges(cells, n)
    posp = np.concatenate([pos, np.full((PAD, 2), 9.0, np.float32)])
    typesp = np.concatenate([types, np.zeros(PAD, np.int32)])
    mesh = MeshInputs(jnp.asarray(typesp), jnp.asarray(posp), jnp.arange(n + PAD) < n,
                      (tuple(jnp.asarray(a) for a in pad_edges(s, r, len(s) + 4)),))
    net = MeshGraphNet(NODE_FEATURES, EDGE_FEATURES, 4, width=16, layers=2, key=jax.random.PRNGKey(0))
    sim = MeshSimulator(net, Normaliser(np.zeros(NODE_FEATURES), np.ones(NODE_FEATURES)),
                        Normaliser(np.zeros(2), np.array([0.05, 0.03])), Normaliser(np.zeros(3), np.full(3, 0.05)),
                        output_variance=True)
    con = flux_constraint(pos, cells, 5, num_nodes=n + PAD)
    rng = np.random.default_rng(2)
    steps = 3
    known = np.zeros((steps + 1, n + PAD, 2), np.float32)
    known[:, :n, 0] = 1.0 + 0.1 * rng.normal(size=(steps + 1, n))
    inflow = typesp == cf.INFLOW
    known[:, inflow, 0] = 1.5 * (1 + 0.05 * np.arange(steps + 1)[:, None])  # inflow flux changes per step
    known[:, (typesp == cf.WALL_BOUNDARY)] = 0.0
    return sim, mesh, con, known


def reference(sim, mesh, con, known, method, sigma_rel):
    """Python loop: the simulator's Gaussian step, boundary reset, then the update in dense float64."""
    keep = np.asarray(mesh.predicted())
    kflat = np.repeat(keep, 2)
    G = con.G
    v = jnp.asarray(known[0])
    out = []
    for t in range(1, len(known)):
        mean, var = (np.asarray(a, np.float64) for a in sim.step_gaussian(v, mesh))
        mean = np.where(keep[:, None], mean, known[t])
        var = np.where(keep[:, None], var, 0.0)
        mu = mean.reshape(-1)
        q_in = float(known[t].reshape(-1).astype(np.float64) @ con.g_in)
        b = np.full(G.shape[0], q_in)
        if method == "hardc":  # min |x - mu| over the predicted entries subject to G x = b
            Gp = G[:, kflat]
            rhs = b - G[:, ~kflat] @ mu[~kflat]
            x = mu.copy()
            x[kflat] = mu[kflat] - Gp.T @ np.linalg.solve(Gp @ Gp.T, Gp @ mu[kflat] - rhs)
            mu = x
        elif method == "probconserv":
            S = np.diag(var.reshape(-1))
            A = G @ S @ G.T + (sigma_rel * q_in) ** 2 * np.eye(G.shape[0])
            mu = mu - S @ G.T @ np.linalg.solve(A, G @ mu - b)
        v = jnp.asarray(mu.reshape(mean.shape), jnp.float32)
        out.append(mu.reshape(mean.shape))
    return np.stack(out)


@pytest.mark.parametrize("method, sigma_rel", [("plain", 0.0), ("hardc", 0.0), ("probconserv", 0.0),
                                               ("probconserv", 0.02)])
def test_scanned_rollout_equals_a_python_loop_of_dense_updates(setup, method, sigma_rel):
    sim, mesh, con, known = setup
    frames, _ = jax.jit(conserved_rollout, static_argnames="method")(
        sim, mesh, jnp.asarray(known[0]), jnp.asarray(known[1:]), jnp.asarray(con.G, jnp.float32),
        jnp.asarray(con.g_in, jnp.float32), method=method, sigma_rel=sigma_rel)
    want = reference(sim, mesh, con, known, method, sigma_rel)
    np.testing.assert_allclose(np.asarray(frames), want, atol=2e-4, rtol=2e-4)
    mismatch = np.abs(want.reshape(len(want), -1) @ con.G.T - con.rhs(known[1:])) / con.rhs(known[1:])
    if method == "hardc" or (method == "probconserv" and sigma_rel == 0):
        assert mismatch.max() < 1e-9 and np.abs(np.asarray(frames).reshape(len(want), -1) @ con.G.T
                                                - con.rhs(known[1:])).max() < 1e-4
    else:
        assert mismatch.max() > 1e-3  # the plain and soft rollouts are not projected
    boundary = ~np.asarray(mesh.predicted())
    np.testing.assert_array_equal(np.asarray(frames)[:, boundary], known[1:, boundary])


def test_probconserv_moves_high_variance_nodes_more_and_reduces_to_hardc_at_equal_variance():
    rng = np.random.default_rng(0)
    n, m = 20, 3
    G = jnp.asarray(rng.normal(size=(m, 2 * n)), jnp.float32)
    mean = jnp.asarray(rng.normal(size=(n, 2)), jnp.float32)
    keep = jnp.asarray(np.arange(n) >= 4, jnp.float32)  # 4 known nodes
    b = jnp.asarray(rng.normal(size=m), jnp.float32)
    equal = jnp.ones((n, 2)) * keep[:, None]
    pc, _ = condition_step(mean, equal, keep, G, b, method="probconserv")
    hc, _ = condition_step(mean, equal, keep, G, b, method="hardc")
    np.testing.assert_allclose(pc, hc, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(pc)[:4], np.asarray(mean)[:4])
    var = equal.at[10].set(100.0)  # one very uncertain node takes most of the correction
    pc2, new_var = condition_step(mean, var, keep, G, b, method="probconserv")
    moved = np.abs(np.asarray(pc2 - mean)).sum(1)
    assert moved[10] > 5 * np.delete(moved, 10).max()
    assert np.all(np.asarray(new_var) <= np.asarray(var) + 1e-6)
    loose, _ = condition_step(mean, var, keep, G, b, method="probconserv", sigma_g=1e6)
    np.testing.assert_allclose(loose, mean, atol=1e-5)  # an uninformative constraint changes nothing
    with pytest.raises(ValueError, match="method must be one of"):
        condition_step(mean, var, keep, G, b, method="softc")
