"""Parameter counting and trainable masks for Equinox models, written once for every method."""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
from jaxtyping import PyTree


def count_params(tree: PyTree, where: PyTree[bool] | None = None) -> int:
    """Number of floating-point array entries in `tree` (only those marked True in `where`, if given)."""
    if where is not None:
        tree = eqx.filter(tree, where)
    return int(sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_inexact_array))))


def trainable_mask(model: PyTree, frozen: Callable[[Any], Any] | None = None) -> PyTree[bool]:
    """True on every floating-point array of `model` except those inside `frozen(model)`.

    `frozen` returns the sub-trees (one node or a tuple of nodes, as for `eqx.tree_at`) that the
    optimiser must not update: fixed random features, data normalisers, quantisation grids.
    """
    mask = jax.tree_util.tree_map(eqx.is_inexact_array, model)
    if frozen is None:
        return mask
    return eqx.tree_at(frozen, mask, replace_fn=lambda sub: jax.tree_util.tree_map(lambda _: False, sub))
