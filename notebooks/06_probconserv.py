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
# # ProbConserv: probabilistic predictions that respect conservation laws
#
# Hansen et al., *Learning Physical Models that Can Respect Conservation Laws*, ICML 2023.
#
# An attentive neural process (ANP) sees ~100 points of a solution u(t, x) of the generalized porous
# medium equation (GPME) u_t = (k(u) u_x)_x and predicts a Gaussian at every grid point. ProbConserv
# then conditions that Gaussian on the integral form of the conservation law,
# G u = b (G: trapezoid-rule integral over x, one row per time; b: the exact total mass U(t)), with
# noise sigma_G. At sigma_G = 0 the conditioned mean conserves mass exactly, and the correction
# lands where the ANP is uncertain (near shocks), because it is proportional to the predicted variance.
#
# We evaluate four methods on the three GPME cases of the paper (heat = easy, PME = medium,
# Stefan = hard) with the original code's metrics (CE, MSE, LL), and draw Stefan profiles with +-2 sigma
# bands, the conservation error over time, and the distribution of the Stefan front position estimated
# from posterior samples.
#
# - **ANP**: the base model (`sciml.probconserv.ANP`).
# - **HardC-ANP**: the ANP mean projected onto {G u = b} without weighting; variance unchanged.
# - **ProbConserv-ANP**: the update with sigma_G = 0 applied post hoc to the *same* trained ANP (as in
#   the original code, whose ProbConserv-ANP evaluation loads the plain ANP's weights).
# - **SoftC-ANP**: a second ANP trained with a PDE-residual penalty (JAX autodiff) on its mean.
#
# **Deviations from the original code's configuration (scale):** width 32 instead of 128, batches of
# 16 functions instead of 250, 600-1500 Adam steps instead of 500 epochs over 10k functions, 2k training
# functions, SoftC's residual on 25 random targets per function instead of all 100, a 101-point grid and
# 30 latent samples instead of 201 and 100. The ANP maps (t, x) to [0, 1]^2 inside the network (Stefan's
# time axis is [0, 0.1]) and trains without dropout (the original drops out its attention weights and
# attention-block outputs at 0.1; `task.dropout=0.1` does the same). Front positions are drawn per latent
# sample (a stratified draw from the mixture) rather than from one Gaussian with averaged moments.
# Everything else (data, metrics, update) follows the original code; see `sciml/probconserv/*.py` docstrings.

# %% tags=["parameters"]
equations = ["stefan", "pme", "heat"]            # the three GPME cases (hard, medium, easy)
methods = ["anp", "softc"]                      # trainings; HardC / ProbConserv are applied to "anp"
steps = {"stefan": 1500, "pme": 600, "heat": 600}   # Adam steps per training
width = 32                                      # hidden width of the ANP (original: 128)
batch_size = 16
num_test = 50                                   # context sets per test parameter (original: 50)
eval_samples = 30                               # latent samples (original: 100)
eval_nx = 101                                   # grid points in x (original: 201)
extra = []                                      # further overrides for every run (tests shrink evaluation)
runs_dir = "runs"
results_dir = "results/probconserv"             # recorded longer runs (converged_*.yaml); read when present
rerun_recorded = False                          # re-run them (30-60 min each on 2 cores) instead of reading them
recorded_equations = ["heat", "pme", "stefan"]   # which recorded runs to read (or re-run)

# %%
import json
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from sciml import plot
from sciml.data import gpme
from sciml.probconserv import figures, nll_floor
from sciml.runner import recorded_run, run, training_summary

plot.style()
started = time.perf_counter()
runs = {}
for eq in equations:
    for method in methods:
        overrides = [f"task.method={method}", f"train.steps={steps[eq]}", f"task.width={width}",
                     f"task.batch_size={batch_size}", f"task.num_test={num_test}", f"task.eval_samples={eval_samples}",
                     f"task.eval_nx={eval_nx}", f"name={eq}_{method}_h{width}_s{steps[eq]}", *extra]
        t0 = time.perf_counter()
        runs[eq, method] = run(f"experiments/probconserv/{eq}.yaml", overrides, runs_dir=runs_dir, progress=False)
        print(f"{eq:>6} {method:>5}: {time.perf_counter() - t0:6.0f} s  ({runs[eq, method].dir})")
elapsed = time.perf_counter() - started
print(f"all trainings and evaluations: {elapsed / 60:.1f} min")
results = {k: json.loads((r.dir / "results.json").read_text()) for k, r in runs.items()}

# %% [markdown]
# ## Tables: conservation error, MSE and log-likelihood
#
# At t = 0.5 (heat, PME) or t = 0.05 (Stefan), on the evaluation grid; mean (standard error) over the
# test context sets. CE = trapz_x(mu) - U(t) keeps its sign, as in the original code. The paper's
# diffusion (heat) table is shown beside ours for k = 1, as transcribed second-hand and not checked
# against the paper's PDF (`docs/references.md`, ProbConserv). We have no copy of the paper's PME and
# Stefan tables; the abstract's claim is that ProbConserv performs well with state-of-the-art
# competitors on the easy GPME variants and outperforms methods that do not guarantee conservation on
# the harder ones.

# %%
PAPER_HEAT_K1 = {  # CE x 1e-3 (SE), LL, MSE x 1e-4 -- Hansen et al. 2023, diffusion table [2nd-hand]
    "anp": (4.68, 0.10, 2.72, 1.71), "softc": (3.47, 0.17, 2.40, 2.24),
    "hardc": (0.00, 0.00, 3.08, 1.37), "probconserv": (0.00, 0.00, 2.74, 1.55),
}
ORDER = ["anp", "softc", "hardc", "probconserv"]


def merged_tables(eq):
    out = {}
    for method in methods:
        if (eq, method) in results:
            for label, table in results[eq, method]["tables"].items():
                out.setdefault(label, {}).update(table)
    return out


def fmt(v, se, scale):
    return f"{v / scale:.3g} ({se / scale:.2g})"


for eq in equations:
    header = "| test | method | CE x1e-3 | MSE x1e-4 | LL | paper CE x1e-3 (2nd-hand) | paper MSE x1e-4 | paper LL |"
    lines = [f"### {eq}", "", header, "|---" * 8 + "|"]
    for label, table in merged_tables(eq).items():
        for m in [m for m in ORDER if m in table]:
            row = table[m]
            paper = PAPER_HEAT_K1.get(m) if (eq == "heat" and label == "k=1") else None
            ptxt = (f"{paper[0]:.2f} ({paper[1]:.2f}) | {paper[3]:.2f} | {paper[2]:.2f}" if paper else "- | - | -")
            lines.append(f"| {label} | {figures.LABELS[m]} | {fmt(*row['ce'], 1e-3)} | {fmt(*row['mse'], 1e-4)} | "
                         f"{row['ll'][0]:.3g} ({row['ll'][1]:.2g}) | {ptxt} |")
    display(Markdown("\n".join(lines)))

# %% [markdown]
# ## sigma_G: from no constraint to the hard limit
# ProbConserv with noisy constraints, sigma_G^2 ~ 1e-1, 1e-3, 1e-6 and the limit 0: the conservation
# error at each sigma_G (the verdict at the end checks that it shrinks as sigma_G -> 0).

# %%
for eq in equations:
    if (eq, "anp") not in results:
        continue
    res = results[eq, "anp"]
    sigmas = list(res["sweep"][next(iter(res["sweep"]))])
    header = "| test | ANP | " + " | ".join(f"sigma_G={s}" for s in sigmas) + " | sigma_G=0 |"
    lines = [f"### {eq}", "", header, "|---" * (3 + len(sigmas)) + "|"]
    for label, sweep in res["sweep"].items():
        ces = [f"{sweep[s]['ce'][0]:.2e}" for s in sweep]
        lines.append(f"| {label} | {res['tables'][label]['anp']['ce'][0]:.2e} | " + " | ".join(ces)
                     + f" | {res['tables'][label]['probconserv']['ce'][0]:.1e} |")
    display(Markdown("\n".join(lines)))

# %% [markdown]
# ## Figures
# Stefan profiles at t = 0.05 for one test context set (u* = 0.6) with +-2 sigma bands; the
# conservation error over time; and the front position from posterior samples against the exact
# front 2 z1 sqrt(t).


# %%
def merged(eq, part):
    out = None
    for method in methods:
        if (eq, method) in results and part in results[eq, method]:
            src = results[eq, method][part]
            if out is None:
                out = json.loads(json.dumps(src))
            elif part == "fronts":
                for label in src:
                    out[label].update({k: v for k, v in src[label].items() if k != "true"})
            else:
                out.update({k: v for k, v in src.items() if k in figures.LABELS})
    return out


fig_dir = runs[equations[0], methods[0]].dir.parent / "figures"
for eq in equations:
    merged_results = {"equation": eq, "profile": merged(eq, "profile"), "curve": merged(eq, "curve")}
    if eq == "stefan":
        merged_results["fronts"] = merged(eq, "fronts")
        for name, fn in (("profile", figures.profile), ("fronts", figures.fronts)):
            path = fn(merged_results, fig_dir / f"{eq}_{name}.png")
            plt.figure(figsize=(11, 3.6))
            plt.imshow(plt.imread(path))
            plt.axis("off")
            plt.show()
    path = figures.ce_curve(merged_results, fig_dir / f"{eq}_ce_vs_t.png")
    plt.figure(figsize=(4.5, 3.6))
    plt.imshow(plt.imread(path))
    plt.axis("off")
    plt.title(eq)
    plt.show()

# %% [markdown]
# ## Stefan front position
# Mean (sd) of the sampled front positions over all test context sets, against the exact front. The
# estimator (first grid point with u <= 0) follows the original code; a sample with no zero crossing
# counts as front = 1.

# %%
if "stefan" in equations:
    fr = merged("stefan", "fronts")
    lines = ["| test | exact | " + " | ".join(figures.LABELS[m] for m in ORDER if m in fr[next(iter(fr))]) + " |",
             "|---" * (2 + sum(m in fr[next(iter(fr))] for m in ORDER)) + "|"]
    for label, d in fr.items():
        cells = [f"{np.mean(d[m]):.3f} ({np.std(d[m]):.3f})" for m in ORDER if m in d]
        lines.append(f"| {label} | {np.ravel(d['true'])[0]:.3f} | " + " | ".join(cells) + " |")
    display(Markdown("\n".join(lines)))
    print("exact fronts at t = 0.05:", {u: round(float(gpme.stefan_front(0.05, u)), 4) for u in (0.6, 0.5)})

# %% [markdown]
# ## Cost of the update on the original's 201 x 201 grid
# One constraint row per time, so the grid update is 201 independent one-row conditionings (vmapped, in
# float64). The diagonal path returns the conditioned variances; the dense path forms each time's full
# 201 x 201 conditioned covariance (needed only to sample the posterior). Median of 5 calls after warm-up,
# for one latent sample.

# %%
from sciml.probconserv import trapezoid_weights, update_grid
from sciml.timing import median_seconds

rng = np.random.default_rng(0)
x201 = np.linspace(0.0, 1.0, 201)
mean201, var201 = rng.normal(size=(201, 201)), rng.uniform(1e-4, 1e-2, size=(201, 201))
mass201 = rng.normal(size=201)
update_timing = {}
for dense in (False, True):
    out = update_grid(mean201, var201, x201, mass201, dense=dense)
    path = "dense" if dense else "diagonal"
    update_timing[path] = 1e3 * median_seconds(lambda d=dense: update_grid(mean201, var201, x201, mass201, dense=d))
    violation = np.abs(out[0] @ trapezoid_weights(x201) - mass201).max()
    print(f"{path:>8} path: {update_timing[path]:8.2f} ms   (max |G mu~ - b| = {violation:.1e})")

# %% [markdown]
# ## What we see
# Formatted from this run's results; each qualitative word comes from the rule printed next to it.


# %%
def row(eq, label, m):
    return merged_tables(eq)[label].get(m)


verdict = []
pc_ce = [abs(v) for r in runs.values() for k, v in r.final.items() if k.endswith(("/probconserv/ce", "/hardc/ce"))]
other_ce = [abs(row(eq, lb, m)["ce"][0]) for eq in equations for lb in merged_tables(eq)
            for m in ("anp", "softc") if row(eq, lb, m)]
verdict.append(
    f"- **Conservation: ProbConserv-ANP and HardC-ANP {'conserve' if max(pc_ce) < 1e-10 else 'do not conserve'} mass** "
    f"(rule: every |CE| below 1e-10): largest |CE| {max(pc_ce):.1e}. The unconstrained models have |CE| from "
    f"{min(other_ce):.1e} to {max(other_ce):.1e}."
)
for eq in equations:
    if (eq, "anp") not in results:
        continue
    for label, sweep in results[eq, "anp"]["sweep"].items():
        sg = sorted(sweep, key=float, reverse=True)
        ces = [abs(sweep[k]["ce"][0]) for k in sg]
        mono = all(a >= b for a, b in zip(ces, ces[1:]))
        verdict.append(
            f"- {eq} {label}, sigma_G sweep: |CE| "
            f"{'shrinks monotonically' if mono else 'does not shrink monotonically'}"
            f" as sigma_G falls (" + ", ".join(f"sigma_G={k}: {c:.1e}" for k, c in zip(sg, ces))
            + f"; sigma_G=0: {abs(row(eq, label, 'probconserv')['ce'][0]):.1e})."
        )
for eq in equations:
    for label in merged_tables(eq):
        a, pc, hc, sc = (row(eq, label, m) for m in ("anp", "probconserv", "hardc", "softc"))
        if a is None or pc is None:
            continue
        better = pc["mse"][0] <= a["mse"][0]
        text = (f"- {eq} {label}: ProbConserv's MSE is **{'lower than or equal to' if better else 'higher than'}** "
                f"the ANP's ({pc['mse'][0]:.2e} vs {a['mse'][0]:.2e}; LL {pc['ll'][0]:.3g} vs {a['ll'][0]:.3g})")
        if hc is not None:
            text += f"; HardC MSE {hc['mse'][0]:.2e}, LL {hc['ll'][0]:.3g}"
        if sc is not None:
            text += (f"; SoftC MSE {sc['mse'][0]:.2e} "
                     f"({'lower' if sc['mse'][0] < a['mse'][0] else 'not lower'} than the ANP's)")
        verdict.append(text + ".")
if "stefan" in equations:
    fr = merged("stefan", "fronts")
    for label, d in fr.items():
        true = float(np.ravel(d["true"])[0])
        errs = {m: abs(float(np.mean(d[m])) - true) for m in ORDER if m in d}
        best = min(errs, key=errs.get)
        verdict.append(
            f"- Stefan {label}, front position: closest mean to the exact front {true:.3f} is "
            f"{figures.LABELS[best]} (rule: smallest |mean - exact|): "
            + ", ".join(f"{figures.LABELS[m]} {np.mean(d[m]):.3f}" for m in errs) + "."
        )
verdict.append(f"- Trainings and evaluations took {elapsed / 60:.1f} min of wall time in this run.")
display(Markdown("\n".join(verdict)))

# %% [markdown]
# ## Trained to the plateau: recorded runs, two seeds
# The runs above stop far from convergence. `experiments/probconserv/converged_{heat,pme,stefan}.yaml`
# train the ANP (and SoftC-ANP) much longer (whether the held-out NLL has plateaued is judged below, by a
# stated rule, and tested by longer heat runs, those recorded), at a scale two CPU cores afford: width 64
# (the original: 128), batch 32 functions (250), Adam 1e-3 with cosine decay over 6,000 steps (1e-4 constant
# for 20,000), the original's 10k training functions, 100 validation functions (best checkpoint by
# validation loss, as the original) and its evaluation (201-point grid, 100 latent samples). We did not
# train the original's size to its plateau to compare (several times our FLOPs per step), so whether
# width 128 and batch 250 reach a lower plateau is not shown; how much lower it could be at most is (the
# floor under "Longer" below holds for any width and batch: it comes from the decoder's std floor). The runs
# are recorded under `results_dir` (each with its `PROVENANCE.md`: commit and command) and read from there;
# `rerun_recorded = True` trains them again. The last line of "Longer" below says what they cost to train.

# %%
recorded = {}  # (eq, method, seed) -> {"final": ..., "curve": [(step, val/nll)]}
read_runs = []  # every recorded run this notebook reads, for what they cost to train
for eq in recorded_equations:
    for method in ("anp", "softc"):
        for seed in (0, 1):
            r = recorded_run(f"experiments/probconserv/converged_{eq}.yaml", f"converged_{eq}_{method}_seed{seed}",
                             [f"task.method={method}", f"train.seed={seed}"], results_dir=results_dir,
                             rerun=rerun_recorded, runs_dir=runs_dir)
            if r is not None:
                recorded[eq, method, seed] = {"final": r.final, "curve": list(zip(*r.history("val/nll")))}
                read_runs.append(r)
found = [eq for eq in recorded_equations if any(e == eq for e, _, _ in recorded)]  # equations with recorded runs
print(f"{len(recorded)} recorded runs:", ", ".join(f"{e}/{m}/seed{s}" for e, m, s in recorded) or "none")


def plateau(curve):
    """(step of the best validation NLL, improvement of the best over the last quarter of training as a
    fraction of the whole run's improvement): a small fraction means the curve has flattened."""
    steps, nll = np.array(curve, dtype=float).T
    late = steps > steps[-1] * 0.75
    total = nll[0] - nll.min()
    gain = max(nll[~late].min() - nll[late].min(), 0.0)
    return int(steps[np.argmin(nll)]), gain / total if total > 0 else 0.0


def trained(m):
    """The training a method's row comes from: the SoftC run for SoftC, the ANP run for ANP / HardC / ProbConserv."""
    return "softc" if m == "softc" else "anp"


def seed_stats(eq, label, m, metric):
    """Mean and sd over the recorded seeds of one table entry."""
    vals = [rec["final"][f"{label}/{m}/{metric}"] for (e, mm, s), rec in recorded.items()
            if e == eq and mm == trained(m) and f"{label}/{m}/{metric}" in rec["final"]]
    return (float(np.mean(vals)), float(np.std(vals)), len(vals)) if vals else None


def seed_orders(eq, label, methods):
    """{seed: methods sorted by that seed's MSE}, over the seeds recorded for every method."""
    value = lambda m, s: recorded[eq, trained(m), s]["final"][f"{label}/{m}/mse"]  # noqa: E731
    seeds = sorted({s for e, _, s in recorded if e == eq})
    seeds = [s for s in seeds if all((eq, trained(m), s) in recorded for m in methods)]
    return {s: sorted(methods, key=lambda m: value(m, s)) for s in seeds}


if recorded:
    fig, axes = plot.figure(ncols=len(found), size=3.4)
    for ax, eq in zip(axes[0], found):
        for (e, m, s), rec in recorded.items():
            if e == eq and rec["curve"]:
                st, v = np.array(rec["curve"]).T
                ax.plot(st, v, color=figures.COLORS[m], ls="-" if s == 0 else "--",
                        label=f"{figures.LABELS[m]} seed {s}")
        ax.set(title=eq, xlabel="step", ylabel="validation NLL (sum over targets)")
        ax.legend(fontsize=7)
    plt.show()
    lines = ["| run | best step | last-quarter gain / total gain | final val NLL |", "|---|---|---|---|"]
    for (e, m, s), rec in recorded.items():
        best, frac = plateau(rec["curve"])
        lines.append(f"| {e} {figures.LABELS[m]} seed {s} | {best} | {frac:.1%} | {rec['curve'][-1][1]:.2f} |")
    display(Markdown("\n".join(lines)))
    for eq in found:
        labels = sorted({k.split("/")[0] for (e, m, s), rec in recorded.items() if e == eq for k in rec["final"]
                         if k.endswith("/anp/mse")})
        lines = [f"### {eq} (mean (sd) over seeds)", "",
                 "| test | method | seeds | CE x1e-3 | MSE x1e-4 | LL "
                 "| paper CE x1e-3 (2nd-hand) | paper MSE x1e-4 | paper LL |",
                 "|---" * 9 + "|"]
        for label in labels:
            for m in ORDER:
                ce, mse, ll = (seed_stats(eq, label, m, k) for k in ("ce", "mse", "ll"))
                if mse is None:
                    continue
                paper = PAPER_HEAT_K1.get(m) if (eq == "heat" and label == "k=1") else None
                ptxt = f"{paper[0]:.2f} | {paper[3]:.2f} | {paper[2]:.2f}" if paper else "- | - | -"
                lines.append(f"| {label} | {figures.LABELS[m]} | {mse[2]} | {ce[0] / 1e-3:.3g} ({ce[1] / 1e-3:.2g}) | "
                             f"{mse[0] / 1e-4:.3g} ({mse[1] / 1e-4:.2g}) | {ll[0]:.3g} ({ll[1]:.2g}) | {ptxt} |")
        display(Markdown("\n".join(lines)))

# %% [markdown]
# ### What the recorded runs say
# Each verdict is formatted from the recorded numbers by the rule printed beside it. The paper's
# ordering on the heat equation (its diffusion table, second-hand transcription) is MSE HardC < ProbConserv
# < ANP < SoftC with |CE| zero for the two constrained methods; on PME and Stefan its claim is that
# ProbConserv beats the methods that do not conserve (ANP, SoftC).

# %%
if recorded:
    verdict = []
    for eq in found:
        plats = [plateau(rec["curve"])[1] for (e, m, s), rec in recorded.items() if e == eq and rec["curve"]]
        if plats:
            verdict.append(f"- {eq}: the validation NLL {'has' if max(plats) < 0.02 else 'has not'} plateaued "
                           f"(rule: the last quarter of training gains under 2% of the run's total; largest "
                           f"{max(plats):.1%} over {len(plats)} runs).")
    heat_pc, heat_anp = seed_stats("heat", "k=1", "probconserv", "mse"), seed_stats("heat", "k=1", "anp", "mse")
    if heat_pc and heat_anp:
        for m, ours, paper in (("anp", heat_anp, 1.71e-4), ("probconserv", heat_pc, 1.55e-4)):
            verdict.append(f"- heat k=1, {figures.LABELS[m]}: MSE {ours[0]:.2e} is **{ours[0] / paper:.1f}x** "
                           f"the paper's "
                           f"{paper:.2e} ({'within' if ours[0] <= 3 * paper else 'outside'} the 3x target).")
    for eq in found:
        for label in sorted({k.split("/")[0] for (e, m, s), rec in recorded.items() if e == eq for k in rec["final"]
                             if k.endswith("/anp/mse")}):
            stats = {m: seed_stats(eq, label, m, "mse") for m in ORDER}
            stats = {m: v for m, v in stats.items() if v}
            mses = {m: v[0] for m, v in stats.items()}
            order = sorted(mses, key=mses.get)
            text = f"- {eq} {label}: MSE order " + " < ".join(
                f"{figures.LABELS[m]} {mses[m]:.3e} (sd {stats[m][1]:.1e}, {stats[m][2]} seeds)" for m in order)
            # The methods share their test functions (and all but SoftC their trained ANP), so each seed's own
            # order is the paired comparison; seeds that disagree mean the order of the means is not settled.
            orders = seed_orders(eq, label, list(mses))
            text += (f" (the same order on each of the {len(orders)} seeds with every method)" if
                     len(orders) > 1 and all(o == order for o in orders.values()) else
                     "; per seed: " + "; ".join(f"seed {s}: " + " < ".join(figures.LABELS[m] for m in o)
                                               for s, o in orders.items()))
            if eq == "heat":  # the paper's order, restricted to the methods recorded here
                paper_order = [m for m in ("hardc", "probconserv", "anp", "softc") if m in mses]
                text += (f"; the paper's order ({' < '.join(figures.LABELS[m] for m in paper_order)}) "
                         f"{'holds' if order == paper_order else 'does not hold'}")
            elif "probconserv" in mses:
                beats = all(mses["probconserv"] < mses[m] for m in ("anp", "softc") if m in mses)
                text += f"; ProbConserv {'beats' if beats else 'does not beat'} the non-conserving methods"
            verdict.append(text + ".")
    display(Markdown("\n".join(verdict)))

# %% [markdown]
# ### Longer: where is the plateau?
# The same heat ANP trained for 12,000 to 192,000 steps (the cosine schedule stretched over them; everything else
# as `converged_heat.yaml`), recorded as `longer_heat_anp_seed<seed>` (12,000), `longer4x_heat_anp_seed<seed>`
# (24,000), `longer8x_heat_anp_seed<seed>` (48,000), `longer16x_heat_anp_seed<seed>` (96,000) and
# `longer32x_heat_anp_seed<seed>` (192,000) for the seeds run so far, and read when present. Rule: N steps is taken
# as the plateau when training twice as long lowers the best validation NLL by under 2% of the N-step run's own gain
# (first validation to best), on every seed recorded at both lengths. The figure shows each run's validation NLL
# (faint) with its best so far, and the best against the training length, which would flatten at a plateau. The
# dotted line is the lowest validation NLL the ANP can reach at all (`nll_floor`): its decoder's standard deviation
# is at least 1e-3, so each target's NLL is at least log(1e-3) + log(2 pi) / 2, reached only with an exact mean and
# the std at its floor. So twice the training can gain at most the gap to that line, which bounds the rule's
# fraction from above. At each length the last lines say whether ProbConserv's update still lowers the ANP's heat
# MSE (k = 1), by the mean over the seeds recorded at that length.

# %%
longer_names = {12000: "longer_heat_anp_seed{seed}", 24000: "longer4x_heat_anp_seed{seed}",
                48000: "longer8x_heat_anp_seed{seed}", 96000: "longer16x_heat_anp_seed{seed}",
                192000: "longer32x_heat_anp_seed{seed}"}
curves = {}  # (steps, seed) -> (validation NLL curve, final); 6,000 steps are the converged_heat runs above
validation_steps = {}  # (steps, seed) -> the steps of that curve's validations
num_targets = set()  # targets per validation function in the longer runs (one value: they share a config)
for seed in (0, 1):
    if ("heat", "anp", seed) not in recorded:
        continue
    short = recorded["heat", "anp", seed]
    validation_steps[6000, seed], nll = np.array(short["curve"], dtype=float).T
    curves[6000, seed] = (nll, short["final"])
    for n, name in longer_names.items():
        r = recorded_run("experiments/probconserv/converged_heat.yaml", name.format(seed=seed),
                         ["task.method=anp", f"train.seed={seed}", f"train.steps={n}"], results_dir=results_dir,
                         rerun=rerun_recorded, runs_dir=runs_dir)
        if r is not None:
            validation_steps[n, seed], nll = r.history("val/nll")
            curves[n, seed] = (nll, r.final)
            num_targets.add(r.task.target_t * r.task.target_x)
            read_runs.append(r)
if len({n for n, _ in curves}) > 1:
    assert len(num_targets) == 1, f"the longer runs validate on different target counts: {num_targets}"
    lowest = nll_floor(num_targets.pop())  # the decoder's best possible validation NLL
    # Left: each run's validation NLL (faint) and its best so far (one colour per length, one line style per seed);
    # right: the best validation NLL against the training length, where a plateau would show as a flat line.
    lengths = sorted({n for n, _ in curves})
    colours = dict(zip(lengths, plt.cm.viridis(np.linspace(0, 0.85, len(lengths)))))
    fig, axes = plot.figure(ncols=2, size=3.6)
    for (n, seed), (nll, _) in sorted(curves.items()):
        style = dict(color=colours[n], ls="-" if seed == 0 else "--")
        axes[0, 0].plot(validation_steps[n, seed], nll, lw=0.5, alpha=0.3, **style)
        axes[0, 0].plot(validation_steps[n, seed], np.minimum.accumulate(nll), lw=1.2,
                        label=f"{n:,} steps" if seed == 0 else None, **style)
    best_all = min(nll.min() for nll, _ in curves.values())
    for ax, label in zip(axes[0], (None, "floor (exact means, std 1e-3)")):
        ax.axhline(lowest, color="0.4", ls=":", lw=1, label=label)
    axes[0, 0].set(xscale="log", xlabel="step", ylabel="validation NLL, best so far", title="heat ANP",
                   ylim=(min(best_all, lowest) - 20, best_all + 250))
    axes[0, 0].legend(fontsize=7, title="solid: seed 0, dashed: seed 1", title_fontsize=7)
    for seed in (0, 1):
        ns = [n for n in lengths if (n, seed) in curves]
        axes[0, 1].plot(ns, [curves[n, seed][0].min() for n in ns], "o-" if seed == 0 else "s--", label=f"seed {seed}")
    axes[0, 1].set(xscale="log", xlabel="training steps (cosine schedule over all of them)",
                   ylabel="best validation NLL", title="plateau?")
    axes[0, 1].set_xticks(lengths, [f"{n // 1000}k" for n in lengths])
    axes[0, 1].minorticks_off()
    axes[0, 1].legend(fontsize=7)
    fig.tight_layout()
    fig_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(fig_dir / "heat_anp_plateau.png", dpi=120)
    plt.show()
    lines = ["| seed | steps | best val NLL | ANP MSE k=1 x1e-4 | ProbConserv MSE k=1 x1e-4 |", "|---" * 5 + "|"]
    for (n, seed), (nll, f) in sorted(curves.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines.append(f"| {seed} | {n:,} | {nll.min():.1f} | {f['k=1/anp/mse'] / 1e-4:.3g} | "
                     f"{f['k=1/probconserv/mse'] / 1e-4:.3g} |")
    display(Markdown("\n".join(lines)))
    verdict = []
    for n in (6000, *longer_names):
        fracs = {seed: (nll.min() - curves[2 * n, seed][0].min()) / (nll[0] - nll.min())
                 for (m, seed), (nll, _) in curves.items() if m == n and (2 * n, seed) in curves}
        if fracs:
            word = "is" if all(v < 0.02 for v in fracs.values()) else "is not"
            verdict.append(f"- **{n:,} steps {word} the plateau of the heat ANP** (rule above): twice the training "
                           "lowers the best validation NLL by " + ", ".join(f"{v:.1%} (seed {s})" for s, v in
                                                                             fracs.items())
                           + f" of the {n:,}-step run's gain.")
    for seed in (0, 1):  # the floor bounds what the next doubling of each seed's longest run can gain
        ns = [n for n, s in curves if s == seed]
        if ns:
            nll = curves[max(ns), seed][0]
            gap = nll.min() - lowest
            verdict.append(f"- Seed {seed} at {max(ns):,} steps: best validation NLL {nll.min():.1f}, {gap:.1f} above "
                           f"the floor {lowest:.1f} (dotted line), so training twice as long can lower it by at most "
                           f"{gap / (nll[0] - nll.min()):.1%} of that run's gain; the rule is sure to be met once this "
                           "bound falls under 2%.")
    for n in sorted({n for n, _ in curves}):  # does the update still help as the ANP improves?
        fs = [f for (m, _), (_, f) in curves.items() if m == n]
        anp, pc = (np.mean([f[f"k=1/{k}/mse"] for f in fs]) for k in ("anp", "probconserv"))
        verdict.append(f"- {n:,} steps ({len(fs)} seed{'s' if len(fs) > 1 else ''}): ProbConserv's heat MSE (k = 1, "
                       f"mean over seeds) is {pc / 1e-4:.3g}e-4 against the ANP's {anp / 1e-4:.3g}e-4: "
                       f"{'lower' if pc < anp else 'not lower'} ({pc / anp - 1:+.1%}).")
    display(Markdown("\n".join(verdict)))
print("The runs trained again above:" if rerun_recorded else "The recorded runs read above:",
      training_summary(read_runs))

# %%
total = (time.perf_counter() - started) / 60
print(f"trainings + evaluations took {elapsed / 60:.1f} min; whole notebook {total:.1f} min")
for (eq, method), r in runs.items():
    ce_pc = [v for k, v in r.final.items() if k.endswith("/probconserv/ce")]
    assert all(abs(v) < 1e-10 for v in ce_pc), (eq, method, ce_pc)
