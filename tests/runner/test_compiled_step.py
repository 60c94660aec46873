"""The runner's jitted step over the state's flat arrays: same numbers as a plain jit of the same step,
the returned state reused without re-flattening, and a structure change refused with a clear error."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.runner.compiled_step import CompiledStep


class Affine(eqx.Module):
    weight: jax.Array
    bias: jax.Array
    act: object = eqx.field(static=True)

    def __call__(self, x):
        return self.act(x @ self.weight.T + self.bias)


def _sgd_step(step_index, model, batch):
    def loss(m):
        return jnp.mean((m(batch["x"]) - batch["y"]) ** 2)

    value, grads = jax.value_and_grad(loss)(model)
    lr = 0.1 / (1.0 + step_index)
    model = jax.tree_util.tree_map(lambda p, g: p - lr * g, model, grads)
    return model, {"loss": value}


def _model():
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    return Affine(jax.random.normal(k1, (3, 4)), jax.random.normal(k2, (3,)), jnp.tanh)


def _batches(n):
    rng = np.random.default_rng(0)
    return [{"x": jnp.asarray(rng.normal(size=(8, 4)), jnp.float32),
             "y": jnp.asarray(rng.normal(size=(8, 3)), jnp.float32)} for _ in range(n)]


def test_flat_step_gives_the_same_states_and_metrics_as_filter_jit():
    reference = eqx.filter_jit(_sgd_step)
    flat = CompiledStep(_sgd_step)
    a, b = _model(), _model()
    for i, batch in enumerate(_batches(4)):
        a, ma = reference(jnp.asarray(i), a, batch)
        b, mb = flat(jnp.asarray(i), b, batch)
        np.testing.assert_array_equal(ma["loss"], mb["loss"])
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(x, y)
    assert b.act is jnp.tanh  # the static part comes back as it went in


def test_returned_state_is_passed_on_without_flattening_it_again(monkeypatch):
    flat = CompiledStep(_sgd_step)
    batches = _batches(3)
    state, _ = flat(jnp.asarray(0), _model(), batches[0])
    calls = []
    real_split = flat._split
    monkeypatch.setattr(flat, "_split", lambda s: calls.append(1) or real_split(s))
    state, _ = flat(jnp.asarray(1), state, batches[1])
    assert calls == []  # the cached arrays of the state it returned were used
    flat(jnp.asarray(2), _model(), batches[2])  # a fresh state (e.g. restored) is flattened as usual
    assert calls == [1]


class Mixed(eqx.Module):
    """Arrays with non-array leaves between them (a callable field that is not static, a Python float)."""

    weight: jax.Array
    act: object
    bias: jax.Array
    scale: float

    def __call__(self, x):
        return self.act(x @ self.weight.T + self.bias) * self.scale


def test_returned_state_keeps_non_array_leaves_in_place_between_its_arrays():
    def step(step_index, model, batch):
        arrays, static = eqx.partition(model, eqx.is_array)
        def loss(p):
            return jnp.mean((eqx.combine(p, static)(batch["x"]) - batch["y"]) ** 2)

        value, grads = jax.value_and_grad(loss)(arrays)
        arrays = jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, arrays, grads)
        return eqx.combine(arrays, static), {"loss": value}

    k1, k2 = jax.random.split(jax.random.PRNGKey(1))
    model = Mixed(jax.random.normal(k1, (3, 4)), jnp.tanh, jax.random.normal(k2, (3,)), 0.5)
    reference = eqx.filter_jit(step)
    flat = CompiledStep(step)
    a, b = model, model
    for i, batch in enumerate(_batches(3)):
        a, _ = reference(jnp.asarray(i), a, batch)
        b, _ = flat(jnp.asarray(i), b, batch)
    assert b.act is jnp.tanh and b.scale == 0.5
    np.testing.assert_array_equal(a.weight, b.weight)
    np.testing.assert_array_equal(a.bias, b.bias)


def test_a_state_of_another_structure_is_refused():
    flat = CompiledStep(_sgd_step)
    flat(jnp.asarray(0), _model(), _batches(1)[0])
    other = Affine(jnp.ones((3, 4)), jnp.ones(3), jax.nn.relu)  # another static part: another program
    with pytest.raises(ValueError, match="another structure"):
        flat(jnp.asarray(1), other, _batches(1)[0])


def test_a_step_that_changes_the_state_structure_is_an_error():
    def grows(step_index, model, batch):
        return Affine(model.weight, model.bias, jax.nn.relu), {"loss": jnp.sum(model.bias)}

    with pytest.raises(ValueError, match="changed the structure"):
        CompiledStep(grows)(jnp.asarray(0), _model(), _batches(1)[0])


def test_compiler_options_reach_xla():
    flat = CompiledStep(_sgd_step, compiler_options={"xla_cpu_no_such_option": "1"})
    with pytest.raises(Exception, match="xla_cpu_no_such_option"):
        flat(jnp.asarray(0), _model(), _batches(1)[0])
