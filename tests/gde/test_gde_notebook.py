"""The GDE notebook runs end to end with small parameters."""

import json
import shutil

import numpy as np
import pytest
import scipy.linalg
import yaml
from notebook_util import execute_notebook

from sciml.gde import ddpm_schedule, gaussian_eps_loss
from sciml.gde.task import GDETask
from sciml.runner import training_summary
from sciml.runner.train import load


@pytest.mark.slow
def test_gde_notebook_executes(repo, tmp_path):
    runs_dir = tmp_path / "runs"
    # The recorded paper-scale run, with its re-evaluation at the original benchmark's size beside it
    # (`sciml eval ... --out eval_orig_size`).
    # Every recorded seed of it is copied: the comparisons below take the mean over them.
    resnet_seeds = sorted((repo / "results/gde").glob("paper_normal_d5_resnet_seed*"))
    for path in resnet_seeds:
        shutil.copytree(path, tmp_path / "results/gde" / path.name)
    # The recorded mixture runs (paper_gmm_d5.yaml), GDE's and the baselines', with their re-evaluations at 10,000
    # points per set.
    mixture_runs = sorted((repo / "results/gde").glob("paper_gmm_d5_*_seed*"))
    for path in mixture_runs:
        shutil.copytree(path, tmp_path / "results/gde" / path.name)
    # The baseline encoders at the same paper settings (Table 5's "Mean" and "KME" columns), as recorded.
    baselines = {enc: sorted((repo / "results/gde").glob(f"paper_normal_d5_{enc}_seed*")) for enc in ("mean", "kme")}
    assert baselines["mean"], "the recorded mean-only baseline (results/gde/paper_normal_d5_mean_seed42) is missing"
    for path in sum(baselines.values(), []):
        shutil.copytree(path, tmp_path / "results/gde" / path.name)
    # The same mean-only run with the original's DDPM schedule and raw coordinates.
    original_ddpm = "results/gde/origddpm_paper_normal_d5_mean_seed42"
    shutil.copytree(repo / original_ddpm, tmp_path / original_ddpm)
    params = dict(steps=10, sets_per_batch=4, set_size=16, eval_sets=4, eval_samples=40, spearman_sets=8,
                  runs_dir=str(runs_dir), datasets=["normal_d2", "shared_mean_d2", "gmm_d5"],
                  encoders=["resnet", "mean"], results_dir=str(tmp_path / "results/gde"))
    out = execute_notebook(repo / "notebooks/03_gde.py", params, tmp_path)
    finals = sorted(runs_dir.glob("gde/*/final.json"))
    assert len(finals) == 6
    for f in finals:
        assert ("recon_gmm_ot_loss" if f.parent.name.startswith("gmm") else "recon_w2") in json.loads(f.read_text())
    text = out.read_text()
    assert "| normal_d2 | GDE (ResNet) |" in text and "notebook wall time" in text
    # What the paper-scale runs it read (all those copied above) cost to train.
    read = [load(p) for p in sorted((tmp_path / "results/gde").glob("paper_*_seed*"))]
    assert "What they cost: " + training_summary(read) in text
    # The verdict is formatted from this run's results, with the rule that decides each word.
    f = next(json.loads(p.read_text()) for p in finals if p.parent.name.startswith("normal_d2_resnet"))
    assert "(rule: Spearman at least the original's 0.96 - 0.05)" in text
    assert f"GDE (ResNet) {f['spearman']:.3f}." in text
    assert f"{f['interp_w2_gde']:.3f} vs {f['interp_w2_mixture']:.3f}." in text
    assert "reference notes" not in text
    # Mixtures are scored as the original's gmm_benchmark notebook (squared MW2 of an EM fit), with its floor.
    g = next(json.loads(p.read_text()) for p in finals if p.parent.name.startswith("gmm_d5_resnet"))
    assert (f"Reconstruction (GMM OT², the squared MW2 of an EM fit as the original's benchmark notebook), gmm_d5: "
            f"GDE (ResNet) {g['recon_gmm_ot_loss']:.3f}") in text
    assert f"; exact samples {g['recon_gmm_ot_loss_floor']:.3f}" in text
    # The recorded paper-scale run (results/gde/paper_normal_d5_resnet_seed42) is read, and its verdict on the
    # W2 target is formatted from it.
    rec = json.loads((repo / "results/gde/paper_normal_d5_resnet_seed42/final.json").read_text())
    met = "met" if rec["recon_w2"] <= 0.06 else "not met"
    assert f"Normal d = 5, GDE (ResNet), seed 42: the target is {met}** (rule: reconstruction W2 at most 0.06" in text
    assert f"W2 {rec['recon_w2']:.3f} (paper, Table 5: GDE (ResNet) 0.02)" in text
    big = json.loads((repo / "results/gde/paper_normal_d5_resnet_seed42/eval_orig_size/eval.json").read_text())
    met = "met" if big["recon_w2"] <= 0.06 else "not met"
    assert (f"At the original benchmark's evaluation size, the target is {met}** (same rule; 100 held-out sets of "
            "10,000 points each encoded whole and 10,000 points generated per set") in text
    assert (f"W2 {big['recon_w2']:.3f}, exact samples {big['recon_w2_floor']:.3f}, the input set's own moments "
            f"{big['recon_w2_plugin']:.3f}; W2's two parts, means over sets: ||Δμ|| {big['recon_mean_error']:.3f}, "
            f"the covariances' Bures distance {big['recon_cov_bures']:.3f}.") in text
    # Judged again by the score the original's benchmark notebook tabulates (||Δμ|| + Bures², not W2).
    met = "met" if big["recon_mean_plus_bures2"] <= 0.06 else "not met"
    assert (f"By the original benchmark's own score, the target is {met}** (rule: ||Δμ|| + Bures² at most 0.06, "
            "at the same size;") in text
    score = big["recon_mean_plus_bures2"]
    assert f"and the paper does not state): {score:.3f} (paper, Table 5: GDE (ResNet) 0.02)." in text
    # The mixture verdict, formatted from the recorded run by the rule printed beside it (1.25 x the paper's 1.82).
    mixture = repo / "results/gde/paper_gmm_d5_resnet_seed42"
    mix = json.loads((mixture / "final.json").read_text())
    met = "met" if mix["recon_gmm_ot_loss"] <= 1.25 * 1.82 else "not met"
    assert (f"Mixtures d = 5, GDE (ResNet), seed 42: the target is {met}** (rule: GMM OT² at most 1.25 x the "
            f"paper's 1.82 = 2.275): {mix['recon_gmm_ot_loss']:.3f} (paper, Table 2: GDE 1.82, KME+DDPM 2.17), from "
            f"2,000 generated points per set (the original's notebook uses 100,000); exact samples of that size score "
            f"{mix['recon_gmm_ot_loss_floor']:.3f}; Spearman {mix['spearman']:.3f} (original notebook 0.76).") in text
    assert (f"| paper_gmm_d5 GDE (ResNet) seed 42 | 19600 | - | - | - | {mix['recon_w2_sample']:.3f} | "
            f"{mix['recon_w2_sample_floor']:.3f} | {mix['recon_gmm_ot_loss']:.3f} | "
            f"{mix['recon_gmm_ot_loss_floor']:.3f} | {mix['spearman']:.3f} |") in text
    big = json.loads((mixture / "eval_10k/eval.json").read_text())
    met = "met" if big["recon_gmm_ot_loss"] <= 1.25 * 1.82 else "not met"
    assert (f"With 10,000 generated points per set, the target is {met}** (same rule; 100 held-out sets of "
            f"10,000 points each encoded whole): {big['recon_gmm_ot_loss']:.3f}; exact samples of that size score "
            f"{big['recon_gmm_ot_loss_floor']:.3f}; Spearman {big['spearman']:.3f}.") in text
    # GDE against the baseline encoders at the paper's settings, by the mean over the recorded seeds; again at the
    # larger evaluation size with the runs that were re-evaluated there.
    label = {"mean": "mean-only", "kme": "KME"}
    normal = (resnet_seeds, baselines, "eval_orig_size", "recon_w2", "W2", "5",
              {"resnet": "0.02", "mean": "0.03", "kme": "0.04"})
    gmm = ([p for p in mixture_runs if "_resnet_" in p.name],
           {enc: [p for p in mixture_runs if f"_{enc}_" in p.name] for enc in ("mean", "kme")},
           "eval_10k", "recon_gmm_ot_loss", "GMM OT²", "2", {"resnet": "1.82", "kme": "2.17"})
    for cfg, (gde_runs, baseline_runs, larger, score, metric, table, paper) in (("paper_normal_d5", normal),
                                                                                ("paper_gmm_d5", gmm)):
        comparisons = [("", "final.json", score, metric),
                       (f", re-evaluated as `{larger}` above", f"{larger}/eval.json", score, metric)]
        if cfg == "paper_normal_d5":
            comparisons.append((f", `{larger}` by the original's own score", f"{larger}/eval.json",
                                "recon_mean_plus_bures2", "||Δμ|| + Bures²"))
        for where, part, key, metric_name in comparisons:
            gde = [json.loads((p / part).read_text())[key] for p in gde_runs if (p / part).exists()]
            values = {enc: [json.loads((p / part).read_text())[key] for p in paths if (p / part).exists()]
                      for enc, paths in baseline_runs.items()}
            values = {enc: v for enc, v in values.items() if v}
            if not gde or not values:
                continue
            mean = {enc: sum(v) / len(v) for enc, v in values.items()}
            x = sum(gde) / len(gde)
            beats = "beats" if all(x < m for m in mean.values()) else "does not beat"
            seeds = lambda v: "(1 seed)" if len(v) == 1 else f"({len(v)} seeds: {', '.join(f'{x:.3f}' for x in v)})"  # noqa: E731
            assert (f"{cfg}{where}: GDE {beats} the baseline encoders** (rule: a lower mean {metric_name} over seeds "
                    f"than each, same generator and training): GDE (ResNet) {x:.3f} {seeds(gde)}, "
                    + ", ".join(f"{label[e]} {m:.3f} {seeds(values[e])}" for e, m in mean.items())
                    + f" (paper, Table {table}: GDE (ResNet) {paper['resnet']}"
                    + "".join(f", {label[e]} {paper[e]}" for e in mean if e in paper) + ").") in text
    assert any("_kme_" in p.name and (p / "eval_10k/eval.json").exists() for p in mixture_runs), \
        "the recorded KME mixture baseline's eval_10k re-evaluation is missing"
    # The original's schedule and coordinates against ours, same encoder and seed, at both evaluations.
    ours, orig = (repo / "results/gde" / name for name in ("paper_normal_d5_mean_seed42",
                                                          "origddpm_paper_normal_d5_mean_seed42"))
    for where, part in (("final evaluation (64-point sets)", "final.json"),
                        ("original benchmark's size", "eval_orig_size/eval.json")):
        a, b = (json.loads((r / part).read_text())["recon_w2"] for r in (ours, orig))
        met = "reach" if b <= 0.06 else "do not reach"
        assert (f"At the {where}, the original's schedule and coordinates {met} the target** (rule: W2 at most 0.06): "
                f"W2 {b:.3f} against {a:.3f} with ours ({b / a - 1:+.1%}; mean-only encoder, seed 42, one run "
                "each).") in text
    # Every recorded generator's covariance error is that of one blind to the set's covariance.
    assert "No recorded generator reproduces the set's covariance** (rule: the Bures distance between generated" in text
    # ... though the 64-point sets carry it: the inverse-Wishart posterior mean given each held-out set, computed
    # here from the task's own held-out sets with NumPy's covariance, is far from the covariance-blind guess.
    task = GDETask(**{k: v for k, v in yaml.safe_load((ours / "config.yaml").read_text())["task"].items()
                      if k != "name"})
    p, sets = task.eval_data()
    covs, x, d = p["covs"][:task.eval_sets], sets[:task.eval_sets].astype(np.float64), task.dim
    post = [(task.cov_scale * np.eye(d) + (len(s) - 1) * np.cov(s, rowvar=False)) / (task.df + len(s) - d - 2)
            for s in x]
    informed = np.mean([_bures(c, q) for c, q in zip(covs, post)])
    blind = np.mean([_bures(c, task.cov_scale * np.eye(d) / (task.df - d - 1)) for c in covs])
    assert informed < 0.8 * blind
    assert (f"The 64-point sets do carry their covariance** (rule: the posterior-mean covariance given the set scores "
            f"a Bures distance at least 20% below the covariance-blind {blind:.3f}): {informed:.3f} "
            f"({informed / blind - 1:+.0%}).") in text
    # ... and the DDPM loss barely rewards knowing it (closed form, checked against sampling in test_gde_generators).
    _, abar = ddpm_schedule(task.ddpm_steps, task.ddpm_schedule)
    scale = task.normalisation()[1]
    lam = np.linalg.eigvalsh(covs) / scale**2
    aware = np.mean([gaussian_eps_loss(a, lam, lam).mean() for a in np.asarray(abar)])
    unaware = np.mean([gaussian_eps_loss(a, lam, task.cov_scale / (task.df - d - 1) / scale**2).mean()
                       for a in np.asarray(abar)])
    assert unaware > aware
    assert (f"The training loss barely rewards the covariance:** averaged over the {task.ddpm_steps} noise levels, "
            f"the best denoiser that knows each set's covariance scores {aware:.4f} per coordinate against "
            f"{unaware:.4f}") in text
    # ... and no weighting of the levels can raise the covariance's share above the largest one level gives.
    per_level = [gaussian_eps_loss(a, lam, task.cov_scale / (task.df - d - 1) / scale**2).mean()
                 / gaussian_eps_loss(a, lam, lam).mean() - 1 for a in np.asarray(abar)]
    assert max(per_level) > unaware / aware - 1
    assert (f"Weighting the noise levels cannot change that much:** level by level, the covariance-blind best "
            f"denoiser's loss is at most {max(per_level):.1%} above the covariance-aware one's (at step "
            f"{int(np.argmax(per_level)) + 1} of {task.ddpm_steps},") in text


def _bures(a, b):
    """Bures distance between two covariance matrices, via SciPy's matrix square root."""
    ra = scipy.linalg.sqrtm(a)
    return float(np.sqrt(max(np.trace(a) + np.trace(b) - 2 * np.trace(scipy.linalg.sqrtm(ra @ b @ ra)).real, 0)))
