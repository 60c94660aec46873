"""Attention with learnable queries over a set (the FIM-MJP aggregator across paths)."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from sciml.nn import Linear


class LearnableQueryAttention(eqx.Module):
    """`num_queries` learned queries per head attend over a set of vectors; outputs are averaged.

    Keys, values and the output projection are bias-free linear maps, as in the original's
    `MultiHeadLearnableQueryAttention(output_projection=True)`. Deviation: the original keeps only the
    *last* query's output (so its other queries receive no gradient); we average the projected outputs
    of all queries, which has the same parameters and uses them all. The result is invariant to
    permuting the set and ignores masked elements.
    Reference: Lee et al. 2019 (Set Transformer, PMA); Berghaus et al. 2024, Sec. 3.2 (Ω1);
    docs/references.md FIM.1.
    """

    queries: Float[Array, "h q e"]
    w_k: Linear
    w_v: Linear
    w_o: Linear
    num_heads: int = eqx.field(static=True)

    def __init__(self, dim: int, num_heads: int, num_queries: int, *, key: PRNGKeyArray):
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        kq, kk, kv, ko = jax.random.split(key, 4)
        self.queries = jax.random.normal(kq, (num_heads, num_queries, dim // num_heads))
        self.w_k = Linear(dim, dim, use_bias=False, key=kk)
        self.w_v = Linear(dim, dim, use_bias=False, key=kv)
        self.w_o = Linear(dim, dim, use_bias=False, key=ko)
        self.num_heads = num_heads

    def __call__(self, x: Float[Array, "n d"], mask: Bool[Array, " n"]) -> Float[Array, " d"]:
        h, nq, e = self.queries.shape
        k = jax.vmap(self.w_k)(x).reshape(x.shape[0], h, e)
        v = jax.vmap(self.w_v)(x).reshape(x.shape[0], h, e)
        logits = jnp.einsum("hqe,nhe->hqn", self.queries, k) / jnp.sqrt(e)
        weights = jax.nn.softmax(jnp.where(mask, logits, -jnp.inf), axis=-1, where=mask)
        weights = jnp.where(mask.any(), weights, 0.0)
        out = jnp.einsum("hqn,nhe->qhe", weights, v).reshape(nq, h * e)
        return jax.vmap(self.w_o)(out).mean(0)
