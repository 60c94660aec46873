"""The PFGM-GDE study notebook runs end to end with small parameters and formats its answer from the runs."""

import json

import pytest
from notebook_util import execute_notebook


@pytest.mark.slow
def test_pfgm_gde_notebook_executes_and_reports_from_its_runs(repo, tmp_path):
    runs_dir = tmp_path / "runs"
    small = ["task.width=8", "task.latent=4", "task.gen_width=8", "task.gen_depth=1", "task.ddpm_steps=4",
             "task.num_steps=2", "task.eval_sample_w2_points=8", "task.interp_pairs=1", "task.interp_steps=3",
             "train.log_every=1", "train.checkpoint_every=0"]
    params = dict(use_recorded=False, steps=2, sets_per_batch=2, set_size=8, eval_sets=4, eval_samples=16,
                  spearman_sets=4, Ds=[4, "inf"], seeds=[0], robust_steps=[1, 2], include_ddpm=True,
                  overrides=small, runs_dir=str(runs_dir))
    out = execute_notebook(repo / "notebooks/08_study_pfgm_gde.py", params, tmp_path)
    finals = {p.parent.name: json.loads(p.read_text()) for p in runs_dir.glob("study_pfgm_generator/*/*/final.json")}
    assert sorted(finals) == ["D=4,seed=0", "D=inf,seed=0", "generator=ddpm,robust_steps=[],seed=0"]
    text = out.read_text()
    f4, finf = finals["D=4,seed=0"], finals["D=inf,seed=0"]
    assert f"| PFGM++ D = 4 | 3 | {f4['recon_w2']:.3f} ± nan |" in text
    assert f"W2 {f4['recon_w2']:.3f} ± nan vs {finf['recon_w2']:.3f} ± nan at D = inf" in text
    assert f"| 4 | {f4['recon_w2_nfe1']:.3f} ± nan | {f4['recon_w2_nfe3']:.3f} ± nan |" in text
    assert "runs trained by this notebook" in text and "notebook wall time" in text


def test_pfgm_gde_notebook_reads_the_recorded_runs(repo, tmp_path):
    # The default mode: every number of the answer comes from results/studies/pfgm_generator.
    out = execute_notebook(repo / "notebooks/08_study_pfgm_gde.py", dict(runs_dir=str(tmp_path / "runs")), tmp_path)
    text = out.read_text()
    rec = repo / "results/studies/pfgm_generator/normal_d5"
    w = [json.loads((rec / f"D=inf,seed={s}/final.json").read_text())["recon_w2"] for s in (0, 1)]
    assert f"{sum(w) / 2:.3f} ± {abs(w[0] - w[1]) / 2**0.5:.3f} at D = inf" in text
    assert "recorded runs in `results/studies/pfgm_generator/normal_d5`" in text and "**Answer" in text
