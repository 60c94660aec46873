"""Figures of the constrained-rollout study, drawn with `sciml.plot`."""

from pathlib import Path

import numpy as np

from sciml import plot


def error_and_drift_figure(path: Path, per_step: dict[str, np.ndarray], drifts: dict[str, np.ndarray],
                           truth_drift: np.ndarray, title: str) -> Path:
    """Per-step rollout RMSE (left) and relative flux drift (right) of each method, the truth's drift dashed."""
    fig, axes = plot.figure(2, size=3.2)
    ax_e, ax_d = axes[0]
    for name in per_step:
        steps = np.arange(1, len(per_step[name]) + 1)
        ax_e.plot(steps, np.sqrt(per_step[name]), label=name)
        ax_d.plot(steps, drifts[name], label=name)
    ax_d.plot(np.arange(1, len(truth_drift) + 1), truth_drift, "k--", label="LBM truth")
    ax_e.set_xlabel("rollout step")
    ax_e.set_ylabel("RMSE of the step")
    ax_d.set_xlabel("rollout step")
    ax_d.set_ylabel("flux mismatch / inflow flux (RMS over sections)")
    ax_d.set_yscale("log")
    ax_d.legend(fontsize=7)
    fig.suptitle(title)
    return plot.save(fig, path)
