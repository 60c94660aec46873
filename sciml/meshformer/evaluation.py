"""Held-out errors of a mesh simulator, as MeshGraphNets and graph-physics report them.

- `one_step_rmse`: from ground-truth inputs at every frame (boundary nodes reset to the truth), beside
  the "no change" baseline v(t + 1) = v(t); the rollout RMSEs come with theirs too, v(t) = v(0).
- `rollout_per_step_mse`: rollouts from frame 0 over the whole trajectory, boundary nodes reset to
  the truth; `rollout_rmse(per_step, h)` is MeshGraphNets' cumulative RMSE over the first h steps (the
  root of the mean squared error over steps, nodes and components, boundary nodes included).
- `rollout_ms_per_step`: one compiled rollout, timed by `sciml.timing`.
Reference: Pfaff et al. 2021, "Learning Mesh-Based Simulation with Graph Networks", `cfd_eval.py`;
Garnier et al. 2025, "Training Transformers for Mesh-Based Simulations".
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from sciml.data.mesh_trajectories import Split
from sciml.meshformer.simulator import MeshSimulator, mesh_inputs, normalisers, rollout
from sciml.params import count_params, trainable_mask
from sciml.timing import median_seconds

#: Rollout horizons reported (MeshGraphNets' cfd_eval reports 1, 10, 20, 50, 100, 200).
HORIZONS = (1, 10, 50)

#: Timed rollouts of the first trajectory (after one untimed call; the first call compiles).
TIMING_REPEATS = 2


@eqx.filter_jit
def one_step(model: MeshSimulator, velocity, mesh: dict):
    """Next velocity of a batch of frames from their true inputs, boundary nodes kept at the input."""

    def one(v, msh):
        inputs = mesh_inputs(msh)
        nxt = model.step(v, inputs)
        return jnp.where(inputs.predicted()[:, None], nxt, v)

    return jax.vmap(one)(velocity, mesh)


@eqx.filter_jit
def rollout_one(model: MeshSimulator, initial, known, mesh: dict):
    """Rollout of one trajectory from `initial`, boundary values from `known` [t, n, 2]."""
    return rollout(model, mesh_inputs(mesh), initial, known)


def num_params(model: MeshSimulator) -> int:
    """Trainable parameters: every array but the frozen normalisers."""
    return count_params(model, trainable_mask(model, frozen=normalisers))


def one_step_rmse(model: MeshSimulator, test: Split, idx: np.ndarray, batch: int) -> tuple[float, float]:
    """(model, "no change") one-step RMSE over every frame of trajectories `idx`, in chunks of `batch`.

    The last chunk is padded with repeats that get weight 0, so one compiled program serves all chunks.
    """
    pairs = np.array([(m, t) for m in idx for t in range(test.frames - 1)])
    sq, sq_zero, count = 0.0, 0.0, 0.0
    for i in range(0, len(pairs), batch):
        chunk = pairs[i : i + batch]
        real = len(chunk)
        chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - real, 0)])
        mm, tt = chunk[:, 0], chunk[:, 1]
        pred = np.asarray(one_step(model, test.velocity[mm, tt], test.mesh(mm)))
        gt, prev = test.velocity[mm, tt + 1], test.velocity[mm, tt]
        w = test.node_mask[mm][..., None] * (np.arange(batch) < real)[:, None, None]
        sq += float((((pred - gt) ** 2) * w).sum())
        sq_zero += float((((prev - gt) ** 2) * w).sum())
        count += float(w.sum() * 2)
    return float(np.sqrt(sq / count)), float(np.sqrt(sq_zero / count))


def rollouts(model: MeshSimulator, test: Split, idx: np.ndarray) -> np.ndarray:
    """Rollouts of trajectories `idx` from frame 0 to the last frame: [M, T - 1, N, 2]."""
    preds = []
    for m in idx:
        gt = test.velocity[m]
        mesh = jax.tree_util.tree_map(jnp.asarray, test.mesh(int(m)))
        preds.append(np.asarray(rollout_one(model, jnp.asarray(gt[0]), jnp.asarray(gt[1:]), mesh)))
    return np.stack(preds)


def rollout_per_step_mse(preds: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """MSE of each rollout step over trajectories, real nodes and components: [T - 1].

    `preds` [M, T - 1, N, 2] against `truth` [M, T - 1, N, 2]; `mask` [M, N] marks the real nodes.
    """
    err = ((preds - truth) ** 2) * mask[:, None, :, None]
    return err.sum((0, 2, 3)) / (mask.sum() * 2)


def rollout_rmse(per_step: np.ndarray, horizon: int | None = None) -> float:
    """MeshGraphNets' rollout RMSE over the first `horizon` steps (None: all)."""
    return float(np.sqrt(per_step[:horizon].mean()))


def rollout_ms_per_step(model: MeshSimulator, test: Split, m: int = 0, repeats: int = TIMING_REPEATS) -> float:
    """Milliseconds per step of trajectory `m`'s compiled rollout (median of `repeats`, see `sciml.timing`)."""
    gt = test.velocity[m]
    mesh = jax.tree_util.tree_map(jnp.asarray, test.mesh(int(m)))
    args = (model, jnp.asarray(gt[0]), jnp.asarray(gt[1:]), mesh)
    return 1e3 * median_seconds(lambda: rollout_one(*args), repeats=repeats) / (test.frames - 1)


def evaluate_mesh_simulator(
    model: MeshSimulator, test: Split, *, trajectories: int = 0, batch: int = 16
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """The metrics on the first `trajectories` test trajectories (0: all), the rollouts [M, T - 1, N, 2]
    and the per-step MSE [T - 1]."""
    count = test.num_trajectories if trajectories <= 0 else min(trajectories, test.num_trajectories)
    idx = np.arange(count)
    one, no_change = one_step_rmse(model, test, idx, batch)
    preds = rollouts(model, test, idx)
    truth = test.velocity[idx, 1:]
    per_step = rollout_per_step_mse(preds, truth, test.node_mask[idx])
    unchanged = rollout_per_step_mse(np.broadcast_to(test.velocity[idx, :1], truth.shape), truth, test.node_mask[idx])
    out = {
        "params": float(num_params(model)),
        "one_step_rmse": one,
        "one_step_rmse_no_change": no_change,
        "rollout_rmse_all": rollout_rmse(per_step),
        "rollout_rmse_all_no_change": rollout_rmse(unchanged),
    }
    for h in HORIZONS:
        if h <= len(per_step):
            out[f"rollout_rmse_{h}"] = rollout_rmse(per_step, h)
            out[f"rollout_rmse_{h}_no_change"] = rollout_rmse(unchanged, h)
    out["rollout_ms_per_step"] = rollout_ms_per_step(model, test, int(idx[0]))
    return out, preds, per_step
