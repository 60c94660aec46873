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
# # Mesh transformer vs MeshGraphNet on cylinder flow we simulate
#
# *Training Transformers for Mesh-Based Simulations* (Garnier et al. 2025) replaces MeshGraphNet's
# message passing by a transformer whose attention is restricted to mesh neighbours (the adjacency
# matrix is the attention mask), widened by K-hop adjacency, dilation and global attention. The
# abstract's claims: the **smallest transformer matches MeshGraphNet while being about 7x faster and
# 6x smaller**, and the largest ones beat it on all-rollout RMSE (by 52%) at similar training speed.
#
# Here both networks are trained the same way on a CylinderFlow-like dataset that we simulate:
#
# 1. **Data** (`sciml.sim.lbm`, `sciml.data.cylinder_flow`): a D2Q9 lattice-Boltzmann channel
#    (1.6 x 0.41, parabolic inflow, Re 100-200, cylinder position and radius drawn per trajectory)
#    sampled every 0.01 time units onto a Delaunay mesh refined near the cylinder and its wake, with the
#    MeshGraphNets node types, stored in the MeshGraphNets TFRecord format.
# 2. **Models** (`sciml.meshformer`): MeshGraphNet (encode-process-decode, latent 64, 8 steps) and
#    mesh transformers with edge-restricted attention computed over edge lists (segment softmax,
#    O(edges)): the smallest (width 32), width 64 on the mesh edges, width 64 with dilated rings
#    (1, 2, 4 hops) + 4 global tokens, and width 64 with 2-hop adjacency.
# 3. **Training**: the same loss (normalised velocity change, noise 0.02 on inputs), optimiser
#    (AdamW 1e-3, wd 1e-4, betas 0.9/0.95 as graph-physics, cosine with warm-up), steps and batch.
#
# Deviations (also in the docstrings):
# - Scale: 16 training trajectories of 100 frames on ~1.2-1.4k-node meshes and a few hundred
#   optimiser steps on a CPU, instead of 1000 trajectories x 600 frames and millions of steps. The
#   recorded runs at the end train 40,000 steps on 64 trajectories with coarser (~700-node) meshes.
# - The transformer sees mesh geometry through a rotary encoding of the node positions in its
#   attention scores (graph-physics' RoPE option); without it, geometry would enter through the mask
#   alone and the attention could not tell upstream from downstream.
# - Dilation and global attention are absent from the public code: dilated layers attend to the
#   nodes exactly d hops away (d cycling 1, 2, 4), and global attention uses learned tokens that every
#   node reads and writes, our interpretation of the paper.
# - Normalisers use exact training-set statistics, frozen, instead of running statistics.
# - The LBM is weakly compressible; its sound waves are damped by a raised bulk viscosity so that
#   velocity alone determines the next frame, as in the incompressible original data.
#
# **Cost.** The wall time of the data, of every run and in total is printed at the end. Finished runs
# are reopened, not retrained.

# %% tags=["parameters"]
steps = 400  # optimiser steps per model (batch 1 graph per step)
runs_dir = "runs"
models = ["mgn", "transformer_small", "transformer", "transformer_dilated_global", "transformer_khop2"]
noise_ablation = ["transformer_small"]  # models also trained with a larger input noise
ablation_noise = 0.1
data_overrides = []  # e.g. smaller data: ["task.num_train=4", "task.num_frames=20"]
model_overrides = []  # applied to every model, e.g. ["task.depth=2"]
results_dir = "results/meshformer"  # recorded converged runs (converged_<model>_seed<seed>); read when present
rerun_recorded = False  # train them again instead of reading them (about 2 h per MeshGraphNet run on one core)
recorded_models = ["mgn", "transformer_small", "transformer", "transformer_dilated_global", "transformer_khop2"]
recorded_seeds = [0, 1]

# %%
import json
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from sciml import plot
from sciml.data.cylinder_flow import cache_directory
from sciml.meshformer.evaluation import rollout_per_step_mse, rollout_rmse
from sciml.runner import load_config, recorded_run, run, training_summary

plot.style()
LABELS = {
    "mgn": "MeshGraphNet (64 x 8 steps)",
    "transformer_small": "transformer, smallest (32 x 4)",
    "transformer": "transformer (64 x 4)",
    "transformer_dilated_global": "transformer + dilation + global",
    "transformer_khop2": "transformer, 2-hop",
}


def label(key):
    base, _, noise = key.partition(", ")
    return LABELS.get(base, base) + (f", {noise}" if noise else "")


timings = {}

# %% [markdown]
# ## The dataset
# Generated on first use and cached under `data/cylinder_flow/` (or `$SCIML_DATA_DIR/cylinder_flow/`;
# MeshGraphNets TFRecord + meta.json).

# %%
started = time.perf_counter()
task = load_config(f"experiments/meshformer/{models[0]}.yaml", data_overrides).task
train, test, stats = task.dataset()
timings["data"] = time.perf_counter() - started
print(
    f"data ready in {timings['data']:.0f} s: {train.num_trajectories} train / {test.num_trajectories} test "
    f"trajectories of {train.frames} frames; nodes per mesh {train.node_mask.sum(1).min()}-"
    f"{max(train.node_mask.sum(1).max(), test.node_mask.sum(1).max())}, padded to {train.node_mask.shape[1]}"
)
meta = json.loads((cache_directory(task.data_config, task.data_dir) / "meta.json").read_text())
res = [p["reynolds"] for p in meta["params"]["train"]]
print(
    f"Reynolds numbers {min(res):.0f}-{max(res):.0f}; steps per frame "
    f"{sorted({p['steps_per_frame'] for p in meta['params']['train']})}"
)

n0 = int(test.node_mask[0].sum())
pos, cells, types = test.mesh_pos[0, :n0], test.cells[0], test.node_type[0, :n0]
fig, axes = plot.figure(1, 3, size=2.4)
fig.set_size_inches(11, 7)
axes[0, 0].triplot(pos[:, 0], pos[:, 1], cells, lw=0.25, color="0.4")
for t, c in ((4, "tab:green"), (5, "tab:purple"), (6, "tab:red")):
    axes[0, 0].scatter(*pos[types == t].T, s=3, c=c, label={4: "inflow", 5: "outflow", 6: "wall"}[t])
axes[0, 0].legend(loc="upper right", markerscale=3)
axes[0, 0].set_title(f"held-out mesh ({n0} nodes)")
for ax, t in zip(axes[1:, 0], (0, test.frames - 1)):
    ax.tripcolor(pos[:, 0], pos[:, 1], cells, np.linalg.norm(test.velocity[0, t, :n0], axis=-1), shading="gouraud")
    ax.set_title(f"|u| at frame {t}")
for ax in axes[:, 0]:
    ax.set_aspect("equal")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Training every model
# Same data, loss, optimiser and number of steps for every network.

# %%
runs = {}
jobs = [(m, m, []) for m in models]
jobs += [(f"{m}, noise {ablation_noise}", m, [f"task.noise={ablation_noise}"]) for m in noise_ablation]
for key, m, extra in jobs:
    started = time.perf_counter()
    name = f"{m}_{steps}" if not extra else f"{m}_noise{ablation_noise}_{steps}"
    runs[key] = run(
        f"experiments/meshformer/{m}.yaml",
        data_overrides + model_overrides + extra + [f"train.steps={steps}", f"name={name}"],
        runs_dir=runs_dir,
        progress=False,
    )
    timings[key] = time.perf_counter() - started
    print(f"{key:<32} {timings[key]:6.0f} s   one-step RMSE {runs[key].final['one_step_rmse']:.4f}")
print(f"trained {len(runs)} runs")

# %% [markdown]
# ## The table: size, speed and accuracy on the held-out trajectories
# RMSE of velocity, MeshGraphNets' definition: root of the mean squared error over nodes (boundary
# nodes included, they are reset to the truth), components and the first k rollout steps. "No change"
# predicts v(t+1) = v(t). Training ms/step comes from the logged steps per second (first log window,
# which holds the compilation, left out); rollout ms/step is one trajectory, compilation excluded.


# %%
def train_ms(r):
    rows = [m for m in r.metrics if "steps_per_s" in m]
    rates = [m["steps_per_s"] for m in rows[1:]] or [m["steps_per_s"] for m in rows]
    return 1e3 / float(np.median(rates))


table = pd.DataFrame(
    {
        label(m): {
            "params": int(r.final["params"]),
            "train ms/step": train_ms(r),
            "rollout ms/step": r.final["rollout_ms_per_step"],
            "1-step RMSE": r.final["one_step_rmse"],
            "RMSE@10": r.final.get("rollout_rmse_10", np.nan),
            "RMSE@50": r.final.get("rollout_rmse_50", np.nan),
            "all-rollout RMSE": r.final["rollout_rmse_all"],
        }
        for m, r in runs.items()
    }
).T
# The "no change" baseline: v(t) = v(t - 1) for one step, v(t) = v(0) for rollouts (on the same held-out
# trajectories, boundary nodes included, as in the rows above).
first = next(iter(runs.values())).final
gt, node_mask = test.velocity, test.node_mask
persist = rollout_per_step_mse(np.broadcast_to(gt[:, :1], gt[:, 1:].shape), gt[:, 1:], node_mask)
table.loc["no change"] = {
    "params": 0,
    "train ms/step": np.nan,
    "rollout ms/step": np.nan,
    "1-step RMSE": first["one_step_rmse_no_change"],
    "RMSE@10": rollout_rmse(persist, 10) if len(persist) >= 10 else np.nan,
    "RMSE@50": rollout_rmse(persist, 50) if len(persist) >= 50 else np.nan,
    "all-rollout RMSE": rollout_rmse(persist),
}
print(f"'no change' baseline: 1-step RMSE {first['one_step_rmse_no_change']:.4f}")
with pd.option_context("display.float_format", "{:.4g}".format, "display.width", 160):
    print(table)
if "mgn" in runs and "transformer_small" in runs:
    a, b = table.loc[LABELS["mgn"]], table.loc[LABELS["transformer_small"]]
    print(
        f"\nsmallest transformer vs MeshGraphNet: {a['params'] / b['params']:.1f}x fewer parameters "
        f"(paper: 6x), {a['train ms/step'] / b['train ms/step']:.1f}x faster training steps and "
        f"{a['rollout ms/step'] / b['rollout ms/step']:.1f}x faster rollout steps (paper: 7x), "
        f"1-step RMSE ratio {b['1-step RMSE'] / a['1-step RMSE']:.2f} (paper: matches)"
    )

# %% [markdown]
# **The abstract's claims beside this run.** Formatted from the table above; each qualitative word
# comes from the rule printed next to it. Our RMSEs are in our data's units after a few hundred steps,
# so only ratios between rows compare with the paper.

# %%
verdict = []
mgn_key, small_key = LABELS["mgn"], LABELS["transformer_small"]
if mgn_key in table.index and small_key in table.index:
    a, b = table.loc[mgn_key], table.loc[small_key]
    size, train_x, roll_x = a["params"] / b["params"], a["train ms/step"] / b["train ms/step"], \
        a["rollout ms/step"] / b["rollout ms/step"]
    within = lambda x, ref: ref / 1.5 <= x <= ref * 1.5  # noqa: E731
    verdict.append(
        f"- **Size: {'matches' if within(size, 6) else 'does not match'} the abstract's 6x smaller** (rule: "
        f"within a factor 1.5): {size:.1f}x fewer parameters ({int(b['params']):,} vs {int(a['params']):,})."
    )
    verdict.append(
        f"- **Speed: training steps {'match' if within(train_x, 7) else 'do not match'}, rollout steps "
        f"{'match' if within(roll_x, 7) else 'do not match'} the abstract's 7x faster** (same rule): "
        f"{train_x:.1f}x and {roll_x:.1f}x."
    )
    acc = b["1-step RMSE"] / a["1-step RMSE"]
    verdict.append(
        f"- **Accuracy: the smallest transformer {'matches' if acc <= 1.1 else 'does not match'} MeshGraphNet** "
        f"(rule: 1-step RMSE at most 10% higher): {b['1-step RMSE']:.3f} vs {a['1-step RMSE']:.3f}."
    )
    larger = [k for k in table.index if k.startswith("transformer") and k != small_key and "noise" not in k]
    beat = [k for k in larger if table.loc[k, "all-rollout RMSE"] < a["all-rollout RMSE"]]
    if larger:
        verdict.append(
            f"- **Larger transformers beat MeshGraphNet on all-rollout RMSE: {len(beat)} of {len(larger)}** "
            f"(rule: lower all-rollout RMSE; the abstract: 52% lower for its largest model): MeshGraphNet "
            f"{a['all-rollout RMSE']:.3f}; " + ", ".join(f"{k} {table.loc[k, 'all-rollout RMSE']:.3f}" for k in larger)
            + "."
        )
nc = table.loc["no change"]
for col in ("RMSE@10", "RMSE@50", "all-rollout RMSE"):
    if np.isfinite(nc[col]):
        below = [k for k in table.index if k != "no change" and table.loc[k, col] < nc[col]]
        verdict.append(f"- {col}: below 'no change' ({nc[col]:.3f}): " + (", ".join(
            f"{k} ({table.loc[k, col]:.3f})" for k in below) or "no model") + ".")
for key in runs:
    base, _, noise = key.partition(", ")
    if noise and LABELS.get(base) in table.index:
        x, y = table.loc[LABELS[base], "all-rollout RMSE"], table.loc[label(key), "all-rollout RMSE"]
        verdict.append(f"- {label(key)}: all-rollout RMSE {y:.3f} against {x:.3f} at the default noise; 1-step "
                       f"{table.loc[label(key), '1-step RMSE']:.3f} vs {table.loc[LABELS[base], '1-step RMSE']:.3f}.")
display(Markdown("\n".join(verdict)))

# %% [markdown]
# ## Rollouts: ground truth vs each model
# Velocity magnitude on the first held-out trajectory at several rollout steps.

# %%
data = {m: np.load(r.dir / "rollout.npz") for m, r in runs.items()}
ref = next(iter(data.values()))
steps_total = ref["truth"].shape[0]
times = sorted({0, min(9, steps_total - 1), min(49, steps_total - 1), steps_total - 1})
rows = [("ground truth", ref["truth"])] + [(label(m), d["prediction"]) for m, d in data.items()]
vmax = float(np.linalg.norm(ref["truth"], axis=-1).max())
fig, axes = plt.subplots(len(rows), len(times), figsize=(3.6 * len(times), 1.3 * len(rows)), squeeze=False)
for i, (row_label, field) in enumerate(rows):
    for j, t in enumerate(times):
        ax = axes[i, j]
        ax.tripcolor(
            ref["mesh_pos"][:, 0],
            ref["mesh_pos"][:, 1],
            ref["cells"],
            np.linalg.norm(field[t], axis=-1),
            shading="gouraud",
            vmin=0,
            vmax=vmax,
        )
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        if i == 0:
            ax.set_title(f"step {t + 1}")
        if j == 0:
            ax.set_ylabel(row_label, rotation=0, ha="right", va="center", fontsize=8)
plt.show()

# %% [markdown]
# ## Training loss and rollout error over time

# %%
fig, axes = plot.figure(2, size=3.8)
for m, r in runs.items():
    s, loss = r.history("loss")
    axes[0, 0].plot(s, loss, label=label(m))
    axes[0, 1].plot(np.arange(1, steps_total + 1), np.sqrt(data[m]["per_step_mse"]), label=label(m))
axes[0, 0].set(xlabel="step", ylabel="loss (normalised delta MSE)", yscale="log", title="training")
axes[0, 1].set(xlabel="rollout step", ylabel="RMSE at that step", yscale="log", title="held-out rollouts")
axes[0, 1].legend(fontsize=7)
plt.show()
total = sum(timings.values())
print("wall time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()) + f"; total {total:.0f}")

# %% [markdown]
# ## Trained to convergence: recorded runs, two seeds
# The runs above stop after a few hundred steps, where every model drifts away within tens of rollout
# steps, so they cannot say which network rolls out better. The recorded runs below train each network
# much longer, on a dataset chosen so that a CPU can afford it (`CONVERGED` below, applied to
# `experiments/meshformer/<model>.yaml`): coarser meshes (`task.h_min=0.015`, `task.h_max=0.04`: about
# 700 nodes instead of 1,300, so a MeshGraphNet step costs about a third less), 64 training trajectories
# instead of 16 (our LBM makes one in about 10 s; MeshGraphNets trains on 1,000) and 8 held-out ones,
# 100 frames each as above. The training noise and the number of steps are in `CONVERGED`: 40,000 steps,
# because at 20,000 MeshGraphNet missed its target on both seeds (those runs are kept under
# `results/meshformer/converged20k_<model>_seed<seed>/` and not read here). The rollout
# error is evaluated on the held-out trajectories every 2,000 steps (`eval_every`), which gives the
# learning curves; the reported model is the last one (no selection on the held-out set). Each run is
# recorded under `results_dir` with its `PROVENANCE.md` (commit and command); `rerun_recorded = True`
# trains them again.

# %%
from IPython.display import Image

CONVERGED = ["task.num_train=64", "task.num_test=8", "task.h_min=0.015", "task.h_max=0.04", "task.noise=0.05",
             "train.steps=40000", "train.eval_every=2000", "train.log_every=100", "train.checkpoint_every=2000",
             "train.keep=2"]

recorded = {}  # (model, seed) -> {"final", "dir", "curve": [(step, eval metrics)], "loss": (steps, values)}
read_runs = []  # every recorded run this notebook reads, for what they cost to train
for m in recorded_models:
    for seed in recorded_seeds:
        r = recorded_run(f"experiments/meshformer/{m}.yaml", f"converged_{m}_seed{seed}",
                         CONVERGED + [f"train.seed={seed}"], results_dir=results_dir, rerun=rerun_recorded,
                         runs_dir=runs_dir)
        if r is None:
            continue
        read_runs.append(r)
        rows = r.metrics
        recorded[m, seed] = {
            "final": r.final,
            "dir": r.dir,
            "curve": [(x["step"], x) for x in rows if "eval/rollout_rmse_all" in x],
            "loss": r.history("loss"),
            "rates": [x["steps_per_s"] for x in rows if "steps_per_s" in x],
        }
print(f"{len(recorded)} recorded runs:", ", ".join(f"{m}/seed{s}" for m, s in recorded) or "none")

# %% [markdown]
# ### Learning curves
# Left: whole-rollout RMSE on the held-out trajectories during training, with "no change" and half of it
# (the target for MeshGraphNet). Right: the training loss, averaged over windows of 1,000 steps. A curve
# has plateaued when the last quarter of training lowers it by under 5% of its value at three quarters.

# %%


def windowed(steps, values, width=1000):
    """Mean of `values` over consecutive windows of `width` steps: (window ends, means)."""
    ends = np.arange(width, steps.max() + 1, width)
    return ends, np.array([values[(steps > e - width) & (steps <= e)].mean() for e in ends])


def late_gain(steps, values):
    """Relative drop of a curve over the last quarter of training: 1 - value(end) / value(3/4)."""
    at = lambda frac: values[np.argmin(np.abs(steps - frac * steps.max()))]  # noqa: E731
    return 1 - at(1.0) / at(0.75)


if recorded:
    fig, axes = plot.figure(2, size=4.2)
    colours = dict(zip(recorded_models, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for (m, seed), rec in recorded.items():
        st = np.array([s for s, _ in rec["curve"]])
        axes[0, 0].plot(st, [x["eval/rollout_rmse_all"] for _, x in rec["curve"]], color=colours[m],
                        ls="-" if seed == recorded_seeds[0] else "--", label=f"{label(m)} seed {seed}")
        axes[0, 1].plot(*windowed(*rec["loss"]), color=colours[m], ls="-" if seed == recorded_seeds[0] else "--")
    nc_all = next(iter(recorded.values()))["final"]["rollout_rmse_all_no_change"]
    axes[0, 0].axhline(nc_all, color="k", lw=1, label="no change")
    axes[0, 0].axhline(nc_all / 2, color="k", lw=1, ls=":", label="half of no change")
    axes[0, 0].set(xlabel="step", ylabel="whole-rollout RMSE (held out)", yscale="log", title="rollout error")
    axes[0, 1].set(xlabel="step", ylabel="training loss (1,000-step mean)", yscale="log", title="training loss")
    axes[0, 0].legend(fontsize=6)
    plt.show()
    lines = ["| run | steps | whole-rollout RMSE: last eval | best eval (step) | last-quarter drop: rollout RMSE | "
             "last-quarter drop: training loss |", "|---|---|---|---|---|---|"]
    for (m, seed), rec in recorded.items():
        st = np.array([s for s, _ in rec["curve"]], float)
        ra = np.array([x["eval/rollout_rmse_all"] for _, x in rec["curve"]])
        w_steps, w_loss = windowed(*rec["loss"])
        lines.append(f"| {label(m)} seed {seed} | {int(st[-1])} | {ra[-1]:.3f} | {ra.min():.3f} "
                     f"({int(st[np.argmin(ra)])}) | {late_gain(st, ra):.1%} | {late_gain(w_steps, w_loss):.1%} |")
    display(Markdown("\n".join(lines)))

# %% [markdown]
# ### Table: mean (sd) over seeds
# The same metrics as the first table, on the 8 held-out trajectories. Training and rollout times were
# measured while the machine ran other trainings, so only their ratios between rows mean something, and
# those loosely.

# %%
METRICS = {"1-step RMSE": "one_step_rmse", "RMSE@10": "rollout_rmse_10", "RMSE@50": "rollout_rmse_50",
           "all-rollout RMSE": "rollout_rmse_all"}


def seed_values(m, key):
    return np.array([rec["final"][key] for (mm, s), rec in recorded.items() if mm == m and key in rec["final"]])


def train_ms_recorded(m):
    """Median training step time over the seeds' log windows, the first (compilation) left out."""
    rates = [r for (mm, s), rec in recorded.items() if mm == m for r in rec["rates"][1:]]
    return 1e3 / float(np.median(rates)) if rates else np.nan


done = [m for m in recorded_models if any(mm == m for mm, _ in recorded)]
if done:
    first = next(iter(recorded.values()))["final"]
    lines = ["| model | seeds | params | train ms/step | rollout ms/step | "
             + " | ".join(METRICS) + " |", "|---" * (5 + len(METRICS)) + "|"]
    for m in done:
        cells = []
        for key in METRICS.values():
            v = seed_values(m, key)
            cells.append(f"{v.mean():.3f} ({v.std():.3f})")
        lines.append(f"| {label(m)} | {len(seed_values(m, 'params'))} | {int(seed_values(m, 'params')[0]):,} | "
                     f"{train_ms_recorded(m):.0f} | {seed_values(m, 'rollout_ms_per_step').mean():.1f} | "
                     + " | ".join(cells) + " |")
    baseline = [f"{first[k + '_no_change']:.3f}" for k in METRICS.values()]
    lines.append("| no change | | 0 | | | " + " | ".join(baseline) + " |")
    display(Markdown("\n".join(lines)))
    if "mgn" in done:
        display(Markdown(f"MeshGraphNet's rollout of the first held-out trajectory (seed {recorded_seeds[0]}):"))
        display(Image(filename=str(recorded["mgn", recorded_seeds[0]]["dir"] / "rollout.png")))

# %% [markdown]
# ### What the recorded runs say
# Each verdict is formatted from the recorded numbers (mean over seeds) by the rule printed beside it.
# The abstract's claims: the smallest transformer matches MeshGraphNet while being about 6x smaller and
# 7x faster; the larger transformers are better over rollouts (its largest: 52% lower all-rollout RMSE).
# The training step times come from the recorded runs' logs, so they are the code's speed when each run was
# recorded: MeshGraphNet's training step has since become faster at this size (same numbers; measured in
# `benchmarks/README.md`, "The residual stream's gradient"), which the speed verdict below does not include.

# %%
if done:
    mean = lambda m, key: float(seed_values(m, key).mean())  # noqa: E731
    verdict = []
    nc_all = first["rollout_rmse_all_no_change"]
    if "mgn" in done:
        per_seed = seed_values("mgn", "rollout_rmse_all")
        met = bool(np.all(per_seed <= nc_all / 2))
        verdict.append(
            f"- **MeshGraphNet {'reaches' if met else 'does not reach'} the target** (rule: whole-rollout RMSE at most "
            f"half of 'no change', {nc_all / 2:.3f}, on every seed): "
            + ", ".join(f"{v:.3f}" for v in per_seed) + f" ({per_seed.mean() / nc_all:.2f}x no change)."
        )
    if "mgn" in done and "transformer_small" in done:
        size = mean("mgn", "params") / mean("transformer_small", "params")
        train_x = train_ms_recorded("mgn") / train_ms_recorded("transformer_small")
        roll_x = mean("mgn", "rollout_ms_per_step") / mean("transformer_small", "rollout_ms_per_step")
        within = lambda x, ref: ref / 1.5 <= x <= ref * 1.5  # noqa: E731
        verdict.append(f"- **Size: {'matches' if within(size, 6) else 'does not match'} 6x smaller** (rule: within a "
                       f"factor 1.5): {size:.1f}x.")
        verdict.append(f"- **Speed: {'matches' if within(train_x, 7) and within(roll_x, 7) else 'does not match'} 7x "
                       f"faster** (same rule, training and rollout steps; timed on a shared machine): {train_x:.1f}x "
                       f"and {roll_x:.1f}x.")
        ratios = {c: mean("transformer_small", k) / mean("mgn", k) for c, k in METRICS.items()}
        matches = ratios["all-rollout RMSE"] <= 1.1
        worse = [c for c, r in ratios.items() if r > 1.1]
        verdict.append(
            f"- **Accuracy: the smallest transformer {'matches' if matches else 'does not match'} MeshGraphNet over "
            f"the whole rollout** (rule: mean all-rollout RMSE at most 10% higher); its RMSE relative to "
            "MeshGraphNet's: " + ", ".join(f"{c} {r:.2f}x" for c, r in ratios.items())
            + (f"; more than 10% higher at {', '.join(worse)}" if worse else "") + "."
        )
    for m in done:
        drops = [late_gain(*windowed(*rec["loss"])) for (mm, s), rec in recorded.items() if mm == m]
        verdict.append(f"- {label(m)}: the training loss {'has' if max(drops) < 0.05 else 'has not'} plateaued (rule: "
                       f"the last quarter lowers the 1,000-step mean by under 5%; the learning rate decays to zero "
                       f"there, so this is a plateau of this schedule, not of a longer one): "
                       + ", ".join(f"{d:.1%}" for d in drops) + ".")
    larger = [m for m in done if m.startswith("transformer") and m != "transformer_small"]
    missing = [m for m in recorded_models if m.startswith("transformer") and m != "transformer_small"
               and m not in done]
    for m in larger:
        x = mean(m, "rollout_rmse_all")
        vs = {b: mean(b, "rollout_rmse_all") for b in ("mgn", "transformer_small") if b in done}
        n = len(seed_values(m, "rollout_rmse_all"))
        verdict.append(f"- {label(m)} ({n} seed{'s' if n > 1 else ''}): all-rollout RMSE {x:.3f}; " + ", ".join(
            f"{'lower' if x < v else 'not lower'} than {label(b)} ({v:.3f}, {1 - x / v:+.0%})"
            for b, v in vs.items()) + ".")
    if larger and "mgn" in done:
        better = [m for m in larger if mean(m, "rollout_rmse_all") < mean("mgn", "rollout_rmse_all")]
        judged = "holds" if len(better) == len(larger) else "does not hold"
        verdict.append(f"- **Larger transformers better than MeshGraphNet over rollouts: "
                       f"{'not judged yet' if missing else judged}** (rule: every larger transformer has a lower "
                       f"mean all-rollout RMSE): {len(better)} of {len(larger)} recorded"
                       + (f"; not recorded yet: {', '.join(label(m) for m in missing)}" if missing else "") + ".")
    display(Markdown("\n".join(verdict)))

# %% [markdown]
# ### Twice as long: is 40,000 steps MeshGraphNet's plateau?
# The plateau verdict above is one of a schedule whose learning rate decays to zero at 40,000 steps. Two more
# MeshGraphNet runs, one per seed, train twice as long (`train.steps=80000`, the same schedule stretched over
# the whole run, `LONGER` below; evaluated every 4,000 steps), recorded as `converged80k_mgn_seed<seed>`. The
# rule, fixed before these runs ended: if doubling the training lowers the seed-mean whole-rollout RMSE by
# under 10%, the 40,000-step runs stand for a plateau of longer training too; otherwise the tables above
# understate what MeshGraphNet reaches on this data. Every transformer is trained twice as long as well (the
# smallest, the 64 x 4, the 2-hop and the one with dilation and global tokens; `converged80k_<model>_seed<seed>`,
# same `LONGER` settings, read when recorded), so that the paper's claims can be judged again at equal, longer
# training.

# %%
LONGER = [o for o in CONVERGED if not o.startswith(("train.steps=", "train.eval_every="))] + [
    "train.steps=80000", "train.eval_every=4000"]
NAMES = {"mgn": "MeshGraphNet", "transformer_small": "the smallest transformer",  # the models trained longer
         "transformer": "the 64 x 4 transformer", "transformer_khop2": "the 2-hop transformer",
         "transformer_dilated_global": "the dilation + global transformer"}
longer = {}  # (model, seed) -> {"final", "curve", "loss"}; only where the 40,000-step run of that seed is recorded
for m in NAMES:
    for seed in recorded_seeds:
        r = recorded_run(f"experiments/meshformer/{m}.yaml", f"converged80k_{m}_seed{seed}",
                         LONGER + [f"train.seed={seed}"], results_dir=results_dir, rerun=rerun_recorded,
                         runs_dir=runs_dir)
        if r is not None and (m, seed) in recorded:
            read_runs.append(r)
            longer[m, seed] = {"final": r.final, "loss": r.history("loss"),
                               "curve": [(x["step"], x["eval/rollout_rmse_all"]) for x in r.metrics
                                         if "eval/rollout_rmse_all" in x]}
for m, name in NAMES.items():
    seeds = [s for mm, s in longer if mm == m]
    print(f"80,000-step runs of {name}: {len(seeds)} recorded" + f" (seeds {', '.join(map(str, seeds))})" * bool(seeds))
print("What the 40,000- and 80,000-step runs cost:", training_summary(read_runs))


def longer_values(m, key):
    """(40,000-step, 80,000-step) values of a metric over the seeds that model has at 80,000 steps."""
    seeds = [s for mm, s in longer if mm == m]
    return (np.array([recorded[m, s]["final"][key] for s in seeds]),
            np.array([longer[m, s]["final"][key] for s in seeds]))


if longer:
    models = [m for m in NAMES if any(mm == m for mm, _ in longer)]
    fig, axes = plot.figure(2, size=4.2)
    for (m, seed), rec in longer.items():
        ls = "-" if seed == recorded_seeds[0] else "--"
        short = recorded[m, seed]
        c = colours[m]  # the learning curves' colour of the model; its 40,000-step runs faded
        axes[0, 0].plot(*zip(*[(s, x["eval/rollout_rmse_all"]) for s, x in short["curve"]]), color=c, alpha=0.35,
                        ls=ls, label=f"{label(m)}, 40,000 steps, seed {seed}")
        axes[0, 0].plot(*zip(*rec["curve"]), color=c, ls=ls, label=f"{label(m)}, 80,000 steps, seed {seed}")
        axes[0, 1].plot(*windowed(*short["loss"]), color=c, alpha=0.35, ls=ls)
        axes[0, 1].plot(*windowed(*rec["loss"]), color=c, ls=ls)
    nc_all = next(iter(longer.values()))["final"]["rollout_rmse_all_no_change"]
    axes[0, 0].axhline(nc_all / 2, color="k", lw=1, ls=":", label="half of no change")
    axes[0, 0].set(xlabel="step", ylabel="whole-rollout RMSE (held out)", yscale="log", title="twice as long")
    axes[0, 1].set(xlabel="step", ylabel="training loss (1,000-step mean)", yscale="log", title="training loss")
    axes[0, 0].legend(fontsize=5)
    plt.show()
    lines = ["| model | metric | 40,000 steps: mean (sd) | 80,000 steps: mean (sd) | change |", "|---" * 5 + "|"]
    for m in models:
        for c, key in METRICS.items():
            a, b = longer_values(m, key)
            lines.append(f"| {label(m)} | {c} | {a.mean():.3f} ({a.std():.3f}) | {b.mean():.3f} ({b.std():.3f}) | "
                         f"{b.mean() / a.mean() - 1:+.0%} |")
    display(Markdown("\n".join(lines)))
    verdict = []
    gain = {}  # model -> relative drop of the seed-mean whole-rollout RMSE from 40,000 to 80,000 steps
    for m in models:
        a, b = (v.mean() for v in longer_values(m, "rollout_rmse_all"))
        gain[m] = 1 - b / a
        n = sum(mm == m for mm, _ in longer)
        drops = [late_gain(*windowed(*rec["loss"])) for (mm, _), rec in longer.items() if mm == m]
        verdict.append(
            f"- **40,000 steps {'is' if gain[m] < 0.10 else 'is not'} {NAMES[m]}'s plateau here** (rule: doubling "
            f"the training lowers the seed-mean whole-rollout RMSE by under 10%): {a:.3f} -> {b:.3f} "
            f"({b / a - 1:+.0%}, {n} seed{'s' if n > 1 else ''})"
            + ("; the rule counts a rise as a plateau, but longer training made the whole rollout worse" if b > a
               else "")
            + ".\n"
            f"- {NAMES[m][0].upper() + NAMES[m][1:]}, 80,000 steps: the training loss "
            f"{'has' if max(drops) < 0.05 else 'has not'} plateaued by the rule above (last-quarter drop of the "
            "1,000-step mean under 5%): "
            + ", ".join(f"{d:.1%}" for d in drops) + ".")
    paired = lambda m: [s for s in recorded_seeds if ("mgn", s) in longer and (m, s) in longer]  # noqa: E731
    both = paired("transformer_small")
    if both:  # the accuracy claim again, at 80,000 steps, by the rule of "What the recorded runs say"
        at = lambda m, key, runs: np.mean([runs[m, s]["final"][key] for s in both])  # noqa: E731
        ratios = {c: at("transformer_small", k, longer) / at("mgn", k, longer) for c, k in METRICS.items()}
        before = at("transformer_small", "rollout_rmse_all", recorded) / at("mgn", "rollout_rmse_all", recorded)
        worse = [c for c, r in ratios.items() if r > 1.1]
        matches = ratios["all-rollout RMSE"] <= 1.1
        verdict.append(
            f"- **At 80,000 steps the smallest transformer {'matches' if matches else 'does not match'} "
            f"MeshGraphNet over the whole rollout** (rule: mean all-rollout RMSE at most 10% higher; seed"
            f"{'s' if len(both) > 1 else ''} {', '.join(map(str, both))}); its RMSE relative to MeshGraphNet's: "
            + ", ".join(f"{c} {r:.2f}x" for c, r in ratios.items())
            + (f"; more than 10% higher at {', '.join(worse)}" if worse else "")
            + f" (all-rollout at 40,000 steps, same seeds: {before:.2f}x).")
    below_mgn = {}  # larger transformer -> whether its seed mean is below MeshGraphNet's (same seeds, 80,000 steps)
    for m in [m for m in models if m not in ("mgn", "transformer_small")]:  # a larger transformer against both
        seeds = paired(m)  # baselines, same length and seeds
        if seeds:
            x, v, w = (np.mean([longer[k, s]["final"]["rollout_rmse_all"] for s in seeds]) if all(
                (k, s) in longer for s in seeds) else None for k in (m, "mgn", "transformer_small"))
            below_mgn[m] = x < v
            verdict.append(f"- {label(m)} at 80,000 steps (seed{'s' if len(seeds) > 1 else ''} "
                           f"{', '.join(map(str, seeds))}): all-rollout RMSE {x:.3f}; "
                           f"{'lower' if x < v else 'not lower'} than MeshGraphNet's at 80,000 steps, same seeds "
                           f"({v:.3f}; {x / v:.2f}x)"
                           + (f"; {'lower' if x < w else 'not lower'} than the smallest transformer's, same length "
                              f"and seeds ({w:.3f}; {x / w:.2f}x)" if w is not None else "") + ".")
    larger_longer = [m for m in NAMES if m not in ("mgn", "transformer_small")]
    if all(m in below_mgn for m in larger_longer):  # the rollout claim again, rule as at 40,000 steps
        better = [m for m in larger_longer if below_mgn[m]]
        verdict.append(
            f"- **At 80,000 steps, larger transformers better than MeshGraphNet over rollouts: "
            f"{'holds' if len(better) == len(larger_longer) else 'does not hold'}** (rule: every larger transformer "
            f"has a lower mean all-rollout RMSE than MeshGraphNet's on the same seeds): {len(better)} of "
            f"{len(larger_longer)}"
            + (f" ({', '.join(label(m) for m in better)})" if better else "") + ".")
    last = {k: np.array([v for _, v in rec["curve"][-3:]]) for k, rec in longer.items()}  # the learning rate ~0 there
    moves = [np.ptp(v) / v.mean() for v in last.values()]
    verdict.append(
        f"- How much one evaluation says: over the last three evaluations of each 80,000-step run "
        f"({', '.join(f'{s:,}' for s, _ in next(iter(longer.values()))['curve'][-3:])} steps), the whole-rollout "
        f"RMSE moves by {min(moves):.0%} to {max(moves):.0%} of its mean (max - min, {len(moves)} runs), so a "
        "difference between two models' final numbers smaller than that is within what one evaluation moves.")
    if gain.get("mgn", 0.0) >= 0.10:  # what the comparisons above then mean: every model trained equally long
        lengths = sorted({int(rec["final"]["step"]) for rec in recorded.values()})
        again = [NAMES[m] for m in models if m != "mgn" and paired(m)]
        rest = [label(m) for m in done if m != "mgn" and m not in models]
        verdict.append(
            f"- So the comparisons above are at equal training length ({', '.join(f'{n:,}' for n in lengths)} "
            f"steps for every recorded model), not at each model's plateau: MeshGraphNet kept improving past it"
            + (f", and {' and '.join(filter(None, [', '.join(again[:-1]), again[-1]]))} "
               f"{'is' if len(again) == 1 else 'are'} compared with it again at 80,000 "
               "steps (the lines above)" if again else "")
            + (f"; {', '.join(rest)} {'was' if len(rest) == 1 else 'were'} not trained longer, so whether "
               f"{'it gains' if len(rest) == 1 else 'they gain'} as much is not known here." if rest else "."))
    display(Markdown("\n".join(verdict)))
