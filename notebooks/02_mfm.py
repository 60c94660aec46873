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
# # Meta Flow Matching: flows that generalise to unseen populations
#
# Meta Flow Matching (MFM; Atanackovic et al. 2024) learns a vector field $v(t, x \mid \varphi(p_0))$
# conditioned on an embedding $\varphi$ of the whole *source population* $p_0$ (a GCN on a kNN graph over
# its points, mean-pooled). Because the condition is computed from the population itself, the flow can
# be applied to populations never seen in training. The baselines cannot: FM ignores the population,
# CGFM conditions on a one-hot of the training population (at a new population it gets the average
# one-hot, as in the original code).
#
# We reproduce the paper's comparison table, rows Identity (predict the source) / FM / CGFM /
# MFM (k = 0, DeepSets) / MFM (k > 0), columns {train, test} x {W1, W2, MMD}, at laptop scale on
# 1. **letters** (paper Sec. 4.1): denoise rotated capital letters (source = letter + N(0, 0.5^2),
#    paired); train on 24 letters x 8 rotations, validate on X, test on Y;
# 2. **synthetic patients x treatments** (our stand-in for the organoid screen of Sec. 5, which is not
#    reachable offline): each patient is a Gaussian mixture in 5-d with its own cell-type proportions,
#    and a treatment moves a cell type further the rarer it is in that patient. Patient hold-out split.
#
# Deviations (see `sciml/mfm/population_task.py`): ~2k steps instead of 576k, smaller networks,
# points sampled inside the exact glyph outline of DejaVu Sans instead of Arial pixels, squared-error
# loss, joint updates (alternating is `train.alternate=[embedding,field]`), minibatch OT on the
# host for the patients (all three methods, so the comparison is like for like), and at evaluation MFM
# embeds as many source points as it saw in training (`points`) before pushing all `eval_points`.

# %% tags=["parameters"]
seeds = [0, 1, 2]
steps_letters = 2000          # full scale: 24 runs, ~21 min of CPU time in all (50-70 s per run)
steps_patients = 1500
datasets = ["letters", "patients"]
methods = ["fm", "cgfm", "mfm_k0", "mfm"]
noise_letters = 1.0           # second letters experiment at this source noise (FM vs MFM); 0 = skip it
steps_noise = 3000
overrides = []                # extra overrides for every run (the tests shrink the networks here)
runs_dir = "runs"

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from sciml import plot
from sciml.runner import run

plot.style()
CONFIG = {"fm": "{}_fm.yaml", "cgfm": "{}_cgfm.yaml", "mfm_k0": "{}_mfm.yaml", "mfm": "{}_mfm.yaml"}
EXTRA = {"mfm_k0": ["task.k=0"]}
MFM_ONLY = ("task.k=", "task.gcn_layers=", "task.embed_width=")  # fields only the `mfm` task has
LABEL = {"identity": "Identity", "fm": "FM", "cgfm": "CGFM", "mfm_k0": "MFM (k=0)", "mfm": "MFM (k>0)"}
STEPS = {"letters": steps_letters, "patients": steps_patients}

started = time.perf_counter()
runs, seconds = {}, {}
for ds in datasets:
    for m in methods:
        for s in seeds:
            t0 = time.perf_counter()
            mine = [o for o in overrides if m.startswith("mfm") or not o.startswith(MFM_ONLY)]
            ov = [f"train.seed={s}", f"train.steps={STEPS[ds]}", f"name={m}_seed{s}_{STEPS[ds]}", *mine,
                  *EXTRA.get(m, [])]
            runs[ds, m, s] = run(f"experiments/mfm/{CONFIG[m].format(ds)}", ov, runs_dir=runs_dir, progress=False)
            seconds[ds, m, s] = time.perf_counter() - t0
total = time.perf_counter() - started
fresh = [k for k, r in runs.items() if not r.reopened]
print(f"{len(runs)} runs ready in {total / 60:.1f} min: trained {len(fresh)} runs, reopened {len(runs) - len(fresh)}")
for ds in datasets:
    for m in methods:
        if (ds, m, seeds[0]) in fresh:
            print(f"{ds:>9} {LABEL[m]:>10}: {np.mean([seconds[ds, m, s] for s in seeds]):6.1f} s per run (wall)")

# %% [markdown]
# **Timing.** The full-scale parameters train 24 runs (2 datasets x 4 methods x 3 seeds). Each run used
# 40-70 s of CPU time (~21 min in all, evaluation included); on our shared 2-core machine, under a load
# of ~15 from other jobs and with two runs in parallel, they took 75 min of wall time. Re-executing
# the notebook reopens the finished runs in seconds.
#
# ## The table: mean ± std over seeds
# W1 and W2 are exact (POT) between the predicted and the true target population, MMD is the biased RBF
# MMD averaged over the original's bandwidths; each is averaged over the evaluated populations
# (training populations, and the held-out letter Y or the held-out patients). Identity predicts the
# source population itself. The paper reports MMD x 10^3 on organoids; we print raw MMD x 10^3 too.

# %%
COLS = [(split, metric) for split in ("train", "test") for metric in ("w1", "w2", "mmd")]


def table(ds):
    rows = {}
    first = runs[ds, methods[0], seeds[0]].final
    rows["identity"] = [(first[f"identity_{sp}_{mt}"], 0.0) for sp, mt in COLS]
    for m in methods:
        vals = np.array([[runs[ds, m, s].final[f"{sp}_{mt}"] for sp, mt in COLS] for s in seeds])
        rows[m] = list(zip(vals.mean(0), vals.std(0)))
    return rows


def show(ds, rows):
    head = " | ".join(f"{sp + ' ' + mt.upper() + (' x1e3' if mt == 'mmd' else ''):>14}" for sp, mt in COLS)
    print(f"{ds}: {len(seeds)} seeds\n{'':>10} | {head}")
    for m, vals in rows.items():
        cells = []
        for (_, mt), (mu, sd) in zip(COLS, vals):
            f = 1e3 if mt == "mmd" else 1.0
            cells.append(f"{f * mu:6.3f} ± {f * sd:5.3f}")
        print(f"{LABEL[m]:>10} | " + " | ".join(cells))


tables = {ds: table(ds) for ds in datasets}
for ds in datasets:
    show(ds, tables[ds])
    print()

# %% [markdown]
# **What we got at full scale** (3 seeds, numbers in the table above; mean ± std over seeds, with the
# data fixed, so the spread is that of initialisation and batches only):
#
# - *Synthetic patients, held-out patients:* MFM has the lowest test W2 (1.59 vs FM 1.78, CGFM 1.81,
#   Identity 2.46), W1 and MMD, by many standard deviations. CGFM is second-best on the training
#   patients but falls behind FM on unseen ones: its average one-hot cannot tell patients apart. MFM
#   with k = 0 (DeepSets) equals k = 10 here: the information the response needs (cell-type
#   proportions) is a mean over the population, which DeepSets already computes.
# - *Letters, held-out Y:* after 2k steps (the paper trains 576k) every flow only starts to denoise:
#   W2 goes from 0.362 (Identity) to 0.341 (FM) and 0.341 (MFM); MFM is not better than FM on Y
#   (W1 and MMD slightly worse). CGFM fits the training letters best (train W2 0.278) and is worst
#   on Y (0.375, worse than Identity), the paper's point about CGFM. MFM's better fit on the training
#   letters (0.311 vs FM 0.318) shows the embedding is used, but at this budget it does not transfer
#   to an unseen letter at noise 0.5. At noise 1.0 it does (next section).
#
# **Paper, for comparison.** The only MFM numbers we could verify offline are the organoid patient
# hold-out figures a reviewer quoted from the submitted Table 2: MFM (k = 100) MMD 8.96 (x 10^3) and
# W2 4.269, against ICNN MMD 74.00 and W2 4.681 (43 markers, so not comparable in scale with our 5-d
# patients). The paper's qualitative claims: MFM beats FM and CGFM on unseen populations, CGFM cannot
# generalise by construction, FM is often second, and CGFM ≈ MFM on the training populations.

# %%
fig, axes = plot.figure(len(datasets), size=4.0)
for ax, ds in zip(axes[0], datasets):
    names = ["identity", *methods]
    rows = tables[ds]
    x = np.arange(len(names))
    for off, split in [(-0.18, "train"), (0.18, "test")]:
        j = COLS.index((split, "w2"))
        ax.bar(x + off, [rows[n][j][0] for n in names], 0.36, yerr=[rows[n][j][1] for n in names], label=split)
    ax.set_xticks(x, [LABEL[n] for n in names], rotation=30)
    ax.set(ylabel="W2(predicted, target)", title=f"{ds}: W2 over {len(seeds)} seeds")
    ax.legend()
plt.show()

# %% [markdown]
# ## Harder letters: source noise 1.0
# At noise 0.5 a flow that sees one point at a time can already move it towards the nearest stroke,
# so the population adds little at our budget. At noise 1.0 single points say much less about where
# the strokes are, while the noisy population still shows the letter's rotated outline. This is our
# addition (the paper uses one noise level): FM vs MFM (k > 0), same networks, 3000 steps, held-out Y.

# %%
noise_runs = {}
if noise_letters:
    for m in ("fm", "mfm"):
        for s in seeds:
            mine = [o for o in overrides if m.startswith("mfm") or not o.startswith(MFM_ONLY)]
            ov = [f"train.seed={s}", f"train.steps={steps_noise}", f"task.noise={noise_letters}",
                  f"name={m}_noise{noise_letters}_seed{s}_{steps_noise}", *mine]
            noise_runs[m, s] = run(f"experiments/mfm/letters_{m}.yaml", ov, runs_dir=runs_dir, progress=False)
    for key, label in [("identity_test_w2", "Identity"), ("test_w2", None)]:
        for m in ("fm", "mfm"):
            vals = [noise_runs[m, s].final[key] for s in seeds]
            name = label or LABEL[m]
            print(f"noise {noise_letters}: {name:>9} test W2 {np.mean(vals):.3f} ± {np.std(vals):.3f}")
            if label:
                break

# %% [markdown]
# **What we got at full scale** (3 seeds, 3000 steps, test letter Y unseen): W2 Identity 0.804, FM
# 0.656 ± 0.001, MFM 0.598 ± 0.002. Here MFM generalises to the unseen letter where FM cannot, the
# paper's claim. The six runs took 12 min of wall time on our shared 2-core machine.
# `tests/mfm/test_mfm_tasks.py` checks the same effect with a smaller seeded training (24 letters x 4
# rotations, 1500 steps, test on X and Y).

# %% [markdown]
# ## Predictions on the test letter
# Source (noisy Y), target (clean Y) and each method's prediction for the first held-out populations
# (seed 0). Every run also writes `test_populations.png` into its run directory.

# %%
for ds in datasets:
    preds = {m: np.load(runs[ds, m, seeds[0]].dir / "test_predictions.npz") for m in methods}
    first = preds[methods[0]]
    k = min(3, len(first["source"]))
    fig, axes = plot.figure(2 + len(methods), k, size=2.2)
    for i in range(k):
        panels = [("source", first["source"][i], "tab:blue"), ("target", first["target"][i], "tab:green")]
        panels += [(LABEL[m], preds[m]["predicted"][i], "tab:red") for m in methods]
        for j, (title, pts, c) in enumerate(panels):
            plot.points(axes[i, j], pts[:, :2], c=c)
            axes[i, j].set_title(f"{first['names'][i]}: {title}", fontsize=8)
    fig.suptitle(f"{ds}: held-out populations (first two coordinates)")
    fig.tight_layout()
    plt.show()

# %% [markdown]
# ## Inference time per population
# `infer_ms_per_population` is measured in each run's evaluation (adaptive Tsit5 at rtol = atol = 1e-4
# over the whole population at once, after compilation). Training step times are in `make bench`
# (`benchmarks/mfm.yaml`, which also holds the original's network and batch shapes).

# %%
for ds in datasets:
    for m in methods:
        ms = [runs[ds, m, s].final["infer_ms_per_population"] for s in seeds]
        print(f"{ds:>9} {LABEL[m]:>10}: {np.mean(ms):8.1f} ms per population")
