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
# # Study: distribution embeddings as population embeddings
#
# Meta Flow Matching (MFM; Atanackovic et al. 2024, Sec. 3.2) conditions its vector field on an embedding
# $\varphi(p_0)$ of the whole source population, a GCN on a kNN graph over its points. Generative
# Distribution Embeddings (GDE; Fishman et al. 2025, Sec. 3 and Alg. 1) learn *distributionally invariant*
# set encoders jointly with a conditional generator, and their latent distances track the W2 distance
# between distributions (Sec. 5.1). Here GDE's encoders take the GCN's place:
#
# - `resnet` (mean-pooled blocks), `attention` (attention pooling) and the `kme` baseline (kernel mean
#   embedding with random Fourier features), each
# - trained **from scratch** with MFM's loss, or **pretrained** as a GDE (encoder + DDPM) on the training
#   source populations and then **frozen** or **fine-tuned** under MFM's loss,
#
# against MFM's own GCN, on the synthetic patients (a patient hold-out split) and on letters (unseen
# letters X and Y). Two questions:
#
# 1. Does a better distribution embedding generalise better to unseen populations (test W1 / W2 / MMD, as
#    `sciml.mfm.population_metrics` computes them)?
# 2. Does the latent W2 geometry predict MFM's error on a new population: is the latent distance of an
#    unseen population to its nearest training population rank-correlated with MFM's W2 error on it?
#
# The "geometry" of an embedding is GDE's statistic, the Spearman rank correlation of latent distance
# against W2 over all pairs of source populations (32 training sources spread over the split plus every
# unseen source). **Deviation from GDE:** GDE ranks against closed-form W2 of known Gaussians; these
# populations have none in common, so the W2 here is the exact (POT) W2 between 128-point samples.
# Other deviations: the GDE latent is not L2-normalised as MFM's GCN embedding is; GDE encoders see the
# points through a fixed normalisation (pooled mean and std of the training sources), the GCN sees raw
# points exactly as in `mfm`; the pretraining GDE uses a 50-step DDPM for 500 steps.
#
# **Scale** (stated, small): MFM 600 Adam steps (the `mfm` configs train 1500 / 2000), 8 populations of 128
# points per step, field width 128, Heun evaluation with 20 steps on 256-point populations; the letters at
# source noise 1.0 (the MFM notebook's second letters experiment, where the population matters more).

# %% tags=["parameters"]
datasets = ["patients", "letters"]
seeds = [0, 1]
ALL = ["gcn scratch", "resnet scratch", "resnet frozen", "resnet finetune", "attention scratch", "attention frozen",
       "attention finetune", "kme scratch", "kme frozen", "kme finetune"]
configs = {"patients": ALL, "letters": ALL}  # "<encoder> <mode>" per dataset
recorded = "results/studies/population_embeddings"  # recorded runs are read from here when present (empty: run all)
overrides = []       # extra overrides for every MFM run (the tests shrink the runs here)
gde_overrides = []   # extra overrides for every GDE pretraining run
fm_reference = True  # also MFM's FM baseline (no population embedding) at the same budget and evaluation
runs_dir = "runs"

# %%
import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

import sciml.studies.population_embeddings.task  # noqa: F401  (registers the study's tasks)
from sciml import plot
from sciml.runner import run
from sciml.studies.population_embeddings import spearman
from sciml.studies.population_embeddings.figures import scatter_by_label

plot.style()
LABEL = {"gcn": "GCN (MFM)", "resnet": "GDE ResNet", "attention": "GDE attention", "kme": "KME"}


def experiment(ds):
    return f"study_population_embeddings_{ds}"


def load_recorded(ds, name):
    """(final, per-problem errors) of a recorded run, or None."""
    if not recorded:
        return None
    d = Path(recorded) / experiment(ds) / name
    if not (d / "final.json").exists():
        return None
    return json.loads((d / "final.json").read_text()), dict(np.load(d / "unseen_errors.npz"))


def train(ds, enc, mode, seed):
    """Run (or reopen) one configuration; the GDE pretraining first when the mode needs it."""
    extra = []
    if mode != "scratch":
        gde = run(f"experiments/studies/population_embeddings_{ds}_gde.yaml",
                  [f"task.encoder={enc}", f"train.seed={seed}", f"name=gde_{enc}_seed{seed}", *gde_overrides],
                  runs_dir=runs_dir, progress=False)
        extra = [f"task.pretrained={gde.dir}"]
    r = run(f"experiments/studies/population_embeddings_{ds}.yaml",
            [f"task.encoder={enc}", f"task.mode={mode}", f"train.seed={seed}", f"name={enc}_{mode}_seed{seed}",
             *extra, *overrides], runs_dir=runs_dir, progress=False)
    return r.final, dict(np.load(r.dir / "unseen_errors.npz"))


FM_OVERRIDES = {"patients": ["task.eval_populations=24"], "letters": ["task.noise=1.0", "task.width=128"]}


def fm_final(ds, seed):
    """MFM's FM baseline (`fm_pop`, experiments/mfm/<ds>_fm.yaml) at the study's budget and evaluation."""
    path = Path(recorded) / experiment(ds) / f"fm_seed{seed}" / "final.json"
    if recorded and path.exists():
        return json.loads(path.read_text())
    r = run(f"experiments/mfm/{ds}_fm.yaml",
            [f"experiment={experiment(ds)}", f"name=fm_seed{seed}", f"train.seed={seed}", "train.steps=600",
             "optim.warmup=50", "task.eval_points=256", "task.eval_steps=20", *FM_OVERRIDES[ds]],
            runs_dir=runs_dir, progress=False)
    return r.final


started = time.perf_counter()
results, source = {}, {}
for ds in datasets:
    for cfg in configs[ds]:
        enc, mode = cfg.split()
        for s in seeds:
            got = load_recorded(ds, f"{enc}_{mode}_seed{s}")
            source[ds, cfg, s] = "recorded" if got is not None else "run here"
            results[ds, cfg, s] = got if got is not None else train(ds, enc, mode, s)
fm = {(ds, s): fm_final(ds, s) for ds in datasets for s in seeds} if fm_reference else {}
n_run = sum(v == "run here" for v in source.values())
print(f"{len(results)} runs: {len(results) - n_run} read from {recorded or '(nothing)'}, {n_run} run here "
      f"in {(time.perf_counter() - started) / 60:.1f} min")

# %% [markdown]
# ## The tables: mean ± std over seeds
# Test W1 / W2 / MMD (x 10^3) of the predicted against the true target populations of the held-out
# patients / the held-out letter Y (`sciml.mfm.population_metrics`; Identity predicts the source), the
# geometry (Spearman of latent distance vs W2 over source populations) and the error geometry (Spearman,
# over the unseen problems, of the latent distance to the nearest training source against MFM's W2 error).

# %%
COLS = [("test_w1", "test W1", 1.0), ("test_w2", "test W2", 1.0), ("test_mmd", "test MMD x1e3", 1e3),
        ("train_w2", "train W2", 1.0), ("geometry_spearman", "geometry rho", 1.0),
        ("error_spearman_latent", "error rho (latent)", 1.0)]


def stats(ds, cfg, key):
    v = np.array([results[ds, cfg, s][0][key] for s in seeds], float)
    return v.mean(), v.std(), v


def table(ds):
    head = "| embedding | mode | " + " | ".join(c[1] for c in COLS) + " |"
    lines = [head, "|" + "---|" * (len(COLS) + 2)]
    first = results[ds, configs[ds][0], seeds[0]][0]
    ident = [f"{first['identity_' + k] * f:.3f}" if "identity_" + k in first else "" for k, _, f in COLS]
    lines.append("| Identity | - | " + " | ".join(ident) + " |")
    if fm:
        v = {k: np.array([fm[ds, s][k] for s in seeds]) for k, _, _ in COLS[:4]}
        cells = [f"{f * v[k].mean():.3f} ± {f * v[k].std():.3f}" if k in v else "" for k, _, f in COLS]
        lines.append("| none (FM) | - | " + " | ".join(cells) + " |")
    for cfg in configs[ds]:
        enc, mode = cfg.split()
        cells = []
        for k, _, f in COLS:
            mu, sd, _ = stats(ds, cfg, k)
            cells.append(f"{f * mu:.3f} ± {f * sd:.3f}")
        lines.append(f"| {LABEL[enc]} | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


for ds in datasets:
    display(Markdown(f"**{ds}** ({len(seeds)} seeds: {seeds}; ± is the std over seeds)\n\n" + table(ds)))

# %% [markdown]
# **The pretrained GDEs** (encoder + 50-step DDPM, 500 steps on the training source populations): their
# geometry, and how well they reconstruct an unseen source population from its latent (exact W2 between
# decoded and true points, beside the W2 between two disjoint samples of the same population). KME has fixed
# random frequencies and learns only its bandwidth, so its frozen and fine-tuned rows differ little from scratch.

# %%
def mean_std(finals, key):
    v = np.array([f[key] for f in finals], float)
    return f"{v.mean():.3f} ± {v.std():.3f}"


gde_rows = ["| dataset | encoder | geometry rho | reconstruction W2 (unseen) | two-sample floor |",
            "|---|---|---|---|---|"]
for ds in datasets:
    for enc in dict.fromkeys(c.split()[0] for c in configs[ds] if c.split()[1] != "scratch"):
        finals = []
        for s in seeds:
            name = f"gde_{enc}_seed{s}"
            path = next((p for p in (Path(recorded or ".") / experiment(ds) / name / "final.json",
                                     Path(runs_dir) / experiment(ds) / name / "final.json") if p.exists()), None)
            if path is not None:
                finals.append(json.loads(path.read_text()))
        if finals:
            gde_rows.append(f"| {ds} | {LABEL[enc]} | {mean_std(finals, 'geometry_spearman')} | "
                            f"{mean_std(finals, 'recon_w2_unseen')} | {mean_std(finals, 'recon_w2_floor')} |")
display(Markdown("\n".join(gde_rows)))

# %% [markdown]
# ## (a) Does a better embedding generalise better?
# One point per configuration and seed: its geometry against its test W2. The number under each panel is
# the Spearman correlation over configurations (seed means) between geometry and test W2; a better
# geometry going with lower error would make it negative.

# %%
cross = {}
fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.6), squeeze=False)
for ax, ds in zip(axes[0], datasets):
    geo = [stats(ds, c, "geometry_spearman")[0] for c in configs[ds]]
    err = [stats(ds, c, "test_w2")[0] for c in configs[ds]]
    cross[ds] = spearman(np.array(geo), np.array(err))
    for i, c in enumerate(configs[ds]):
        g, e = stats(ds, c, "geometry_spearman")[2], stats(ds, c, "test_w2")[2]
        ax.scatter(g, e, color=f"C{i % 10}", label=c, s=18)
    ax.set(xlabel="geometry rho (latent distance vs W2)", ylabel="test W2",
           title=f"{ds}: Spearman over configs {cross[ds]:.2f}")
axes[0, -1].legend(fontsize=6)
fig.tight_layout()

# %% [markdown]
# ## (b) Does the latent geometry predict MFM's error on a new population?
# Every unseen problem (the held-out patients; the letters X and Y) of every run: its W2 error against
# the latent distance of its source to the nearest training source, divided by that run's mean such
# distance (so that the encoders' latent scales are comparable). Per run, the Spearman of the two; beside
# it the same with the exact W2 to the nearest training source in place of the latent distance.

# %%
rows = []
for ds in datasets:
    for cfg in configs[ds]:
        for s in seeds:
            err = results[ds, cfg, s][1]
            lat = err["nearest_latent"] / max(err["nearest_latent"].mean(), 1e-12)
            rows += [{"label": f"{ds}: {cfg}", "x": a, "y": b} for a, b in zip(lat, err["errors"])]
for ds in datasets:
    fig = scatter_by_label([r for r in rows if r["label"].startswith(ds)], "x", "y",
                           xlabel="latent distance to nearest train source / run mean", ylabel="MFM W2 error",
                           title=ds)


def error_rhos(ds, key):
    return np.array([results[ds, c, s][0][key] for c in configs[ds] for s in seeds], float)


summary = {ds: (error_rhos(ds, "error_spearman_latent"), error_rhos(ds, "error_spearman_w2")) for ds in datasets}
for ds, (lat, w2) in summary.items():
    print(f"{ds}: error rho (latent) {np.nanmean(lat):.2f} ± {np.nanstd(lat):.2f} over {len(lat)} runs; "
          f"with the exact W2 to the nearest train source {np.nanmean(w2):.2f} ± {np.nanstd(w2):.2f}")

# %% [markdown]
# ## What this run shows
# Formatted from the numbers above; each word comes from the rule printed beside it ("clearly" means the
# seed means differ by more than twice the larger std over seeds).


# %%
def compare(ds, a, b, key="test_w2"):
    (ma, sa, _), (mb, sb, _) = stats(ds, a, key), stats(ds, b, key)
    word = ("clearly lower than" if ma < mb else "clearly higher than") if abs(ma - mb) > 2 * max(sa, sb) else \
        "level with"
    return f"{a} {ma:.3f} is {word} {b} {mb:.3f}"


lines = []
for ds in datasets:
    best = min(configs[ds], key=lambda c: stats(ds, c, "test_w2")[0])
    line = f"- **{ds}**: lowest test W2 **{best}** ({stats(ds, best, 'test_w2')[0]:.3f})."
    for c in configs[ds]:
        if c != "gcn scratch" and "gcn scratch" in configs[ds]:
            line += f" {compare(ds, c, 'gcn scratch')};"
    if fm:
        w = np.array([fm[ds, s]["test_w2"] for s in seeds])
        worse = [c for c in configs[ds] if stats(ds, c, "test_w2")[0] - 2 * max(stats(ds, c, "test_w2")[1], w.std())
                 > w.mean()]
        better = [c for c in configs[ds] if stats(ds, c, "test_w2")[0] + 2 * max(stats(ds, c, "test_w2")[1], w.std())
                  < w.mean()]
        line += (f" Against FM without any population embedding (test W2 {w.mean():.3f} ± {w.std():.3f}): clearly "
                 f"lower {', '.join(better) or 'none'}; clearly higher {', '.join(worse) or 'none'}.")
    rho = cross[ds]
    word = "a better geometry goes with a lower test W2" if rho < -0.5 else (
        "a better geometry goes with a higher test W2" if rho > 0.5 else "no clear relation")
    line += (f" (a) geometry vs test W2 over configurations: Spearman {rho:.2f}, {word} "
             f"(rule: below -0.5 / above 0.5).")
    lat, w2 = summary[ds]
    m = np.nanmean(lat)
    word = "predicts" if m > 0.5 else ("weakly predicts" if m > 0.2 else "does not predict")
    line += (f" (b) the latent distance to the nearest training population {word} MFM's error on an unseen "
             f"population: Spearman {m:.2f} ± {np.nanstd(lat):.2f} over runs (rule: above 0.5 / 0.2), exact W2 "
             f"in its place {np.nanmean(w2):.2f}.")
    lines.append(line)
display(Markdown("\n".join(lines)))
print(f"notebook wall time {(time.perf_counter() - started) / 60:.1f} min")
