"""Figures of the study (on `sciml.plot`): latent distance vs W2, and MFM's error on unseen populations
against the distance of each to the training populations."""

import numpy as np

from sciml import plot


def geometry_figure(lat: np.ndarray, w2: np.ndarray, geometry: dict | None, title: str):
    """Left: latent distance vs exact W2 over pairs of source populations. Middle / right: MFM's W2 error on
    each unseen population against its nearest training population's latent distance / exact W2 (omitted
    when `geometry` is None)."""
    fig, ax = plot.figure(1 if geometry is None else 3, size=2.8)
    ax[0, 0].scatter(w2, lat, s=3, alpha=0.4)
    ax[0, 0].set(xlabel="W2 between sources", ylabel="latent distance", title=title)
    if geometry is None:  # a GDE alone: no MFM errors to draw
        fig.tight_layout()
        return fig
    for a, key, label in ((ax[0, 1], "nearest_latent", "latent distance to nearest train source"),
                          (ax[0, 2], "nearest_w2", "W2 to nearest train source")):
        a.scatter(geometry[key], geometry["errors"], s=10)
        a.set(xlabel=label, ylabel="MFM W2 error", title=f"Spearman {geometry[key.replace('nearest', 'spearman')]:.2f}")
    fig.tight_layout()
    return fig


def scatter_by_label(rows: list[dict], x: str, y: str, *, xlabel: str, ylabel: str, title: str):
    """One marker per row at (row[x], row[y]), coloured and labelled by row["label"] (a table's configs)."""
    fig, ax = plot.figure(1, size=3.6)
    labels = sorted({r["label"] for r in rows}, key=[r["label"] for r in rows].index)
    for i, lab in enumerate(labels):
        pts = np.array([(r[x], r[y]) for r in rows if r["label"] == lab], float)
        ax[0, 0].scatter(pts[:, 0], pts[:, 1], s=18, color=f"C{i % 10}", label=lab)
    ax[0, 0].set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax[0, 0].legend(fontsize=6)
    fig.tight_layout()
    return fig
