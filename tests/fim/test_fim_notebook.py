"""notebooks/07_fim.py runs end to end with small parameters."""

import json

import pytest
from notebook_util import execute_notebook


@pytest.mark.slow
def test_fim_notebook_runs(repo, tmp_path):
    runs = tmp_path / "runs"
    params = dict(
        runs_dir=str(runs), steps=10, num_processes=48, eval_processes=15, dfr_batches=1, dfr_paths=32,
        path_counts=[1, 32], cache_data=False,  # results_dir: the recorded runs under results/fim, read only
    )
    out = execute_notebook(repo / "notebooks" / "07_fim.py", params, tmp_path)
    run_dirs = {p.name: p for p in runs.glob("fim/*")}
    assert len(run_dirs) == 2  # ours and the original's tokens and heads on the same budget
    ours = next(p for name, p in run_dirs.items() if not name.startswith("pretrain_original"))
    final = json.loads((ours / "final.json").read_text())
    original = json.loads((run_dirs["pretrain_original_10_48"] / "final.json").read_text())
    assert {"dfr_rmse_fim", "dfr_rmse_mle", "synthetic_rmse", "dfr_rmse_paths32_chunked"} <= set(final)
    assert (ours / "dfr_rate_matrices.png").exists() and (ours / "rmse_paths_states.png").exists()
    text = out.read_text()
    assert "notebook total" in text
    # The verdict is formatted from this run's results, with the rule that decides each qualitative word.
    assert "DFR, zero-shot" in text and f"Ours {final['dfr_rmse_fim']:.3f}" in text
    assert "rule: reproduced if our RMSE is at most 1.5x" in text
    assert f"original {original['dfr_rmse_fim']:.3f}" in text
    # The diagnosis: the support verdict and the probe table are formatted from this run.
    assert "the prior&#39;s support" in text or "the prior's support" in text
    assert "R² jumps i→j" in text and "lowest read-out of the jumps" in text
    recorded = sorted((repo / "results" / "fim").glob("zero_shot*_seed*/final.json"))
    for path in recorded:  # the recorded runs' rows and verdicts are formatted from their final.json
        f = json.loads(path.read_text())
        assert f"{f['dfr_rmse_fim']:.3f} ± {f['dfr_rmse_fim_sd']:.3f}" in text
        if "beats_mle_n2_paths1" in f:  # the FIM-vs-MLE table of issue 17
            assert "fraction on which FIM" in text and f"{f['beats_mle_n6_paths300']:.2f}" in text
        if (path.parent / "generalisation").is_dir():
            assert "DFR RMSE at V = 0.5, 1, 1.5" in text
    if recorded:
        assert "Recorded first round: target" in text
    assert "0.660" not in text
