"""Graphs with static (padded) shapes, segment reductions, message passing and graph builders.

A `Graph` holds `nodes [N, F]`, `edges [E, G]`, `senders [E]`, `receivers [E]` and masks that mark the
real nodes and edges; padded edges may point anywhere but are masked out of every reduction. Static
shapes let batches of graphs be stacked, jitted once and sharded like any other batch.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from sciml.nn.mlp import MLP
from sciml.nn.residual import materialise_gradient


class Graph(eqx.Module):
    """A directed graph; messages flow from `senders` to `receivers`."""

    nodes: Float[Array, "n f"]
    edges: Float[Array, "e g"]
    senders: Int[Array, " e"]
    receivers: Int[Array, " e"]
    node_mask: Bool[Array, " n"]
    edge_mask: Bool[Array, " e"]

    def __init__(self, nodes, edges, senders, receivers, node_mask=None, edge_mask=None):
        self.nodes, self.edges = nodes, edges
        self.senders, self.receivers = senders, receivers
        self.node_mask = jnp.ones(nodes.shape[:-1], bool) if node_mask is None else node_mask
        self.edge_mask = jnp.ones(senders.shape, bool) if edge_mask is None else edge_mask

    def __check_init__(self):
        if self.senders.shape != self.receivers.shape:
            raise ValueError(f"senders {self.senders.shape} and receivers {self.receivers.shape} differ")
        if self.edges.shape[:-1] != self.senders.shape:
            raise ValueError(f"edges {self.edges.shape} do not match senders {self.senders.shape}")
        if self.node_mask.shape != self.nodes.shape[:-1]:
            raise ValueError(f"node_mask {self.node_mask.shape} does not match nodes {self.nodes.shape}")

    @property
    def num_nodes(self) -> int:
        return self.nodes.shape[-2]


def _weights(data, mask):
    return jnp.ones(data.shape[:1], data.dtype) if mask is None else mask.astype(data.dtype)


def _expand(w, data):
    return w.reshape(w.shape + (1,) * (data.ndim - 1))


def segment_sum(data: ArrayLike, segment_ids: Int[ArrayLike, " e"], num_segments: int, mask=None) -> Array:
    """Sum of `data` rows per segment, ignoring rows where `mask` is False."""
    if mask is not None:
        data = jnp.where(_expand(mask, data), data, 0)
    return jax.ops.segment_sum(data, segment_ids, num_segments)


def segment_mean(data: ArrayLike, segment_ids: Int[ArrayLike, " e"], num_segments: int, mask=None) -> Array:
    """Mean of `data` rows per segment; empty segments give 0."""
    total = segment_sum(data, segment_ids, num_segments, mask)
    count = jax.ops.segment_sum(_weights(data, mask), segment_ids, num_segments)
    return total / _expand(jnp.maximum(count, 1), total)


def segment_max(data: ArrayLike, segment_ids: Int[ArrayLike, " e"], num_segments: int, mask=None) -> Array:
    """Max of `data` rows per segment; empty segments give 0 (not -inf)."""
    if mask is not None:
        data = jnp.where(_expand(mask, data), data, -jnp.inf)
    out = jax.ops.segment_max(data, segment_ids, num_segments)
    return jnp.where(jnp.isfinite(out), out, 0)


def segment_softmax(logits: ArrayLike, segment_ids: Int[ArrayLike, " e"], num_segments: int, mask=None) -> Array:
    """Softmax of `logits` over the rows of each segment (e.g. over each node's incoming edges).

    Masked rows get weight 0; a segment with no unmasked row gives all zeros. O(E) memory.
    """
    valid = jnp.ones(logits.shape[:1], bool) if mask is None else mask
    peak = segment_max(logits, segment_ids, num_segments, valid)
    shifted = jnp.where(_expand(valid, logits), logits - peak[segment_ids], -jnp.inf)
    expd = jnp.exp(shifted)
    denom = jax.ops.segment_sum(expd, segment_ids, num_segments)
    return expd / jnp.where(denom == 0, 1, denom)[segment_ids]


NORMS = ("layer", "rms", "none")


def make_norm(kind: str, dim: int) -> eqx.nn.LayerNorm | eqx.nn.RMSNorm | None:
    """LayerNorm (weight + bias), RMSNorm (weight only) or None, by name."""
    if kind == "layer":
        return eqx.nn.LayerNorm(dim)
    if kind == "rms":
        return eqx.nn.RMSNorm(dim, use_bias=False)
    if kind == "none":
        return None
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


class InteractionNetwork(eqx.Module):
    """One message-passing step with residual updates of edges and nodes.

    e'_ij = e_ij + norm(phi_e([e_ij, v_i, v_j])),   v'_j = v_j + norm(phi_v([v_j, sum_i e'_ij]))
    (i the sender, j the receiver; sum aggregation). `norm` is "layer" (DeepMind's GNS and
    MeshGraphNets), "rms" (RMSNorm without bias, as graph-physics) or "none".
    Reference: Battaglia et al. 2016; the processor block of Sanchez-Gonzalez et al. 2020 (GNS) and
    Pfaff et al. 2021 (MeshGraphNets).
    """

    edge_mlp: MLP
    node_mlp: MLP
    edge_norm: eqx.nn.LayerNorm | eqx.nn.RMSNorm | None
    node_norm: eqx.nn.LayerNorm | eqx.nn.RMSNorm | None

    def __init__(
        self,
        node_dim: int,
        edge_dim: int,
        width: int,
        depth: int = 2,
        *,
        act: str = "relu",
        norm: str = "layer",
        key: PRNGKeyArray,
    ):
        ke, kn = jax.random.split(key)
        self.edge_mlp = MLP(edge_dim + 2 * node_dim, edge_dim, width, depth, act=act, key=ke)
        self.node_mlp = MLP(node_dim + edge_dim, node_dim, width, depth, act=act, key=kn)
        self.edge_norm = make_norm(norm, edge_dim)
        self.node_norm = make_norm(norm, node_dim)

    def messages(self, g: Graph) -> Float[Array, "e g"]:
        """norm(phi_e([e_ij, v_i, v_j])) for every edge, with phi_e's first layer split by input block.

        W [e; v_i; v_j] = W_e e + (W_s v)_i + (W_r v)_j: the node blocks run once per node and are then
        gathered, instead of once per edge (same parameters and result as the concatenated form; about
        40% less work in the edge MLP on meshes, where edges outnumber nodes 6 to 1).
        """
        first = self.edge_mlp.layers[0]
        de, dn = g.edges.shape[-1], g.nodes.shape[-1]
        w_e, w_s, w_r = first.weight[:, :de], first.weight[:, de : de + dn], first.weight[:, de + dn :]
        h = g.edges @ w_e.T + (g.nodes @ w_s.T)[g.senders] + (g.nodes @ w_r.T)[g.receivers] + first.bias
        out = jax.vmap(self.edge_mlp.after_first_layer)(h)
        return out if self.edge_norm is None else jax.vmap(self.edge_norm)(out)

    def __call__(self, g: Graph) -> Graph:
        messages = self.messages(g)
        agg = segment_sum(messages, g.receivers, g.num_nodes, g.edge_mask)
        updates = jax.vmap(self.node_mlp)(jnp.concatenate([g.nodes, agg], -1))
        if self.node_norm is not None:
            updates = jax.vmap(self.node_norm)(updates)
        edges = jnp.where(g.edge_mask[:, None], g.edges + messages, g.edges)
        nodes = jnp.where(g.node_mask[:, None], g.nodes + updates, g.nodes)
        # Stacked blocks make a residual stream; its gradient is summed once per block, not once per use.
        return eqx.tree_at(lambda t: (t.nodes, t.edges), g, materialise_gradient((nodes, edges)))


def _pairwise_sq_dist(x: Float[Array, "n d"]) -> Float[Array, "n n"]:
    diff = x[:, None, :] - x[None, :, :]
    return (diff**2).sum(-1)


def knn_graph(
    x: Float[Array, "n d"], k: int, mask: Bool[Array, " n"] | None = None, *, self_loops: bool = False
) -> tuple[Int[Array, " e"], Int[Array, " e"], Bool[Array, " e"]]:
    """Edges from each node's k nearest neighbours to the node; returns (senders, receivers, edge_mask).

    E = N * k, static. Neighbours are found with a dense distance matrix and `lax.top_k` (O(N^2)
    memory, fine for the populations here). Masked nodes neither send nor receive real edges; a node
    with fewer than k valid neighbours gets masked padding edges.
    """
    n = x.shape[0]
    if not 0 < k <= n - (0 if self_loops else 1):
        raise ValueError(f"knn_graph needs 0 < k <= {n - (0 if self_loops else 1)} for {n} points, got k={k}")
    valid = jnp.ones(n, bool) if mask is None else mask
    d2 = _pairwise_sq_dist(x)
    allowed = valid[None, :] & valid[:, None]
    if not self_loops:
        allowed &= ~jnp.eye(n, dtype=bool)
    d2 = jnp.where(allowed, d2, jnp.inf)
    neg, nbr = jax.lax.top_k(-d2, k)  # [n, k] nearest first
    receivers = jnp.repeat(jnp.arange(n), k)
    senders = nbr.reshape(-1)
    return senders, receivers, jnp.isfinite(neg).reshape(-1)


def radius_graph(
    x: Float[Array, "n d"],
    radius: float,
    max_edges: int,
    mask: Bool[Array, " n"] | None = None,
    *,
    self_loops: bool = False,
) -> tuple[Int[Array, " e"], Int[Array, " e"], Bool[Array, " e"], Int[Array, ""]]:
    """All pairs closer than `radius`, padded to `max_edges`; returns (senders, receivers, mask, count).

    `count` is the true number of edges: if it exceeds `max_edges` the graph was truncated, which the
    caller should treat as an error (raise `max_edges`). Dense O(N^2) search.
    """
    n = x.shape[0]
    valid = jnp.ones(n, bool) if mask is None else mask
    adj = (_pairwise_sq_dist(x) < radius**2) & valid[None, :] & valid[:, None]
    if not self_loops:
        adj &= ~jnp.eye(n, dtype=bool)
    receivers, senders = jnp.nonzero(adj, size=max_edges, fill_value=0)
    count = adj.sum()
    return senders, receivers, jnp.arange(max_edges) < count, count
