"""The Task protocol (the one seam between methods and the runner) and the task registry.

A task is a configured experiment: a frozen, hashable dataclass whose fields are the method's
hyperparameters, built from the YAML `task:` section (so it is static under `jit`). See DESIGN.md.
"""

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import equinox as eqx
import jax
import numpy as np
from jaxtyping import Array, PRNGKeyArray, PyTree


@runtime_checkable
class Task(Protocol):
    """What a method gives the runner.

    - `init(key=)`: the model, an `eqx.Module`.
    - `batch(step, seed=)`: the *global* host batch of that step, a pytree of NumPy arrays with a
      leading batch axis; a pure function of (seed, step) so resumed runs and every process agree.
    - `loss(model, batch, key=)`: pure `(scalar, aux dict)`; the runner jits, shards, differentiates.
    - `evaluate(model, key=, run_dir=)`: sampling, rollouts, paper metrics and figures; a dict of floats.

    Optional: `trainable(model) -> PyTree[bool]` marks the arrays the optimiser updates (default: all
    floating-point arrays). Arrays marked False are kept as they are (frozen features, normalisers).
    Optional: `batch(step, seed=, process=(index, count))` returns only this process's contiguous
    share of the global batch, for data too large to generate or read whole on every host.
    Optional: `param_labels(params) -> PyTree[str]` names each trainable array's group, for
    `train.alternate: [group_a, group_b]` (one optimiser per group, stepped on alternating batches).
    """

    def init(self, *, key: PRNGKeyArray) -> eqx.Module: ...

    def batch(self, step: int, *, seed: int) -> PyTree[np.ndarray]: ...

    def loss(self, model: eqx.Module, batch: PyTree[Array], *, key: PRNGKeyArray) -> tuple[Array, dict]: ...

    def evaluate(self, model: eqx.Module, *, key: PRNGKeyArray, run_dir: Path) -> dict[str, float]: ...


_REGISTRY: dict[str, type] = {}


def register_task(name: str) -> Callable[[type], type]:
    """Class decorator: register a frozen dataclass as the task `name` (used in YAML `task.name`)."""

    def wrap(cls: type) -> type:
        if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:
            raise TypeError(f"task {name!r}: {cls.__name__} must be a frozen dataclass")
        missing = [m for m in ("init", "batch", "loss", "evaluate") if not callable(getattr(cls, m, None))]
        if missing:
            raise TypeError(f"task {name!r}: {cls.__name__} lacks {missing}")
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"task {name!r} is already registered by {_REGISTRY[name].__qualname__}")
        _REGISTRY[name] = cls
        return cls

    return wrap


def _load_builtin_and_plugins() -> None:
    from importlib.metadata import entry_points

    from sciml.runner import catalogue  # noqa: F401  (registers the built-in tasks)

    for ep in entry_points(group="sciml.tasks"):
        ep.load()


def task_class(name: str) -> type:
    """The registered task class called `name`; unknown names list the valid ones."""
    _load_builtin_and_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; registered tasks: {sorted(_REGISTRY)}") from None


def registered_tasks() -> dict[str, type]:
    """All registered tasks by name."""
    _load_builtin_and_plugins()
    return dict(sorted(_REGISTRY.items()))


def trainable_filter(task: Any, model: eqx.Module) -> PyTree[bool]:
    """The task's `trainable(model)` if it has one, else every floating-point array."""
    if hasattr(task, "trainable"):
        return task.trainable(model)
    return jax.tree_util.tree_map(eqx.is_inexact_array, model)
