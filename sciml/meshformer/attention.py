"""Multi-head attention restricted to graph edges: a softmax over each node's incoming edges, O(E d).

For a receiver i with neighbours N(i) (the senders of its incoming edges):
    a_ij = softmax_{j in N(i)} (q_i . k_j / sqrt(d_head)),   out_i = W_o sum_j a_ij v_j.
Queries, keys and values are projected once per node and gathered per edge, and the softmax runs with
`sciml.nn.segment_softmax` over the receivers, so memory is O(E d), never a dense N x N matrix. This
is what graph-physics computes with DGL's `bsddmm` + sparse softmax + `bspmm`; the node itself is not
attended to unless the edge list has self-loops (the mesh edges do not: a node's own state passes
through the residual). A node with no incoming edge gets 0.
Reference: Garnier et al. 2025, "Training Transformers for Mesh-Based Simulations" (masked attention);
Vaswani et al. 2017 (scaled dot-product attention).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from sciml.nn import Linear, segment_softmax, segment_sum

#: Base of the rotary frequencies (as in RoFormer and graph-physics' RoPE option).
ROPE_BASE = 10000.0


def rotary(x: Float[Array, "n h d"], pos: Float[Array, "n p"], base: float = ROPE_BASE) -> Float[Array, "n h d"]:
    """Rotary position embedding over several coordinates.

    The first 2 * p * m channels of each head (m = d // (2 p)) form, per coordinate c and frequency
    k, pairs rotated by the angle pos_c * base^(-k / m); the other channels pass through. Then
    (R(p_i) q) . (R(p_j) k) depends on p_i - p_j only, so attention scores see relative positions
    (translation invariance, like MeshGraphNets' relative edge features).
    Reference: Su et al. 2021, "RoFormer" (1-D RoPE), applied per coordinate.
    """
    n, h, d = x.shape
    p = pos.shape[-1]
    m = d // (2 * p)
    if m == 0:
        return x
    r = 2 * p * m
    freq = base ** (-jnp.arange(m) / m)
    angle = pos[:, :, None] * freq  # [n, p, m]
    cos, sin = jnp.cos(angle)[:, None], jnp.sin(angle)[:, None]  # [n, 1, p, m]
    pairs = x[..., :r].reshape(n, h, p, m, 2)
    a, b = pairs[..., 0], pairs[..., 1]
    rotated = jnp.stack([a * cos - b * sin, a * sin + b * cos], -1).reshape(n, h, r)
    return jnp.concatenate([rotated, x[..., r:]], -1)


def _head_blocks(heads: int, head_dim: int, dtype) -> Array:
    """[heads * head_dim, heads]: 1 where channel c belongs to head h."""
    return jnp.repeat(jnp.eye(heads, dtype=dtype), head_dim, axis=0)


def head_dots(q: Float[Array, "e h d"], k: Float[Array, "e h d"]) -> Float[Array, "e h"]:
    """Per-row, per-head dot products q_eh . k_eh.

    Written as a matrix product of the [e, h d] elementwise products with a block of ones per head
    rather than a sum over the last axis: XLA:CPU hands such narrow sums (16 channels) to YNNPACK's
    reduction, which ran them and their gradients slower than the rest of the attention together on
    2 cores (benchmarks/README.md, "Mesh transformer"). The same float32 sums in another order.
    """
    e, h, d = q.shape
    return (q * k).reshape(e, h * d) @ _head_blocks(h, d, q.dtype)


def head_weighted(alpha: Float[Array, "e h"], v: Float[Array, "e h d"]) -> Float[Array, "e h d"]:
    """alpha_eh * v_ehd, the head weight broadcast by a matrix product (its gradient with respect to
    alpha is then a matrix product too, not a narrow sum; see `head_dots`)."""
    e, h, d = v.shape
    return ((alpha @ _head_blocks(h, d, v.dtype).T) * v.reshape(e, h * d)).reshape(e, h, d)


class EdgeAttention(eqx.Module):
    """Scaled dot-product attention over an edge list (senders -> receivers), with q/k/v/out biases."""

    query: Linear
    key: Linear
    value: Linear
    out: Linear
    heads: int = eqx.field(static=True)

    def __init__(self, dim: int, heads: int, *, key: PRNGKeyArray):
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        kq, kk, kv, ko = jax.random.split(key, 4)
        self.query = Linear(dim, dim, key=kq)
        self.key = Linear(dim, dim, key=kk)
        self.value = Linear(dim, dim, key=kv)
        self.out = Linear(dim, dim, key=ko)
        self.heads = heads

    def project(self, x: Float[Array, "n d"], pos: Float[Array, "n p"] | None = None) -> tuple[Array, Array, Array]:
        """Per-node queries, keys, values split into heads ([n, heads, d_head]); RoPE on q, k if `pos`."""
        n, d = x.shape
        split = lambda lin: lin(x).reshape(n, self.heads, d // self.heads)  # noqa: E731
        q, k, v = split(self.query), split(self.key), split(self.value)
        if pos is not None:
            q, k = rotary(q, pos), rotary(k, pos)
        return q, k, v

    def weights(
        self,
        x: Float[Array, "n d"],
        senders: Int[Array, " e"],
        receivers: Int[Array, " e"],
        mask: Bool[Array, " e"],
        pos: Float[Array, "n p"] | None = None,
    ) -> Float[Array, "e h"]:
        """Attention weight of every edge and head (rows of each receiver sum to 1)."""
        return self._weights_and_values(x, senders, receivers, mask, pos)[0]

    def _weights_and_values(self, x, senders, receivers, mask, pos):
        q, k, v = self.project(x, pos)
        logits = head_dots(q[receivers], k[senders]) / math.sqrt(q.shape[-1])
        return segment_softmax(logits, receivers, x.shape[0], mask), v  # masked edges get weight 0

    def __call__(
        self,
        x: Float[Array, "n d"],
        senders: Int[Array, " e"],
        receivers: Int[Array, " e"],
        mask: Bool[Array, " e"],
        pos: Float[Array, "n p"] | None = None,
    ) -> Float[Array, "n d"]:
        n, d = x.shape
        alpha, v = self._weights_and_values(x, senders, receivers, mask, pos)  # [e, h], [n, h, d_head]
        mixed = segment_sum(head_weighted(alpha, v[senders]), receivers, n, mask)  # [n, h, d_head]
        return self.out(mixed.reshape(n, d))
