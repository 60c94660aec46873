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
# We reproduce the paper's three tables (heat = easy, PME = medium, Stefan = hard) for four methods,
# and its figures: Stefan profiles with +-2 sigma bands, the conservation error over time, and the
# distribution of the Stefan front position estimated from posterior samples.
#
# - **ANP**: the base model (`sciml.probconserv.ANP`).
# - **HardC-ANP**: the ANP mean projected onto {G u = b} without weighting; variance unchanged.
# - **ProbConserv-ANP**: the update with sigma_G = 0 applied post hoc to the *same* trained ANP (as in
#   the paper, whose ProbConserv-ANP uses the ANP's weights).
# - **SoftC-ANP**: a second ANP trained with a PDE-residual penalty (JAX autodiff) on its mean.
#
# **Deviations from the paper (scale):** hidden size 32 instead of 128, batches of 16 functions instead
# of 250, 600-1500 Adam steps instead of 500 epochs over 10k functions, 2k training functions, SoftC's
# residual on 25 random targets per function instead of all 100, a 101-point grid and 30 latent samples
# instead of 201 and 100. The ANP maps (t, x) to [0, 1]^2 inside the network (Stefan's time axis is
# [0, 0.1]) and has no dropout. Front positions are drawn per latent sample (a stratified draw from the
# mixture) rather than from one Gaussian with averaged moments. Everything else (data, metrics, update)
# follows the original code; see `sciml/probconserv/*.py` docstrings.

# %% tags=["parameters"]
equations = ["stefan", "pme", "heat"]            # the three GPME cases (hard, medium, easy)
methods = ["anp", "softc"]                      # trainings; HardC / ProbConserv are applied to "anp"
steps = {"stefan": 1500, "pme": 600, "heat": 600}   # Adam steps per training
hidden = 32
batch_size = 16
num_test = 50                                   # context sets per test parameter (paper: 50)
eval_samples = 30                               # latent samples (paper: 100)
eval_nx = 101                                   # grid points in x (paper: 201)
extra = []                                      # further overrides for every run (tests shrink evaluation)
runs_dir = "runs"

# %%
import json
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from sciml import plot
from sciml.data import gpme
from sciml.probconserv import figures
from sciml.runner import run

plot.style()
started = time.perf_counter()
runs = {}
for eq in equations:
    for method in methods:
        overrides = [f"task.method={method}", f"train.steps={steps[eq]}", f"task.hidden={hidden}",
                     f"task.batch_size={batch_size}", f"task.num_test={num_test}", f"task.eval_samples={eval_samples}",
                     f"task.eval_nx={eval_nx}", f"name={eq}_{method}_h{hidden}_s{steps[eq]}", *extra]
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
# diffusion (heat) table is shown beside ours for k = 1 (transcribed second-hand; the reference file says
# it should be checked against the PDF). The PME and Stefan tables of the paper were not recovered; the
# paper's claim is that ProbConserv has CE = 0 and matches or beats the others, with the largest gains
# on Stefan.

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
    header = "| test | method | CE x1e-3 | MSE x1e-4 | LL | paper CE x1e-3 | paper MSE x1e-4 | paper LL |"
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
# error goes to zero as sigma_G -> 0.

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
# Stefan profiles at t = 0.05 for one test context set (u* = 0.6), +-2 sigma bands (paper Fig. 1/4); the
# conservation error over time (paper Fig. 3); and the front position from posterior samples against
# the exact front 2 z1 sqrt(t) (paper Fig. 5).


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
# estimator (first grid point with u <= 0) follows the original code; a smooth mean profile pushes it
# to the right of the true front for every method, and HardC's uniform shift of the mean leaves many
# samples with no zero crossing (front = 1).

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
# ## Cost of the update on the paper's 201 x 201 grid
# One constraint row per time, so the grid update is 201 independent one-row conditionings (vmapped, in
# float64). The diagonal path returns the conditioned variances; the dense path forms each time's full
# 201 x 201 conditioned covariance (needed only to sample the posterior). Median of 5 calls after warm-up,
# for one latent sample.

# %%
from sciml.probconserv import trapezoid_weights, update_grid

rng = np.random.default_rng(0)
x201 = np.linspace(0.0, 1.0, 201)
mean201, var201 = rng.normal(size=(201, 201)), rng.uniform(1e-4, 1e-2, size=(201, 201))
mass201 = rng.normal(size=201)
update_timing = {}
for dense in (False, True):
    update_grid(mean201, var201, x201, mass201, dense=dense)  # compile
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        out = update_grid(mean201, var201, x201, mass201, dense=dense)
        times.append(time.perf_counter() - t0)
    path = "dense" if dense else "diagonal"
    update_timing[path] = 1e3 * float(np.median(times))
    violation = np.abs(out[0] @ trapezoid_weights(x201) - mass201).max()
    print(f"{path:>8} path: {update_timing[path]:8.2f} ms   (max |G mu~ - b| = {violation:.1e})")

# %% [markdown]
# ## What we see
#
# From our full-scale run (the default parameters; printed tables above):
# - ProbConserv-ANP and HardC-ANP have CE = 0 to round-off (~1e-17) at every test parameter and every
#   time; the ANP and SoftC-ANP do not conserve mass (|CE| ~ 1e-3 to 5e-2). The sigma_G sweep shows the
#   error shrinking to 0 as sigma_G -> 0.
# - ProbConserv moves the mean where the ANP is uncertain (the front), so it lowers the MSE most where
#   the ANP errs near a front: Stefan u* = 0.6 (MSE 21e-4 -> 16e-4) and PME m = 1 (83e-4 -> 30e-4),
#   with the LL equal or higher. HardC's uniform shift keeps the variance and costs LL, badly so for
#   Stefan out of distribution (LL -1.9 -> -21.8) where it pushes mass ahead of the front; its front
#   samples then often never cross zero (front = 1 in the histogram).
# - Heat is the easy case in the paper, but at our scale (600 steps, hidden 32) the ANP is under-trained
#   there (MSE ~1e-2 at k = 1 against the paper's 1.7e-4); ProbConserv and HardC then match the ANP.
# - SoftC's PDE penalty did not help at this scale (worse MSE on Stefan), as in the paper, where SoftC
#   is the weakest method on the hard cases.
# - Out of distribution (Stefan u* = 0.5) the ProbConserv front estimate is centred on the true front
#   (0.282 vs 0.277) while the ANP's is not (0.268).
#
# Timing: on a 2-core machine shared with other jobs (load ~15-20) all six trainings and evaluations
# took about 40 min; from the CPU time per step (ANP ~70 ms, SoftC ~110 ms) we expect about 12 min on
# an idle 2-core machine. The wall time of this execution is printed below.

# %%
total = (time.perf_counter() - started) / 60
print(f"trainings + evaluations took {elapsed / 60:.1f} min; whole notebook {total:.1f} min")
for (eq, method), r in runs.items():
    ce_pc = [v for k, v in r.final.items() if k.endswith("/probconserv/ce")]
    assert all(abs(v) < 1e-10 for v in ce_pc), (eq, method, ce_pc)
