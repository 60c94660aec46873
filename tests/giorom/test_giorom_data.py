"""Particle datasets: the GNS TFRecord reader/writer and the MPM dataset schema."""


import numpy as np
import pytest

from sciml.data.particles import mpm_dataset, read_gns_split, sample_scene, statistics, write_gns_split


def _trajectories(rng, n_traj=3, dim=2):
    out = []
    for k in range(n_traj):
        n, t = 5 + k, 4 + k
        out.append({"position": rng.normal(size=(t, n, dim)).astype(np.float32),
                    "particle_type": rng.integers(0, 9, n).astype(np.int64)})
    return out


def test_gns_split_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    trajs = _trajectories(rng)
    meta = {"bounds": [[0.1, 0.9], [0.1, 0.9]], "sequence_length": 4, "default_connectivity_radius": 0.015,
            "dim": 2, "dt": 0.0025, "vel_mean": [0, 0], "vel_std": [1, 1], "acc_mean": [0, 0], "acc_std": [1, 1]}
    write_gns_split(tmp_path, "test", trajs, meta)
    back = read_gns_split(tmp_path, "test", verify=True)
    assert len(back) == len(trajs)
    for a, b in zip(trajs, back):
        np.testing.assert_array_equal(a["position"], b["position"])
        np.testing.assert_array_equal(a["particle_type"], b["particle_type"])
    assert [int(b["key"][0]) for b in back] == [0, 1, 2]


def test_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="metadata.json"):
        read_gns_split(tmp_path, "train")
    (tmp_path / "metadata.json").write_text('{"dim": 2}')
    with pytest.raises(FileNotFoundError, match="train.tfrecord"):
        read_gns_split(tmp_path, "train")


def test_scene_sampling():
    rng = np.random.default_rng(4)
    for material in ("water", "sand", "elastic"):
        s = sample_scene(rng, 200, material, area=0.05)
        assert s["x0"].shape == (200, 2) and s["v0"].shape == (200, 2)
        assert np.all((s["x0"] > 0.0625) & (s["x0"] < 0.9375))
        np.testing.assert_allclose(s["vol"].sum(), 0.05, rtol=1e-5)
        assert len(np.unique(s["x0"], axis=0)) == 200


@pytest.mark.slow
def test_mpm_dataset_schema_and_statistics():
    d = mpm_dataset(n_particles=48, n_frames=8, n_train=1, n_test=1, materials=("water", "elastic"), cache=False)
    assert d["train"]["position"].shape == (2, 8, 48, 2) and d["train"]["position"].dtype == np.float32
    assert d["test"]["particle_type"].shape == (2, 48)
    np.testing.assert_array_equal(d["train"]["particle_type"][:, 0], [0, 2])
    meta = d["metadata"]
    for k in ("bounds", "sequence_length", "default_connectivity_radius", "dim", "dt", "vel_mean", "vel_std",
              "acc_mean", "acc_std"):
        assert k in meta
    vel = np.diff(d["train"]["position"].astype(np.float64), axis=1)
    np.testing.assert_allclose(meta["vel_std"], vel.reshape(-1, 2).std(0), rtol=1e-6)
    assert statistics(d["train"]["position"]) == {k: meta[k] for k in ("vel_mean", "vel_std", "acc_mean", "acc_std")}
    again = mpm_dataset(n_particles=48, n_frames=8, n_train=1, n_test=1, materials=("water", "elastic"), cache=False)
    np.testing.assert_array_equal(again["test"]["position"], d["test"]["position"])  # seeded
    with pytest.raises(ValueError, match="n_frames"):
        mpm_dataset(n_frames=2, cache=False)
