import json

import pytest
from notebook_util import execute_notebook

SMALL = ["task.width=16", "task.depth=1", "task.time_dim=8", "task.points=32", "task.k=4", "task.gcn_depth=1",
         "task.embed_width=8", "task.eval_populations=2", "task.eval_points=48", "task.eval_steps=4",
         "task.num_rotations=1", "task.num_patients=6", "task.num_test_patients=2", "task.num_cells=64"]


@pytest.mark.slow
def test_mfm_notebook_runs(repo, tmp_path):
    runs = tmp_path / "runs"
    # k, gcn_depth and embed_width exist only on `mfm`: the notebook passes them to MFM runs alone.
    out = execute_notebook(repo / "notebooks/02_mfm.py",
                           {"seeds": [0], "steps_letters": 6, "steps_patients": 6, "steps_noise": 4,
                            "methods": ["cgfm", "mfm"],
                            "overrides": SMALL, "runs_dir": str(runs)}, tmp_path)
    text = out.read_text()
    assert "trained 4 runs" in text and "MFM (k>0)" in text and "CGFM" in text
    assert "noise 1.0: MFM (k>0) test W2" in text
    for ds, m in [("letters", "mfm"), ("patients", "cgfm"), ("patients", "mfm")]:
        final = json.loads((runs / f"mfm_{ds}" / f"{m}_seed0_6" / "final.json").read_text())
        assert {"train_w2", "test_w2", "test_mmd", "identity_test_w2"} <= final.keys()
    assert (runs / "mfm_letters" / "mfm_seed0_6" / "test_populations.png").exists()
    # The verdicts are formatted from this run's results, with the rule that decides each word.
    letters = json.loads((runs / "mfm_letters" / "mfm_seed0_6" / "final.json").read_text())
    assert f"MFM (k>0) {letters['test_w2']:.3f} is " in text
    assert "(rule: MFM's mean test W2 below both baselines')" in text
    assert "CGFM ≈ MFM" not in text and "CGFM \\u2248 MFM" not in text
    assert "(rule: clearly = the means differ by more than twice the larger std over seeds)" in text
