"""Post-training weight quantisation: per-tensor asymmetric min-max uniform quantise -> dequantise.

The robustness experiment of the paper (Fig. 5c) quantises the trained network's weights to b bits and
samples with them. Only weights are touched (not biases, norms or the noise-embedding map), as in the
original's name filter ("weight" but not "norm", "affine", "map"). The original also skipped every
layer at 32x32 resolution (its "32" rule), which left the 16x16 and 8x8 blocks quantised; our digits
are 8x8 or 16x16, so we quantise every weight at every resolution, which is the closest analogue.
Reference: PFGM++ Sec. 5.3, Fig. 5(c); original `generate_quant.py`.
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PyTree


def quantise_array(w: Float[Array, "..."], bits: int) -> Float[Array, "..."]:
    """Round w onto 2^bits evenly spaced levels between min(w) and max(w), and map back.

    The error per entry is at most (max - min) / (2 (2^bits - 1)); a constant tensor is returned as is.
    """
    if not isinstance(bits, int) or isinstance(bits, bool) or bits < 1:
        raise ValueError(f"bits must be an integer >= 1, got {bits!r}")
    lo, hi = jnp.min(w), jnp.max(w)
    levels = 2**bits - 1
    scale = (hi - lo) / levels
    safe = jnp.where(scale > 0, scale, 1.0)
    q = jnp.clip(jnp.round((w - lo) / safe), 0, levels)
    return jnp.where(scale > 0, q * safe + lo, w).astype(w.dtype)


def path_name(path: tuple) -> str:
    """A dotted name for a pytree path, e.g. 'net.down.0.conv1.weight'."""
    parts = []
    for k in path:
        for attr in ("name", "key", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return ".".join(parts)


def is_quantised_weight(name: str) -> bool:
    """Default filter: leaves called 'weight' outside norms and the noise-embedding map."""
    parts = name.split(".")
    return parts[-1] == "weight" and not any(("norm" in p or "map" in p or "affine" in p) for p in parts)


def quantise_weights(
    model: PyTree, bits: int | None, *, where: Callable[[str], bool] = is_quantised_weight
) -> PyTree:
    """The model with every array whose path name satisfies `where` quantised to `bits` bits.

    `bits=None` returns the model unchanged (full precision).
    """
    if bits is None:
        return model

    def q(path, leaf):
        if eqx.is_inexact_array(leaf) and where(path_name(path)):
            return quantise_array(leaf, bits)
        return leaf

    return jax.tree_util.tree_map_with_path(q, model)


def quantised_names(model: PyTree, *, where: Callable[[str], bool] = is_quantised_weight) -> list[str]:
    """The path names `quantise_weights` would touch (for reports and tests)."""
    leaves = jax.tree_util.tree_leaves_with_path(model)
    return [path_name(p) for p, leaf in leaves if eqx.is_inexact_array(leaf) and where(path_name(p))]

