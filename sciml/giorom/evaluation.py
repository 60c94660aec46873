"""Rollouts, reconstruction, timing, the scaling study and snapshot figures for GNS and GIOROM.

Both models are callables `model(window, ptype) -> normalised acceleration` with a static `setup`;
GIOROM also has `reconstruct(sparse_ref, sparse_cur, query_ref)`. Sparse evaluation subsets are FPS
orders started at particle 0 of the first frame, so GNS and GIOROM are scored on the same particles.
Timings are medians of jitted, compiled calls with `block_until_ready` (compile time excluded).
Reference: GIOROM (Viswanath et al. 2024) Sec. 4 (speed-up and accuracy versus sparsity; "point
clouds of ~100k points inferred from ~1k-point graphs"); docs/references.md GIOROM.3-4.
"""

import copy
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from sciml.giorom.dynamics import next_position, rollout
from sciml.giorom.metrics import chamfer_distance
from sciml.giorom.sampling import farthest_point_sampling, subset_size


def eval_subset(x0: np.ndarray, fraction: float) -> np.ndarray:
    """The sparse evaluation subset: the first round(fraction * N) particles of an FPS order from particle 0."""
    k = subset_size(x0.shape[0], fraction)
    return np.asarray(farthest_point_sampling(jnp.asarray(x0), k, start=0))


@eqx.filter_jit
def rollout_positions(model, window: jax.Array, ptype: jax.Array, n_steps: int, limits=None) -> jax.Array:
    """Jitted autoregressive rollout of `model` for `n_steps` steps: positions [n_steps, n, 2].

    `limits` ((x0, x1), (y0, y1)), if given, is the box every new position is projected into.
    """
    return rollout(model, window, ptype, n_steps, model.setup, limits)


@eqx.filter_jit
def reconstruct_frames(model, sparse_ref: jax.Array, sparse_frames: jax.Array, query_ref: jax.Array) -> jax.Array:
    """GIOROM's dense reconstruction at every frame of a sparse rollout: [t, q, 2]."""
    return jax.lax.map(lambda xs: model.reconstruct(sparse_ref, xs, query_ref), sparse_frames)


@eqx.filter_jit
def _one_step(model, windows: jax.Array, ptype: jax.Array) -> jax.Array:
    return jax.vmap(lambda w: next_position(w, model(w, ptype), model.setup))(windows)


def one_step_errors(model, positions: np.ndarray, ptype: np.ndarray, window: int, stride: int) -> tuple[float, float]:
    """(model, constant-velocity) one-step position MSE over frames window, window + stride, ... of one trajectory."""
    ts = np.arange(window, positions.shape[0] - 1, stride)
    windows = np.stack([positions[t - window : t + 1] for t in ts])
    true = positions[ts + 1]
    pred = np.asarray(_one_step(model, jnp.asarray(windows), jnp.asarray(ptype)))
    const = 2 * positions[ts] - positions[ts - 1]
    mse = lambda a: float(np.mean(np.sum((a - true) ** 2, -1)))  # noqa: E731
    return mse(pred), mse(const)


def constant_velocity_rollout(window: np.ndarray, n_steps: int, limits=None) -> np.ndarray:
    """Baseline rollout [n_steps, n, 2]: every particle keeps its last velocity x_t - x_{t-1}.

    With `limits` ((x0, x1), (y0, y1)) positions are projected into that box exactly as the models'
    rollouts are, so a particle stops at a wall (the "no learned physics" reference for rollout MSE).
    """
    lo = None if limits is None else np.array([a for a, _ in limits], np.float32)
    hi = None if limits is None else np.array([b for _, b in limits], np.float32)
    prev, cur = np.asarray(window[-2]), np.asarray(window[-1])
    out = []
    for _ in range(n_steps):
        nxt = 2 * cur - prev
        if limits is not None:
            nxt = np.clip(nxt, lo, hi)
        prev, cur = cur, nxt
        out.append(nxt)
    return np.stack(out)


@jax.jit
def frame_chamfer(pred: jax.Array, true: jax.Array) -> jax.Array:
    """Chamfer distance of each frame: [t]."""
    return jax.lax.map(lambda ab: chamfer_distance(*ab), (pred, true))


def median_time(fn: Callable[[], object], repeats: int = 5) -> float:
    """Median wall time (s) of `fn()` (whose result is blocked on) after one warm-up call."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def rollout_ms_per_step(model, window: np.ndarray, ptype: np.ndarray, n_steps: int, repeats: int = 3,
                        dense_ref: np.ndarray | None = None, sparse_ref: np.ndarray | None = None,
                        limits=None) -> float:
    """Milliseconds per rollout step (compiled); with `dense_ref`, GIOROM also reconstructs every frame."""
    w, p = jnp.asarray(window), jnp.asarray(ptype)
    if dense_ref is None:
        fn = lambda: rollout_positions(model, w, p, n_steps, limits)  # noqa: E731
    else:
        d, s = jnp.asarray(dense_ref), jnp.asarray(sparse_ref)
        fn = lambda: reconstruct_frames(model, s, rollout_positions(model, w, p, n_steps, limits), d)  # noqa: E731
    return 1e3 * median_time(fn, repeats) / n_steps


def with_setup(model, setup):
    """A copy of a GNS/GIOROM model with another (static) `ParticleSetup`, e.g. a radius for a finer discretisation."""
    new = copy.copy(model)
    object.__setattr__(new, "setup", setup)  # static fields live in the treedef; eqx.tree_at edits leaves only
    return new


def lattice_block(n: int, *, area: float = 0.06, centre=(0.5, 0.4), seed: int = 0) -> np.ndarray:
    """n points on a jittered square lattice filling a square block of `area` (for timing at any n)."""
    side = np.sqrt(area)
    m = int(np.ceil(np.sqrt(n)))
    g = (np.stack(np.meshgrid(np.arange(m), np.arange(m), indexing="ij"), -1).reshape(-1, 2)[:n] + 0.5) / m
    rng = np.random.default_rng(seed)
    g = g + rng.uniform(-0.25, 0.25, g.shape) / m
    return (np.asarray(centre) + (g - 0.5) * side).astype(np.float32)


def scaling_study(
    gns, giorom, counts: Sequence[int], *, n_sparse: int, n_steps: int = 5, repeats: int = 3, area: float = 0.06,
    velocity=(0.004, -0.006),
) -> list[dict]:
    """Rollout ms/step as the dense particle count grows, at constant particle density per unit area.

    GNS runs on all N particles with its radius scaled by sqrt(N0 / N) (same neighbour count, cell
    list above 1024 particles); GIOROM steps the same `n_sparse` FPS particles at every N and
    reconstructs all N particles every step. Weights are the trained ones; the inputs are a lattice
    block moving at `velocity` per frame, which is all a timing needs.
    """
    rows = []
    base = gns.setup
    n0 = None
    for n in counts:
        x = lattice_block(n, area=area)
        n0 = n0 or n
        window = np.stack([x + np.float32(velocity) * k for k in range(base.window + 1)])
        ptype = np.zeros(n, np.int32)
        setup_n = base.with_radius(base.radius * np.sqrt(n0 / n))
        g = with_setup(gns, setup_n)
        gns_ms = rollout_ms_per_step(g, window, ptype, n_steps, repeats)
        idx = eval_subset(x, n_sparse / n)
        giorom_ms = rollout_ms_per_step(giorom, window[:, idx], ptype[idx], n_steps, repeats)
        full_ms = rollout_ms_per_step(giorom, window[:, idx], ptype[idx], n_steps, repeats, dense_ref=x,
                                      sparse_ref=x[idx])
        rows.append({"n_dense": n, "n_sparse": len(idx), "gns_ms": gns_ms, "giorom_ms": giorom_ms,
                     "giorom_recon_ms": full_ms, "speedup": gns_ms / full_ms})
    return rows


def snapshot_figure(path: Path, rows: dict[str, np.ndarray], frames: Sequence[int], *, title: str = "",
                    bounds=((0.0, 1.0), (0.0, 1.0)), colors: dict[str, str] | None = None) -> Path:
    """A grid of scatter plots: one row per label (positions [T, n, 2]), one column per frame."""
    from sciml import plot

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

