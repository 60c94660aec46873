"""`task.data=gns`: the GNS and GIOROM tasks train and evaluate on files in the published GNS layout.

The test writes a tiny WaterDrop-like dataset exactly as the GNS release stores it (`metadata.json` with
bounds, radius, dim and the velocity / acceleration statistics; tf.train.SequenceExamples with context
`particle_type` (int64 bytes) and `key`, feature list `position` (float32 [N, 2] bytes per step)), with
particle counts that differ between trajectories as in WaterDrop, and checks what the tasks read.
"""

import json

import numpy as np
import pytest

from sciml.data import tfrecord
from sciml.giorom import GIOROMTask, GNSTask
from sciml.runner import run

FRAMES = 10
WATER = 5  # GNS's particle type of water


def _trajectory(rng, nx, ny):
    g = np.stack(np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij"), -1).reshape(-1, 2) * 0.05
    x0 = 0.3 + g + rng.uniform(-0.01, 0.01, g.shape)
    v = rng.uniform(-0.003, 0.003, 2)
    t = np.arange(FRAMES)[:, None, None]
    pos = x0[None] + v * t + 0.5 * np.array([0.0, -2e-4]) * t**2 + 0.002 * np.sin(3 * x0[None, :, ::-1] + 0.4 * t)
    return pos.astype(np.float32)


def write_published_gns(directory, counts=(("train", [(5, 6), (6, 6), (6, 7)]), ("valid", [(5, 5)]),
                                           ("test", [(6, 6), (5, 7)])), dim=2, types=WATER, seed=0):
    """metadata.json + <split>.tfrecord as in the GNS (learning_to_simulate) release."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for split, shapes in counts:
        trajs = []
        for nx, ny in shapes:
            pos = _trajectory(rng, nx, ny)
            if dim == 3:
                pos = np.concatenate([pos, np.full(pos.shape[:2] + (1,), 0.5, np.float32)], -1)
            ptype = np.full(pos.shape[1], types, np.int64)
            trajs.append({"position": pos, "particle_type": ptype})
        records = []
        for key, t in enumerate(trajs):
            context = {"particle_type": t["particle_type"].astype("<i8").tobytes(), "key": np.array([key])}
            frames = {"position": [p.tobytes() for p in t["position"]]}
            records.append(tfrecord.encode_sequence_example(context, frames))
        tfrecord.write_tfrecord(directory / f"{split}.tfrecord", records)
        out[split] = trajs
    pos = np.concatenate([t["position"] for t in out["train"]], 1)  # [T, all particles, dim]
    vel, acc = np.diff(pos, axis=0), np.diff(pos, 2, axis=0)
    meta = {"bounds": [[0.1, 0.9]] * dim, "sequence_length": FRAMES - 1, "default_connectivity_radius": 0.12,
            "dim": dim, "dt": 0.0025, "vel_mean": vel.reshape(-1, dim).mean(0).tolist(),
            "vel_std": vel.reshape(-1, dim).std(0).tolist(), "acc_mean": acc.reshape(-1, dim).mean(0).tolist(),
            "acc_std": acc.reshape(-1, dim).std(0).tolist()}
    (directory / "metadata.json").write_text(json.dumps(meta))
    return out, meta


def _greedy_fps(x, k):
    """Farthest-point sampling from particle 0 (independent of the reader's implementation)."""
    chosen = [0]
    for _ in range(k - 1):
        d = np.min(np.linalg.norm(x[:, None] - x[chosen][None], axis=-1), axis=1)
        chosen.append(int(np.argmax(d)))
    return np.sort(chosen)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    directory = tmp_path_factory.mktemp("waterdrop")
    return directory, *write_published_gns(directory)


def test_tasks_read_the_published_files(published):
    directory, written, meta = published
    task = GNSTask(data="gns", path=str(directory), num_particles=0, num_frames=8, num_train=3, num_test=2)
    data = task.dataset()
    assert task.particle_count() == 30  # the smallest trajectory read (5 x 6)
    for split in ("train", "test"):
        pos, types = data[split]["position"], data[split]["particle_type"]
        assert pos.shape == (len(written[split]), 8, 30, 2) and pos.dtype == np.float32
        np.testing.assert_array_equal(types, WATER)
        for m, t in enumerate(written[split]):
            idx = _greedy_fps(t["position"][0].astype(np.float64), 30)
            np.testing.assert_array_equal(pos[m], t["position"][:8, idx])
    setup = task.setup()
    assert setup.radius == pytest.approx(meta["default_connectivity_radius"])
    assert setup.bounds == ((0.1, 0.9), (0.1, 0.9))
    np.testing.assert_allclose(setup.vel_std, meta["vel_std"])
    np.testing.assert_allclose(setup.acc_mean, meta["acc_mean"])
    assert data["metadata"]["materials"] == {"type5": WATER}
    assert task.spacing() == pytest.approx(0.05, rel=0.3)
    sparse = GIOROMTask(data="gns", path=str(directory), num_particles=20, num_frames=8, num_train=3, num_test=2,
                        sparsity=0.5)
    assert sparse.particle_count() == 20 and sparse.num_sparse == 10


@pytest.mark.parametrize("config", ["gns.yaml", "giorom.yaml"])
def test_tasks_train_and_evaluate_on_the_published_files(published, repo, tmp_path, config):
    directory, _, _ = published
    overrides = ["task.data=gns", f"task.path={directory}", "task.num_particles=0", "task.num_frames=10",
                 "task.num_train=3", "task.num_test=2", "task.width=16", "task.batch_size=2", "task.timing_steps=2",
                 "task.timing_repeats=1", "task.figures=false", "train.steps=2", "train.log_every=1",
                 "train.checkpoint_every=0", "name=published"]
    if config == "giorom.yaml":
        overrides += ["task.sparsity=0.5", "task.grid=8", "task.fno_modes=2", "task.recon_grid=16",
                      "task.num_subsets=2"]
    r = run(repo / "experiments/giorom" / config, overrides, runs_dir=tmp_path / "runs", progress=False)
    final = json.loads((r.dir / "final.json").read_text())
    assert final["n_particles"] == 30 and np.isfinite(final["rollout_mse"]) and np.isfinite(final["dense_mse"])
    assert "rollout_mse/type5" in final


def test_clear_errors_for_missing_or_unsupported_files(published, tmp_path):
    directory, _, _ = published
    with pytest.raises(ValueError, match="set task.path"):
        GNSTask(data="gns")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        GNSTask(data="gns", path=str(tmp_path / "nowhere")).dataset()
    with pytest.raises(ValueError, match="holds 3 trajectories, but 4"):
        GNSTask(data="gns", path=str(directory), num_train=4, num_test=1, num_frames=8).dataset()
    with pytest.raises(ValueError, match="11 were asked"):
        GNSTask(data="gns", path=str(directory), num_train=1, num_test=1, num_frames=11).dataset()
    with pytest.raises(ValueError, match="smallest trajectory read \\(30 particles; counts range 30..42\\)"):
        GNSTask(data="gns", path=str(directory), num_particles=31, num_train=3, num_test=1, num_frames=8).dataset()
    three_d = tmp_path / "water3d"
    write_published_gns(three_d, counts=(("train", [(4, 4)]), ("test", [(4, 4)])), dim=3)
    with pytest.raises(ValueError, match="3-D dataset, but this model handles \\[2\\]-D"):
        GNSTask(data="gns", path=str(three_d), num_train=1, num_test=1, num_frames=8).dataset()
    ramps = tmp_path / "ramps"
    write_published_gns(ramps, counts=(("train", [(4, 4)]), ("test", [(4, 4)])), types=3)
    with pytest.raises(ValueError, match="kinematic"):
        GNSTask(data="gns", path=str(ramps), num_train=1, num_test=1, num_frames=8).dataset()
    bad = tmp_path / "no_stats"
    write_published_gns(bad, counts=(("train", [(4, 4)]), ("test", [(4, 4)])))
    meta = json.loads((bad / "metadata.json").read_text())
    del meta["acc_std"]
    (bad / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="lacks \\['acc_std'\\]"):
        GNSTask(data="gns", path=str(bad), num_train=1, num_test=1, num_frames=8).dataset()


# ---------------------------------------------------------------------------------- paper configs

PAPER_CONFIGS = ["paper_giorom_waterdrop.yaml", "paper_gns_waterdrop.yaml"]


@pytest.mark.slow
@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_paper_config_reads_the_published_files_and_names_a_missing_path(name, repo, published):
    """(Building the network, its parameter count and 2 training steps: tests/test_paper_configs.py.)"""
    from sciml.runner import load_config

    path = repo / "experiments/giorom" / name
    full = load_config(path)
    assert full.task.data == "gns" and full.task.path.startswith("/path/to/")  # the user sets task.path
    with pytest.raises(FileNotFoundError, match="/path/to/WaterDrop does not exist"):
        full.task.dataset()
    # The same config on the tiny published-format files: the path and sizes are all that change.
    directory, _, _ = published
    on_files = load_config(path, [f"task.path={directory}", "task.num_train=3", "task.num_test=2",
                                  "task.num_frames=10"])
    assert on_files.task.dataset()["train"]["position"].shape == (3, 10, 30, 2)
