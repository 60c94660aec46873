"""The Task protocol (the one seam between methods and the runner) and the task registry.

A task is a configured experiment: a frozen, hashable dataclass whose fields are the method's
hyperparameters, built from the YAML `task:` section (so it is static under `jit`). See DESIGN.md.
"""

import abc
import dataclasses
import difflib
import inspect
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import numpy as np
from jaxtyping import Array, PRNGKeyArray, PyTree

from sciml.params import trainable_mask
from sciml.runner.devices import process_slice


class Task(abc.ABC):
    """What a method gives the runner: four required methods and optional hooks with defaults.

    Subclasses are frozen dataclasses registered with `@register_task(name)`. Following equinox's
    abstract-or-final rule, a class is either abstract (a shared base, never registered) or final (a
    registered task, every abstract method implemented). The runner calls the hooks directly, so a
    hook that is not overridden does its documented default; `register_task` rejects a method whose
    name is a near-miss of a hook (`trainables`), which would otherwise silently do nothing.
    """

    @abc.abstractmethod
    def init(self, *, key: PRNGKeyArray) -> eqx.Module:
        """The model, an `eqx.Module`."""

    @abc.abstractmethod
    def batch(self, step: int, *, seed: int) -> PyTree[np.ndarray]:
        """The *global* host batch of `step`: NumPy arrays with a leading batch axis, a pure function of
        (seed, step), so resumed runs and every process agree."""

    @abc.abstractmethod
    def loss(self, model: eqx.Module, batch: PyTree[Array], *, key: PRNGKeyArray) -> tuple[Array, dict]:
        """Pure `(scalar, aux dict)`; the runner jits, shards and differentiates it."""

    @abc.abstractmethod
    def evaluate(self, model: eqx.Module, *, key: PRNGKeyArray, run_dir: Path) -> dict[str, float]:
        """Sampling, rollouts, paper metrics and figures (written into `run_dir`); a dict of floats."""

    # ----------------------------------------------------------------------------- optional hooks

    def trainable(self, model: eqx.Module) -> PyTree[bool]:
        """The arrays the optimiser updates (default: every floating-point array). Arrays marked False
        (frozen features, normalisers) are kept as they are; see `sciml.params.trainable_mask`."""
        return trainable_mask(model)

    def param_labels(self, params: PyTree) -> PyTree[str] | None:
        """The group name of each trainable array, for `train.alternate: [group_a, group_b]` (one
        optimiser per group, stepped on alternating batches); None (default) when there are no groups."""
        return None

    def process_batch(self, step: int, *, seed: int, process: tuple[int, int], num_devices: int) -> PyTree:
        """This process's contiguous share `(index, count)` of step `step`'s global batch.

        Default: build the global batch and keep this process's rows. Override it for data too large
        to generate or read whole on every host.
        """
        index, count = process
        return process_slice(self.batch(step, seed=seed), num_devices, index, count)

    def validation_batch(self, *, seed: int) -> PyTree[np.ndarray] | None:
        """A held-out batch (structured like `batch`) whose loss the runner logs as `val/loss` every
        `train.validate_every` steps, for model selection and early stopping; None (default): none."""
        return None

    def compiler_options(self) -> dict[str, str]:
        """XLA options for this task's compiled training step only (default: none), for a model that a
        backend's default code generation serves badly; each must be measured in `benchmarks/` and
        must not change what is computed. Options unknown to the installed XLA are an error."""
        return {}


#: The optional hooks; a task method whose name is close to one of these but not equal is an error.
HOOKS = ("trainable", "param_labels", "process_batch", "validation_batch", "compiler_options")
_CONTRACT = ("init", "batch", "loss", "evaluate", *HOOKS)

_REGISTRY: dict[str, type] = {}


def check_task_class(cls: type, name: str = "") -> None:
    """Raise TypeError unless `cls` is a final task: a frozen dataclass subclassing `Task`, every abstract
    method implemented, and no method whose name is a near-miss of a contract method."""
    label = f"task {name!r}: {cls.__name__}" if name else cls.__name__
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise TypeError(f"{label} must subclass sciml.runner.Task")
    if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:
        raise TypeError(f"{label} must be a frozen dataclass")
    if inspect.isabstract(cls):
        raise TypeError(f"{label} lacks {sorted(cls.__abstractmethods__)}")
    own = {n for klass in cls.__mro__ if klass not in (Task, abc.ABC, object) for n in vars(klass)}
    for attr in sorted(own - set(_CONTRACT)):
        if attr.startswith("__"):
            continue
        close = difflib.get_close_matches(attr, _CONTRACT, n=1, cutoff=0.8)
        if close:
            raise TypeError(f"{label} defines {attr!r}, which is not part of the Task contract; "
                            f"did you mean {close[0]!r}?")


def register_task(name: str) -> Callable[[type], type]:
    """Class decorator: register a final task class as `name` (used in YAML `task.name`)."""

    def wrap(cls: type) -> type:
        check_task_class(cls, name)
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
