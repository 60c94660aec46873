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
# # Foundation inference model for Markov jump processes (FIM-MJP), at laptop scale
#
# Berghaus et al. (NeurIPS 2024) pretrain one network on *simulated* Markov jump processes and then read
# off the rate matrix of a new process from its observed paths, with no fitting ("zero-shot"). This
# notebook runs the whole pipeline of `sciml.fim` on 2 CPU cores:
#
# 1. **Prior over processes** (`sciml.data.mjp`): 2-6 states padded to 6, Beta-distributed rates on a
#    random irreducible connectivity, Dirichlet initial distributions, regular grids with a random stride
#    or irregular per-path masks on [0, 10], 1% mislabelled observations; paths simulated exactly with
#    the vectorised Gillespie simulator `sciml.sim.gillespie`.
# 2. **Model** (`sciml.fim.FIMMJP`): sine time encoding + one-hot state per observation, a post-norm
#    transformer per path, learnable-query attention across paths, SELU heads for the log-mean and
#    log-std of the 30 off-diagonal rates and the initial-state logits; the original's loss (Gaussian NLL
#    on existing edges, a penalty on absent edges, cross-entropy for the initial state).
# 3. **Zero-shot inference** on the discrete flashing ratchet (DFR, V = r = b = 1) in chunks of paths,
#    beside reference numbers for the released FIM and for NeuralMJP (each labelled by its source) and a
#    maximum-likelihood baseline; RMSE against the number
#    of inference paths with and without chunking; held-out synthetic RMSE per number of states.
#
# **Scale and deviations** (also in the docstrings): our network has width (d_model) 64 and depth 2 (the
# original: 256 and 4, 3.47M parameters; `benchmarks/fim.yaml` times that size), trained for 2000 steps
# of 8 processes on 4k processes of 64 paths (the original: 45k processes of 300 paths, batches of 32);
# at most 16 paths per process in training (the original: up to 300), so inference chunks hold at most
# 16 paths; grids have 50 points instead of 100 (the caption of the paper's Table 1: 300 paths of 50
# points); n = 6 states for 55% of the processes, as in the original's set. The path summary is a masked
# mean instead of the original's read-out at position 1, and the across-path queries are averaged
# instead of keeping only the last one. `transition_tokens=True` (our addition) appends to every token
# the one-hot of the transition (previous observed state, current state) and the time gap: the original
# network has to discover transitions by attending to neighbouring time encodings. `count_features=True`
# (our addition) also hands the heads the pooled transition counts over the time at risk
# (`sciml.fim.statistics`), after the diagnosis below found that the small encoder does not carry them into
# its summary. The notebook trains the original's tokens and heads beside ours on the same budget
# (`compare_original`), so the effect of the deviations is measured, not assumed.

# %% tags=["parameters"]
runs_dir = "runs"
steps = 2000              # full scale: ~8-10 min on 2 free CPU cores (15 min on our loaded machine)
num_processes = 4000      # synthetic pretraining processes (64 paths each)
eval_processes = 200      # held-out synthetic processes
dfr_batches = 5           # DFR batches of dfr_paths paths (the paper: 15 batches of 300)
dfr_paths = 300
path_counts = [1, 10, 30, 100, 300, 1000]
transition_tokens = True
count_features = True     # our addition: the heads also see the pooled transition counts (sciml/fim/statistics.py)
compare_original = True   # also pretrain the original's tokens and heads (no transition tokens, no counts)
results_dir = "results/fim"  # recorded full-scale runs (experiments/fim/zero_shot.yaml); read when present
rerun_recorded = False    # re-run the recorded runs (about 30 min each on 2 free cores) instead of reading them
cache_data = True         # cache the generated pretraining set under data/fim/
dfr_path = ""             # a published DFR archive (zip or folder) for the zero-shot DFR; empty: simulated

# %%
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from sciml import plot
from sciml.data.mjp import DFR_ARCHIVE_FILES, dfr_parameters, dfr_rate_matrix, load_dfr_archive, make_dfr_dataset
from sciml.fim import infer_rate_matrix, mle_rate_matrix, rate_rmse, relaxation_time, stationary_distribution
from sciml.fim.evaluation import PAPER_FIM_DFR, PAPER_NEURALMJP_DFR, PAPER_RMSE_VS_PATHS
from sciml.runner import recorded_run, run
from sciml.timing import median_seconds

plot.style()
started = time.perf_counter()
overrides = [
    f"train.steps={steps}", f"task.num_processes={num_processes}", f"task.eval_processes={eval_processes}",
    f"task.dfr_batches={dfr_batches}", f"task.dfr_paths={dfr_paths}",
    f"task.path_counts=[{','.join(str(p) for p in path_counts)}]",
    f"task.cache={str(cache_data).lower()}",
]
if dfr_path:  # the task's DFR evaluations read the archive instead of simulating (task.dfr_path)
    overrides.append(f"task.dfr_path={dfr_path}")
suffix = f"{steps}_{num_processes}{'_archive' if dfr_path else ''}"
features = [f"task.transition_tokens={str(transition_tokens).lower()}",
            f"task.count_features={str(count_features).lower()}"]
tag = ("tt" if transition_tokens else "plain") + ("_counts" if count_features else "")
r = run("experiments/fim/pretrain.yaml", overrides + features + [f"name=pretrain_{tag}_{suffix}"],
        runs_dir=runs_dir, progress=False)
m = r.final
runs = {"ours": r}
if compare_original:  # the original's tokens (sine time encoding + one-hot state) and heads
    original = ["task.transition_tokens=false", "task.time_max_frequency=0", "task.count_features=false"]
    runs["original tokens"] = run("experiments/fim/pretrain.yaml", overrides + original
                                  + [f"name=pretrain_original_{suffix}"], runs_dir=runs_dir, progress=False)
print(f"pretraining + evaluation: {time.perf_counter() - started:.0f} s "
      f"(run dirs {[str(x.dir) for x in runs.values()]})")

# %% [markdown]
# ## Diagnosis
# **Is the DFR inside the prior's support?** Per process, in normalised time (t / T_norm): the largest and
# smallest rate on an existing edge, the mean holding time (1 / exit rate, averaged over states), the
# observed state changes per observation interval and per path (with as many paths as a training process
# has at most, `max_paths`). The criterion (`sciml.fim.evaluation.dfr_support`, tested in
# `tests/fim/test_fim_diagnostics.py`): the DFR's median of each statistic lies between the 1st and 99th
# percentiles of the pretraining processes' distribution.

# %%
from sciml.fim.evaluation import SUPPORT_PERCENTILES, dfr_support, summary_probe  # noqa: E402

task = r.task
Q_eval, tn_eval, dfr_eval_set, _ = task.dfr_sets()
ref, tgt, sup = dfr_support(task.dataset(), dfr_eval_set, Q_eval, t_norm=tn_eval, num_paths=task.max_paths)
lo, hi = SUPPORT_PERCENTILES
rows = "\n".join(
    f"| {k} | " + " / ".join(f"{v:.3g}" for v in np.percentile(ref[k], [lo, 50, hi]))
    + f" | {np.median(tgt[k]):.3g} | {sup[f'{k}_percentile']:.0f} | {'yes' if sup[f'{k}_within'] else 'no'} |"
    for k in ref
)
inside = all(sup[f"{k}_within"] for k in ref)
display(Markdown(
    f"| statistic (normalised time) | pretraining {lo:.0f}% / 50% / {hi:.0f}% | DFR median | DFR percentile | within |"
    "\n|---|---|---|---|---|\n" + rows
    + f"\n\n**The DFR {'lies inside' if inside else 'lies outside'} the prior's support** by this criterion"
    + ("; the prior is not what holds the model back." if inside else "; the prior needs widening.")
))

# %% [markdown]
# **Does the network see what the MLE uses?** The MLE reads the pooled transition counts N_ij and the time
# spent in each state. A linear probe (`summary_probe`: ridge read-out fit on half of held-out synthetic
# processes, R² on the other half) asks whether the learned summary (the across-path attention output and
# P / 100, *before* any count features) carries the off-diagonal transition frequencies N_ij / ΣN (i ≠ j),
# the self-transition frequencies N_ii / ΣN and the time-at-risk shares T_i / ΣT.

# %%
held = task._synthetic(task.eval_seed, max(2 * eval_processes, 40), task.max_paths, False)
probes = {name: summary_probe(x.model, held, num_paths=task.max_paths) for name, x in runs.items()}
keys = ["probe_r2_offdiagonal_frequency", "probe_r2_diagonal_frequency", "probe_r2_time_at_risk"]
display(Markdown(
    "| model | R² jumps i→j (i≠j) | R² stays i→i | R² time at risk |\n|---|---|---|---|\n"
    + "\n".join(f"| {name} | " + " | ".join(f"{p[k]:.2f}" for k in keys) + " |" for name, p in probes.items())
))
worst = min(probes, key=lambda n: probes[n]["probe_r2_offdiagonal_frequency"])
print(f"lowest read-out of the jumps: {worst} (R² {probes[worst]['probe_r2_offdiagonal_frequency']:.2f}); "
      f"occupation is read well by every model (R² time at risk >= "
      f"{min(p['probe_r2_time_at_risk'] for p in probes.values()):.2f})")

# %% [markdown]
# ## Pretraining
# The loss terms of the original: Gaussian NLL of the rates on existing edges, the missing-link penalty
# and the initial-state cross-entropy; `rmse` is the batch RMSE of the predicted rates (data units).

# %%
fig, axes = plot.figure(2, size=3.4)
for (name, x), ls in zip(runs.items(), ("-", "--")):
    for k, c in zip(("loss", "loss_gauss", "loss_init", "loss_missing"), ("k", "C0", "C1", "C2")):
        s, v = x.history(k)
        axes[0, 0].plot(s, v, ls, color=c, label=f"{k} ({name})")
    s, v = x.history("rmse")
    axes[0, 1].plot(s, v, ls, label=name)
axes[0, 0].set(xlabel="step", title="training loss terms")
axes[0, 0].legend(fontsize=6)
axes[0, 1].set(xlabel="step", ylabel="rate RMSE (training batches)")
axes[0, 1].legend(fontsize=7)
plt.show()
last = {name: {k: x.history(k)[1][-1] for k in ("loss_gauss", "loss_init", "loss_missing") if len(x.history(k)[1])}
        for name, x in runs.items()}
print("last logged loss terms: " + "; ".join(
    f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in t.items()) for name, t in last.items()))

# %% [markdown]
# ## Zero-shot DFR (V = r = b = 1)
# 300-path batches on a 50-point regular grid over [0, 2.5], started from the stationary distribution
# (as the published archives); FIM infers each batch in chunks of at most `max_paths` (16) paths and the
# rate matrices are averaged over batches; the MLE (exact likelihood of the observed transitions) is fit
# to each batch and averaged the same way. Reference rows, with their true sources (details in
# `docs/references.md`, FIM.3); none of them is a number printed in the paper:
# - *released FIM (OpenFIM tutorial)*: the released `FIM4Science/fim-mjp` model on the regular-grid DFR,
#   (V, r, b) and RMSE from 50 batches of 300 paths of the OpenFIM MJP tutorial's outputs;
# - *NeuralMJP (OpenFIM script)*: the (V, r, b) that OpenFIM's `scripts/mjp/evaluate_FIMMJP.py` hard-codes
#   for NeuralMJP on the regular grid; its RMSE is computed in the cell below from those three numbers.

# %%
Q = load_dfr_archive(dfr_path)["Q"][0] if dfr_path else dfr_rate_matrix()  # the evaluated process
neuralmjp_rmse = rate_rmse(dfr_rate_matrix(*[PAPER_NEURALMJP_DFR[k] for k in "Vrb"]), Q)
rows = [
    ("FIM, ours (zero-shot, chunked)", m["dfr_V_fim"], m["dfr_r_fim"], m["dfr_b_fim"],
     f"{m['dfr_rmse_fim']:.3f} ± {m['dfr_rmse_fim_sd']:.3f}"),
    ("MLE, ours (fitted per batch)", m["dfr_V_mle"], m["dfr_r_mle"], m["dfr_b_mle"],
     f"{m['dfr_rmse_mle']:.3f} ± {m['dfr_rmse_mle_sd']:.3f}"),
    ("released FIM (OpenFIM tutorial output)", *[PAPER_FIM_DFR[k] for k in "Vrb"], f"{PAPER_FIM_DFR['rmse']:.3f}"),
    ("NeuralMJP (hard-coded in OpenFIM's evaluation script)", *[PAPER_NEURALMJP_DFR[k] for k in "Vrb"],
     f"{neuralmjp_rmse:.3f}"),
    ("truth", *dfr_parameters(Q), "0"),
]
table = "| method | V | r | b | RMSE |\n|---|---|---|---|---|\n" + "\n".join(
    f"| {n} | {V:.2f} | {rr:.2f} | {b:.2f} | {e} |" for n, V, rr, b, e in rows
)
pi_true = np.asarray(stationary_distribution(Q))
pis = "\n".join(
    f"| {name} | " + " | ".join(f"{m[f'dfr_pi{i}_{key}']:.3f}" for i in range(6))
    + f" | {m[f'dfr_relaxation_{key}']:.3f} |"
    for name, key in (("FIM, ours", "fim"), ("MLE, ours", "mle"))
)
display(Markdown(table + "\n\n| stationary distribution | π0 | π1 | π2 | π3 | π4 | π5 | relaxation time |\n"
                 "|---|---|---|---|---|---|---|---|\n"
                 "| truth | " + " | ".join(f"{p:.3f}" for p in pi_true) + f" | {relaxation_time(Q):.3f} |\n" + pis))
img = plt.imread(r.dir / "dfr_rate_matrices.png")
plt.figure(figsize=(9, 3))
plt.imshow(img)
plt.axis("off")
plt.show()

# %% [markdown]
# ## RMSE against the number of inference paths, and per number of states
# "chunked" splits the paths into nearly equal chunks of at most 16 (the most the model saw in training)
# and averages the chunk estimates; "one chunk" feeds all paths at once. The paper's released FIM
# (trained with up to 300 paths) degrades beyond 300 paths in the OpenFIM tutorial's outputs (its row
# in the table below; `docs/references.md`, FIM.3). Each point is the mean
# RMSE over up to 5 disjoint subsets of a 1000-path DFR pool. Right: held-out synthetic processes (16
# paths each), beside predicting the prior's mean rate.

# %%
img = plt.imread(r.dir / "rmse_paths_states.png")
plt.figure(figsize=(8, 3.5))
plt.imshow(img)
plt.axis("off")
plt.show()
head = "| paths | " + " | ".join(str(p) for p in path_counts) + " |\n|---|" + "---|" * len(path_counts) + "\n"
line = lambda name, vals: f"| {name} | " + " | ".join(vals) + " |\n"  # noqa: E731
display(Markdown(
    head
    + line("ours, chunked", [f"{m[f'dfr_rmse_paths{p}_chunked']:.3f}" for p in path_counts])
    + line("ours, one chunk", [f"{m[f'dfr_rmse_paths{p}_whole']:.3f}" for p in path_counts])
    + line("released FIM, one chunk (OpenFIM tutorial)",
           [f"{PAPER_RMSE_VS_PATHS[p]:.3f}" if p in PAPER_RMSE_VS_PATHS else "–" for p in path_counts])
))
if "synthetic_regular_rmse_mle" in m:
    print("held-out processes on regular grids (16 paths): mean / median RMSE "
          f"FIM {m['synthetic_regular_rmse_fim']:.3f} / {m['synthetic_regular_median_rmse_fim']:.3f}, "
          f"MLE {m['synthetic_regular_rmse_mle']:.3f} / {m['synthetic_regular_median_rmse_mle']:.3f}")
ns = [n for n in range(2, 7) if f"synthetic_rmse_n{n}" in m]
display(Markdown(
    "| states | " + " | ".join(map(str, ns)) + " | all |\n|---|" + "---|" * (len(ns) + 1) + "\n"
    + line("FIM, ours", [f"{m[f'synthetic_rmse_n{n}']:.3f}" for n in ns] + [f"{m['synthetic_rmse']:.3f}"])
    + line("prior mean", [f"{m[f'synthetic_rmse_prior_mean_n{n}']:.3f}" for n in ns]
           + [f"{m['synthetic_rmse_prior_mean']:.3f}"])
))

# %% [markdown]
# ## Inference cost and the published archives
# Zero-shot inference on 300 paths is one forward pass per chunk (after compilation); the MLE needs an
# optimisation per dataset. The published DFR archives (`6_st_DFR_V=*.zip` of FIM4Science/OpenFIM, 10k
# paths on 100 points of [0, 2.5]) are read without torch by `sciml.data.mjp.load_dfr_archive`; if one
# is placed under `data/fim/`, the last cell infers it (nothing is downloaded here).

# %%
d = make_dfr_dataset(7, dfr_paths, grid_size=50)
Q = dfr_rate_matrix()  # simulated at V = r = b = 1
est = infer_rate_matrix(r.model, d["times"], d["states"], chunk_size=16)
q_mle = mle_rate_matrix(d["times"], d["states"], n_states=6)
# sciml.timing's rule: the median of timed calls after an untimed first one (which compiles)
t_fim = median_seconds(lambda: infer_rate_matrix(r.model, d["times"], d["states"], chunk_size=16).Q, repeats=3)
t_mle = median_seconds(lambda: mle_rate_matrix(d["times"], d["states"], n_states=6), repeats=1)
print(f"{dfr_paths} paths: FIM {1e3 * t_fim:.0f} ms (RMSE {rate_rmse(est.Q, Q):.3f}), "
      f"MLE {1e3 * t_mle:.0f} ms (RMSE {rate_rmse(q_mle, Q):.3f})")

# %%
archive = Path(dfr_path or "data/fim/6_st_DFR_V=1.zip")
if archive.exists():
    a = load_dfr_archive(archive)
    est = infer_rate_matrix(r.model, a["times"][0, :300], a["states"][0, :300], a["lengths"][0, :300],
                            t_norm=float(a["t_norm"][0]), chunk_size=16)
    print(f"published archive, first 300 paths: RMSE {rate_rmse(est.Q, a['Q'][0]):.3f}")
else:
    print(f"{archive} not present (files read: {sorted(DFR_ARCHIVE_FILES.values())}); skipped")
print(f"notebook total: {time.perf_counter() - started:.0f} s")

# %% [markdown]
# ## Recorded full-scale runs (experiments/fim/zero_shot.yaml, experiments/fim/zero_shot_residual.yaml)
# Pretrained on this 2-core machine, two pretraining seeds each (`results/fim/*/PROVENANCE.md` gives the
# commit and the command), evaluated on 5 batches of 300 DFR paths (chunks of 32):
# - *first round* (`zero_shot.yaml`): count features, 4000 processes, 5000 steps, the last checkpoint;
# - *second round* (`zero_shot_residual.yaml`): the rate head corrects the counts' crude log-rates
#   (`rate_residual`), 16000 processes, up to 7000 steps, the checkpoint selected on a held-out *synthetic*
#   validation batch (`val/rmse`; never the DFR). The recorded runs were stopped by a deadline before 7000
#   steps; their PROVENANCE.md gives the step reached and the selected checkpoint.
#
# Read from `results_dir` when present; `rerun_recorded = True` re-runs them through the runner.
# `learning_curve/` holds `sciml eval --step` evaluations of the kept checkpoints, `generalisation/` the DFR
# at V = 0.5 and 1.5; `*_processes*` are short runs of the second round's settings on fewer processes.
# Our target for this reproduction: DFR RMSE <= 0.25 and (V, r, b) within 0.25 of (1, 1, 1) on both seeds.

# %%
import json  # noqa: E402

ROUNDS = {"zero_shot": "first round", "zero_shot_residual": "second round"}
TARGET_RMSE, TARGET_PARAMS = 0.25, 0.25
recorded = {}
root = Path(results_dir)
for experiment in ROUNDS:
    for seed in (0, 1):
        r = recorded_run(f"experiments/fim/{experiment}.yaml", f"{experiment}_seed{seed}", [f"train.seed={seed}"],
                         results_dir=results_dir, rerun=rerun_recorded, runs_dir=runs_dir)
        if r is not None:
            recorded[r.dir.name] = r.final


def round_of(name):
    return ROUNDS[name.rsplit("_seed", 1)[0]]


def meets_target(f):
    return f["dfr_rmse_fim"] <= TARGET_RMSE and all(abs(f[f"dfr_{k}_fim"] - 1) <= TARGET_PARAMS for k in "Vrb")


if recorded:
    ns = range(2, 7)
    display(Markdown(
        "| run | round | DFR RMSE (± sd over batches) | V | r | b | target met | MLE RMSE | synthetic RMSE | "
        "prior mean |\n|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(
            f"| {name} | {round_of(name)} | {f['dfr_rmse_fim']:.3f} ± {f['dfr_rmse_fim_sd']:.3f} | "
            f"{f['dfr_V_fim']:.2f} | {f['dfr_r_fim']:.2f} | {f['dfr_b_fim']:.2f} | "
            f"{'yes' if meets_target(f) else 'no'} | {f.get('dfr_rmse_mle', float('nan')):.3f} | "
            f"{f['synthetic_rmse']:.3f} | {f['synthetic_rmse_prior_mean']:.3f} |" for name, f in recorded.items())
        + "\n\n| run | " + " | ".join(f"n={n} FIM / prior" for n in ns) + " |\n|---|" + "---|" * len(ns) + "\n"
        + "\n".join(f"| {name} | " + " | ".join(
            f"{f[f'synthetic_rmse_n{n}']:.3f} / {f[f'synthetic_rmse_prior_mean_n{n}']:.3f}" for n in ns) + " |"
            for name, f in recorded.items())
        + "\n\nReference (OpenFIM tutorial output, the released model): DFR RMSE "
        + f"{PAPER_FIM_DFR['rmse']:.3f}, (V, r, b) = ({PAPER_FIM_DFR['V']:.2f}, {PAPER_FIM_DFR['r']:.2f}, "
        + f"{PAPER_FIM_DFR['b']:.2f}) from 50 batches of 300 paths."
    ))
    for label in ROUNDS.values():
        fs = [f for name, f in recorded.items() if round_of(name) == label]
        if fs:
            e = np.array([f["dfr_rmse_fim"] for f in fs])
            print(f"{label}: DFR RMSE over {len(fs)} seed(s) {e.mean():.3f} (seed sd {e.std():.3f}, mean batch sd "
                  f"{np.mean([f['dfr_rmse_fim_sd'] for f in fs]):.3f}); target met on "
                  f"{sum(map(meets_target, fs))} of {len(fs)} seeds")
    recorded_rounds = {name: f for name, f in recorded.items() if "beats_mle_n2_paths1" in f}
    if recorded_rounds:  # (a) FIM against the MLE on held-out regular-grid processes, per n and P
        Ps = sorted({int(k.split("paths")[1]) for f in recorded_rounds.values() for k in f
                     if k.startswith("beats_mle_n")})
        display(Markdown(
            "**Held-out synthetic processes (regular grids): fraction on which FIM's RMSE is below the MLE's** "
            "(" + " / ".join(recorded_rounds) + "; in brackets the mean RMSE FIM / MLE of the first)\n\n"
            "| states | " + " | ".join(f"{P} paths" for P in Ps) + " |\n|---|" + "---|" * len(Ps) + "\n"
            + "\n".join(f"| {n} | " + " | ".join(
                " / ".join(f"{f[f'beats_mle_n{n}_paths{P}']:.2f}" for f in recorded_rounds.values())
                + " ({:.3f} / {:.3f})".format(*(next(iter(recorded_rounds.values()))[f"rmse_{w}_n{n}_paths{P}"]
                                                for w in ("fim", "mle")))
                for P in Ps) + " |" for n in ns)
        ))
    # (b) the DFR at V = 0.5, 1 and 1.5 (r = b = 1) at 30 / 100 / 300 paths, FIM (chunked) and the MLE
    gen_P = (30, 100, 300)
    rows = []
    for name, f in recorded.items():
        sets = {1.0: f} | {float(p.stem[1:]): json.loads(p.read_text())
                           for p in sorted((root / name / "generalisation").glob("V*.json"))}
        for V in sorted(sets):
            e = sets[V]
            for method, key in (("FIM", "chunked"), ("MLE", "mle")):
                if all(f"dfr_rmse_paths{P}_{key}" in e for P in gen_P):
                    rows.append(f"| {name} | {V:g} | {method} | "
                                + " | ".join(f"{e[f'dfr_rmse_paths{P}_{key}']:.3f}" for P in gen_P) + " |")
    if rows:
        display(Markdown(
            "**DFR RMSE at V = 0.5, 1, 1.5 (r = b = 1) against the number of paths** (mean over up to 5 disjoint "
            "subsets; FIM in chunks of 32)\n\n| run | V | method | " + " | ".join(f"{P} paths" for P in gen_P)
            + " |\n|---|---|---|" + "---|" * len(gen_P) + "\n" + "\n".join(rows)
            + "\n| released FIM, one chunk (OpenFIM tutorial output) | 1 | FIM | "
            + " | ".join(f"{PAPER_RMSE_VS_PATHS[P]:.3f}" for P in gen_P) + " |"
        ))
    # (c) learning curves: against pretraining steps (kept checkpoints) and distinct pretraining processes
    curves = {name: sorted((int(p.stem.split("_")[1]), json.loads(p.read_text()))
                           for p in (root / name / "learning_curve").glob("step_*.json"))
              for name in recorded}
    lines = [f"| {name} | {s} | {e['synthetic_rmse']:.3f} | {e['dfr_rmse_fim']:.3f} |"
             for name, c in curves.items() for s, e in c]
    if lines:
        display(Markdown("**Learning curve against pretraining steps**\n\n| run | step | held-out synthetic RMSE | "
                         "DFR RMSE |\n|---|---|---|---|\n" + "\n".join(lines)))
    by_processes = {}
    for p in sorted(root.glob("zero_shot_residual_processes*/final.json")):
        by_processes[int(p.parent.name.split("processes")[1].split("_")[0])] = json.loads(p.read_text())
    if by_processes:
        display(Markdown(
            "**Learning curve against the number of distinct pretraining processes** (short runs, the second "
            "round's settings otherwise)\n\n| processes | steps | held-out synthetic "
            "RMSE | prior mean | DFR RMSE |\n|---|---|---|---|---|\n" + "\n".join(
                f"| {N} | {e['step']} | {e['synthetic_rmse']:.3f} | {e['synthetic_rmse_prior_mean']:.3f} | "
                f"{e['dfr_rmse_fim']:.3f} |"
                for N, e in sorted(by_processes.items()))
        ))
else:
    print(f"no recorded runs under {root}")

# %% [markdown]
# ## What we measured, and what it says
# The verdict below is formatted from this run's results (`m`); each qualitative word comes from the
# rule printed next to it. The reference rows are the released FIM's tutorial output and NeuralMJP's
# parameters hard-coded in OpenFIM (see above), not numbers printed in the paper.

# %%
ref_rmse = PAPER_FIM_DFR["rmse"]
fim_rmse, mle_rmse = m["dfr_rmse_fim"], m["dfr_rmse_mle"]
ratio = fim_rmse / ref_rmse
verdict = [
    f"- **DFR, zero-shot: {'reproduced' if ratio <= 1.5 else 'not reproduced'}** "
    f"(rule: reproduced if our RMSE is at most 1.5x the released FIM's {ref_rmse:.3f}). Ours "
    f"{fim_rmse:.3f} ± {m['dfr_rmse_fim_sd']:.3f} with (V, r, b) = ({m['dfr_V_fim']:.2f}, {m['dfr_r_fim']:.2f}, "
    f"{m['dfr_b_fim']:.2f}), {ratio:.1f}x the released model; NeuralMJP's hard-coded parameters give "
    f"{neuralmjp_rmse:.3f}; the MLE on the same batches {mle_rmse:.3f} "
    f"({'better' if mle_rmse < fim_rmse else 'worse'} than our FIM)."
]
ns = [n for n in range(2, 7) if f"synthetic_rmse_n{n}" in m]
learned = [n for n in ns if m[f"synthetic_rmse_n{n}"] < 0.9 * m[f"synthetic_rmse_prior_mean_n{n}"]]
verdict.append(
    "- **Held-out synthetic processes**: FIM beats the prior mean by more than 10% (the rule) for "
    + (f"n = {', '.join(map(str, learned))} states" if learned else "no number of states")
    + "; per n, FIM / prior mean: "
    + ", ".join(f"n={n} {m[f'synthetic_rmse_n{n}']:.3f} / {m[f'synthetic_rmse_prior_mean_n{n}']:.3f}" for n in ns)
    + "."
)
P = [p for p in path_counts if f"dfr_rmse_paths{p}_chunked" in m]
if len(P) >= 2:
    whole = {p: m[f"dfr_rmse_paths{p}_whole"] for p in P}
    chunked = {p: m[f"dfr_rmse_paths{p}_chunked"] for p in P}
    best = min(whole, key=whole.get)
    degrades = whole[P[-1]] > 1.1 * whole[best]
    stable = chunked[P[-1]] <= 1.1 * min(chunked.values())
    verdict.append(
        f"- **More paths than in training, one chunk: {'degrades' if degrades else 'does not degrade'}** "
        f"(rule: degrades if the RMSE at {P[-1]} paths exceeds the best one-chunk RMSE by more than 10%): "
        f"best {whole[best]:.3f} at {best} paths, {whole[P[-1]]:.3f} at {P[-1]}. **Chunked: "
        f"{'stable' if stable else 'not stable'}** (rule: at {P[-1]} paths within 10% of its best): "
        f"{chunked[P[-1]]:.3f} against a best of {min(chunked.values()):.3f}. The released FIM's one-chunk "
        f"tutorial outputs rise from {min(PAPER_RMSE_VS_PATHS.values()):.3f} to "
        f"{PAPER_RMSE_VS_PATHS[max(PAPER_RMSE_VS_PATHS)]:.3f} at {max(PAPER_RMSE_VS_PATHS)} paths."
    )
if "synthetic_regular_rmse_mle" in m:
    f_mean, m_mean = m["synthetic_regular_rmse_fim"], m["synthetic_regular_rmse_mle"]
    f_med, m_med = m["synthetic_regular_median_rmse_fim"], m["synthetic_regular_median_rmse_mle"]
    verdict.append(
        f"- **FIM vs MLE on held-out regular-grid processes (16 paths each)**: mean RMSE FIM {f_mean:.3f}, "
        f"MLE {m_mean:.3f} (lower: {'FIM' if f_mean < m_mean else 'MLE'}); median FIM {f_med:.3f}, "
        f"MLE {m_med:.3f} (lower: {'FIM' if f_med < m_med else 'MLE'})."
    )
if "original tokens" in runs:
    o = runs["original tokens"].final
    verdict.append(
        f"- **Our deviations against the original's tokens and heads, same budget**: DFR RMSE ours {fim_rmse:.3f}, "
        f"original {o['dfr_rmse_fim']:.3f}; held-out synthetic ours {m['synthetic_rmse']:.3f}, original "
        f"{o['synthetic_rmse']:.3f} (prior mean {m['synthetic_rmse_prior_mean']:.3f})."
    )
for label in ROUNDS.values():  # the recorded runs against our target
    fs = {name: f for name, f in recorded.items() if round_of(name) == label}
    if fs:
        verdict.append(
            f"- **Recorded {label}: target {'met' if all(map(meets_target, fs.values())) else 'not met'}** (rule: "
            f"DFR RMSE <= {TARGET_RMSE} and each of V, r, b within {TARGET_PARAMS} of 1, on every seed): " + "; ".join(
                f"{name} {f['dfr_rmse_fim']:.3f} ± {f['dfr_rmse_fim_sd']:.3f} with (V, r, b) = ({f['dfr_V_fim']:.2f}, "
                f"{f['dfr_r_fim']:.2f}, {f['dfr_b_fim']:.2f})" for name, f in fs.items()) + "."
        )
for name, f in recorded_rounds.items() if recorded else ():
    few = [n for n in range(2, 7) if min(f[f"beats_mle_n{n}_paths{P}"] for P in (1, 10)) > 0.5]
    many = [n for n in range(2, 7) if f[f"beats_mle_n{n}_paths{max(Ps)}"] > 0.5]
    verdict.append(
        f"- **{name}, FIM against the MLE on held-out regular-grid processes**: FIM wins on most processes with "
        f"1 and 10 paths for n = {', '.join(map(str, few)) or 'none'} (of 2-6) and with {max(Ps)} paths for "
        f"n = {', '.join(map(str, many)) or 'none'} (rule: a fraction above 0.5)."
    )
verdict.append(f"- Wall time of this notebook: {(time.perf_counter() - started) / 60:.1f} min.")
display(Markdown("\n".join(verdict)))
