"""Figures of the GDE evaluation: latent distance vs W2, reconstructions, interpolation paths."""

import matplotlib
import numpy as np

from sciml import plot


def _ellipse(mean, cov, n_std: float = 2.0, num: int = 100) -> np.ndarray:
    """Points of the n_std contour of a 2-D Gaussian (first two coordinates)."""
    vals, vecs = np.linalg.eigh(np.asarray(cov)[:2, :2])
    theta = np.linspace(0, 2 * np.pi, num)
    circle = np.stack([np.cos(theta), np.sin(theta)], 1)
    return np.asarray(mean)[:2] + n_std * circle * np.sqrt(np.clip(vals, 0, None)) @ vecs.T


def latent_distance_figure(lat: np.ndarray, true: np.ndarray, *, mixture: bool = False, max_points: int = 4000):
    """Scatter of latent L2 distance against the true W2 (or MW2) over pairs of held-out sets."""
    fig, ax = plot.figure(1, size=3.2)
    ax = ax[0, 0]
    idx = np.random.default_rng(0).permutation(len(lat))[:max_points]
    ax.scatter(true[idx], lat[idx], s=2, alpha=0.3, linewidths=0)
    ax.set_xlabel("true MW2 (mixture)" if mixture else "true W2 (Bures)")
    ax.set_ylabel("latent L2 distance")
    return fig


def reconstruction_figure(sets: np.ndarray, gen: np.ndarray, params: dict, num: int = 4):
    """Input sets, generated points and the true 2-sigma contours (first two coordinates)."""
    num = min(num, len(sets))
    fig, axes = plot.figure(num, size=2.6)
    for i in range(num):
        ax = axes[0, i]
        plot.points(ax, gen[i, :1000], label="generated", s=1.5, alpha=0.3, color="tab:orange")
        plot.points(ax, sets[i], label="input set", s=3.0, alpha=0.8, color="tab:blue")
        means, covs = params["means"][i], params["covs"][i]
        if means.ndim == 1:
            means, covs = means[None], covs[None]
        for m, c in zip(means, covs, strict=True):
            e = _ellipse(m, c)
            ax.plot(e[:, 0], e[:, 1], color="k", lw=0.8)
        if i == 0:
            ax.legend(loc="best", fontsize=7, markerscale=4)
    return fig


def interpolation_figure(interp: dict):
    """Left: fitted Gaussians of decoded interpolants (colour) vs the McCann path (black dashed) for the
    first pair. Right: W2 to the McCann path against t, GDE vs the mixture path (mean over pairs)."""
    fig, axes = plot.figure(2, size=3.2)
    ts, (mu, cov) = interp["ts"], interp["fit"]
    ax = axes[0, 0]
    colours = matplotlib.colormaps["viridis"](np.linspace(0, 1, len(ts)))
    for i, t in enumerate(ts):
        e = _ellipse(mu[0, i], cov[0, i])
        ax.plot(e[:, 0], e[:, 1], color=colours[i], lw=1.2, label=f"t={t:.2f}" if i in (0, len(ts) - 1) else None)
        mt, st = interp["ot_path"][0][i]
        e = _ellipse(mt, st)
        ax.plot(e[:, 0], e[:, 1], color="k", lw=0.8, ls="--")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title("decoded (colour) vs McCann (dashed)")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    ax.plot(ts, interp["err_gde"].mean(0), "o-", label="GDE latent interpolation")
    ax.plot(ts, interp["err_mix"].mean(0), "s-", label="mixture (1-t)P0 + tP1")
    ax.set_xlabel("t")
    ax.set_ylabel("W2 to McCann interpolant")
    ax.legend(fontsize=7)
    return fig
