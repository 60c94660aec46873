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
#    of held-out sets (paper: 0.96 for Gaussians, 0.76 for mixtures).
# 3. **Interpolation**: decoding z_t = (1 - t) z0 + t z1 approximately follows the McCann (optimal
#    transport) path between two Gaussians, unlike the linear mixture (1 - t) P0 + t P1.
# 4. A **varying-covariance benchmark** (shared mean), where the mean-only encoder cannot win.
#
# Deviations from the paper / original code (also in the docstrings):
# - Generator: conditional flow matching sampled with diffrax (32 Heun steps) by default, because it
#   learns faster than DDPM in a CPU budget; the DDPM of the paper is `task.generator=ddpm`, and a
#   sliced-W2 direct generator is `task.generator=direct`.
# - Data: fresh random sets every step (an infinite stream) instead of a fixed 10k-50k sets; the GMM
#   sets draw 3 Gaussians from the same prior with Dirichlet(1) weights instead of mixing 3 sets of a
#   batch by resampling their points.
# - A fixed affine normalisation (centre of the mean prior, marginal std) before both networks.
# - The DDPM schedule is Ho et al.'s linear schedule expressed for any T (alpha_bar_T = e^-10); the
#   original keeps 1e-4..0.02 at T = 400, which leaves alpha_bar_T = e^-4.
# - W2 is sqrt(|dmu|^2 + Bures^2): the original's helpers add |dmu| to Bures^2 (a distance plus a
#   squared distance), which is not W2.
# - Scale: about 1000 steps of 32 sets x 128 points instead of hours on a GPU.
#
# **Cost.** At the default parameters the 11 runs took 670 CPU-seconds (2100 s of wall time on a
# 2-core machine shared with other jobs at load ~15; about 6-7 minutes on an idle 2-core machine).
# Finished runs are reopened, not retrained, when the notebook is run again.

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

# %%
import hashlib
import time

import matplotlib.pyplot as plt
from IPython.display import Image, display

from sciml.runner import run

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
#   independent true samples. This is the only number for mixtures.
#
# Paper (Table 2, 5-d): Normal W2 — GDE 0.02, KME+DDPM 0.04, W2-Wormhole 0.20; GMM — GDE 1.82,
# KME+DDPM 2.17, Wormhole 2.88. Table 5 (5-d Normal, DDPM generator): mean encoder 0.03, KME 0.04,
# ResNet-GNN 0.02. The paper's GMM metric is not specified beyond "W2"; ours is exact OT on samples.

# %%
label = {"resnet": "GDE (ResNet)", "deepsets": "GDE (DeepSets)", "attention": "GDE (attention)",
         "kme": "KME", "mean": "mean-only"}
paper = {("normal_d5", "resnet"): "0.02", ("normal_d5", "kme"): "0.04", ("normal_d5", "mean"): "0.03",
         ("gmm_d5", "resnet"): "1.82", ("gmm_d5", "kme"): "2.17"}
fmt = lambda f, k: f"{f[k]:.3f}" if k in f else "-"
rows = ["| dataset | encoder | W2 fit | floor | plug-in | W2 POT | POT floor | Spearman | paper W2 |",
        "|---|---|---|---|---|---|---|---|---|"]
for (ds, enc), r in runs.items():
    f = r.final
    rows.append(f"| {ds} | {label[enc]} | {fmt(f, 'recon_w2')} | {fmt(f, 'recon_w2_floor')} | "
                f"{fmt(f, 'recon_w2_plugin')} | {fmt(f, 'recon_w2_sample')} | {fmt(f, 'recon_w2_sample_floor')} | "
                f"{fmt(f, 'spearman')} | {paper.get((ds, enc), '-')} |")
print("\n".join(rows))

# %% [markdown]
# ## 2. Latent distance vs W2 (paper Sec. 5.1: Spearman 0.96 Gaussians, 0.76 mixtures)
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
            print(f"{ds:>15} {label[enc]:>14}: Spearman {f['spearman']:.3f}   paper {paper_rho.get(ds, '-')}")
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
# ## What we measured at the default parameters (1000 steps, flow-matching generator)
#
# | | ours | paper |
# |---|---|---|
# | Normal d=5 reconstruction W2: GDE / KME / mean-only | 0.112 / 0.208 / 0.101 | 0.02 / 0.04 / 0.03 (Table 5, DDPM) |
# | Normal d=2 reconstruction W2: GDE / KME / mean-only | 0.150 / 0.153 / 0.151 | - |
# | GMM d=5 W2 (POT, 500 points; floor 0.695): GDE / KME / mean | 2.23 / 2.12 / 2.29 | 1.82 / 2.17 / - (Table 2) |
# | Shared mean, varying covariance d=2: GDE / mean-only | 0.168 / 0.490 (plug-in 0.144) | - |
# | Spearman latent L2 vs W2, Gaussians d=2 | 0.996 | 0.96 |
# | Spearman latent L2 vs MW2, GMM d=5 | 0.796 | 0.76 |
# | Interpolation: W2 to McCann path, GDE vs mixture path | 0.174 vs 0.990 | qualitative |
#
# - The latent geometry reproduces: latent distances rank pairs of distributions by W2 as well as or
#   better than in the paper (0.996 / 0.796 against 0.96 / 0.76), and decoded latent interpolants stay
#   close to the McCann path while the mixture path is far from it.
# - Reconstruction at this budget is 5-10x worse than the paper's numbers, and on the original's
#   Gaussian prior (Sigma ~ I/7 or I/34, W2 dominated by the means) GDE does not beat the mean-only
#   encoder (the reference notes this: small Sigma lets mean-only encoders score well; in the paper's
#   Table 5 they are within 0.01). The decoded Gaussians are too round (see the interpolation figure):
#   after 1000 steps the generator has learned the location well and the small covariances only
#   partly. KME is clearly worse in 5-d, as in the paper.
# - On the GMM sets all three are close at this budget (GDE 2.23 vs KME 2.12), so the paper's GDE
#   advantage there (1.82 vs 2.17) is not reproduced at 1000 CPU steps.
# - Where the covariance carries the information (shared mean), GDE's reconstruction (0.168) is
#   near the plug-in estimate from the input set (0.144) and 3x better than mean-only (0.490).

