"""Checkpoints: a thin adapter over orbax's CheckpointManager.

A checkpoint holds the train state's arrays (model, optimiser state, EMA) as host NumPy arrays plus
JSON metadata (step; the data position and RNG are functions of seed and step). Restoring needs a
skeleton of the state (`like`), from which the static parts (activations, shapes) are rebuilt.
"""

from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import orbax.checkpoint as ocp
from jaxtyping import PyTree


class Checkpoints:
    """Save/restore train states under `directory`, keeping the last `keep`."""

    def __init__(self, directory: Path, keep: int = 3):
        self.directory = Path(directory).absolute()
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
        )

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: PyTree, meta: dict) -> None:
        arrays = eqx.filter(state, eqx.is_array)
        host = jax.tree_util.tree_map(lambda x: np.asarray(jax.device_get(x)), arrays)
        self.manager.save(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardSave(host), meta=ocp.args.JsonSave(meta)),
        )

    def restore(self, like: PyTree, step: int | None = None) -> tuple[PyTree, dict]:
        """The state at `step` (default: latest) as host arrays in the structure of `like`, and its meta."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        arrays, static = eqx.partition(like, eqx.is_array)
        abstract = jax.tree_util.tree_map(lambda x: np.zeros(x.shape, x.dtype), arrays)
        out = self.manager.restore(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()),
        )
        return eqx.combine(out.state, static), dict(out.meta)

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
