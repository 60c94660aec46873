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
    # The verdict is formatted from this run's results, with the rule that decides each word.
    f = next(json.loads(p.read_text()) for p in finals if p.parent.name.startswith("normal_d2_resnet"))
    assert "(rule: Spearman at least the original's 0.96 - 0.05)" in text
    assert f"GDE (ResNet) {f['spearman']:.3f}." in text
    assert f"{f['interp_w2_gde']:.3f} vs {f['interp_w2_mixture']:.3f}." in text
    assert "reference notes" not in text
    # The recorded paper-scale run (results/gde/paper_normal_d5_resnet_seed42) is read, and its verdict on the
    # W2 target is formatted from it.
    rec = json.loads((repo / "results/gde/paper_normal_d5_resnet_seed42/final.json").read_text())
    met = "met" if rec["recon_w2"] <= 0.06 else "not met"
    assert f"Normal d = 5, GDE (ResNet), seed 42: the target is {met}** (rule: reconstruction W2 at most 0.06" in text
    assert f"W2 {rec['recon_w2']:.3f} (paper, Table 5: GDE (ResNet) 0.02)" in text
