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
# We compare Identity (predict the source) / FM / CGFM / MFM (k = 0, DeepSets) / MFM (k > 0) on
# {train, test} x {W1, W2, MMD}, the original code's metrics, at laptop scale on
# 1. **letters** (the original repository's letters experiment, `letters_module.py`): denoise rotated
#    capital letters (source = letter + N(0, 0.5^2), paired); train on 24 letters x 8 rotations,
#    validate on X, test on Y;
# 2. **synthetic patients x treatments** (our stand-in for the paper's organoid drug screen, whose data
#    we do not have offline): each patient is a Gaussian mixture in 5-d with its own cell-type proportions,
#    and a treatment moves a cell type further the rarer it is in that patient. Patient hold-out split.
#
# Deviations (see `sciml/mfm/task.py`): ~2k steps instead of the original configuration's 576k,
# smaller networks, points sampled inside the exact glyph outline of DejaVu Sans instead of Arial pixels,
# squared-error loss, joint updates (alternating is `train.alternate=[embedding,field]`), minibatch OT on
# the host for the patients (all three methods, so the comparison is like for like), and at evaluation MFM
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
from IPython.display import Markdown, display

from sciml import plot
from sciml.runner import run

plot.style()
CONFIG = {"fm": "{}_fm.yaml", "cgfm": "{}_cgfm.yaml", "mfm_k0": "{}_mfm.yaml", "mfm": "{}_mfm.yaml"}
EXTRA = {"mfm_k0": ["task.k=0"]}
MFM_ONLY = ("task.k=", "task.gcn_depth=", "task.embed_width=")  # fields only the `mfm` task has
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
# **Timing.** The full-scale parameters train 24 runs (2 datasets x 4 methods x 3 seeds); the cell
# above prints this execution's wall time per run. Re-executing the notebook reopens finished runs.
#
# ## The table: mean ± std over seeds
# W1 and W2 are exact (POT) between the predicted and the true target population, MMD is the biased RBF
# MMD averaged over the original's bandwidths; each is averaged over the evaluated populations
# (training populations, and the held-out letter Y or the held-out patients). Identity predicts the
# source population itself. MMD is printed x 10^3 (the scale of the organoid numbers quoted below).

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
# **Sources for the paper's side.** We have no copy of the MFM paper's result tables. The only MFM
# numbers we could check are the organoid patient hold-out figures a reviewer quoted from the submitted
# Table 2 (OpenReview): MFM (k = 100) MMD 8.96 (x 10^3) and W2 4.269, against ICNN MMD 74.00 and W2
# 4.681 (43 markers, so not comparable in scale with our 5-d patients). The reviews' qualitative
# summary: MFM beats FM, CGFM and ICNN on unseen populations, CGFM cannot generalise by construction,
# and FM is often second.
#
# **What this run shows** (formatted from the table above; each qualitative word comes from the rule
# printed next to it; "clearly" means the means differ by more than twice the larger std over seeds).


# %%
def compare(rows, a, b, split="test", metric="w2"):
    j = COLS.index((split, metric))
    (ma, sa), (mb, sb) = rows[a][j], rows[b][j]
    clear = abs(ma - mb) > 2 * max(sa, sb)
    word = ("clearly lower than" if ma < mb else "clearly higher than") if clear else "level with"
    return f"{LABEL[a]} {ma:.3f} is {word} {LABEL[b]} {mb:.3f}"


verdict = []
for ds in datasets:
    rows = tables[ds]
    jt, jr = COLS.index(("test", "w2")), COLS.index(("train", "w2"))
    best_test = min(methods, key=lambda m: rows[m][jt][0])
    best_train = min(methods, key=lambda m: rows[m][jr][0])
    line = (f"- **{ds}**: lowest test W2 **{LABEL[best_test]}** ({rows[best_test][jt][0]:.3f}; Identity "
            f"{rows['identity'][jt][0]:.3f}); lowest train W2 {LABEL[best_train]} ({rows[best_train][jr][0]:.3f}).")
    for a, b in (("mfm", "fm"), ("mfm", "cgfm"), ("cgfm", "fm"), ("mfm", "mfm_k0")):
        if a in rows and b in rows:
            line += f" Test W2: {compare(rows, a, b)}."
    verdict.append(line)
verdict.append("- The reviews' claim (MFM beats FM and CGFM on unseen populations) holds on: "
               + (", ".join(ds for ds in datasets if all(
                   m not in tables[ds] or tables[ds]["mfm"][COLS.index(("test", "w2"))][0]
                   < tables[ds][m][COLS.index(("test", "w2"))][0] for m in ("fm", "cgfm")) and "mfm" in tables[ds])
                  or "none of our datasets") + " (rule: MFM's mean test W2 below both baselines').")
display(Markdown("\n".join(verdict)))

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
# Why a second noise level: at noise 0.5 a flow that sees one point at a time can already move it
# towards the nearest stroke, so the population may add little at our budget. At noise 1.0 single points
# say much less about where the strokes are, while the noisy population still shows the letter's rotated
# outline. This is our addition (the original code uses one noise level, 0.5): FM vs MFM (k > 0), same
# networks, 3000 steps, held-out Y.

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
# **What this run shows at noise 1.0** (formatted from the runs above, same rule for "clearly").

# %%
if noise_runs:
    w2 = {m: [noise_runs[m, s].final["test_w2"] for s in seeds] for m in ("fm", "mfm")}
    ident = float(np.mean([noise_runs["fm", s].final["identity_test_w2"] for s in seeds]))
    diff = np.mean(w2["mfm"]) - np.mean(w2["fm"])
    clear = abs(diff) > 2 * max(np.std(w2["mfm"]), np.std(w2["fm"]))
    word = ("clearly lower than" if diff < 0 else "clearly higher than") if clear else "level with"
    display(Markdown(
        f"At source noise {noise_letters} ({len(seeds)} seeds, {steps_noise} steps, held-out letter Y): test W2 "
        f"Identity {ident:.3f}, FM {np.mean(w2['fm']):.3f} ± {np.std(w2['fm']):.3f}, MFM {np.mean(w2['mfm']):.3f} "
        f"± {np.std(w2['mfm']):.3f}: MFM is **{word}** FM (rule: clearly = the means differ by more than "
        "twice the larger std over seeds). `tests/mfm/test_mfm_tasks.py` checks the same effect with a "
        "smaller seeded training (24 letters x 4 rotations, 1500 steps, test on X and Y)."
    ))

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
# over the whole population at once; `sciml.timing`: the median of 3 calls after a warm-up, compiled).
# Training step times are in `make bench` (`benchmarks/mfm.yaml`, which also holds the original's network
# and batch shapes).

# %%
for ds in datasets:
    for m in methods:
        ms = [runs[ds, m, s].final["infer_ms_per_population"] for s in seeds]
        print(f"{ds:>9} {LABEL[m]:>10}: {np.mean(ms):8.1f} ms per population")
