"""`fim_mjp` evaluated on a published DFR path archive (`task.dfr_path`) instead of simulated DFR paths.

The archive is written here in the published format of OpenFIM's `6_st_DFR_V=*.zip` (tensor files
`fine_grid_<name>.pt` saved by torch, with their dtypes and shapes: paths int16 [1, P, L, 1], grid float32
[1, P, L, 1] divided by the time normalisation, sequence lengths int32 [1, P, 1], ...), from paths of a
DFR at V = 2 so that its rate matrix differs from the task's default V = 1.
"""

import zipfile

import numpy as np
import pytest
from test_fim_data import DFR_PI, _torch_save_bytes

from sciml.data.mjp import dfr_rate_matrix, simulate_processes
from sciml.fim import mle_rate_matrix, rate_rmse
from sciml.runner import load, load_config, run

T_NORM = 2.5
SMALL = [
    "train.steps=1", "train.log_every=1", "task.transition_tokens=false", "task.width=16", "task.depth=1",
    "task.num_heads=2", "task.ff_width=16",
    "task.num_queries=2", "task.head_width=16", "task.num_processes=16", "task.paths_per_process=4",
    "task.grid_size=12", "task.dfr_grid_size=25", "task.min_states=2", "task.max_states=3", "task.batch_size=2",
    "task.min_paths=2", "task.max_paths=4", "task.eval_processes=4", "task.eval_mle_processes=0",
    "task.dfr_batches=2", "task.dfr_paths=40", "task.path_counts=[8,16]", "task.cache=false",
]


def _write_dfr_archive(path, num_paths=96, grid_size=25, V=2.0):
    Q = dfr_rate_matrix(V, 1.0, 1.0)
    grid = np.linspace(0.0, T_NORM, grid_size).astype(np.float32)
    states = simulate_processes(Q[None], DFR_PI[None] / DFR_PI.sum(), grid, num_paths, seed=3)[0]
    tensors = {
        "grid": np.broadcast_to(grid / T_NORM, (1, num_paths, grid_size))[..., None].astype(np.float32),
        "noisy_sample_paths": states[None, ..., None].astype(np.int16),
        "sample_paths": states[None, ..., None].astype(np.int16),
        "masks": np.ones((1, num_paths, grid_size, 1), bool),
        "mask_seq_lengths": np.full((1, num_paths, 1), grid_size, np.int32),
        "time_normalization_factors": np.array([T_NORM], np.float32),
        "intensity_matrices": Q[None].astype(np.float32),
        "adjacency_matrices": (Q[None] > 0).astype(np.int32),
        "initial_distributions": DFR_PI[None].astype(np.float32),
    }
    with zipfile.ZipFile(path, "w") as z:
        for stem, arr in tensors.items():
            if arr.dtype == bool:
                continue  # the masks are not read (our writer has no BoolStorage)
            z.writestr(f"6_st_DFR_V=2/fine_grid_{stem}.pt", _torch_save_bytes(np.ascontiguousarray(arr), stem))
        z.writestr("6_st_DFR_V=2/config.yaml", "seed: 0\n")
        z.writestr("6_st_DFR_V=2/subset_sizes.txt", f"all_data: {1}\n")
    return Q, grid, states


def test_dfr_sets_come_from_the_archive(tmp_path):
    Q, grid, states = _write_dfr_archive(tmp_path / "6_st_DFR_V=2.zip")
    config = load_config("experiments/fim/pretrain.yaml", [*SMALL, f"task.dfr_path={tmp_path / '6_st_DFR_V=2.zip'}"])
    q, t_norm, dfr_set, pool = config.task.dfr_sets()
    np.testing.assert_allclose(q, Q, rtol=1e-6)
    assert t_norm == T_NORM
    np.testing.assert_array_equal(dfr_set["states"], states[:80])  # dfr_batches x dfr_paths paths
    np.testing.assert_array_equal(pool["states"], states[80:96])  # then max(path_counts) more, disjoint
    np.testing.assert_allclose(dfr_set["times"], np.broadcast_to(grid, (80, 25)), rtol=1e-6)  # data units
    np.testing.assert_array_equal(pool["lengths"], 25)
    # simulated by default: the task's own V = 1 rate matrix
    q_sim, t_sim, sim, _ = load_config("experiments/fim/pretrain.yaml", SMALL).task.dfr_sets()
    np.testing.assert_allclose(q_sim, dfr_rate_matrix(1.0, 1.0, 1.0))
    assert t_sim == 2.5 and sim["states"].shape == (80, 25)


def test_archive_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.zip does not exist"):
        load_config("experiments/fim/pretrain.yaml", [*SMALL, f"task.dfr_path={tmp_path / 'nothing.zip'}"])
    _write_dfr_archive(tmp_path / "short.zip", num_paths=10)
    config = load_config("experiments/fim/pretrain.yaml", [*SMALL, f"task.dfr_path={tmp_path / 'short.zip'}"])
    with pytest.raises(ValueError, match=r"short.zip: 10 paths, but the evaluation needs .* = 96"):
        config.task.dfr_sets()


@pytest.mark.slow
def test_sciml_eval_re_evaluates_a_run_on_the_archive(tmp_path):
    archive = tmp_path / "6_st_DFR_V=2.zip"
    Q, grid, states = _write_dfr_archive(archive)
    r = run("experiments/fim/pretrain.yaml", SMALL, runs_dir=tmp_path / "runs", progress=False)
    again = load(r.dir, overrides=[f"task.dfr_path={archive}"]).evaluate(out_dir=tmp_path / "eval")
    # the MLE column is computed on the archive's paths against the archive's rate matrix
    mle = [mle_rate_matrix(np.broadcast_to(grid, (40, 25)), states[sl], np.full(40, 25), n_states=6)
           for sl in (slice(0, 40), slice(40, 80))]
    np.testing.assert_allclose(again["dfr_rmse_mle"], rate_rmse(np.mean(mle, 0), Q), rtol=1e-5)
    assert again["dfr_rmse_mle"] != pytest.approx(r.final["dfr_rmse_mle"])
    assert (tmp_path / "eval" / "dfr_rate_matrices.png").exists()
