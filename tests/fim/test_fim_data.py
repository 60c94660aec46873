"""The MJP prior, observation grids, label noise, the DFR target and the published-archive reader."""

import io
import struct
import zipfile

import numpy as np
import pytest

from sciml.data.mjp import (
    MJPPrior,
    compact_observations,
    dfr_parameters,
    dfr_rate_matrix,
    flip_labels,
    is_irreducible,
    load_dfr_archive,
    make_dfr_dataset,
    make_mjp_dataset,
    sample_observation_masks,
    sample_processes,
)
from sciml.data.torch_archive import read_torch_tensor
from sciml.fim import entropy_production, relaxation_time, stationary_distribution

#: Stationary distribution of the DFR at V = r = b = 1 (docs/references.md FIM.2; it is also the
#: `initial_distributions` tensor of the published 6_st_DFR_V=1 archive).
DFR_PI = np.array([0.3012, 0.1365, 0.0623, 0.2003, 0.1591, 0.1406])


def test_prior_processes_are_valid():
    p = sample_processes(np.random.default_rng(0), 300)
    assert p["Q"].shape == (300, 6, 6) and p["p0"].shape == (300, 6)
    assert set(np.unique(p["n_states"])) == {2, 3, 4, 5, 6}
    np.testing.assert_allclose(p["Q"].sum(-1), 0.0, atol=1e-5)
    for Q, A, p0, n in zip(p["Q"], p["adjacency"], p["p0"], p["n_states"]):
        off = ~np.eye(6, dtype=bool)
        assert np.all(Q[off] >= 0) and np.all(Q[off] < 1)  # Beta rates
        assert np.all((Q[off] > 0) == (A[off] > 0))  # rates exactly on the edges
        assert np.all(Q[n:] == 0) and np.all(Q[:, n:] == 0) and np.all(p0[n:] == 0)  # padding
        assert is_irreducible(A[:n, :n] > 0)
        assert np.isclose(p0.sum(), 1.0, atol=1e-5)
    # both complete and sparse graphs occur
    dens = p["adjacency"].sum((1, 2)) / (p["n_states"] * (p["n_states"] - 1))
    assert (dens == 1).mean() > 0.4 and (dens < 1).mean() > 0.2


def test_irreducibility():
    cycle = np.roll(np.eye(4, dtype=bool), 1, axis=1)
    assert is_irreducible(cycle)
    chain = np.eye(4, k=1, dtype=bool) | np.eye(4, k=-1, dtype=bool)
    assert is_irreducible(chain)
    assert not is_irreducible(np.eye(4, k=1, dtype=bool))  # one-way chain
    with pytest.raises(ValueError, match="min_states"):
        MJPPrior(min_states=1)


def test_observation_masks_and_compaction():
    rng = np.random.default_rng(0)
    lens = {sample_observation_masks(rng, 3, 100, mode="regular").sum(1)[0] for _ in range(60)}
    assert lens == {100, 50, 34, 25}  # strides 1, 2, 3, 4
    m = sample_observation_masks(rng, 500, 100, mode="irregular", length_range=(8, 72))
    assert m.sum(1).min() >= 8 and m.sum(1).max() <= 72
    grid = np.linspace(0, 10, 100)
    states = rng.integers(0, 6, (500, 100))
    t, x, n = compact_observations(grid, states, m)
    assert np.array_equal(n, m.sum(1))
    for i in range(5):
        np.testing.assert_allclose(t[i, : n[i]], grid[m[i]], rtol=1e-6)
        assert np.array_equal(x[i, : n[i]], states[i, m[i]])
        assert np.all(t[i, n[i] :] == 0)
    with pytest.raises(ValueError, match="mode"):
        sample_observation_masks(rng, 3, 100, mode="poisson")


def test_label_noise():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, 200_000)
    y = flip_labels(rng, x, 3, 0.1)
    changed = x != y
    assert abs(changed.mean() - 0.1) < 0.005  # flips always change the label
    assert y.min() >= 0 and y.max() < 3


def test_dataset_is_seeded():
    a = make_mjp_dataset(0, 6, 4, grid_size=20)
    b = make_mjp_dataset(0, 6, 4, grid_size=20)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert a["states"].shape == (6, 4, 20) and a["mask"].shape == (6, 4, 20)
    assert np.all(a["states"] < a["n_states"][:, None, None])


def test_dfr_matrix_stationary_and_parameters():
    Q = dfr_rate_matrix(1.0, 1.0, 1.0)
    np.testing.assert_allclose(Q.sum(1), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(stationary_distribution(Q)), DFR_PI, atol=1e-4)
    assert abs(relaxation_time(Q) - 0.5) < 1e-9
    assert abs(entropy_production(Q) - 0.179) < 1e-3
    for V, r, b in [(1.0, 1.0, 1.0), (2.0, 0.5, 1.5), (0.0, 3.0, 0.2)]:
        np.testing.assert_allclose(dfr_parameters(dfr_rate_matrix(V, r, b)), (V, r, b), atol=1e-9)
    d = make_dfr_dataset(0, 2000, grid_size=20)
    np.testing.assert_allclose(np.bincount(d["states"][:, 0], minlength=6) / 2000, DFR_PI, atol=0.03)


# ------------------------------------------------------------- a tiny archive in the published format

_DTYPE_TO_STORAGE = {np.float32: "FloatStorage", np.int16: "ShortStorage", np.int32: "IntStorage"}


def _binunicode(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _binint(i: int) -> bytes:
    return b"J" + struct.pack("<i", i)


def _torch_save_bytes(arr: np.ndarray, name: str) -> bytes:
    """The bytes `torch.save(tensor)` writes (protocol 2 pickle + raw storage in a zip), written by hand.

    Mirrors the opcode stream of the published `fine_grid_*.pt` files: GLOBAL
    torch._utils._rebuild_tensor_v2, a ('storage', torch.<T>Storage, '0', 'cpu', numel) persistent id,
    offset, size and stride tuples, requires_grad False and an empty OrderedDict of hooks.
    """
    arr = np.ascontiguousarray(arr)
    strides = [s // arr.itemsize for s in arr.strides]
    pkl = b"\x80\x02" + b"ctorch._utils\n_rebuild_tensor_v2\n" + b"(("
    pkl += _binunicode("storage") + f"ctorch\n{_DTYPE_TO_STORAGE[arr.dtype.type]}\n".encode()
    pkl += _binunicode("0") + _binunicode("cpu") + _binint(arr.size) + b"t" + b"Q"
    pkl += _binint(0) + b"(" + b"".join(_binint(s) for s in arr.shape) + b"t"
    pkl += b"(" + b"".join(_binint(s) for s in strides) + b"t"
    pkl += b"\x89" + b"ccollections\nOrderedDict\n" + b")R" + b"tR."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{name}/data.pkl", pkl)
        z.writestr(f"{name}/byteorder", "little")
        z.writestr(f"{name}/data/0", arr.tobytes())
        z.writestr(f"{name}/version", "3\n")
    return buf.getvalue()


def _write_archive(path, grid, paths, t_norm, Q):
    B, P, L = paths.shape
    tensors = {
        "grid": (grid / t_norm)[..., None].astype(np.float32),
        "noisy_sample_paths": paths[..., None].astype(np.int16),
        "mask_seq_lengths": np.full((B, P), L, np.int32),
        "time_normalization_factors": np.full(B, t_norm, np.float32),
        "intensity_matrices": Q.astype(np.float32),
        "adjacency_matrices": (Q > 0).astype(np.int32),
        "initial_distributions": np.tile(DFR_PI, (B, 1)).astype(np.float32),
    }
    with zipfile.ZipFile(path, "w") as z:
        for stem, arr in tensors.items():
            name = f"fine_grid_{stem}"
            z.writestr(f"6_st_DFR_V=1/{name}.pt", _torch_save_bytes(arr, name))
            z.writestr(f"__MACOSX/6_st_DFR_V=1/._{name}.pt", b"resource fork, not a tensor")
        z.writestr("6_st_DFR_V=1/config.yaml", "seed: 0\n")


def test_read_torch_tensor_strided():
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(read_torch_tensor(_torch_save_bytes(a, "x")), a)


def test_dfr_archive_reader(tmp_path):
    d = make_dfr_dataset(0, 8, grid_size=12)
    B = 2
    paths = np.stack([d["states"][:4], d["states"][4:]])
    grid = np.broadcast_to(d["times"][0], (B, 4, 12))
    Q = np.stack([dfr_rate_matrix()] * B)
    path = tmp_path / "6_st_DFR_V=1.zip"
    _write_archive(path, grid, paths, 2.5, Q)
    out = load_dfr_archive(path)
    assert out["times"].shape == (B, 4, 12) and out["states"].shape == (B, 4, 12)
    np.testing.assert_allclose(out["times"], grid, rtol=1e-6)  # times back in data units
    np.testing.assert_array_equal(out["states"], paths)
    np.testing.assert_array_equal(out["lengths"], 12)
    np.testing.assert_allclose(out["t_norm"], 2.5)
    np.testing.assert_allclose(out["Q"], Q, rtol=1e-6)
    np.testing.assert_allclose(out["p0"][0], DFR_PI, rtol=1e-6)
    np.testing.assert_allclose(dfr_parameters(out["Q"][0]), (1, 1, 1), atol=1e-6)
    # the unpacked folder reads the same
    with zipfile.ZipFile(path) as z:
        z.extractall(tmp_path / "unpacked")
    again = load_dfr_archive(tmp_path / "unpacked")
    np.testing.assert_array_equal(again["states"], out["states"])


def test_dfr_archive_missing_file(tmp_path):
    path = tmp_path / "broken.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x/fine_grid_grid.pt", _torch_save_bytes(np.zeros((1, 1, 2, 1), np.float32), "g"))
    with pytest.raises(KeyError, match="fine_grid_noisy_sample_paths.pt"):
        load_dfr_archive(path)
