"""Pooling of sets of vectors into one vector."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from sciml.nn.attention import MultiHeadAttention


def mean_pool(x: Float[Array, "n d"], mask: Bool[Array, " n"] | None = None) -> Float[Array, " d"]:
    """Mean over the set axis, counting only `mask`ed elements.

    Invariant to permutation and to duplicating every element (a distributional invariance).
    """
    if mask is None:
        return x.mean(0)
    w = mask.astype(x.dtype)
    return (x * w[:, None]).sum(0) / jnp.maximum(w.sum(), 1.0)


class AttentionPool(eqx.Module):
    """Pool a set with `num_queries` learnable queries attending over it (PMA of the Set Transformer).

    Returns [num_queries, dim]. Reference: Lee et al. 2019, "Set Transformer", Sec. 3.2 (PMA).
    """

    queries: Float[Array, "q d"]
    attention: MultiHeadAttention

    def __init__(self, dim: int, num_heads: int, num_queries: int = 1, *, key: PRNGKeyArray):
        kq, ka = jax.random.split(key)
        self.queries = jax.random.normal(kq, (num_queries, dim)) / jnp.sqrt(dim)
        self.attention = MultiHeadAttention(dim, num_heads, key=ka)

    def __call__(self, x: Float[Array, "n d"], mask: Bool[Array, " n"] | None = None) -> Float[Array, "q d"]:
        m = None if mask is None else jnp.broadcast_to(mask[None, :], (self.queries.shape[0], x.shape[0]))
        return self.attention(self.queries, x, m)
