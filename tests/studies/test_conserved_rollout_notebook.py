"""The conserved-rollout notebook runs end to end on tiny data and formats its answer from the runs."""

import json

from notebook_util import execute_notebook

# The tiny LBM data of the meshformer tests (same config and folder, so a session generates it once).
TINY_DATA = [
    "task.num_train=8", "task.num_test=1", "task.num_frames=6", "task.warmup=5.0", "task.lattice_ny=24",
    "task.reynolds=[100.0, 120.0]", "task.h_min=0.03", "task.h_max=0.08", "task.noise=0.002",
]


def test_conserved_rollout_notebook_runs_and_reports_its_runs(repo, tmp_path, tmp_path_factory):
    data_dir = tmp_path_factory.getbasetemp() / "meshformer_tiny_data"
    params = {
        "models": ["mgn", "transformer"], "seeds": [0, 1], "rerun": True, "runs_dir": str(tmp_path / "runs"),
        "overrides": TINY_DATA + [f"task.data_dir={data_dir}", "task.width=8", "task.depth=1", "task.num_heads=2",
                                  "train.steps=3", "train.log_every=3", "train.checkpoint_every=0",
                                  "task.timing_repeats=1"],
    }
    out = execute_notebook(repo / "notebooks/09_study_conserved_rollout.py", params, tmp_path)
    text = out.read_text()
    assert "4 runs (re-run)" in text and "within the tolerance" in text and "LBM ground truth" in text
    finals = {(m, s): json.loads((tmp_path / "runs/studies/conserved_rollout" / f"{m}_seed{s}" / "final.json")
                                 .read_text()) for m in ("mgn", "transformer") for s in (0, 1)}
    for f in finals.values():
        assert f["hardc/drift_all"] < 1e-4 and f["probconserv/drift_all"] < 1e-4 and f["plain/drift_all"] > 1e-3
    plain = (finals["mgn", 0]["plain/rollout_rmse_all"] + finals["mgn", 1]["plain/rollout_rmse_all"]) / 2
    assert f"**mgn** (plain: all-rollout RMSE {plain:.3f}" in text
