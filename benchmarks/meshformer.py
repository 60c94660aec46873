"""Mesh-transformer benchmark functions (see run.py for the `call` protocol): rollout time per step.

A jitted `lax.scan` rollout of `n_steps` steps on the first test trajectory's mesh, boundary nodes
reset each step, exactly as the task's evaluation rolls out. Weights are a fresh initialisation (timing
does not depend on them).
"""

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp

from sciml.meshformer import MeshInputs
from sciml.meshformer import rollout as mesh_rollout
from sciml.runner import load_config

ROOT = Path(__file__).resolve().parents[1]


def rollout(config: str, overrides: tuple = (), n_steps: int = 10):
    """Rollout of `n_steps` steps (examples = steps, so examples/s = rollout steps/s)."""
    task = load_config(ROOT / config, list(overrides)).task
    model = task.init(key=jax.random.key(0))
    _, test, _ = task.dataset()
    if test.frames <= n_steps:
        raise ValueError(f"n_steps ({n_steps}) must be below the test trajectories' {test.frames} frames")
    d = test.mesh(0)
    mesh = MeshInputs(jnp.asarray(d["node_type"]), jnp.asarray(d["mesh_pos"]), jnp.asarray(d["node_mask"]),
                      tuple(tuple(jnp.asarray(x) for x in a) for a in d["adjacency"]))
    initial, known = jnp.asarray(test.velocity[0, 0]), jnp.asarray(test.velocity[0, 1 : n_steps + 1])
    run = eqx.filter_jit(mesh_rollout)
    return (lambda: run(model, mesh, initial, known)), {"examples": n_steps, "nodes": int(d["node_mask"].sum())}
