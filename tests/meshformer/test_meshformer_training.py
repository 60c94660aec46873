"""A seeded small training through the runner beats the 'predict no change' baseline on held-out flow."""

import json

import jax
import numpy as np
import pytest

from sciml.data import cylinder_flow as cf
from sciml.data import meshgraphnets as mgn
from sciml.runner import run

# Tiny data: 24 lattice nodes across the channel, Re 100-120, short trajectories on ~250-node meshes.
# The notebook test uses the same overrides, so the session generates this data once.
TINY_DATA = [
    "task.num_train=8", "task.num_test=1", "task.num_frames=6", "task.warmup=5.0", "task.lattice_ny=24",
    "task.reynolds=[100.0, 120.0]", "task.h_min=0.03", "task.h_max=0.08", "task.noise=0.002",
]


@pytest.fixture(scope="module")
def tiny_data_dir(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "meshformer_tiny_data"


def test_tiny_dataset_is_generated_cached_and_consistent(tiny_data_dir):
    from sciml.meshformer import MeshTask

    config = MeshTask(num_train=8, num_test=1, num_frames=6, warmup=5.0, lattice_ny=24, reynolds=(100.0, 120.0),
                      h_min=0.03, h_max=0.08).data_config
    data = cf.cylinder_flow(config, data_dir=tiny_data_dir)
    assert len(data["train"]) == 8 and len(data["test"]) == 1
    t = data["train"][0]
    n = len(t["mesh_pos"])
    assert t["velocity"].shape == (6, n, 2) and t["pressure"].shape == (6, n, 1) and t["node_type"].shape == (n, 1)
    types = t["node_type"][:, 0]
    assert np.all(t["velocity"][:, types == cf.WALL_BOUNDARY] == 0)
    inflow = types == cf.INFLOW
    assert np.all(t["velocity"][:, inflow, 0] > 0) and np.all(t["velocity"][:, inflow, 1] == 0)
    assert np.isfinite(t["velocity"]).all() and np.abs(t["velocity"]).max() < 5
    directory = tiny_data_dir / "cylinder_flow" / config.key
    meta = json.loads((directory / "meta.json").read_text())
    assert meta["field_names"] == list(mgn.CYLINDER_FIELDS) and len(meta["params"]["train"]) == 8
    assert all(100 <= p["reynolds"] <= 120 for p in meta["params"]["train"])
    again = cf.cylinder_flow(config, data_dir=tiny_data_dir)  # read back from the TFRecord cache
    for k in t:
        np.testing.assert_array_equal(again["train"][0][k], t[k])


@pytest.mark.slow
def test_small_transformer_beats_no_change_and_keeps_normalisers_frozen(repo, tmp_path, tiny_data_dir):
    overrides = TINY_DATA + [
        f"task.data_dir={tiny_data_dir}", "task.width=32", "task.depth=2", "task.batch_size=2",
        "train.steps=1000", "train.log_every=100", "optim.lr=3.0e-3", "optim.warmup=50", "name=tiny",
    ]
    r = run(repo / "experiments/meshformer/transformer.yaml", overrides, runs_dir=tmp_path / "runs", progress=False)
    final = json.loads((r.dir / "final.json").read_text())
    assert final["one_step_rmse"] < 0.55 * final["one_step_rmse_no_change"], final
    assert np.isfinite(final["rollout_rmse_all"]) and final["rollout_ms_per_step"] > 0
    # The "no change" rollout baseline, v(t) = v(0), is recorded beside the model's: the RMS over the real
    # nodes, both components and every step after the first frame of the held-out trajectories.
    test = r.task.dataset()[1]
    v, real = test.velocity, test.node_mask[:, None, :, None]
    unchanged = np.sqrt(((v[:, 1:] - v[:, :1]) ** 2 * real).sum() / (real.sum() * 2 * (test.frames - 1)))
    np.testing.assert_allclose(final["rollout_rmse_all_no_change"], unchanged, rtol=1e-5)
    assert (r.dir / "rollout.png").exists() and (r.dir / "rollout.npz").exists()
    losses = r.history("loss")[1]
    assert losses[-1] < 0.2 * losses[0]
    # The normalisers are data statistics: training left them exactly as init made them.
    fresh = r.task.init(key=jax.random.PRNGKey(123))
    np.testing.assert_array_equal(r.model.node_norm.mean, fresh.node_norm.mean)
    np.testing.assert_array_equal(r.model.target_norm.std, fresh.target_norm.std)


def test_task_validates_its_configuration():
    from sciml.meshformer import MeshTask

    with pytest.raises(ValueError, match="model"):
        MeshTask(model="gcn")
    with pytest.raises(ValueError, match="mesh edges only"):
        MeshTask(model="mgn", hops=(2,))
    with pytest.raises(ValueError, match="divisible"):
        MeshTask(width=30, num_heads=4)
    with pytest.raises(ValueError, match="hop_mode"):
        MeshTask(hop_mode="dilated")
    t = MeshTask(depth=5, hops=(1, 2, 4), hop_mode="ring")
    assert [s.name for s in t.edge_specs] == ["power1", "ring2", "ring4"]
    assert t.layer_adjacency() == (0, 1, 2, 0, 1)
