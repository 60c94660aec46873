"""The training step as one `jax.jit` over the state's flat list of arrays.

`eqx.filter_jit` partitions and flattens the whole state (model, optimiser state, EMA) in Python on
every call; for a model of a few hundred arrays that took 8-10 ms a step on 2 CPU cores, as long as
the mesh transformer's whole forward pass. Here the step is traced once over the flat list of the
state's arrays (its static part, activation functions and sizes, is closed over), so a call hands
jax a plain list, and the state a step returns is flattened no more: its arrays are kept and reused
when it comes back as the next step's input. The state a step returns is rebuilt with one
`tree_unflatten` of the whole state's structure, its arrays put in their places among the static
leaves: `eqx.combine` of the arrays and the static part walked both trees, 4.2 ms of host time a step
for the mesh transformer's 567 arrays against 0.5 ms (while the step runs, so its threads share the two
cores with it; the step's own time moved within its noise). Same function, same numbers; only dispatch
changes.
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
        self._rebuild = None  # (treedef of the whole state, its leaves, where its arrays sit among them)
        self._jitted = None
        self._last = None  # (the state object last returned, its arrays)

    def _split(self, state):
        arrays, static = eqx.partition(state, eqx.is_array)
        leaves, treedef = jax.tree_util.tree_flatten(arrays)
        return leaves, treedef, static

    def _build(self, state):
        leaves, treedef, static = self._split(state)
        self._structure = (treedef, static)
        all_leaves, whole = jax.tree_util.tree_flatten(state)
        slots = [i for i, leaf in enumerate(all_leaves) if eqx.is_array(leaf)]
        if len(slots) != len(leaves):  # partition and flatten disagree on what an array is: never seen
            raise ValueError("cannot locate the state's arrays among its leaves")
        for slot in slots:  # keep no reference to this state's arrays
            all_leaves[slot] = None
        self._rebuild = (whole, all_leaves, slots)

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
        new_state = self._state_of(new_leaves)
        self._last = (new_state, new_leaves)
        return new_state, metrics

    def _state_of(self, arrays):
        """The state with `arrays` (in flat order) in place of the compiled-for state's arrays."""
        whole, all_leaves, slots = self._rebuild
        leaves = list(all_leaves)
        for slot, array in zip(slots, arrays, strict=True):
            leaves[slot] = array
        return jax.tree_util.tree_unflatten(whole, leaves)

    def lower(self, step_index, state, batch):
        """The lowered step (`.compile()`, cost and memory analysis), as `jax.jit(...).lower`."""
        return self._jitted_for(state).lower(step_index, self._leaves(state), batch)

    def _jitted_for(self, state):
        if self._jitted is None:
            self._build(state)
        return self._jitted
