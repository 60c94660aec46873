"""The training step as one `jax.jit` over the state's flat list of arrays.

`eqx.filter_jit` partitions and flattens the whole state (model, optimiser state, EMA) in Python on
every call; for a model of a few hundred arrays that took 8-10 ms a step on 2 CPU cores, as long as
the mesh transformer's whole forward pass. Here the step is traced once over the flat list of the
state's arrays (its static part, activation functions and sizes, is closed over), so a call hands
jax a plain list, and the state a step returns is flattened no more: its arrays are kept and reused
when it comes back as the next step's input. Same function, same numbers; only dispatch changes.
"""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax


class CompiledStep:
    """`step(step_index, state, batch) -> (state, metrics)`, jitted over the state's arrays.

    The state's arrays are donated (as with `donate="all-except-first"`); `compiler_options` are
    XLA options for this program only (see `Task.compiler_options`). `lower` gives the lowered
    program for cost and memory analysis.
    """

    def __init__(self, fn: Callable, compiler_options: dict[str, Any] | None = None):
        self._fn = fn
        self._options = dict(compiler_options or {})
        self._structure = None  # (treedef of the arrays, the static part), fixed by the first call
        self._jitted = None
        self._last = None  # (the state object last returned, its arrays)

    def _split(self, state):
        arrays, static = eqx.partition(state, eqx.is_array)
        leaves, treedef = jax.tree_util.tree_flatten(arrays)
        return leaves, treedef, static

    def _build(self, state):
        _, treedef, static = self._split(state)
        self._structure = (treedef, static)

        def flat_step(step_index, leaves, batch):
            state = eqx.combine(jax.tree_util.tree_unflatten(treedef, leaves), static)
            new_state, metrics = self._fn(step_index, state, batch)
            new_leaves, new_treedef, new_static = self._split(new_state)
            if new_treedef != treedef or not eqx.tree_equal(new_static, static):
                raise ValueError("the training step changed the structure of the state it was given")
            return new_leaves, metrics

        self._jitted = jax.jit(flat_step, donate_argnums=1, compiler_options=self._options or None)

    def _leaves(self, state):
        if self._last is not None and state is self._last[0]:
            return self._last[1]
        if self._jitted is None:
            self._build(state)
        leaves, treedef, static = self._split(state)
        if treedef != self._structure[0] or not eqx.tree_equal(static, self._structure[1]):
            raise ValueError("this step was compiled for a state of another structure; make a new Trainer")
        return leaves

    def __call__(self, step_index, state, batch):
        leaves = self._leaves(state)
        new_leaves, metrics = self._jitted(step_index, leaves, batch)
        treedef, static = self._structure
        new_state = eqx.combine(jax.tree_util.tree_unflatten(treedef, new_leaves), static)
        self._last = (new_state, new_leaves)
        return new_state, metrics

    def lower(self, step_index, state, batch):
        """The lowered step (`.compile()`, cost and memory analysis), as `jax.jit(...).lower`."""
        return self._jitted_for(state).lower(step_index, self._leaves(state), batch)

    def _jitted_for(self, state):
        if self._jitted is None:
            self._build(state)
        return self._jitted
