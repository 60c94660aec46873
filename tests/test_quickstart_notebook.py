import json

import pytest
from notebook_util import execute_notebook


@pytest.mark.slow
def test_quickstart_notebook_runs(repo, tmp_path):
    out = execute_notebook(repo / "notebooks/00_quickstart.py",
                           {"steps": 150, "eval_samples": 200, "runs_dir": str(tmp_path / "runs")}, tmp_path)
    text = out.read_text()
    assert "trained 2 runs" in text
    for c in ("independent", "ot"):
        final = json.loads((tmp_path / "runs/quickstart" / f"flow_matching_2d_{c}_150" / "final.json").read_text())
        assert final["w2"] < final["w2_source_target"]
    # The straightness statement is measured in the run, with its rule.
    assert "OT-coupled paths are" in text and "(rule: lower mean ratio)" in text
