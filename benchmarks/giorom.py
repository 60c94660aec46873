"""GIOROM benchmark functions (see run.py for the `call` protocol): rollout time as the particle count grows.

Like `sciml.giorom.scaling_study`: the dense set is a lattice block of `n` particles at constant density
(the block's area is fixed); GNS steps all `n` particles with its radius scaled by sqrt(n0 / n) (same
neighbour count); GIOROM steps `n_sparse` farthest-point particles and, with `reconstruct`, moves all
`n` particles every step. Weights are a fresh initialisation (timing does not depend on them); the
models are built from the experiment configs on a tiny MPM dataset (one scene, 12 frames).
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from sciml.giorom.evaluation import eval_subset, lattice_block, reconstruct_frames, rollout_positions, with_setup
from sciml.runner import load_config

ROOT = Path(__file__).resolve().parents[1]
TINY = ["task.num_train=1", "task.num_test=1", "task.num_frames=12", "task.materials=[water]"]


def rollout(model: str = "gns", n: int = 1024, n_sparse: int = 128, n_steps: int = 10, reconstruct: bool = True):
    """One jitted rollout of `n_steps` steps (examples = steps, so examples/s = rollout steps/s)."""
    if model not in ("gns", "giorom"):
        raise ValueError(f"model must be 'gns' or 'giorom', got {model!r}")
    task = load_config(ROOT / f"experiments/giorom/{model}.yaml", TINY).task
    net = task.init(key=jax.random.key(0))
    x = lattice_block(n, area=task.area)
    velocity = np.float32([0.004, -0.006])  # a block moving at a constant velocity per frame
    window = np.stack([x + velocity * k for k in range(net.setup.window + 1)])
    ptype = np.zeros(n, np.int32)
    if model == "gns":
        net = with_setup(net, net.setup.with_radius(net.setup.radius * np.sqrt(task.num_particles / n)))
        w, p = jnp.asarray(window), jnp.asarray(ptype)
        step = lambda: rollout_positions(net, w, p, n_steps)
        return step, {"examples": n_steps, "particles": n, "stepped_particles": n}
    idx = eval_subset(x, n_sparse / n)
    w, p = jnp.asarray(window[:, idx]), jnp.asarray(ptype[idx])
    dense, sparse = jnp.asarray(x), jnp.asarray(x[idx])
    if reconstruct:
        step = lambda: reconstruct_frames(net, sparse, rollout_positions(net, w, p, n_steps), dense)
    else:
        step = lambda: rollout_positions(net, w, p, n_steps)
    return step, {"examples": n_steps, "particles": n, "stepped_particles": len(idx)}
