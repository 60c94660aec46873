"""MeshGraphNets TFRecord format, mesh generation, interpolation, node types and the cached dataset."""

import json

import numpy as np
import pytest

from sciml.data import cylinder_flow as cf
from sciml.data import meshgraphnets as mgn
from sciml.data import tfrecord

# The generated-and-cached dataset is checked in test_meshformer_training.py, which needs it anyway.


def _write_published_layout(directory, trajectories):
    """Write files exactly as the published CylinderFlow: meta.json + tf.train.Examples of raw bytes."""
    meta = {
        "simulator": "comsol", "dt": 0.01, "collision_radius": None,
        "features": {
            "cells": {"type": "static", "shape": [1, -1, 3], "dtype": "int32"},
            "mesh_pos": {"type": "static", "shape": [1, -1, 2], "dtype": "float32"},
            "node_type": {"type": "static", "shape": [1, -1, 1], "dtype": "int32"},
            "velocity": {"type": "dynamic", "shape": [3, -1, 2], "dtype": "float32"},
            "pressure": {"type": "dynamic", "shape": [3, -1, 1], "dtype": "float32"},
        },
        "field_names": ["cells", "mesh_pos", "node_type", "velocity", "pressure"],
        "trajectory_length": 3,
    }
    (directory / "meta.json").write_text(json.dumps(meta))
    records = [tfrecord.encode_example({k: v.tobytes() for k, v in t.items()}) for t in trajectories]
    tfrecord.write_tfrecord(directory / "valid.tfrecord", records)


def test_reader_on_a_file_in_the_published_format(tmp_path):
    rng = np.random.default_rng(0)
    trajs = []
    for n in (5, 7):  # meshes of different sizes, as in the published files
        trajs.append({
            "cells": rng.integers(0, n, (1, n - 2, 3)).astype(np.int32),
            "mesh_pos": rng.random((1, n, 2)).astype(np.float32),
            "node_type": rng.integers(0, 7, (1, n, 1)).astype(np.int32),
            "velocity": rng.standard_normal((3, n, 2)).astype(np.float32),
            "pressure": rng.standard_normal((3, n, 1)).astype(np.float32),
        })
    _write_published_layout(tmp_path, trajs)
    got = list(mgn.read_dataset(tmp_path, "valid"))
    assert len(got) == 2
    for want, have in zip(trajs, got):
        for k in want:
            np.testing.assert_array_equal(have[k], want[k])
            assert have[k].dtype == want[k].dtype
    # Our writer produces the same records and meta.json, so its files read back the same way.
    out = tmp_path / "ours"
    mgn.write_dataset(out, "valid", trajs)
    features = lambda d: json.loads((d / "meta.json").read_text())["features"]  # noqa: E731
    assert features(out) == features(tmp_path)
    assert (out / "valid.tfrecord").read_bytes() == (tmp_path / "valid.tfrecord").read_bytes()
    # A flipped byte in the data is caught by the CRC.
    raw = bytearray((tmp_path / "valid.tfrecord").read_bytes())
    raw[40] ^= 0xFF
    (tmp_path / "valid.tfrecord").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="CRC"):
        list(mgn.read_dataset(tmp_path, "valid"))
    with pytest.raises(FileNotFoundError, match="splits here"):
        list(mgn.read_dataset(tmp_path, "train"))


def test_bilinear_interpolation_is_exact_for_linear_fields():
    rng = np.random.default_rng(1)
    xg = np.sort(np.concatenate([[0.0, 1.6], rng.uniform(0, 1.6, 20)]))
    yg = np.concatenate([[0.0], np.linspace(0.01, 0.4, 12), [0.41]])  # non-uniform, like the lattice + walls
    field = lambda x, y: 2.0 * x - 3.0 * y + 0.5 + 0.7 * x * y  # noqa: E731  (bilinear, so also exact)
    values = field(xg[:, None], yg[None, :])
    pts = rng.uniform([0, 0], [1.6, 0.41], (200, 2))
    np.testing.assert_allclose(cf.bilinear(xg, yg, values, pts), field(pts[:, 0], pts[:, 1]), atol=1e-12)
    stacked = np.stack([values, -values])  # leading axes are carried through
    assert cf.bilinear(xg, yg, stacked, pts).shape == (2, 200)


def test_mesh_is_valid_graded_and_typed():
    geo = cf.Geometry(1.6, 0.41, (0.3, 0.2), 0.05)
    pos, cells, types = cf.make_mesh(geo, 0.02, 0.06, rng=np.random.default_rng(0))
    n = len(pos)
    assert cells.min() >= 0 and cells.max() < n and len(np.unique(cells)) == n  # every node in a cell
    a, b, c = pos[cells[:, 0]], pos[cells[:, 1]], pos[cells[:, 2]]
    area = 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
    assert np.all(np.abs(area) > 1e-8)
    # Covers the fluid exactly: channel area minus the (polygonal) disc.
    n_c = int(np.ceil(2 * np.pi * 0.05 / 0.02))
    polygon = 0.5 * n_c * 0.05**2 * np.sin(2 * np.pi / n_c)
    assert np.isclose(np.abs(area).sum(), 1.6 * 0.41 - polygon, rtol=1e-5)
    assert np.all(geo.distance(pos[cells].mean(1)) < 0)  # no cell inside the cylinder
    # Euler characteristic of a domain with one hole: V - E + F = 0.
    edges = np.unique(np.sort(np.concatenate([cells[:, [0, 1]], cells[:, [1, 2]], cells[:, [2, 0]]]), 1), axis=0)
    assert n - len(edges) + len(cells) == 0
    # Node types from the MeshGraphNets numbering.
    x, y = pos[:, 0], pos[:, 1]
    r = np.hypot(x - 0.3, y - 0.2)
    on_wall = (np.isclose(y, 0, atol=1e-6) | np.isclose(y, 0.41, atol=1e-6) | np.isclose(r, 0.05, atol=1e-6))
    assert np.all(types[on_wall] == cf.WALL_BOUNDARY)
    assert np.all(types[np.isclose(x, 0, atol=1e-6) & ~on_wall] == cf.INFLOW)
    assert np.all(types[np.isclose(x, 1.6, atol=1e-6) & ~on_wall] == cf.OUTFLOW)
    boundary = on_wall | np.isclose(x, 0, atol=1e-6) | np.isclose(x, 1.6, atol=1e-6)
    assert np.all(types[~boundary] == cf.NORMAL)
    assert set(np.unique(types)) == {cf.NORMAL, cf.INFLOW, cf.OUTFLOW, cf.WALL_BOUNDARY}
    # Graded: edges touching the cylinder are shorter than edges far downstream.
    length = np.linalg.norm(pos[edges[:, 0]] - pos[edges[:, 1]], axis=1)
    mid = pos[edges].mean(1)
    near = np.hypot(mid[:, 0] - 0.3, mid[:, 1] - 0.2) < 0.08
    assert length[near].mean() < 0.6 * length[mid[:, 0] > 1.2].mean()


def test_bad_configs_raise():
    with pytest.raises(ValueError, match="range"):
        cf.CylinderFlowConfig(reynolds=(200.0, 100.0))
    with pytest.raises(ValueError, match="does not fit"):
        cf.Geometry(1.6, 0.41, (0.02, 0.2), 0.05)
    with pytest.raises(ValueError, match="grid"):
        cf.bilinear(np.arange(3.0), np.arange(4.0), np.zeros((4, 3)), np.zeros((1, 2)))
