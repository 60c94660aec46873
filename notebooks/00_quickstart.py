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
# # Quickstart: run an experiment, load it, plot it
#
# This notebook is the harness every method notebook follows: run an experiment through the public API
# (`sciml.runner.run`), reopen the finished run (`sciml.runner.load`), and plot from what the run wrote
# (`metrics.jsonl`, `final.json`, the model checkpoint).
#
# The experiment is the project's default job: conditional flow matching from eight Gaussians to two
# moons, with exact minibatch optimal-transport coupling (an exact assignment between the source and
# target points of each batch), sampled by integrating the learned field with diffrax. Re-running a cell
# with the same config reopens the finished run instead of training again.

# %% tags=["parameters"]
steps = 6500          # training steps (the config's, as `make demo` runs it: about a minute per run on 2 CPU cores)
eval_samples = 1000   # samples for W2 / MMD
runs_dir = "runs"
couplings = ["independent", "ot"]

# %%
import time

import matplotlib.pyplot as plt

from sciml import plot
from sciml.runner import load, run

plot.style()
config = "experiments/quickstart/flow_matching_2d.yaml"
started = time.perf_counter()
runs = {
    c: run(config, [f"task.coupling={c}", f"train.steps={steps}", f"task.eval_samples={eval_samples}",
                    f"name=flow_matching_2d_{c}_{steps}"], runs_dir=runs_dir, progress=False)
    for c in couplings
}
print(f"trained {len(runs)} runs in {time.perf_counter() - started:.0f} s")

# %% [markdown]
# ## Loss curves and final metrics
# W2 and MMD compare 1000 generated points with 1000 fresh target points; `w2_source_target` is the
# distance the flow has to cover (W2 between the source and target samples) and `w2_floor` what a perfect
# sampler would still score (W2 between two independent 1000-point target samples).

# %%
fig, axes = plot.figure(2, size=3.5)
for c, r in runs.items():
    s, loss = r.history("loss")
    axes[0, 0].plot(s, loss, label=c)
axes[0, 0].set(xlabel="step", ylabel="flow-matching loss", yscale="log", title="training loss")
axes[0, 0].legend()
names = list(runs)
w2 = [runs[c].final["w2"] for c in names]
axes[0, 1].bar(names, w2, color=["tab:blue", "tab:orange"][: len(names)])
axes[0, 1].axhline(runs[names[0]].final["w2_source_target"], color="0.4", ls="--", label="W2(source, target)")
axes[0, 1].set(ylabel="W2(generated, target)", yscale="log", title="sample quality")
axes[0, 1].legend()
plt.show()
for c, r in runs.items():
    f = r.final
    print(f"{c:>12}: W2 {f['w2']:.3f} (floor {f['w2_floor']:.3f}, {f['w2'] / f['w2_floor']:.2f}x)  W1 {f['w1']:.3f}  "
          f"MMD {f['mmd']:.2e}  (run dir {r.dir})")
    # rule for the word: within 1.2x of the two-sample floor
    word = "within" if f["w2"] <= 1.2 * f["w2_floor"] else "not within"
    print(f"{'':>12}  {steps} steps: W2 is {word} 1.2x of the two-sample floor")

# %% [markdown]
# ## Samples and trajectories
# Each evaluation writes `samples.png` into its run directory. Exact minibatch OT pairs each source
# point with a nearby target point, so the learned paths should be straighter than with independent
# pairs; the cell after the figures measures it (path length over the distance between the endpoints,
# 1 for a straight line).

# %%
for c, r in runs.items():
    reopened = load(r.dir)  # any finished run can be reopened from its directory
    img = plt.imread(reopened.dir / "samples.png")
    fig, ax = plt.subplots(figsize=(10, 3.4))
    ax.imshow(img)
    ax.set_axis_off()
    ax.set_title(f"coupling = {c}")
    plt.show()
assert all(r.final["w2"] < r.final["w2_source_target"] for r in runs.values())

# %%
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from sciml.data.toy2d import sample_toy  # noqa: E402
from sciml.mfm import push_forward  # noqa: E402

x0 = jnp.asarray(sample_toy("8gaussians", 256, np.random.default_rng(0)))
ratio = {}
for c, r in runs.items():
    paths = np.asarray(push_forward(r.model, x0, ts=jnp.linspace(0.0, 1.0, 33)))  # [t, n, 2]
    length = np.linalg.norm(np.diff(paths, axis=0), axis=-1).sum(0)
    ratio[c] = float(np.mean(length / np.linalg.norm(paths[-1] - paths[0], axis=-1)))
    print(f"{c:>12}: mean path length / endpoint distance {ratio[c]:.3f}")
if {"ot", "independent"} <= set(ratio):
    word = "straighter" if ratio["ot"] < ratio["independent"] else "not straighter"
    print(f"OT-coupled paths are {word} than independent ones (rule: lower mean ratio): "
          f"{ratio['ot']:.3f} vs {ratio['independent']:.3f}")
