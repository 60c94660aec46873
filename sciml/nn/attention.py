"""Multi-head attention with an optional dense boolean mask."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from sciml.nn.linear import Linear


class MultiHeadAttention(eqx.Module):
    """Scaled dot-product multi-head attention for one example (vmap outside for batches).

    `mask[q, k]` True means query q may attend to key k. Rows with no allowed key return zeros instead
    of NaN, so padded queries are harmless. `weights_dropout`, if given, is applied to the attention
    weights `[h, q, k]` before they weight the values, as PyTorch's `nn.MultiheadAttention(dropout=p)`.
    Reference: Vaswani et al. 2017, Eq. 1.
    """

    q: Linear
    k: Linear
    v: Linear
    o: Linear
    num_heads: int = eqx.field(static=True)

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        kv_dim: int | None = None,
        out_dim: int | None = None,
        key: PRNGKeyArray,
    ):
        if dim % num_heads:
            raise ValueError(f"attention dim {dim} is not divisible by num_heads {num_heads}")
        kq, kk, kv, ko = jax.random.split(key, 4)
        kv_dim = dim if kv_dim is None else kv_dim
        self.q = Linear(dim, dim, key=kq)
        self.k = Linear(kv_dim, dim, key=kk)
        self.v = Linear(kv_dim, dim, key=kv)
        self.o = Linear(dim, dim if out_dim is None else out_dim, key=ko)
        self.num_heads = num_heads

    def __call__(
        self,
        query: Float[Array, "nq d"],
        key_value: Float[Array, "nk dk"] | None = None,
        mask: Bool[Array, "nq nk"] | None = None,
        weights_dropout: Callable[[Array], Array] | None = None,
    ) -> Float[Array, "nq o"]:
        kv_in = query if key_value is None else key_value
        h = self.num_heads
        q = jax.vmap(self.q)(query).reshape(query.shape[0], h, -1)
        k = jax.vmap(self.k)(kv_in).reshape(kv_in.shape[0], h, -1)
        v = jax.vmap(self.v)(kv_in).reshape(kv_in.shape[0], h, -1)
        logits = jnp.einsum("qhd,khd->hqk", q, k) / jnp.sqrt(q.shape[-1])
        if mask is not None:
            logits = jnp.where(mask[None], logits, -jnp.inf)
            weights = jax.nn.softmax(logits, axis=-1, where=mask[None])
            weights = jnp.where(mask[None].any(-1, keepdims=True), weights, 0.0)
        else:
            weights = jax.nn.softmax(logits, axis=-1)
        if weights_dropout is not None:
            weights = weights_dropout(weights)
        out = jnp.einsum("hqk,khd->qhd", weights, v).reshape(query.shape[0], -1)
        return jax.vmap(self.o)(out)
