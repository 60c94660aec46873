"""`task.data=meshgraphnets`: the task trains and evaluates on files in the published CylinderFlow layout.

The test writes a tiny dataset exactly as DeepMind's release stores it (meta.json with the five
CylinderFlow fields, their dtypes and [T or 1, -1, d] shapes; tf.train.Examples of raw little-endian
bytes) and checks what the task reads against the arrays it wrote, and MeshGraphNets' normalisation
statistics against a direct (and a Monte-Carlo) computation.
"""

import json

import numpy as np
import pytest
from scipy.spatial import Delaunay

from sciml.data import mesh_trajectories, tfrecord
from sciml.data.cylinder_flow import INFLOW, NORMAL, OUTFLOW, WALL_BOUNDARY
from sciml.meshformer import MeshTask
from sciml.runner import run

FRAMES = 6


def _trajectory(rng, nx, ny):
    x, y = np.meshgrid(np.linspace(0, 1.6, nx), np.linspace(0, 0.41, ny), indexing="ij")
    pos = np.stack([x.ravel(), y.ravel()], -1) + rng.uniform(-0.01, 0.01, (nx * ny, 2)) * (x.ravel() % 1.6 > 0)[:, None]
    pos[:, 1] = np.clip(pos[:, 1], 0, 0.41)
    types = np.full(len(pos), NORMAL)
    types[(pos[:, 1] <= 1e-9) | (pos[:, 1] >= 0.41 - 1e-9)] = WALL_BOUNDARY
    types[pos[:, 0] <= 1e-9] = INFLOW
    types[pos[:, 0] >= 1.6 - 1e-9] = OUTFLOW
    t = np.arange(FRAMES)[:, None]
    vel = np.stack([np.sin(3 * pos[:, 0] - 0.3 * t) + 1.0, 0.2 * np.cos(5 * pos[:, 1] + 0.2 * t)], -1)
    vel = vel + 0.05 * rng.standard_normal(vel.shape)
    vel[:, types == WALL_BOUNDARY] = 0.0
    return {
        "cells": Delaunay(pos).simplices.astype(np.int32)[None],
        "mesh_pos": pos.astype(np.float32)[None],
        "node_type": types.astype(np.int32)[None, :, None],
        "velocity": vel.astype(np.float32),
        "pressure": rng.standard_normal((FRAMES, len(pos), 1)).astype(np.float32),
    }


def write_published_cylinder(directory, counts=(("train", 3), ("valid", 1), ("test", 2)), seed=0):
    """meta.json + <split>.tfrecord as in the MeshGraphNets release (CylinderFlow schema)."""
    directory.mkdir(parents=True, exist_ok=True)
    meta = {
        "simulator": "comsol", "dt": 0.01, "collision_radius": None,
        "features": {
            "cells": {"type": "static", "shape": [1, -1, 3], "dtype": "int32"},
            "mesh_pos": {"type": "static", "shape": [1, -1, 2], "dtype": "float32"},
            "node_type": {"type": "static", "shape": [1, -1, 1], "dtype": "int32"},
            "velocity": {"type": "dynamic", "shape": [FRAMES, -1, 2], "dtype": "float32"},
            "pressure": {"type": "dynamic", "shape": [FRAMES, -1, 1], "dtype": "float32"},
        },
        "field_names": ["cells", "mesh_pos", "node_type", "velocity", "pressure"],
        "trajectory_length": FRAMES,
    }
    (directory / "meta.json").write_text(json.dumps(meta))
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in counts:
        trajs = [_trajectory(rng, 9 + k, 5 + k % 2) for k in range(n)]  # meshes of different sizes
        tfrecord.write_tfrecord(directory / f"{split}.tfrecord",
                                [tfrecord.encode_example({k: v.tobytes() for k, v in t.items()}) for t in trajs])
        out[split] = trajs
    return out


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cylinder_flow")
    return directory, write_published_cylinder(directory)


def test_task_reads_the_published_files(published):
    directory, written = published
    task = MeshTask(data="meshgraphnets", path=str(directory), num_train=2, num_test=2, num_frames=5, noise=0.02)
    train, test, stats = task.dataset()
    assert train.num_trajectories == 2 and test.num_trajectories == 2 and train.frames == 5
    for split, want_all in ((train, written["train"]), (test, written["test"])):
        for m, want in enumerate(want_all[: split.num_trajectories]):
            n = want["mesh_pos"].shape[1]
            np.testing.assert_array_equal(split.velocity[m, :, :n], want["velocity"][:5])
            np.testing.assert_array_equal(split.mesh_pos[m, :n], want["mesh_pos"][0])
            np.testing.assert_array_equal(split.node_type[m, :n], want["node_type"][0, :, 0])
            np.testing.assert_array_equal(split.cells[m], want["cells"][0])
            assert split.node_mask[m].sum() == n
    # MeshGraphNets' statistics: noisy node inputs, velocity change over all nodes; checked directly at
    # noise 0 and by Monte Carlo at noise 0.02.
    vel = [t["velocity"][:5].astype(np.float64) for t in written["train"][:2]]
    types = [t["node_type"][0, :, 0] for t in written["train"][:2]]
    delta = np.concatenate([(v[1:] - v[:-1]).reshape(-1, 2) for v in vel])
    exact = mesh_trajectories.meshgraphnets_statistics(train, 0.0)
    np.testing.assert_allclose(exact["target"][0], delta.mean(0), rtol=1e-10)
    np.testing.assert_allclose(exact["target"][1], delta.std(0), rtol=1e-10)
    onehot = np.concatenate([np.broadcast_to(np.eye(9)[t], (5, len(t), 9)).reshape(-1, 9) for t in types])
    rows = np.concatenate([np.concatenate([v.reshape(-1, 2) for v in vel]), onehot], 1)
    np.testing.assert_allclose(exact["node"][0], rows.mean(0), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(exact["node"][1], rows.std(0), rtol=1e-10, atol=1e-14)
    rng = np.random.default_rng(1)
    noisy_vel, noisy_delta = [], []
    for _ in range(400):
        for v, t in zip(vel, types):
            noisy = v + 0.02 * rng.standard_normal(v.shape) * (t == NORMAL)[None, :, None]
            noisy_vel.append(noisy.reshape(-1, 2))
            noisy_delta.append((v[1:] - noisy[:-1]).reshape(-1, 2))
    np.testing.assert_allclose(stats["node"][1][:2], np.concatenate(noisy_vel).std(0), rtol=3e-3)
    np.testing.assert_allclose(stats["target"][1], np.concatenate(noisy_delta).std(0), rtol=3e-3)
    assert stats["target"][1][0] > exact["target"][1][0]  # the noise is in the statistics


def test_task_trains_and_evaluates_on_the_published_files(published, repo, tmp_path):
    directory, _ = published
    overrides = ["task.data=meshgraphnets", f"task.path={directory}", "task.num_train=3", "task.num_test=1",
                 "task.num_frames=6", "task.width=16", "task.depth=2", "task.batch_size=2", "train.steps=2",
                 "train.log_every=1"]
    for config in ("mgn.yaml", "transformer.yaml"):
        r = run(repo / "experiments/meshformer" / config, [*overrides, f"name=published_{config[:-5]}"],
                runs_dir=tmp_path / "runs", progress=False)
        final = json.loads((r.dir / "final.json").read_text())
        assert np.isfinite(final["rollout_rmse_all"]) and np.isfinite(final["one_step_rmse"])
        saved = np.load(r.dir / "rollout.npz")
        n = saved["truth"].shape[1]
        assert saved["truth"].shape == (5, n, 2)


def test_clear_errors_for_missing_or_short_files(published, tmp_path):
    directory, _ = published
    with pytest.raises(ValueError, match="set task.path"):
        MeshTask(data="meshgraphnets")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        MeshTask(data="meshgraphnets", path=str(tmp_path / "nowhere")).dataset()
    with pytest.raises(ValueError, match="holds 3 trajectories, but 5"):
        MeshTask(data="meshgraphnets", path=str(directory), num_train=5, num_test=1, num_frames=4).dataset()
    with pytest.raises(ValueError, match="asked for 9 frames"):
        MeshTask(data="meshgraphnets", path=str(directory), num_train=1, num_test=1, num_frames=9).dataset()
    empty = tmp_path / "no_test"
    empty.mkdir()
    (empty / "meta.json").write_text((directory / "meta.json").read_text())
    (empty / "train.tfrecord").write_bytes((directory / "train.tfrecord").read_bytes())
    with pytest.raises(FileNotFoundError, match="test.tfrecord does not exist"):
        MeshTask(data="meshgraphnets", path=str(empty), num_train=1, num_test=1, num_frames=4).dataset()
    meta = json.loads((directory / "meta.json").read_text())
    del meta["features"]["velocity"]
    meta["field_names"].remove("velocity")
    (empty / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="lacks the fields \\['velocity'\\]"):
        MeshTask(data="meshgraphnets", path=str(empty), num_train=1, num_test=1, num_frames=4).dataset()


# ---------------------------------------------------------------------------------- paper configs

PAPER_CONFIGS = ["paper_mgn_cylinder.yaml", "paper_transformer_cylinder.yaml"]


@pytest.mark.slow
@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_paper_config_reads_the_published_files_and_names_a_missing_path(name, repo, published):
    """(Building the network, its parameter count and 2 training steps: tests/test_paper_configs.py.)"""
    from sciml.runner import load_config

    path = repo / "experiments/meshformer" / name
    full = load_config(path)
    assert full.task.data == "meshgraphnets" and full.task.path.startswith("/path/to/")  # the user sets task.path
    with pytest.raises(FileNotFoundError, match="/path/to/cylinder_flow does not exist"):
        full.task.dataset()
    # The same config on the tiny published-format files: the path and sizes are all that change.
    directory, _ = published
    on_files = load_config(path, [f"task.path={directory}", "task.num_train=3", "task.num_test=1", "task.num_frames=6"])
    assert on_files.task.dataset()[0].num_trajectories == 3
