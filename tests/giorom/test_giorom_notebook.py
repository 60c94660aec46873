import json

import pytest
from notebook_util import execute_notebook


@pytest.mark.slow
def test_giorom_notebook_runs(repo, tmp_path):
    params = {"steps_gns": 6, "steps_giorom": 6, "sparsities": [0.25], "num_particles": 64, "num_frames": 12,
              "num_train": 1, "num_test": 1, "scaling_counts": [64], "timing_steps": 2, "scaling_steps": 2,
              "runs_dir": str(tmp_path / "runs")}
    out = execute_notebook(repo / "notebooks/05_giorom.py", params, tmp_path)
    text = out.read_text()
    assert "trained 2 runs" in text and "notebook finished" in text
    final = json.loads((tmp_path / "runs/giorom/giorom_n64_p25_s6/final.json").read_text())
    assert final["n_sparse"] == 16 and final["chamfer"] >= 0
    assert (tmp_path / "runs/giorom/gns_n64_s6/snapshots.png").exists()
    # The verdict is formatted from this run's results, with the rule that decides each word.
    gns = json.loads((tmp_path / "runs/giorom/gns_n64_s6/final.json").read_text())
    assert f"GIOROM 25% (16 particles stepped): dense rollout MSE {final['dense_mse']:.3g}" in text
    assert f"GNS's {gns['dense_mse']:.3g}" in text
    assert "the abstract's 25x** (rule: at least 16.7x" in text
    assert "closing note of issue" not in text
