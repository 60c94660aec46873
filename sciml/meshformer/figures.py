"""Figures of mesh rollouts, drawn with `sciml.plot`."""

from pathlib import Path

import numpy as np

from sciml import plot


def rollout_figure(path: Path, pos, cells, truth, pred, title: str, times=None) -> Path:
    """|u| of the ground truth (top row) and the rollout (bottom row) at a few rollout steps.

    `pos` [N, 2] and `cells` [C, 3] are one unpadded mesh; `truth` and `pred` are [T, N, 2].
    """
    steps = truth.shape[0]
    times = times or sorted({0, min(9, steps - 1), min(49, steps - 1), steps - 1})
    fig, axes = plot.figure(len(times), 2, size=2.6)
    speed_t = np.linalg.norm(truth, axis=-1)
    speed_p = np.linalg.norm(pred, axis=-1)
    vmax = float(speed_t.max())
    for j, t in enumerate(times):
        for i, (field, label) in enumerate(((speed_t, "truth"), (speed_p, "rollout"))):
            ax = axes[i, j]
            ax.tripcolor(pos[:, 0], pos[:, 1], cells, field[t], shading="gouraud", vmin=0, vmax=vmax)
            ax.set_aspect("equal")
            ax.set_axis_off()
            ax.set_title(f"{label}, step {t + 1}")
    fig.suptitle(title)
    fig.set_size_inches(2.6 * len(times) * 1.6, 2.6)
    return plot.save(fig, path)
