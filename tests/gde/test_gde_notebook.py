"""The GDE notebook runs end to end with small parameters."""

import json

import pytest
from notebook_util import execute_notebook


@pytest.mark.slow
def test_gde_notebook_executes(repo, tmp_path):
    runs_dir = tmp_path / "runs"
    params = dict(steps=10, sets_per_batch=4, set_size=16, eval_sets=4, eval_samples=40, spearman_sets=8,
                  runs_dir=str(runs_dir), datasets=["normal_d2", "shared_mean_d2"], encoders=["resnet", "mean"])
    out = execute_notebook(repo / "notebooks/03_gde.py", params, tmp_path)
    finals = sorted(runs_dir.glob("gde/*/final.json"))
    assert len(finals) == 4
    for f in finals:
        assert "recon_w2" in json.loads(f.read_text())
    text = out.read_text()
    assert "| normal_d2 | GDE (ResNet) |" in text and "notebook wall time" in text
