# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Generative Distribution Embeddings (GDE) on Gaussian and Gaussian-mixture sets
#
# A GDE is an autoencoder for *distributions*: an encoder reads a set of samples and returns a latent
# z, and a conditional generator G(· | z) is trained to produce samples of the distribution the set
# came from. Encoder and generator are trained jointly by the generator's own loss (one optimiser,
# the paper's Algorithm 1). The encoder must be *distributionally invariant* (invariant to
# permuting and to duplicating the points), so every set-level operation is a mean or a softmax.
#
# This notebook reproduces the paper's synthetic results at laptop scale:
#
# 1. **Reconstruction W2** on held-out sets for GDE vs the kernel-mean-embedding (KME) encoder with
#    the same generator vs a mean-only encoder (paper Table 2: Normal 0.02 / GMM 1.82 for GDE).
# 2. **Latent geometry**: Spearman correlation between latent L2 distance and the true W2 over pairs
#    of held-out sets (the original repository's notebooks: 0.96 for Gaussians, 0.76 for mixtures).
# 3. **Interpolation**: decoding z_t = (1 - t) z0 + t z1 approximately follows the McCann (optimal
#    transport) path between two Gaussians, unlike the linear mixture (1 - t) P0 + t P1.
# 4. A **varying-covariance benchmark** (shared mean), where the mean-only encoder cannot win.
#
# Deviations from the paper / original code (also in the docstrings):
# - Generator: conditional flow matching sampled with diffrax (32 Heun steps) by default (our choice
#   for a CPU budget); the DDPM of the paper is `task.generator=ddpm`, and a
#   sliced-W2 direct generator is `task.generator=direct`.
# - Data: fresh random sets every step (an infinite stream) instead of a fixed 10k-50k sets; the GMM
#   sets draw 3 Gaussians from the same prior with Dirichlet(1) weights instead of mixing 3 sets of a
#   batch by resampling their points.
# - A fixed affine normalisation (centre of the mean prior, marginal std) before both networks.
# - The DDPM schedule is Ho et al.'s linear schedule expressed for any T (alpha_bar_T = e^-10); the
#   original keeps 1e-4..0.02 at T = 400, which leaves alpha_bar_T = e^-4.
# - W2 is sqrt(|dmu|^2 + Bures^2): the original's helpers add |dmu| to Bures^2 (a distance plus a
#   squared distance), which is not W2.
# - Scale: about 1000 steps of 32 sets x 128 points.
#
# **Cost.** The wall time of every run and of the whole notebook is printed below. Finished runs are
# reopened, not retrained, when the notebook is run again.

# %% tags=["parameters"]
steps = 1000            # training steps per run (full scale: about 10 minutes for all 11 runs on 2 CPU cores)
sets_per_batch = 32     # sets per step
set_size = 128          # points per set
generator = "flow"      # flow | ddpm | direct
eval_sets = 100         # held-out sets whose reconstruction is measured
eval_samples = 1000     # generated points per held-out set
spearman_sets = 200     # held-out sets whose pairwise latent distances are ranked against W2
runs_dir = "runs"
datasets = ["normal_d2", "normal_d5", "gmm_d5", "shared_mean_d2"]
encoders = ["resnet", "kme", "mean"]
results_dir = "results/gde"  # recorded paper-scale runs (<config>_<encoder>_seed<seed>); read when present
rerun_recorded = False       # train them all instead (GDE about 1.5-2 h each on one CPU core, the baselines ~40 min)
# (experiments/gde/<config>.yaml, encoder, seed): GDE and the paper's baseline encoders, two seeds each
recorded_runs = [(cfg, enc, seed) for cfg in ("paper_normal_d5", "paper_gmm_d5") for enc in ("resnet", "mean", "kme")
                 for seed in (42, 43)]

# %%
import hashlib
import json
import time

import matplotlib.pyplot as plt
import numpy as np
import yaml
from IPython.display import Image, Markdown, display

from sciml.gde import bures_w2, ddpm_schedule, fit_gaussian, gaussian_eps_loss
from sciml.runner import recorded_run, run, training_summary

started = time.perf_counter()
common = [
    f"train.steps={steps}",
    f"task.sets_per_batch={sets_per_batch}",
    f"task.set_size={set_size}",
    f"task.generator={generator}",
    f"task.eval_sets={eval_sets}",
    f"task.eval_samples={eval_samples}",
    f"task.spearman_sets={spearman_sets}",
]


def gde_run(dataset: str, encoder: str):
    """Train (or reopen) one configuration; the run name encodes every override."""
    overrides = common + [f"task.encoder={encoder}"]
    tag = hashlib.md5(" ".join(overrides).encode()).hexdigest()[:8]
    return run(f"experiments/gde/{dataset}.yaml", overrides + [f"name={dataset}_{encoder}_{tag}"],
               runs_dir=runs_dir, progress=False)


runs = {}
for ds in datasets:
    for enc in encoders:
        if ds == "shared_mean_d2" and enc == "kme" and len(encoders) > 2:
            continue  # the varying-covariance benchmark compares GDE with mean-only
        t0 = time.perf_counter()
        runs[ds, enc] = gde_run(ds, enc)
        print(f"{ds:>15} {enc:>8}: {time.perf_counter() - t0:6.1f} s  ->  {runs[ds, enc].dir}")
print(f"all runs: {time.perf_counter() - started:.0f} s")

# %% [markdown]
# ## 1. Reconstruction W2 on held-out sets (paper Table 2)
#
# For each held-out set we encode it, sample `eval_samples` points from the decoded distribution and
# measure the W2 to the *true* distribution:
# - `W2 fit` (Gaussian data): closed-form W2 between the Gaussian fitted to the generated points and
#   the truth. `floor` is the same number for exact samples of the same count (sampling noise alone);
#   `plug-in` uses the input set's own moments (what a perfect moment estimator from the set gets).
# - `W2 POT`: exact W2 between 500 generated and 500 fresh true points; `POT floor` is that of two
#   independent true samples.
# - `GMM OT²` (mixtures): the score of the original's `notebooks/gmm_benchmark.ipynb`: a mixture with as
#   many components is fitted to the generated points by EM (scikit-learn, started from half the true
#   means and the true covariances and weights) and scored by the *squared* mixture distance MW2² (POT's
#   `gmm_ot_loss`) to the true mixture; `its floor` is the same for exact samples of the same count (EM's
#   local optima and the sampled component weights alone cost that much).
#
# Paper (Table 2, 5-d): Normal W2 — GDE 0.02, KME+DDPM 0.04, W2-Wormhole 0.20; GMM — GDE 1.82,
# KME+DDPM 2.17, Wormhole 2.88. Table 5 (5-d Normal, DDPM generator): mean encoder 0.03, KME 0.04,
# ResNet-GNN 0.02. The paper names its GMM metric only "W2"; the original's benchmark notebook computes
# `GMM OT²` (with 10^5 points per set), which is the column to compare with 1.82.

# %%
label = {"resnet": "GDE (ResNet)", "deepsets": "GDE (DeepSets)", "attention": "GDE (attention)",
         "kme": "KME", "mean": "mean-only"}
paper = {("normal_d5", "resnet"): "0.02", ("normal_d5", "kme"): "0.04", ("normal_d5", "mean"): "0.03",
         ("gmm_d5", "resnet"): "1.82", ("gmm_d5", "kme"): "2.17"}
fmt = lambda f, k: f"{f[k]:.3f}" if k in f else "-"
rows = ["| dataset | encoder | W2 fit | floor | plug-in | W2 POT | POT floor | GMM OT² | its floor | Spearman "
        "| paper |", "|---" * 11 + "|"]
for (ds, enc), r in runs.items():
    f = r.final
    rows.append(f"| {ds} | {label[enc]} | {fmt(f, 'recon_w2')} | {fmt(f, 'recon_w2_floor')} | "
                f"{fmt(f, 'recon_w2_plugin')} | {fmt(f, 'recon_w2_sample')} | {fmt(f, 'recon_w2_sample_floor')} | "
                f"{fmt(f, 'recon_gmm_ot_loss')} | {fmt(f, 'recon_gmm_ot_loss_floor')} | "
                f"{fmt(f, 'spearman')} | {paper.get((ds, enc), '-')} |")
print("\n".join(rows))

# %% [markdown]
# ## 2. Latent distance vs W2 (the original's notebooks: Spearman 0.96 Gaussians, 0.76 mixtures)
#
# The reference correlations come from the original repository's notebooks: `mvn_dists` (2-d Gaussians,
# GNN encoder, DDPM generator) and its Gaussian-mixture notebook (ResNet encoder), see
# `docs/references.md`, GDE.
#
# Each point is a pair of held-out sets: the L2 distance of their latents against the true W2 of
# their distributions (Bures formula for Gaussians; for mixtures the mixture distance MW2 of Delon &
# Desolneux, POT's `gmm_ot_loss`, as the original notebook uses).

# %%
paper_rho = {"normal_d2": 0.96, "gmm_d5": 0.76}
for ds in datasets:
    for enc in encoders:
        if (ds, enc) in runs and enc not in ("kme", "mean"):
            f = runs[ds, enc].final
            print(f"{ds:>15} {label[enc]:>14}: Spearman {f['spearman']:.3f}   original {paper_rho.get(ds, '-')}")
for ds in ("normal_d2", "gmm_d5"):
    if (ds, encoders[0]) in runs:
        display(Image(filename=str(runs[ds, encoders[0]].dir / "latent_vs_w2.png"), width=320))

# %% [markdown]
# ## 3. Latent interpolation vs the McCann path
#
# For pairs of held-out 2-d Gaussians we decode z_t = (1 - t) z0 + t z1, fit a Gaussian to the
# samples, and measure its W2 to the McCann interpolant N(m_t, S_t), S_t = ((1-t) I + t T) S0
# ((1-t) I + t T), T the Monge map. The comparison is the linear mixture (1 - t) P0 + t P1 (its
# moments against the same McCann Gaussian). The paper shows this qualitatively.

# %%
key_interp = ("normal_d2", encoders[0])
if key_interp in runs:
    f = runs[key_interp].final
    print(f"mean W2 to McCann over interior t: GDE {f['interp_w2_gde']:.3f}   mixture path {f['interp_w2_mixture']:.3f}"
          f"   (GDE at the endpoints: {f['interp_w2_endpoints']:.3f})")
    display(Image(filename=str(runs[key_interp].dir / "interpolation.png"), width=640))

# %% [markdown]
# ## 4. Varying covariance, shared mean: the mean-only encoder cannot win
#
# All sets share the mean (2.5, 2.5); Sigma ~ 5 x inverse-Wishart(8, I). A mean-only latent carries no
# information, so its generator can only reproduce the average distribution.

# %%
if ("shared_mean_d2", encoders[0]) in runs and ("shared_mean_d2", "mean") in runs:
    g, b = runs["shared_mean_d2", encoders[0]].final, runs["shared_mean_d2", "mean"].final
    print(f"reconstruction W2: GDE {g['recon_w2']:.3f}  vs  mean-only {b['recon_w2']:.3f}"
          f"  (plug-in {g['recon_w2_plugin']:.3f}, floor {g['recon_w2_floor']:.3f})")
    for enc in (encoders[0], "mean"):
        print(label[enc])
        display(Image(filename=str(runs["shared_mean_d2", enc].dir / "reconstructions.png"), width=640))

# %% [markdown]
# ## Training curves and cost

# %%
fig, ax = plt.subplots(1, len(datasets), figsize=(3.2 * len(datasets), 2.8), squeeze=False)
for i, ds in enumerate(datasets):
    for enc in encoders:
        if (ds, enc) in runs:
            s, loss = runs[ds, enc].history("loss")
            ax[0, i].plot(s, loss, label=label[enc])
    ax[0, i].set(title=ds, xlabel="step", ylabel=f"{generator} loss")
    ax[0, i].legend(fontsize=7)
plt.tight_layout()
plt.show()
first = next(iter(runs.values())).final
print(f"throughput ({datasets[0]}, {encoders[0]}): encode {first['encode_sets_per_s']:.0f} sets/s, "
      f"decode {first.get('decode_points_per_s', float('nan')):.0f} points/s")
print(f"notebook wall time: {time.perf_counter() - started:.0f} s")

# %% [markdown]
# ## What this run shows
# Formatted from this run's results; each qualitative word comes from the rule printed next to it.
# With one training seed per configuration, "lower" means lower by more than 10%, else "level".

# %%
def cmp(a, b):
    return "lower than" if a < 0.9 * b else ("higher than" if b < 0.9 * a else "level with")


enc0 = encoders[0]
verdict = []
for ds, ref in paper_rho.items():
    if (ds, enc0) in runs:
        rho = runs[ds, enc0].final["spearman"]
        word = "reproduced" if rho >= ref - 0.05 else "not reproduced"
        verdict.append(f"- **Latent geometry, {ds}: {word}** (rule: Spearman at least the original's {ref} - 0.05): "
                       f"{label[enc0]} {rho:.3f}.")
if key_interp in runs:
    f = runs[key_interp].final
    word = "closer to" if f["interp_w2_gde"] < f["interp_w2_mixture"] else "not closer to"
    verdict.append(f"- **Interpolation**: decoded latent interpolants are **{word}** the McCann path than the "
                   f"mixture path (rule: lower mean W2 over interior t): {f['interp_w2_gde']:.3f} vs "
                   f"{f['interp_w2_mixture']:.3f}.")
for ds in datasets:
    key = "recon_gmm_ot_loss" if ds.startswith("gmm") else "recon_w2"
    got = {enc: runs[ds, enc].final[key] for enc in encoders if (ds, enc) in runs and key in runs[ds, enc].final}
    if enc0 not in got:
        continue
    what = ("GMM OT², the squared MW2 of an EM fit as the original's benchmark notebook" if ds.startswith("gmm")
            else "W2, Gaussian fit")
    line = f"- Reconstruction ({what}), {ds}: " + ", ".join(f"{label[e]} {v:.3f}" for e, v in got.items())
    line += "".join(f"; {label[enc0]} is {cmp(got[enc0], v)} {label[e]}" for e, v in got.items() if e != enc0)
    refs = [f"{label[e]} {paper[ds, e]}" for e in got if (ds, e) in paper]
    if refs:
        line += f" (paper, Table {'2' if ds.startswith('gmm') else '5'}: {', '.join(refs)})"
    f = runs[ds, enc0].final
    if "recon_w2_plugin" in f:
        line += f"; plug-in {f['recon_w2_plugin']:.3f}, floor {f['recon_w2_floor']:.3f}"
    elif "recon_gmm_ot_loss_floor" in f:
        line += f"; exact samples {f['recon_gmm_ot_loss_floor']:.3f}"
    verdict.append(line + ".")
verdict.append(f"- Notebook wall time: {time.perf_counter() - started:.0f} s.")
display(Markdown("\n".join(verdict)))

# %% [markdown]
# ## At the paper's scale: recorded runs
# `experiments/gde/paper_normal_d5.yaml` is the paper's headline reconstruction setting with the original's
# systematic-experiment configuration: ResNet-GNN encoder (latent 32, width 128), DDPM generator (400 steps,
# MLP width 128 x 4), 256 sets of 64 points per step, Adam 2e-4 for 19,600 steps (the original's 100 epochs of
# 196 batches), seed 42; the yaml lists what differs from the original (fresh sets every step instead of a
# fixed 50,000). The runs are recorded under `results_dir` with their `PROVENANCE.md` (commit and command)
# and read from there; `rerun_recorded = True` trains them again. The target for Normal d = 5 is a
# reconstruction W2 within 2x of the paper's 0.02-0.04 (Table 2 / Table 5), i.e. at most 0.06.
# `experiments/gde/paper_gmm_d5.yaml` is the same with the original's mixture data (each set mixes 3
# Gaussians with Dirichlet(1) weights); its target is a GMM OT² within 1.25x of the paper's 1.82 (Table 2).
# The paper's baseline encoders (mean-only and KME, Table 2 / Table 5) are trained at the same settings with
# the same DDPM generator (`task.encoder=mean` or `kme`), seeds 42 and 43; the last verdicts compare GDE with
# them by the mean over the seeds recorded so far, at the task's evaluation and, where the runs were
# re-evaluated the same way, at the larger one.

# %%
recorded = {}  # (config, encoder, seed) -> the recorded Run (final, metrics, config)
for cfg, enc, seed in recorded_runs:
    r = recorded_run(f"experiments/gde/{cfg}.yaml", f"{cfg}_{enc}_seed{seed}", [f"task.encoder={enc}",
                     f"train.seed={seed}"], results_dir=results_dir, rerun=rerun_recorded, runs_dir=runs_dir)
    if r is not None:
        recorded[cfg, enc, seed] = r
print(f"{len(recorded)} recorded runs:", ", ".join(f"{c}/{e}/seed{s}" for c, e, s in recorded) or "none")
print("What they cost:", training_summary(recorded.values()))
if recorded:
    fig, ax = plt.subplots(1, 1, figsize=(4.2, 3))
    for (cfg, enc, seed), rec in recorded.items():
        st, loss = rec.history("loss")
        width = max(len(loss) // 50, 1)  # a running mean over 2% of the logged points
        ax.plot(st[width - 1:], np.convolve(loss, np.ones(width) / width, "valid"),
                label=f"{cfg} {label[enc]} seed {seed}")
    ax.set(xlabel="step", ylabel="DDPM loss (running mean)", yscale="log")
    ax.legend(fontsize=7)
    plt.show()
    rows = ["| run | steps | W2 fit | floor | plug-in | W2 POT | POT floor | GMM OT² | its floor | Spearman "
            "| last-quarter loss drop |", "|---" * 11 + "|"]
    for (cfg, enc, seed), rec in recorded.items():
        f, (st, loss) = rec.final, rec.history("loss")
        q3, q4 = loss[(st > 0.5 * st[-1]) & (st <= 0.75 * st[-1])].mean(), loss[st > 0.75 * st[-1]].mean()
        rows.append(f"| {cfg} {label[enc]} seed {seed} | {f['step']} | {fmt(f, 'recon_w2')} | "
                    f"{fmt(f, 'recon_w2_floor')} | {fmt(f, 'recon_w2_plugin')} | {fmt(f, 'recon_w2_sample')} | "
                    f"{fmt(f, 'recon_w2_sample_floor')} | {fmt(f, 'recon_gmm_ot_loss')} | "
                    f"{fmt(f, 'recon_gmm_ot_loss_floor')} | {fmt(f, 'spearman')} | {1 - q4 / q3:.1%} |")
    display(Markdown("\n".join(rows)))

# %% [markdown]
# ### What the recorded runs say
# Formatted from the recorded numbers by the rule printed beside each. "Last-quarter loss drop" compares
# the mean training loss over the last quarter of training with the quarter before it.

# %%
if recorded:
    verdict = []
    for (cfg, enc, seed), rec in recorded.items():
        f = rec.final
        if enc != "resnet":
            continue  # the targets are GDE's; the baselines are compared with it below
        if cfg == "paper_normal_d5":
            met = "met" if f["recon_w2"] <= 0.06 else "not met"
            verdict.append(
                f"- **Normal d = 5, {label[enc]}, seed {seed}: the target is {met}** (rule: reconstruction W2 at "
                f"most 0.06, 2x the paper's 0.02-0.04): W2 {f['recon_w2']:.3f} (paper, Table 5: {label[enc]} "
                f"{paper.get(('normal_d5', enc), '-')}); the W2 of exact samples of the same size is "
                f"{f['recon_w2_floor']:.3f} and the input set's own moments give {f['recon_w2_plugin']:.3f}; "
                f"Spearman {f['spearman']:.3f}."
            )
            big = rec.dir / "eval_orig_size"  # `sciml eval` at the original benchmark's set size
            if (big / "eval.json").exists():
                g = json.loads((big / "eval.json").read_text())
                g.update(yaml.safe_load((big / "eval_config.yaml").read_text())["task"])
                met = "met" if g["recon_w2"] <= 0.06 else "not met"
                verdict.append(
                    f"- **At the original benchmark's evaluation size, the target is {met}** (same rule; 100 "
                    f"held-out sets of {g['eval_set_size']:,} points each encoded whole and {g['eval_samples']:,} "
                    f"points generated per set, as the original's `notebooks/mvn_benchmark.ipynb` does): W2 "
                    f"{g['recon_w2']:.3f}, exact samples {g['recon_w2_floor']:.3f}, the input set's own moments "
                    f"{g['recon_w2_plugin']:.3f}"
                    + (f"; W2's two parts, means over sets: ||Δμ|| {g['recon_mean_error']:.3f}, the covariances' "
                       f"Bures distance {g['recon_cov_bures']:.3f}." if "recon_cov_bures" in g else ".")
                )
                # The original's benchmark notebook tabulates ||Δμ|| + Bures² (a distance plus a squared
                # distance, not W2) as its "OT reconstruction error": the like-for-like number for Table 5.
                met = "met" if g["recon_mean_plus_bures2"] <= 0.06 else "not met"
                verdict.append(
                    f"- **By the original benchmark's own score, the target is {met}** (rule: ||Δμ|| + Bures² at most "
                    f"0.06, at the same size; this sum of a distance and a squared distance is what the original's "
                    f"`notebooks/mvn_benchmark.ipynb` (`wasserstein_zip`) tabulates as \"OT reconstruction error\", "
                    f"so it is the like-for-like number if the paper's Table 5 comes from that notebook, which its "
                    f"code suggests and the paper does not state): {g['recon_mean_plus_bures2']:.3f} (paper, "
                    f"Table 5: {label[enc]} {paper.get(('normal_d5', enc), '-')})."
                )
        if cfg == "paper_gmm_d5":
            gde, kme = paper["gmm_d5", "resnet"], paper["gmm_d5", "kme"]
            bound = 1.25 * float(gde)
            met = "met" if f["recon_gmm_ot_loss"] <= bound else "not met"
            verdict.append(
                f"- **Mixtures d = 5, {label[enc]}, seed {seed}: the target is {met}** (rule: GMM OT² at most "
                f"1.25 x the paper's {gde} = {bound:.3f}): {f['recon_gmm_ot_loss']:.3f} (paper, Table 2: GDE {gde}, "
                f"KME+DDPM {kme}), from {rec.task.eval_samples:,} generated points "
                f"per set (the original's notebook uses 100,000); exact samples of that size score "
                f"{f['recon_gmm_ot_loss_floor']:.3f}; Spearman {f['spearman']:.3f} (original notebook "
                f"{paper_rho['gmm_d5']})."
            )
            big = rec.dir / "eval_10k"  # `sciml eval` with larger sets and more generated points
            if (big / "eval.json").exists():
                g = json.loads((big / "eval.json").read_text())
                g.update(yaml.safe_load((big / "eval_config.yaml").read_text())["task"])
                met = "met" if g["recon_gmm_ot_loss"] <= bound else "not met"
                verdict.append(
                    f"- **With {g['eval_samples']:,} generated points per set, the target is {met}** (same rule; "
                    f"100 held-out sets of {g['eval_set_size']:,} points each encoded whole): "
                    f"{g['recon_gmm_ot_loss']:.3f}; exact samples of that size score "
                    f"{g['recon_gmm_ot_loss_floor']:.3f}; Spearman {g['spearman']:.3f}."
                )
    larger_eval = {"paper_normal_d5": "eval_orig_size", "paper_gmm_d5": "eval_10k"}  # `sciml eval` folders
    for cfg in dict.fromkeys(c for c, _, _ in recorded):  # GDE against the baseline encoders, paper settings
        ds, key = cfg.removeprefix("paper_"), "recon_gmm_ot_loss" if cfg == "paper_gmm_d5" else "recon_w2"
        metric = "GMM OT²" if key == "recon_gmm_ot_loss" else "W2"
        by_enc, by_enc_larger, by_enc_orig_score = {}, {}, {}
        for (c, enc, _), rec in recorded.items():
            if c == cfg:
                by_enc.setdefault(enc, []).append(rec.final[key])
                big = rec.dir / larger_eval[cfg] / "eval.json"
                if big.exists():
                    g = json.loads(big.read_text())
                    by_enc_larger.setdefault(enc, []).append(g[key])
                    if "recon_mean_plus_bures2" in g:
                        by_enc_orig_score.setdefault(enc, []).append(g["recon_mean_plus_bures2"])
        comparisons = [(by_enc, "", metric), (by_enc_larger, f", re-evaluated as `{larger_eval[cfg]}` above", metric),
                       (by_enc_orig_score, f", `{larger_eval[cfg]}` by the original's own score", "||Δμ|| + Bures²")]
        # The count of seeds, and each seed's value where there are several (their spread).
        seeds = lambda v: "1 seed" if len(v) == 1 else f"{len(v)} seeds: " + ", ".join(f"{x:.3f}" for x in v)
        for values, where, metric in comparisons:
            if "resnet" not in values or len(values) == 1:
                continue
            ours = {e: float(np.mean(v)) for e, v in values.items()}
            beaten = [e for e in ours if e != "resnet" and ours["resnet"] < ours[e]]
            verdict.append(
                f"- **{cfg}{where}: GDE {'beats' if len(beaten) == len(ours) - 1 else 'does not beat'} the baseline "
                f"encoders** (rule: a lower mean {metric} over seeds than each, same generator and training): "
                + ", ".join(f"{label[e]} {ours[e]:.3f} ({seeds(values[e])})" for e in ours)
                + f" (paper, Table {'2' if key == 'recon_gmm_ot_loss' else '5'}: "
                + ", ".join(f"{label[e]} {paper[ds, e]}" for e in ours if (ds, e) in paper) + ")."
            )
    display(Markdown("\n".join(verdict)))

# %% [markdown]
# ### The original's noise schedule and raw coordinates
# Two things in our DDPM differ from the original's (both in `sciml/gde`): its betas run from 1e-4 to 0.02 at
# any number of steps, so at T = 400 the last noised point still keeps 0.13 x the data while sampling starts
# from N(0, I) (we rescale the schedule so that it ends at noise, `task.ddpm_schedule=scaled`); and it trains
# on raw coordinates (we map the data by the prior's centre and spread, `task.normalise=true`). To see whether
# either keeps the reconstruction W2 above the target, the mean-only baseline of `paper_normal_d5.yaml`, seed 42,
# is trained again with both as the original has them (`task.normalise=false task.ddpm_schedule=original`),
# recorded as `origddpm_paper_normal_d5_mean_seed42` and compared with the same run on ours, at the task's
# evaluation and at the original benchmark's size.
#
# The cell then asks why no generator reproduces each set's covariance, with three references computed from the
# held-out sets themselves, no model: a generator that returns the prior's mean covariance for every set (blind
# to the set); the posterior-mean covariance given the set's own points (what the set tells about its
# covariance under the prior); and, in closed form for Gaussian data, the DDPM loss of the best denoiser that
# knows each set's covariance against the best one that does not (how much the training loss rewards it).

# %%
original_ddpm = recorded_run("experiments/gde/paper_normal_d5.yaml", "origddpm_paper_normal_d5_mean_seed42",
                             ["task.encoder=mean", "train.seed=42", "task.normalise=false",
                              "task.ddpm_schedule=original"], results_dir=results_dir, rerun=rerun_recorded,
                             runs_dir=runs_dir)
ours_ddpm = recorded.get(("paper_normal_d5", "mean", 42))
if original_ddpm is not None and ours_ddpm is not None:
    def evaluations(rec):
        """{where: metrics}: the task's final evaluation and, when present, the original-size re-evaluation."""
        out = {"final evaluation (64-point sets)": rec.final}
        if (rec.dir / "eval_orig_size/eval.json").exists():
            out["original benchmark's size"] = json.loads((rec.dir / "eval_orig_size/eval.json").read_text())
        return out

    both = {"ours (scaled, normalised)": evaluations(ours_ddpm), "original's (betas 1e-4..0.02, raw)": evaluations(
        original_ddpm)}
    rows = ["| schedule, coordinates | evaluation | W2 | ||Δμ|| + Bures² | ||Δμ|| | Bures | Spearman |",
            "|---" * 7 + "|"]
    for name, evs in both.items():
        for where, f in evs.items():
            rows.append(f"| {name} | {where} | {fmt(f, 'recon_w2')} | {fmt(f, 'recon_mean_plus_bures2')} | "
                        f"{fmt(f, 'recon_mean_error')} | {fmt(f, 'recon_cov_bures')} | {fmt(f, 'spearman')} |")
    display(Markdown("\n".join(rows)))
    verdict = []
    for where in both["ours (scaled, normalised)"]:
        a, b = both["ours (scaled, normalised)"][where], both["original's (betas 1e-4..0.02, raw)"].get(where)
        if b is None:
            continue
        change = b["recon_w2"] / a["recon_w2"] - 1
        met = "reach" if b["recon_w2"] <= 0.06 else "do not reach"
        verdict.append(
            f"- **At the {where}, the original's schedule and coordinates {met} the target** (rule: W2 at most "
            f"0.06): W2 {b['recon_w2']:.3f} against {a['recon_w2']:.3f} with ours ({change:+.1%}; mean-only "
            f"encoder, seed 42, one run each)."
        )
    # A generator blind to the set's covariance, returning the prior's mean covariance cov_scale I / (df - d - 1)
    # for every set, scores this Bures distance on the held-out sets (its mean part aside).
    task = ours_ddpm.task
    params, sets = task.eval_data()
    covs = params["covs"][:task.eval_sets]
    prior_cov = np.broadcast_to(task.cov_scale * np.eye(task.dim) / (task.df - task.dim - 1), covs.shape)
    zeros = np.zeros(covs.shape[:2])
    blind = float(bures_w2(zeros, covs, zeros, prior_cov).mean())
    seen = {f"{label[e]} seed {s}{w}": f["recon_cov_bures"] for (c, e, s), rec in recorded.items()
            if c == "paper_normal_d5"
            for w, f in (("", rec.final), (" (original size)", evaluations(rec).get("original benchmark's size", {})))
            if "recon_cov_bures" in f}
    seen.update({f"original's schedule{w}": f["recon_cov_bures"] for w, f in
                 zip(("", " (original size)"), evaluations(original_ddpm).values())})
    close = all(abs(v / blind - 1) <= 0.05 for v in seen.values())
    verdict.append(
        f"- **{'No' if close else 'Not every'} recorded generator reproduces the set's covariance** (rule: the "
        f"Bures distance between generated and true covariances within 5% of that of a generator that returns "
        f"the prior's mean covariance for every set, {blind:.3f}, on every run that reports it): "
        + ", ".join(f"{k} {v:.3f}" for k, v in seen.items()) + "."
        + (f" As W2 is at least the Bures distance, these runs stay near or above {blind:.3f}, above the target, "
           "whatever their mean error." if close else "")
    )
    # What the input set itself says about its covariance: Sigma = cov_scale W^-1 with W ~ Wishart(df, I) is an
    # inverse-Wishart(df, cov_scale I) prior, so given m points with scatter S about their mean the posterior is
    # inverse-Wishart(df + m - 1, cov_scale I + S), with mean (cov_scale I + S) / (df + m - d - 2).
    m = sets.shape[1]
    scatter = (m - 1) * fit_gaussian(sets[:task.eval_sets])[1]
    posterior = (task.cov_scale * np.eye(task.dim) + scatter) / (task.df + m - task.dim - 2)
    informed = float(bures_w2(zeros, covs, zeros, posterior).mean())
    verdict.append(
        f"- **The {m}-point sets do carry their covariance** (rule: the posterior-mean covariance given the set "
        f"scores a Bures distance at least 20% below the covariance-blind {blind:.3f}): {informed:.3f} "
        f"({informed / blind - 1:+.0%}). So the generators' covariance-blindness comes from the models and their "
        "training, not from the data; W2 would still add the mean error to this."
        if informed <= 0.8 * blind else
        f"- **The {m}-point sets carry little of their covariance** (rule: the posterior-mean covariance given the set "
        f"scores a Bures distance at least 20% below the covariance-blind {blind:.3f}): {informed:.3f}."
    )
    # What the training loss rewards: per eigen-direction of each held-out covariance, in the task's normalised
    # coordinates and noise schedule, the loss of the best denoiser that knows the set's mean and covariance against
    # the best one that knows its mean and assumes the prior's mean covariance (`sciml.gde.gaussian_eps_loss`).
    _, abar = ddpm_schedule(task.ddpm_steps, task.ddpm_schedule)
    scale = task.normalisation()[1]
    variances = np.linalg.eigvalsh(covs) / scale**2
    levels = np.asarray(abar, np.float64)[:, None, None]
    aware = gaussian_eps_loss(levels, variances, variances)
    unaware = gaussian_eps_loss(levels, variances, task.cov_scale / (task.df - task.dim - 1) / scale**2)
    by_level = (unaware - aware).mean((1, 2))
    least_noisy = int(np.searchsorted(np.cumsum(by_level) / by_level.sum(), 0.9)) + 1
    verdict.append(
        f"- **The training loss barely rewards the covariance:** averaged over the {task.ddpm_steps} noise levels, "
        f"the best denoiser that knows each set's covariance scores {aware.mean():.4f} per coordinate against "
        f"{unaware.mean():.4f} for the best one that assumes the prior's mean covariance (both know the set's mean; "
        f"{unaware.mean() / aware.mean() - 1:+.1%}), and 90% of that difference comes from the {least_noisy} least "
        f"noisy levels. A generator that only reconstructs the mean is that close to the best loss."
    )
    # No weighting of the levels escapes this: for weights w, sum w u / sum w a - 1 <= max_t (u_t / a_t - 1).
    per_level = unaware.mean((1, 2)) / aware.mean((1, 2)) - 1
    peak = int(np.argmax(per_level))
    verdict.append(
        f"- **Weighting the noise levels cannot change that much:** level by level, the covariance-blind best "
        f"denoiser's loss is at most {per_level[peak]:.1%} above the covariance-aware one's (at step {peak + 1} of "
        f"{task.ddpm_steps}, ᾱ = {float(abar[peak]):.3f}), so any sampling of the levels (low noise more often, "
        f"say) leaves the covariance's share of the loss at most {per_level[peak]:.1%}, against "
        f"{unaware.mean() / aware.mean() - 1:.1%} with the uniform sampling used here: a weighted loss alone is "
        f"unlikely to teach a generator the covariance."
    )
    display(Markdown("\n".join(verdict)))
