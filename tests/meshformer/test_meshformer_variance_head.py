"""The optional Gaussian head of MeshSimulator: its mean, variance and NLL against direct formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial import Delaunay

from sciml.data.cylinder_flow import INFLOW, NORMAL, OUTFLOW, WALL_BOUNDARY
from sciml.data.mesh_graph import cells_to_edges, pad_edges
from sciml.meshformer import MeshGraphNet, MeshInputs, MeshSimulator, MeshTransformer, Normaliser, one_step_nll
from sciml.meshformer.simulator import EDGE_FEATURES, MIN_VARIANCE, NODE_FEATURES


def _mesh(n=30, seed=0):
    rng = np.random.default_rng(seed)
    pos = rng.uniform([0, 0], [1.6, 0.41], (n, 2)).astype(np.float32)
    s, r = cells_to_edges(Delaunay(pos).simplices.astype(np.int32), n)
    types = np.full(n, NORMAL, np.int32)
    types[:3], types[3:5], types[5:9] = INFLOW, OUTFLOW, WALL_BOUNDARY
    adjacency = (tuple(jnp.asarray(a) for a in pad_edges(s, r, len(s) + 5)),)
    return MeshInputs(jnp.asarray(types), jnp.asarray(pos), jnp.ones(n, bool), adjacency)


def _sim(kind, key, variance=True):
    out = 4 if variance else 2
    rng = np.random.default_rng(1)
    node = Normaliser(rng.normal(size=NODE_FEATURES), rng.uniform(0.5, 2, NODE_FEATURES))
    target = Normaliser(np.array([0.1, -0.2]), np.array([0.3, 0.05]))  # distinct stds per component
    if kind == "mgn":
        net = MeshGraphNet(NODE_FEATURES, EDGE_FEATURES, out, width=16, layers=2, key=key)
        return MeshSimulator(net, node, target, Normaliser(np.zeros(3), np.ones(3)), output_variance=variance)
    net = MeshTransformer(NODE_FEATURES, out, width=16, heads=2, layers=2, layer_adjacency=(0, 0), key=key)
    return MeshSimulator(net, node, target, None, output_variance=variance)


@pytest.mark.parametrize("kind", ["mgn", "transformer"])
def test_gaussian_step_denormalises_mean_and_scales_variance_by_target_std_squared(kind, key):
    mesh = _mesh()
    sim = _sim(kind, key)
    v = jax.random.normal(jax.random.PRNGKey(3), (30, 2))
    raw = np.asarray(sim.outputs(v, mesh), np.float64)
    assert raw.shape == (30, 4)
    mean, var = (np.asarray(a, np.float64) for a in sim.step_gaussian(v, mesh))
    std, mu = np.array([0.3, 0.05]), np.array([0.1, -0.2])
    np.testing.assert_allclose(mean, np.asarray(v) + raw[:, :2] * std + mu, rtol=1e-5, atol=1e-6)
    want_var = (np.log1p(np.exp(raw[:, 2:])) + MIN_VARIANCE) * std**2
    np.testing.assert_allclose(var, want_var, rtol=1e-5)
    # The mean path is the plain simulator's step on the first two channels.
    np.testing.assert_allclose(np.asarray(sim.step(v, mesh)), mean, rtol=1e-6, atol=1e-6)


def test_nll_equals_the_gaussian_log_density_on_predicted_nodes(key):
    mesh = _mesh()
    sim = _sim("mgn", key)
    v = jax.random.normal(jax.random.PRNGKey(4), (30, 2))
    target = v + 0.1 * jax.random.normal(jax.random.PRNGKey(5), (30, 2))
    got = float(one_step_nll(sim, mesh, v, target, noise=0.0, key=key))
    m, s2 = (np.asarray(a, np.float64) for a in sim.gaussian(v, mesh))
    y = (np.asarray(target, np.float64) - np.asarray(v)) - np.array([0.1, -0.2])
    y = y / np.array([0.3, 0.05])
    per_node = (0.5 * np.log(2 * np.pi * s2) + 0.5 * (y - m) ** 2 / s2).sum(1) - np.log(2 * np.pi)
    pred = np.asarray(mesh.predicted())
    np.testing.assert_allclose(got, per_node[pred].mean(), rtol=1e-5)


def test_variance_head_is_off_by_default_and_mismatches_raise(key):
    mesh = _mesh()
    v = jnp.zeros((30, 2))
    plain = _sim("transformer", key, variance=False)
    assert not plain.output_variance and plain(v, mesh).shape == (30, 2)
    with pytest.raises(ValueError, match="no variance head"):
        plain.gaussian(v, mesh)
    wide = _sim("transformer", key)  # a 4-output network declared mean-only
    mislabelled = MeshSimulator(wide.net, wide.node_norm, wide.target_norm, None)
    with pytest.raises(ValueError, match="needs 2"):
        mislabelled(v, mesh)


def test_task_with_output_variance_trains_on_the_nll(tmp_path, key):
    from sciml.meshformer import MeshTask

    task = MeshTask(model="transformer", width=16, depth=1, num_heads=2, output_variance=True, data="synthetic",
                    synthetic_nodes=40, num_train=2, num_test=1, num_frames=4, batch_size=2)
    sim = task.init(key=key)
    assert sim.output_variance and sim.outputs(jnp.zeros((40, 2)), _first_mesh(task)).shape == (40, 4)
    batch = jax.tree_util.tree_map(jnp.asarray, task.batch(0, seed=0))
    loss, _ = task.loss(sim, batch, key=key)
    from sciml.meshformer import mesh_inputs

    keys = jax.random.split(key, 2)
    want = np.mean([float(one_step_nll(sim, mesh_inputs(jax.tree_util.tree_map(lambda a, i=i: a[i], batch)),
                                       batch["velocity"][i], batch["target"][i], noise=task.noise, key=keys[i]))
                    for i in range(2)])
    np.testing.assert_allclose(float(loss), want, rtol=1e-5)


def _first_mesh(task):
    from sciml.meshformer import mesh_inputs

    train, _, _ = task.dataset()
    return mesh_inputs(train.mesh(0))
