"""The population-embeddings study notebook runs end to end with small parameters (no recorded runs)."""

import json

from notebook_util import execute_notebook

DATA = ["task.num_patients=6", "task.num_test_patients=2", "task.num_cells=64", "task.points=16",
        "task.latent=4", "task.enc_width=8", "task.enc_depth=1", "task.fc_depth=1", "task.geometry_sources=4",
        "task.geometry_points=16", "train.steps=3"]


def test_population_embeddings_notebook_executes(repo, tmp_path):
    runs_dir = tmp_path / "runs"
    mfm = [*DATA, "task.eval_points=32", "task.populations_per_batch=2", "task.width=8", "task.depth=1",
           "task.time_dim=4", "task.k=3", "task.gcn_depth=1", "task.embed_width=4", "task.eval_populations=3",
           "task.eval_steps=2"]
    gde = [*DATA, "task.populations_per_batch=2", "task.gen_width=8", "task.gen_depth=1", "task.ddpm_steps=4",
           "task.eval_populations=2"]
    params = dict(datasets=["patients"], seeds=[0], configs={"patients": ["gcn scratch", "resnet frozen"]},
                  recorded="", fm_reference=False,
                  overrides=mfm, gde_overrides=gde, runs_dir=str(runs_dir))
    out = execute_notebook(repo / "notebooks/10_study_population_embeddings.py", params, tmp_path)
    exp = runs_dir / "study_population_embeddings_patients"
    assert sorted(p.parent.name for p in exp.glob("*/final.json")) == ["gcn_scratch_seed0", "gde_resnet_seed0",
                                                                       "resnet_frozen_seed0"]
    text = out.read_text()
    assert "| GCN (MFM) | scratch |" in text and "| GDE ResNet | frozen |" in text and "notebook wall time" in text
    # the prose is formatted from this execution's results
    final = json.loads((exp / "resnet_frozen_seed0/final.json").read_text())
    gcn = json.loads((exp / "gcn_scratch_seed0/final.json").read_text())
    word = "lower" if final["test_w2"] < gcn["test_w2"] else "higher"
    assert f"resnet frozen {final['test_w2']:.3f} is clearly {word} than gcn scratch {gcn['test_w2']:.3f}" in text
    assert "0 read from (nothing), 2 run here" in text
    gde = json.loads((exp / "gde_resnet_seed0/final.json").read_text())
    assert f"| patients | GDE ResNet | {gde['geometry_spearman']:.3f} ± 0.000 | {gde['recon_w2_unseen']:.3f}" in text
