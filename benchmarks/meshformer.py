"""Mesh-transformer benchmark functions (see run.py for the `call` protocol): rollout time per step.

A jitted `lax.scan` rollout of `n_steps` steps on the first test trajectory's mesh, boundary nodes
reset each step, exactly as the task's evaluation rolls out
(`sciml.meshformer.evaluation.rollout_one`). Weights are a fresh initialisation (timing
does not depend on them).
"""

from pathlib import Path

import jax
import jax.numpy as jnp

from sciml.meshformer.evaluation import rollout_one
from sciml.runner import load_config

ROOT = Path(__file__).resolve().parents[1]


def rollout(config: str, overrides: tuple = (), n_steps: int = 10):
    """Rollout of `n_steps` steps (examples = steps, so examples/s = rollout steps/s)."""
    task = load_config(ROOT / config, list(overrides)).task
    model = task.init(key=jax.random.key(0))
    _, test, _ = task.dataset()
    if test.frames <= n_steps:
        raise ValueError(f"n_steps ({n_steps}) must be below the test trajectories' {test.frames} frames")
    mesh = jax.tree_util.tree_map(jnp.asarray, test.mesh(0))
    initial, known = jnp.asarray(test.velocity[0, 0]), jnp.asarray(test.velocity[0, 1 : n_steps + 1])
    return (lambda: rollout_one(model, initial, known, mesh)), {"examples": n_steps,
                                                                 "nodes": int(mesh["node_mask"].sum())}
