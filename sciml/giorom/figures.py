"""Snapshot figures of particle rollouts, drawn with `sciml.plot`."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sciml import plot


def snapshot_figure(path: Path, rows: dict[str, np.ndarray], frames: Sequence[int], *, title: str = "",
                    bounds=((0.0, 1.0), (0.0, 1.0)), colors: dict[str, str] | None = None) -> Path:
    """A grid of scatter plots: one row per label (positions [T, n, 2]), one column per frame."""
    fig, axes = plot.figure(len(frames), len(rows), size=2.0)
    for r, (label, pos) in enumerate(rows.items()):
        for c, t in enumerate(frames):
            ax = axes[r, c]
            color = (colors or {}).get(label, "tab:blue")
            ax.scatter(pos[t, :, 0], pos[t, :, 1], s=1.0, c=color, linewidths=0)
            ax.set(xlim=bounds[0], ylim=bounds[1], xticks=[], yticks=[])
            ax.set_aspect("equal")
            if r == 0:
                ax.set_title(f"frame {t}")
            if c == 0:
                ax.set_ylabel(label)
    if title:
        fig.suptitle(title)
    return plot.save(fig, path)


def material_snapshots(path: Path, saved: dict[str, tuple], label: str, window: int) -> Path:
    """Truth and prediction of the first test trajectory per material (`saved[material]` = (truth,
    prediction, ...), frames [T, N, 2]) at four frames from the first predicted one."""
    rows = {}
    for mat, (true, pred, *_) in saved.items():
        rows[f"{mat}: truth"] = true
        rows[f"{mat}: {label}"] = pred
    t = next(iter(saved.values()))[0].shape[0]
    frames = sorted({window, t // 3, 2 * t // 3, t - 1})
    return snapshot_figure(path, rows, frames)
