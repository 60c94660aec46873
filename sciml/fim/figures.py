"""FIM-MJP's figures, from the metrics of `sciml.fim.evaluation`.

- `dfr_rate_matrices`: the DFR's true rate matrix beside the zero-shot FIM and MLE estimates;
- `rmse_paths_states`: DFR RMSE against the number of inference paths (ours chunked and in one chunk,
  the released FIM's tutorial outputs) and held-out RMSE per number of states beside the prior mean.

Reference: Berghaus et al. 2024, Sec. 4.1; docs/references.md FIM.3.
"""

from pathlib import Path

import numpy as np

from sciml import plot
from sciml.fim.evaluation import PAPER_RMSE_VS_PATHS

_TITLES = {"true": "DFR (V=r=b=1)", "fim": "FIM (zero-shot)", "mle": "MLE"}


def dfr_rate_matrices(mats: dict[str, np.ndarray], metrics: dict[str, float], path: Path | str) -> Path:
    """Off-diagonal rates of the `true`, `fim` and `mle` matrices (those present) on one colour scale."""
    names = [k for k in ("true", "fim", "mle") if k in mats]
    fig, axes = plot.figure(len(names), size=2.6)
    vmax = max(np.abs(np.where(np.eye(6, dtype=bool), 0, q)).max() for q in mats.values())
    for ax, k in zip(axes[0], names):
        q = np.where(np.eye(6, dtype=bool), np.nan, mats[k])
        im = ax.imshow(q, vmin=0, vmax=vmax, cmap="viridis")
        title = _TITLES[k]
        if k != "true":
            title += f"\nRMSE {metrics[f'dfr_rmse_{k}']:.3f}"
        ax.set_title(title)
        ax.grid(False)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    return plot.save(fig, path)


def rmse_paths_states(
    metrics: dict[str, float],
    path: Path | str,
    *,
    path_counts: tuple[int, ...],
    chunk_size: int,
    max_paths: int,
    states: range,
) -> Path:
    """Left: DFR RMSE against paths at inference (training's `max_paths` marked); right: per number of states."""
    m = metrics
    fig, axes = plot.figure(2, size=3.2)
    ax = axes[0, 0]
    P = np.array(path_counts)
    ax.plot(P, [m[f"dfr_rmse_paths{p}_chunked"] for p in P], "o-", label=f"ours, chunks of {chunk_size}")
    ax.plot(P, [m[f"dfr_rmse_paths{p}_whole"] for p in P], "s--", label="ours, one chunk")
    ref = sorted(PAPER_RMSE_VS_PATHS.items())
    ax.plot([p for p, _ in ref], [r for _, r in ref], "^:", color="0.4", label="paper's FIM (one chunk)")
    ax.axvline(max_paths, color="0.7", lw=0.8)
    ax.set(xscale="log", xlabel="paths at inference", ylabel="DFR rate RMSE")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    ns = [n for n in states if f"synthetic_rmse_n{n}" in m]
    w = 0.38
    ax.bar(np.array(ns) - w / 2, [m[f"synthetic_rmse_n{n}"] for n in ns], w, label="FIM (ours)")
    ax.bar(np.array(ns) + w / 2, [m[f"synthetic_rmse_prior_mean_n{n}"] for n in ns], w, label="prior mean")
    ax.set(xlabel="number of states", ylabel="held-out rate RMSE")
    ax.legend(fontsize=7)
    return plot.save(fig, path)
