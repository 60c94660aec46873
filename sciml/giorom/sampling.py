"""Sparse particle subsets: farthest-point sampling (in JAX) and uniform random subsets.

GIOROM simulates a sparse subset of the particles. Farthest-point sampling (FPS) picks the particle
farthest from those already chosen, so the subset covers the material evenly, and every prefix of an
FPS order is itself an FPS subset: the 5% subset is contained in the 10% one, which is in the 25% one.
Reference: Viswanath et al. 2024 (GIOROM), Sec. 3.1 and `data/dataloader.py` (random or FPS subsets);
Eldar et al. 1997 for FPS.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray


def _check_k(k: int, n: int) -> None:
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"a particle subset needs k >= 1 particles, got k={k} (empty subsets are not allowed)")
    if k > n:
        raise ValueError(f"cannot choose k={k} particles from {n}")


def farthest_point_sampling(
    x: Float[Array, "n d"], k: int, *, start: Int[Array, ""] | int = 0, mask: Bool[Array, " n"] | None = None
) -> Int[Array, " k"]:
    """Indices of k points chosen greedily farthest from the points chosen so far, starting at `start`.

    Masked-out points are never chosen (the caller must leave at least k valid points). Ties go to
    the lowest index. O(n k) time, O(n) memory; jittable and vmappable (k is static).
    Reference: Eldar et al. 1997, "The farthest point strategy for progressive image sampling".
    """
    n = x.shape[0]
    _check_k(k, n)
    valid = jnp.ones(n, bool) if mask is None else mask
    start = jnp.asarray(start, jnp.int32)

    def dist_to(i):
        return jnp.where(valid, jnp.sum((x - x[i]) ** 2, -1), -1.0)

    def body(j, carry):
        idx, d = carry
        nxt = jnp.argmax(d).astype(jnp.int32)
        return idx.at[j].set(nxt), jnp.minimum(d, dist_to(nxt))

    idx0 = jnp.zeros(k, jnp.int32).at[0].set(start)
    idx, _ = jax.lax.fori_loop(1, k, body, (idx0, dist_to(start)))
    return idx


def random_subset(n: int, k: int, *, key: PRNGKeyArray) -> Int[Array, " k"]:
    """k distinct indices out of n, uniformly at random (GIOROM's `random` sampling strategy)."""
    _check_k(k, n)
    return jax.random.permutation(key, n)[:k].astype(jnp.int32)


def subset_size(n: int, fraction: float) -> int:
    """Particles kept at a sparsity `fraction` of n (at least 1); raises on fractions outside (0, 1]."""
    if not 0 < fraction <= 1:
        raise ValueError(f"sparsity fraction must be in (0, 1], got {fraction}")
    return max(1, int(round(fraction * n)))
