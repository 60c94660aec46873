import json

import pytest
from notebook_util import execute_notebook


@pytest.mark.slow
def test_pfgmpp_notebook_runs(repo, tmp_path):
    params = {"steps": 60, "Ds": [4, 16, "inf"], "eval_samples": 100, "robust_alphas": [0.2], "robust_steps": [4],
              "robust_bits": [4], "runs_dir": str(tmp_path / "runs")}
    out = execute_notebook(repo / "notebooks/01_pfgmpp.py", params, tmp_path)
    text = out.read_text()
    assert "notebook run time" in text and "images/s at NFE 35" in text
    summary = json.loads((tmp_path / "runs/pfgmpp/summary.json").read_text())
    assert set(summary["fd"]) == {"4", "16", "inf"}
    assert (tmp_path / "runs/pfgmpp/robustness.png").exists()
    final = json.loads((tmp_path / "runs/pfgmpp/digits_D4_60/final.json").read_text())
    assert {"fd", "w2", "mmd", "fd_alpha0.2", "fd_nfe7", "fd_bits4"} <= set(final)
    # The verdict is formatted from this run's results, with the rule that decides each word.
    fd = summary["fd"]
    assert f"D = 4: {fd['4']:.1f}, D = 16: {fd['16']:.1f}, D = inf: {fd['inf']:.1f}" in text
    assert "(rule: beats if lower by more than 1 FD, ties within 1 FD)" in text
    assert "Claim 2, noise injection" in text and "Spearman correlation between D and" in text
    assert "1.96" not in text
