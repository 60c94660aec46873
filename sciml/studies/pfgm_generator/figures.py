"""Figures of the study: reconstruction W2 against the number of function evaluations, per D."""

from collections.abc import Mapping

import numpy as np

from sciml import plot


def nfe_figure(curves: Mapping[str, tuple], *, floor: float | None = None, ylabel: str = "reconstruction W2"):
    """One line per label: curves[label] = (nfe [k], mean [k], spread [k] or None); log-scaled W2.

    `floor`: the W2 of exact samples of the same count (what sampling noise alone costs), drawn dashed.
    """
    fig, ax = plot.figure(1, size=3.6)
    ax = ax[0, 0]
    for label, (nfe, mean, spread) in curves.items():
        nfe, mean = np.asarray(nfe), np.asarray(mean)
        ax.plot(nfe, mean, marker="o", label=label)
        if spread is not None:
            spread = np.nan_to_num(np.asarray(spread))
            ax.fill_between(nfe, mean - spread, mean + spread, alpha=0.2)
    if floor is not None:
        ax.axhline(floor, color="0.4", ls="--", lw=1, label="exact samples")
    ax.set_xlabel("NFE (Heun, 2n - 1)")
    ax.set_ylabel(ylabel)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    return fig
