"""Issue 16.10-11: damaged caches are moved aside and regenerated; published-format readers name the file.

The simulators are replaced by cheap fakes here (these tests are about the cache and the readers, not
about the physics); the file formats, the cache logic and the readers are the real ones.
"""

import json
import zipfile

import numpy as np
import pytest

from sciml.data import cylinder_flow as cf
from sciml.data import meshgraphnets as mgn
from sciml.data import particles
from sciml.data.mjp import load_dfr_archive

# ---------------------------------------------------------------------------- 10. corrupt caches


@pytest.fixture
def fake_mpm(monkeypatch, tmp_path):
    calls = []

    def simulate_scenes(seed, materials, n, n_particles, n_frames, cfg, area):
        calls.append(seed)
        rng = np.random.default_rng(seed)
        m = n * len(list(materials))
        pos = rng.random((m, n_frames, n_particles, 2)).astype(np.float32)
        return {"position": pos, "particle_type": np.zeros((m, n_particles), np.int32)}

    monkeypatch.setattr(particles, "simulate_scenes", simulate_scenes)
    monkeypatch.setenv("SCIML_DATA_DIR", str(tmp_path))  # the shared data cache (sciml.data.cache)
    return calls


MPM = dict(n_particles=8, n_frames=4, n_train=1, n_test=1, materials=("water",))


def _mpm_cache(tmp_path):
    (path,) = (tmp_path / "particles").glob("mpm_*.npz")
    return path


@pytest.mark.parametrize("damage", ["truncated", "garbage", "text file", "empty", "missing array"])
def test_corrupt_particle_cache_is_moved_aside_and_regenerated(damage, fake_mpm, tmp_path, capfd):
    first = particles.mpm_dataset(**MPM)
    path = _mpm_cache(tmp_path)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        data = bytearray(path.read_bytes())
        data[:64] = b"\xff" * 64
        path.write_bytes(bytes(data))
    elif damage == "text file":
        path.write_text("this is not a cache\n")
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        np.savez(path, metadata=json.dumps(first["metadata"]))
    again = particles.mpm_dataset(**MPM)
    err = capfd.readouterr().err
    assert f"cache {path} could not be read" in err and "regenerating" in err and "allow_pickle" not in err
    assert len(fake_mpm) == 4  # generated twice (train + test each time)
    np.testing.assert_array_equal(again["train"]["position"], first["train"]["position"])
    assert len(list((tmp_path / "particles").glob("mpm_*.npz.corrupt-*"))) == 1
    third = particles.mpm_dataset(**MPM)  # the regenerated cache loads
    assert len(fake_mpm) == 4 and third["metadata"] == first["metadata"]


def test_particle_cache_is_written_atomically(fake_mpm, tmp_path, monkeypatch):
    def dying_savez(file, **arrays):
        with open(file, "wb") as f:
            f.write(b"PK\x03\x04 half")
        raise KeyboardInterrupt  # a kill in the middle of writing

    monkeypatch.setattr(particles.np, "savez", dying_savez)
    with pytest.raises(KeyboardInterrupt):
        particles.mpm_dataset(**MPM)
    assert not list((tmp_path / "particles").glob("mpm_*.npz"))  # no half-written cache under the real name


@pytest.fixture
def fake_cylinder(monkeypatch, tmp_path):
    calls = []

    def simulate_trajectory(config, split_index, k):
        calls.append((split_index, k))
        rng = np.random.default_rng([split_index, k])
        n = 6
        traj = {
            "cells": np.array([[[0, 1, 2], [2, 3, 4], [3, 4, 5]]], np.int32),
            "mesh_pos": rng.random((1, n, 2)).astype(np.float32),
            "node_type": np.zeros((1, n, 1), np.int32),
            "velocity": rng.random((config.frames, n, 2)).astype(np.float32),
            "pressure": rng.random((config.frames, n, 1)).astype(np.float32),
        }
        return traj, {"k": k}

    monkeypatch.setattr(cf, "simulate_trajectory", simulate_trajectory)
    return calls


CYL = cf.CylinderFlowConfig(n_train=2, n_test=1, frames=3)


@pytest.mark.parametrize("damage", ["empty train", "truncated test", "garbage meta.json"])
def test_corrupt_cylinder_flow_cache_is_moved_aside_and_regenerated(damage, fake_cylinder, tmp_path, capfd):
    first = cf.cylinder_flow(CYL, data_dir=tmp_path)
    directory = tmp_path / "cylinder_flow" / CYL.key
    if damage == "empty train":
        (directory / "train.tfrecord").write_bytes(b"")
    elif damage == "truncated test":
        p = directory / "test.tfrecord"
        p.write_bytes(p.read_bytes()[:-10])
    else:
        (directory / "meta.json").write_text('{"field_names": [')
    again = cf.cylinder_flow(CYL, data_dir=tmp_path)
    err = capfd.readouterr().err
    assert f"cache {directory} could not be read" in err and "regenerating" in err
    assert len(fake_cylinder) == 6
    for a, b in zip(again["train"], first["train"]):
        np.testing.assert_array_equal(a["velocity"], b["velocity"])
    assert len(list(directory.parent.glob(f"{CYL.key}.corrupt-*"))) == 1


def test_mesh_meta_json_is_written_atomically(tmp_path, monkeypatch):
    traj = {"mesh_pos": np.zeros((1, 3, 2), np.float32), "velocity": np.zeros((2, 3, 2), np.float32)}
    mgn.write_dataset(tmp_path, "train", [traj])
    before = (tmp_path / "meta.json").read_text()

    def dying_write(self, text, *a, **k):
        with open(self, "w") as f:
            f.write(text[:5])
        raise KeyboardInterrupt

    monkeypatch.setattr(type(tmp_path), "write_text", dying_write)
    with pytest.raises(KeyboardInterrupt):
        mgn.write_dataset(tmp_path, "train", [traj], extra_meta={"dt": 0.5})
    monkeypatch.undo()
    assert (tmp_path / "meta.json").read_text() == before


# ---------------------------------------------------------------------- 11. published-format readers


def _mgn_dir(tmp_path):
    traj = {"cells": np.array([[[0, 1, 2]]], np.int32), "mesh_pos": np.zeros((1, 3, 2), np.float32),
            "velocity": np.ones((2, 3, 2), np.float32)}
    mgn.write_dataset(tmp_path, "train", [traj])
    return tmp_path


def test_empty_mesh_tfrecord_is_an_error_naming_it(tmp_path):
    d = _mgn_dir(tmp_path)
    (d / "train.tfrecord").write_bytes(b"")
    with pytest.raises(ValueError, match=r"train.tfrecord: no records \(an empty TFRecord file\)"):
        list(mgn.read_dataset(d, "train"))


@pytest.mark.parametrize("field, dtype", [("velocity", "float64"), ("velocity", "float16"), ("cells", "int64")])
def test_mesh_meta_with_the_wrong_dtype_is_caught(tmp_path, field, dtype):
    d = _mgn_dir(tmp_path)
    meta = json.loads((d / "meta.json").read_text())
    meta["features"][field]["dtype"] = dtype
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"train.tfrecord, record 0: .*(dtype|nodes)"):
        list(mgn.read_dataset(d, "train"))


@pytest.mark.parametrize("name, reader", [
    ("meta.json", lambda d: mgn.load_meta(d)),
    ("metadata.json", lambda d: particles.read_gns_metadata(d)),
])
def test_invalid_json_metadata_names_the_file(tmp_path, name, reader):
    (tmp_path / name).write_text("{not json")
    with pytest.raises(ValueError, match=rf"{tmp_path / name}: the .* is not valid JSON \(.*line 1"):
        reader(tmp_path)
    (tmp_path / name).unlink()
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path / name} does not exist"):
        reader(tmp_path)


def test_gns_metadata_with_the_wrong_dim_names_file_and_dim(tmp_path):
    traj = {"position": np.zeros((3, 4, 2), np.float32), "particle_type": np.zeros(4, np.int64)}
    particles.write_gns_split(tmp_path, "train", [traj], metadata={"dim": 3})
    with pytest.raises(ValueError, match=r"record 0 has 8 position values per frame, not 4 particles x dim 3"):
        particles.read_gns_split(tmp_path, "train")
    (tmp_path / "metadata.json").write_text(json.dumps({"dim": 7}))
    with pytest.raises(ValueError, match=r"metadata.json: 'dim' must be 1, 2 or 3, got 7"):
        particles.read_gns_split(tmp_path, "train")
    (tmp_path / "metadata.json").write_text(json.dumps({"dim": 2}))
    (tmp_path / "train.tfrecord").write_bytes(b"")
    with pytest.raises(ValueError, match=r"train.tfrecord: no records"):
        particles.read_gns_split(tmp_path, "train")


def test_non_zip_dfr_archive_names_the_file(tmp_path):
    bad = tmp_path / "6_st_DFR_V=1.zip"
    bad.write_text("not a zip")
    with pytest.raises(ValueError, match=r"6_st_DFR_V=1.zip: not a zip archive"):
        load_dfr_archive(bad)
    with pytest.raises(FileNotFoundError, match=r"nothing.zip does not exist"):
        load_dfr_archive(tmp_path / "nothing.zip")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w"):
        pass
    with pytest.raises(KeyError, match=r"empty.zip: archive lacks fine_grid_"):
        load_dfr_archive(tmp_path / "empty.zip")
