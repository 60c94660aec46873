"""The Task contract: every registered task and every experiment YAML keeps it; near-miss hooks are errors."""

import dataclasses
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.runner import Task, load_config
from sciml.runner.catalogue import BUILTIN_TASK_MODULES
from sciml.runner.task import check_task_class, register_task, registered_tasks

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments").rglob("*.yaml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: str(p.relative_to(ROOT / "experiments")))
def test_every_experiment_yaml_loads_and_builds_its_task(path):
    config = load_config(path)
    check_task_class(type(config.task))


def test_every_registered_task_is_a_final_task():
    tasks = registered_tasks()
    assert len(tasks) >= 11
    for name, cls in tasks.items():
        check_task_class(cls, name)


def test_shared_task_bases_of_builtin_tasks_are_abstract():
    """Abstract-or-final: a built-in task never inherits from another concrete task."""
    for cls in registered_tasks().values():
        if cls.__module__ not in BUILTIN_TASK_MODULES:
            continue
        for base in cls.__mro__[1:]:
            if base in (Task, object) or not issubclass(base, Task):
                continue
            assert base.__abstractmethods__, f"{cls.__name__} inherits from concrete {base.__name__}"


@dataclasses.dataclass(frozen=True)
class _Minimal(Task):
    """The smallest final task: every abstract method, no hook overridden."""

    def init(self, *, key):
        return eqx.nn.Linear(2, 1, key=key)

    def batch(self, step, *, seed):
        return {"x": np.arange(8, dtype=np.float32).reshape(4, 2) + step}

    def loss(self, model, batch, *, key):
        return jnp.mean(jax.vmap(model)(batch["x"]) ** 2), {}

    def evaluate(self, model, *, key, run_dir):
        return {}


def test_a_misspelt_hook_is_an_error_not_a_silent_no_op():
    @dataclasses.dataclass(frozen=True)
    class Misspelt(_Minimal):
        def trainables(self, model):
            return jax.tree_util.tree_map(lambda _: False, model)

    with pytest.raises(TypeError, match="'trainables'.*did you mean 'trainable'"):
        register_task("misspelt_hook")(Misspelt)


def test_a_task_missing_a_required_method_is_rejected():
    @dataclasses.dataclass(frozen=True)
    class NoLoss(Task):
        def init(self, *, key):
            return None

        def batch(self, step, *, seed):
            return {}

        def evaluate(self, model, *, key, run_dir):
            return {}

    with pytest.raises(TypeError, match=r"lacks \['loss'\]"):
        register_task("no_loss")(NoLoss)


def test_a_class_outside_the_task_base_or_not_frozen_is_rejected():
    @dataclasses.dataclass(frozen=True)
    class Duck:
        def init(self, *, key): ...
        def batch(self, step, *, seed): ...
        def loss(self, model, batch, *, key): ...
        def evaluate(self, model, *, key, run_dir): ...

    with pytest.raises(TypeError, match="must subclass sciml.runner.Task"):
        register_task("duck")(Duck)

    @dataclasses.dataclass
    class Mutable(Task):
        init, batch, loss, evaluate = _Minimal.init, _Minimal.batch, _Minimal.loss, _Minimal.evaluate

    with pytest.raises(TypeError, match="frozen dataclass"):
        register_task("mutable")(Mutable)


def test_hook_defaults_train_every_float_array_and_slice_the_global_batch():
    task = _Minimal()
    model = task.init(key=jax.random.PRNGKey(0))
    assert all(jax.tree_util.tree_leaves(task.trainable(model)))
    assert task.param_labels(model) is None
    share = task.process_batch(3, seed=0, process=(1, 2), num_devices=2)
    np.testing.assert_array_equal(share["x"], task.batch(3, seed=0)["x"][2:])
