"""Evaluation of GNS and GIOROM: rollouts, reconstruction, error metrics, timing and the scaling study.

Both models are callables `model(window, ptype) -> normalised acceleration` with a static `setup`;
GIOROM also has `reconstruct(sparse_ref, sparse_cur, query_ref)`. Sparse evaluation subsets are FPS
orders started at particle 0 of the first frame, so GNS and GIOROM are scored on the same particles.
`evaluate_rollouts` is the one evaluation of both: a model that steps every particle (GNS) is scored on
its own rollout, a model that steps a sparse fraction (GIOROM) on its reconstruction of all particles.

Metrics of particle rollouts:
- `position_mse`: mean over steps and particles of sum_d (x_hat - x)^2 (GNS and GIOROM's rollout MSE).
- `displacement_rel_l2`: ||x_hat - x|| / ||x - x_0|| over all steps and particles; unlike a relative
  error of absolute positions it is not flattered by the large |x| (docs/references.md GIOROM.5).
- `chamfer_distance`: mean_a min_b |a - b|^2 + mean_b min_a |a - b|^2 (squared, symmetric), which
  compares two point clouds without a correspondence, as GIOROM's online evaluation does per frame;
  `mean_chamfer` averages it over frames.
Timings are `sciml.timing` medians of jitted, compiled calls (compile time excluded).
Reference: Sanchez-Gonzalez et al. 2020, Sec. 4 (rollout MSE); Fan et al. 2017 (Chamfer distance);
GIOROM (Viswanath et al. 2024) Sec. 4 (speed-up and accuracy versus sparsity; "point clouds of ~100k
points inferred from ~1k-point graphs"); docs/references.md GIOROM.3-4.
"""

import copy
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from sciml.giorom.dynamics import next_position, rollout
from sciml.giorom.sampling import farthest_point_sampling, subset_size
from sciml.params import count_params
from sciml.timing import median_seconds

#: The paper's headline claims (abstract, docs/references.md GIOROM.3).
PAPER_SPEEDUP = 25.0
PAPER_REPO_FIGURE = {  # Res/sparsity_loss.png: time for 120 steps and rollout MSE by sparsity (dataset unstated)
    1.0: {"seconds_120_steps": 108.0, "rollout_mse": 0.007},
    0.031: {"seconds_120_steps": 5.5, "rollout_mse": 1e-4},
    0.007: {"seconds_120_steps": 2.2, "rollout_mse": 0.022},
}

# ------------------------------------------------------------------------------------- metrics


def position_mse(pred: Float[ArrayLike, "t n d"], true: Float[ArrayLike, "t n d"]) -> float:
    """Mean over steps and particles of the squared position error summed over dimensions (on the host)."""
    return float(np.mean(np.sum((np.asarray(pred) - np.asarray(true)) ** 2, -1)))


def displacement_rel_l2(pred: Float[ArrayLike, "t n d"], true: Float[ArrayLike, "t n d"],
                        ref: Float[ArrayLike, "n d"]) -> Float[Array, ""]:
    """||pred - true|| / ||true - ref|| over all steps and particles."""
    pred, true, ref = jnp.asarray(pred), jnp.asarray(true), jnp.asarray(ref)
    return jnp.linalg.norm(pred - true) / jnp.maximum(jnp.linalg.norm(true - ref), 1e-12)


def chamfer_distance(a: Float[ArrayLike, "n d"], b: Float[ArrayLike, "m d"]) -> Float[Array, ""]:
    """Symmetric squared Chamfer distance between two point clouds (dense O(n m))."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    d2 = jnp.sum((a[:, None, :] - b[None, :, :]) ** 2, -1)
    return d2.min(1).mean() + d2.min(0).mean()


@jax.jit
def frame_chamfer(pred: jax.Array, true: jax.Array) -> jax.Array:
    """Chamfer distance of each frame: [t] (one frame at a time, to bound memory)."""
    return jax.lax.map(lambda ab: chamfer_distance(*ab), (pred, true))


def mean_chamfer(pred: Float[ArrayLike, "t n d"], true: Float[ArrayLike, "t m d"]) -> float:
    """Chamfer distance averaged over frames."""
    return float(np.mean(frame_chamfer(jnp.asarray(pred), jnp.asarray(true))))


# ------------------------------------------------------------------------------------ rollouts


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
    return position_mse(pred, true), position_mse(const, true)


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
    return 1e3 * median_seconds(fn, repeats=max(1, repeats)) / n_steps


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


# ------------------------------------------------------------------------- the task's evaluation


def trajectory_metrics(
    model, positions: np.ndarray, ptype: np.ndarray, *, window: int, steps: int, one_step_stride: int,
    limits=None, fraction: float | None = None, eval_sparsities: Sequence[float] = (),
) -> tuple[dict[str, float], tuple]:
    """Errors of one test trajectory (positions [T, N, 2]) rolled out from its first `window` + 1 frames.

    `fraction` None: the model steps every particle (GNS), its rollout is the dense prediction, and
    `sparse_mse_<pct>` reads it off on each of `eval_sparsities`' FPS subsets. `fraction` f: the model
    steps the FPS subset `eval_subset(x0, f)` (GIOROM) and reconstructs all particles from its rollout
    (`dense_*`) and from the true sparse trajectory (`recon_only_*`). With `limits` the rollout is
    projected into that box; `rollout_mse_unprojected` is the plain rollout's.
    Returns the metrics and what the task saves: (true frames, predicted dense frames[, predicted
    sparse frames, sparse indices]), each with the first `window` + 1 true frames in front.
    """
    x, c = positions, window
    sel = slice(None) if fraction is None else eval_subset(x[0], fraction)
    true = x[c + 1 : c + 1 + steps]
    w0, p0 = jnp.asarray(x[: c + 1, sel]), jnp.asarray(ptype[sel])
    pred = rollout_positions(model, w0, p0, steps, limits)
    free = pred if limits is None else rollout_positions(model, w0, p0, steps)
    if fraction is None:
        dense = np.asarray(pred)
    else:
        sparse_ref, dense_ref = jnp.asarray(x[0, sel]), jnp.asarray(x[0])
        dense = np.asarray(reconstruct_frames(model, sparse_ref, pred, dense_ref))
        oracle = np.asarray(reconstruct_frames(model, sparse_ref, jnp.asarray(true[:, sel]), dense_ref))
    pred = np.asarray(pred)
    one, const = one_step_errors(model, x[:, sel], ptype[sel], c, one_step_stride)
    r = {
        "one_step_mse": one,
        "one_step_mse_constant_velocity": const,
        "rollout_mse": position_mse(pred, true[:, sel]),
        "rollout_mse_unprojected": position_mse(free, true[:, sel]),
        "dense_mse": position_mse(dense, true),
        "dense_rel_l2": float(displacement_rel_l2(dense, true, x[0])),
        "chamfer": mean_chamfer(dense, true),
    }
    if fraction is not None:
        r["recon_only_mse"] = position_mse(oracle, true)
        r["recon_only_chamfer"] = mean_chamfer(oracle, true)
    r["max_abs_position"] = float(np.abs(pred).max())
    if fraction is None:
        for f in eval_sparsities:
            idx = eval_subset(x[0], f)
            r[f"sparse_mse_{round(100 * f)}"] = position_mse(pred[:, idx], true[:, idx])
    saved = (x[: c + 1 + steps], np.concatenate([x[: c + 1], dense]))
    if fraction is not None:
        saved += (np.concatenate([x[: c + 1, sel], pred]), sel)
    return r, saved


def aggregate_by_material(per_trajectory: list[dict], materials: list[str]) -> dict[str, float]:
    """The mean of every metric over all trajectories (`key`) and per material (`key/material`)."""
    out = {}
    for k in per_trajectory[0]:
        out[k] = float(np.mean([r[k] for r in per_trajectory]))
        for mat in sorted(set(materials)):
            out[f"{k}/{mat}"] = float(np.mean([r[k] for r, m in zip(per_trajectory, materials) if m == mat]))
    return out


def evaluate_rollouts(
    model, test: dict, material_names: dict[int, str], *, window: int, steps: int, one_step_stride: int,
    limits=None, fraction: float | None = None, eval_sparsities: Sequence[float] = (), trajectories: int = 0,
    timing_steps: int = 20, timing_repeats: int = 3,
) -> tuple[dict[str, float], dict[str, tuple]]:
    """`trajectory_metrics` on the first `trajectories` test trajectories (0: all), averaged overall and
    per material, plus rollout ms/step on the first one (with `fraction`, also with the reconstruction of
    all particles every step), the parameter count and the radius.

    `test` is a split {"position": [M, T, N, 2], "particle_type": [M, N]}; `material_names` maps particle
    type to material. Returns the metrics and, per material, the saved arrays of its first trajectory.
    """
    n = test["position"].shape[0]
    per_traj, mats, saved = [], [], {}
    for i in range(n if trajectories == 0 else min(n, trajectories)):
        x, ptype = test["position"][i], test["particle_type"][i]
        r, arrays = trajectory_metrics(model, x, ptype, window=window, steps=steps, one_step_stride=one_step_stride,
                                       limits=limits, fraction=fraction, eval_sparsities=eval_sparsities)
        per_traj.append(r)
        mat = material_names[int(ptype[0])]
        mats.append(mat)
        saved.setdefault(mat, arrays)
    out = aggregate_by_material(per_traj, mats)
    x0, p0 = test["position"][0], test["particle_type"][0]
    c = window
    if fraction is None:
        out["ms_per_step"] = rollout_ms_per_step(model, x0[: c + 1], p0, timing_steps, timing_repeats, limits=limits)
    else:
        idx0 = eval_subset(x0[0], fraction)
        out["ms_per_step"] = rollout_ms_per_step(model, x0[: c + 1, idx0], p0[idx0], timing_steps, timing_repeats,
                                                 limits=limits)
        out["ms_per_step_with_recon"] = rollout_ms_per_step(model, x0[: c + 1, idx0], p0[idx0], timing_steps,
                                                            timing_repeats, dense_ref=x0[0], sparse_ref=x0[0, idx0],
                                                            limits=limits)
    out["n_params"] = float(count_params(model))
    if fraction is not None:
        out["n_sparse"] = float(len(idx0))
    out["n_particles"] = float(x0.shape[1])  # x0: [T, N, 2]
    out["radius"] = float(model.setup.radius)
    return out, saved
