"""The flux constraint: exact for P1 fields, satisfied by the LBM ground truth to the stated tolerance."""

import numpy as np
import pytest
from scipy.spatial import Delaunay

from sciml.data import cylinder_flow as cf
from sciml.studies.conserved_rollout import flux_constraint, relative_imbalance, section_weights
from sciml.studies.conserved_rollout.evaluation import drift

# The tiny LBM data of the meshformer tests (same config and folder, so a session generates it once).
TINY = dict(num_train=8, num_test=1, num_frames=6, warmup=5.0, lattice_ny=24, reynolds=(100.0, 120.0), h_min=0.03,
            h_max=0.08)

#: Stated tolerance: RMS over the sections of |G v - b| / Q_in, per frame, for the LBM data on these coarse
#: meshes (measured: <= 0.074 on the tiny data; <= 0.064 per frame and 0.03 RMS on the full-scale test split).
TRUTH_TOLERANCE = 0.08


def _rectangle_mesh(n=300, seed=0, length=1.6, height=0.41):
    rng = np.random.default_rng(seed)
    ys = np.linspace(0, height, 9)
    xs = np.linspace(0, length, 25)
    edge = np.concatenate([np.stack([np.zeros(9), ys], 1), np.stack([np.full(9, length), ys], 1),
                           np.stack([xs[1:-1], np.zeros(23)], 1), np.stack([xs[1:-1], np.full(23, height)], 1)])
    pos = np.concatenate([edge, rng.uniform([0.01, 0.01], [length - 0.01, height - 0.01], (n, 2))])
    return pos, Delaunay(pos).simplices


def test_section_integral_is_exact_for_linear_fields():
    pos, cells = _rectangle_mesh()
    u = 0.7 + 0.3 * pos[:, 0] - 2.0 * pos[:, 1]  # P1 interpolation of a linear field is the field itself
    for c in (0.123, 0.81, 1.55):
        want = (0.7 + 0.3 * c) * 0.41 - 2.0 * 0.41**2 / 2
        np.testing.assert_allclose(section_weights(pos, cells, c) @ u, want, rtol=1e-12)
    con = flux_constraint(pos, cells, 5, num_nodes=len(pos) + 4)
    v = np.zeros((len(pos) + 4, 2))
    v[: len(pos), 0] = 1.0 + 0.0 * pos[:, 0]
    v[: len(pos), 1] = 5.0  # u_y must not enter the flux
    np.testing.assert_allclose(con.G @ v.reshape(-1), 0.41, rtol=1e-12)
    np.testing.assert_allclose(con.rhs(v), 0.41, rtol=1e-12)
    assert con.G.shape == (6, 2 * (len(pos) + 4)) and np.all(con.G[:, 1::2] == 0) and np.all(con.G[:, -8:] == 0)
    np.testing.assert_allclose(con.sections[-1], 1.6)


def test_sections_through_the_cylinder_skip_the_hole():
    geo = cf.Geometry(1.6, 0.41, (0.3, 0.2), 0.05)
    pos, cells, _ = cf.make_mesh(geo, 0.02, 0.05, rng=np.random.default_rng(0))
    w = section_weights(pos, cells, 0.3 + 1e-4)  # through the centre: fluid height 0.41 - 2 r (polygonal disc)
    assert abs(w.sum() - (0.41 - 0.1)) < 2e-3
    with pytest.raises(ValueError, match="passes through a node"):
        section_weights(pos, cells, float(pos[0, 0]))


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from sciml.meshformer import MeshTask

    config = MeshTask(**TINY).data_config
    return cf.cylinder_flow(config, data_dir=tmp_path_factory.getbasetemp() / "meshformer_tiny_data")


def test_lbm_ground_truth_satisfies_the_flux_balance_within_tolerance_and_noise_does_not(tiny_data):
    worst = 0.0
    for traj in tiny_data["train"] + tiny_data["test"]:
        con = flux_constraint(traj["mesh_pos"], traj["cells"], 7)
        worst = max(worst, float(drift(con, traj["velocity"]).max()))
        assert relative_imbalance(con, traj["velocity"]).shape == (len(traj["velocity"]), 8)
    assert worst < TRUTH_TOLERANCE, worst
    # The check can fail: the same fields with a smooth perturbation of u_x do not balance.
    traj = tiny_data["test"][0]
    con = flux_constraint(traj["mesh_pos"], traj["cells"], 7)
    bumped = traj["velocity"].copy()
    bumped[..., 0] *= 1.0 + 0.5 * np.sin(4 * traj["mesh_pos"][:, 0])
    bumped[:, traj["node_type"][:, 0] == cf.INFLOW] = traj["velocity"][:, traj["node_type"][:, 0] == cf.INFLOW]
    assert drift(con, bumped).min() > 2 * TRUTH_TOLERANCE
