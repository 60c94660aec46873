"""One matplotlib look for every figure, and the helpers notebooks and evaluations share."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "font.size": 9,
    "axes.titlesize": 10,
    "legend.frameon": False,
    "image.cmap": "viridis",
}


def style() -> None:
    """Apply the project's matplotlib style (idempotent)."""
    plt.rcParams.update(STYLE)


def figure(ncols: int = 1, nrows: int = 1, *, size: float | int = 3.0, **kw):
    """A styled figure with a grid of `nrows x ncols` square-ish axes; returns (fig, axes array)."""
    style()
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False, **kw)
    return fig, axes


def points(ax, x, *, label: str | None = None, s: float | int = 2.0, alpha: float = 0.6, **kw) -> None:
    """Scatter a 2-D point cloud with equal axes."""
    x = np.asarray(x)
    ax.scatter(x[:, 0], x[:, 1], s=s, alpha=alpha, label=label, linewidths=0, **kw)
    ax.set_aspect("equal", adjustable="datalim")


def trajectories(ax, paths, *, color: str = "0.3", alpha: float = 0.35) -> None:
    """Draw 2-D trajectories `paths [T, n, 2]` as thin lines, start and end marked."""
    paths = np.asarray(paths)
    ax.plot(paths[:, :, 0], paths[:, :, 1], color=color, lw=0.5, alpha=alpha)
    ax.scatter(paths[0, :, 0], paths[0, :, 1], s=3, c="tab:blue", zorder=3)
    ax.scatter(paths[-1, :, 0], paths[-1, :, 1], s=3, c="tab:red", zorder=3)
    ax.set_aspect("equal", adjustable="datalim")


def save(fig, path: str | Path) -> Path:
    """Save and close a figure; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
