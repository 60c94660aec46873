"""Figures of the MFM package (on `sciml.plot`): 2-D samples and trajectories, predicted populations."""

import numpy as np

from sciml import plot

#: Populations drawn in the population tasks' evaluation figure.
FIGURE_POPULATIONS = 4


def toy_figure(x0: np.ndarray, x1: np.ndarray, generated: np.ndarray, paths: np.ndarray, title: str):
    """Source and target samples, the generated samples at t = 1 and trajectories [k, n, 2]."""
    fig, ax = plot.figure(3)
    plot.points(ax[0, 0], x0, label="source")
    plot.points(ax[0, 0], x1, label="target")
    ax[0, 0].legend(markerscale=4)
    ax[0, 0].set_title(title)
    plot.points(ax[0, 1], generated, c="tab:red")
    ax[0, 1].set_title("generated (t = 1)")
    plot.trajectories(ax[0, 2], paths)
    ax[0, 2].set_title("trajectories")
    return fig


def population_figure(problems: dict, pred: np.ndarray, label: str, num: int = FIGURE_POPULATIONS):
    """Source, target and prediction (first two coordinates) of the first `num` problems, one column each."""
    k = min(num, len(pred))
    fig, ax = plot.figure(k, 3, size=2.2)
    for j in range(k):
        for row, (what, x, c) in enumerate([("source", problems["x0"][j], "tab:blue"),
                                            ("target", problems["x1"][j], "tab:green"),
                                            (f"{label} prediction", pred[j], "tab:red")]):
            plot.points(ax[row, j], x[:, :2], c=c)
            ax[row, j].set_title(f"{problems['names'][j]}: {what}", fontsize=8)
    fig.tight_layout()
    return fig
