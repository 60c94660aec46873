"""PFGM++ figures on `sciml.plot`: sample grids, toy samples on the data's principal axes, and the
robustness curves of the paper's Fig. 5 (FD against noise injection alpha, NFE and weight bits).

Reference: Xu et al. 2023, PFGM++, Fig. 5.
"""

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sciml import plot
from sciml.pfgmpp.sampler import num_function_evals


def digits_grid(samples: np.ndarray, *, title: str = "", max_images: int = 100):
    """A square grid of up to `max_images` digits `[n, 1, s, s]` in [-1, 1]; returns the figure."""
    n = min(max_images, len(samples))
    k = int(math.ceil(math.sqrt(n)))
    s = samples.shape[-1]
    grid = np.ones((k * (s + 1), k * (s + 1)))
    for i in range(n):
        r, c = divmod(i, k)
        grid[r * (s + 1) : r * (s + 1) + s, c * (s + 1) : c * (s + 1) + s] = np.clip(samples[i, 0], -1, 1)
    fig, axes = plot.figure(1, size=4.0)
    ax = axes[0, 0]
    ax.imshow(grid, cmap="gray", vmin=-1, vmax=1)
    ax.set_title(title)
    ax.axis("off")
    return fig


def image_grid(samples: np.ndarray, *, title: str = "", max_images: int = 64):
    """A square grid of up to `max_images` images `[n, C, s, s]` (C = 1 or 3) in [-1, 1]; returns the figure."""
    n = min(max_images, len(samples))
    k = int(math.ceil(math.sqrt(n)))
    c, s = samples.shape[1], samples.shape[-1]
    grid = np.ones((k * (s + 1), k * (s + 1), c))
    for i in range(n):
        r, col = divmod(i, k)
        img = np.clip(np.nan_to_num(samples[i]), -1, 1).transpose(1, 2, 0)
        grid[r * (s + 1) : r * (s + 1) + s, col * (s + 1) : col * (s + 1) + s] = img
    fig, axes = plot.figure(1, size=4.0)
    ax = axes[0, 0]
    ax.imshow((grid[..., 0] if c == 1 else grid) * 0.5 + 0.5, cmap="gray" if c == 1 else None, vmin=0, vmax=1)
    ax.set_title(title)
    ax.axis("off")
    return fig


def toy_projection(samples: np.ndarray, data: np.ndarray, *, title: str = ""):
    """Data and (finite) samples on the data's top-2 principal axes; returns the figure."""
    mean = data.mean(0)
    _, _, vt = np.linalg.svd(data - mean, full_matrices=False)

    def proj(x):
        return (x.reshape(len(x), -1) - mean) @ vt[:2].T

    fig, axes = plot.figure(1, size=4.0)
    ax = axes[0, 0]
    plot.points(ax, proj(data), s=3, alpha=0.5, label="data")
    finite = np.isfinite(samples).all(axis=tuple(range(1, samples.ndim)))
    plot.points(ax, proj(samples[finite]), s=3, alpha=0.5, label="samples")
    ax.legend()
    ax.set_title(title)
    ax.axis("off")
    return fig


def robustness(
    finals: Mapping[str, Mapping[str, float]],
    *,
    alphas: Sequence[float],
    steps: Sequence[int],
    bits: Sequence[int],
    num_steps: int,
    metric: str = "fd",
    spread: Mapping[str, Mapping[str, float]] | None = None,
):
    """Three panels, one curve per run (label: D): `metric` against alpha, NFE and weight bits, each
    curve ending at the run's main evaluation (alpha 0, NFE of `num_steps`, 32-bit floats). With `spread`
    (the same keys as `finals`, e.g. the standard deviations over seeds when `finals` holds their means)
    each point gets an error bar."""
    nfe = [num_function_evals(n) for n in steps]
    panels = [  # (x values, metric keys) of each panel
        ([0.0, *alphas], [metric] + [f"{metric}_alpha{x:g}" for x in alphas]),
        ([*nfe, num_function_evals(num_steps)], [f"{metric}_nfe{x}" for x in nfe] + [metric]),
        ([*bits, 32], [f"{metric}_bits{x}" for x in bits] + [metric]),
    ]
    fig, axes = plot.figure(3, size=3.8)
    for label, f in finals.items():
        for ax, (x, keys) in zip(axes[0], panels):
            err = None if spread is None else [spread[label][k] for k in keys]
            ax.errorbar(x, [f[k] for k in keys], yerr=err, fmt="o-", capsize=2, label=f"D={label}")
    for ax, title, xl in zip(axes[0], ["(a) noise injection", "(b) sampling steps", "(c) weight quantisation"],
                             ["alpha", "NFE", "bits (32 = float)"]):
        ax.set(title=title, xlabel=xl, ylabel=f"{metric.upper()} (lower is better)", yscale="log")
    axes[0, 2].legend(fontsize=7)
    fig.tight_layout()
    return fig


def image_row(paths: Sequence[Path]):
    """Saved figures (e.g. each run's samples.png) side by side; returns the figure."""
    fig, axes = plot.figure(len(paths), size=2.6)
    for ax, p in zip(axes[0], paths):
        ax.imshow(plt.imread(p))
        ax.axis("off")
    return fig
