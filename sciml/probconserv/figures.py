"""The paper's ProbConserv figures from a `results.json` (one run) or several runs merged.

- `profile`: solution profile at the evaluation time with +-2 sigma bands, one panel per method
  (paper Fig. 1 / Fig. 4, Stefan);
- `ce_curve`: |conservation error| against time (paper Fig. 3);
- `fronts`: histogram of front positions from posterior samples against the exact front (paper Fig. 5).

Reference: Hansen et al., ICML 2023, Figs. 1, 3-5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sciml import plot
from sciml.data import gpme

LABELS = {"anp": "ANP", "softc": "SoftC-ANP", "hardc": "HardC-ANP", "probconserv": "ProbConserv-ANP"}
COLORS = {"anp": "tab:blue", "softc": "tab:orange", "hardc": "tab:green", "probconserv": "tab:red"}


def _methods(d: dict) -> list[str]:
    return [m for m in LABELS if m in d]


def profile(results: dict, path: Path | str) -> Path:
    """Mean +- 2 sd of each method against the exact solution (first test parameter, first context set)."""
    p = results["profile"]
    methods = _methods(p)
    fig, axes = plot.figure(len(methods), 1, size=2.8)
    x, u = np.asarray(p["x"]), np.asarray(p["u"])
    for ax, m in zip(axes[0], methods):
        mean, var = (np.asarray(a) for a in p[m])
        sd = np.sqrt(var)
        ax.plot(x, u, color="k", lw=1.2, label="exact")
        ax.plot(x, mean, color=COLORS[m], lw=1.2, label="mean")
        ax.fill_between(x, mean - 2 * sd, mean + 2 * sd, color=COLORS[m], alpha=0.25, lw=0, label="+-2 sd")
        ax.set_title(LABELS[m])
        ax.set_xlabel("x")
    axes[0, 0].set_ylabel(f"u(t={_eval_time(results)}, x)")
    axes[0, 0].legend(loc="best")
    return plot.save(fig, path)


def _eval_time(results: dict) -> str:
    case = gpme.CASES.get(results.get("equation", ""))
    return f"{case.eval_time:g}" if case else "t"


def ce_curve(results: dict, path: Path | str) -> Path:
    """|CE(t)| averaged over context sets, log scale (values 0 are clipped to 1e-17 to stay visible)."""
    c = results["curve"]
    fig, axes = plot.figure(1, 1, size=3.6)
    ax = axes[0, 0]
    for m in _methods(c):
        ax.semilogy(c["t"], np.maximum(np.asarray(c[m]), 1e-17), "o-", ms=3, color=COLORS[m], label=LABELS[m])
    ax.set_xlabel("t")
    ax.set_ylabel("|CE(t)|")
    ax.legend(loc="best")
    return plot.save(fig, path)


def fronts(results: dict, path: Path | str) -> Path:
    """Histogram of sampled front positions for each method and test parameter; true front dashed."""
    f = results["fronts"]
    labels = list(f)
    fig, axes = plot.figure(len(labels), 1, size=3.4)
    for ax, label in zip(axes[0], labels):
        d = f[label]
        true = float(np.asarray(d["true"]).ravel()[0])
        allx = np.concatenate([np.asarray(d[m]) for m in _methods(d)])
        bins = np.linspace(min(allx.min(), true) - 0.02, max(allx.max(), true) + 0.02, 40)
        for m in _methods(d):
            ax.hist(d[m], bins=bins, histtype="step", color=COLORS[m], label=LABELS[m], density=True)
        ax.axvline(true, color="k", ls="--", lw=1, label="exact front")
        ax.set_title(label)
        ax.set_xlabel("front position x*")
    axes[0, 0].legend(loc="best")
    return plot.save(fig, path)
