"""The population embedding phi(p0) of Meta Flow Matching: GCN layers on a kNN graph, mean pool, L2 norm.

1. A kNN graph over the source points (each point receives edges from its k nearest neighbours, no
   self-loops; `sciml.nn.knn_graph`).
2. Graph convolutions H' = D^-1/2 (A + I) D^-1/2 H W + b (self-loops added, symmetric normalisation
   with D the in-degree of A + I, as PyG's `GCNConv`), ReLU between layers, none after the last.
3. Mean over the points, then divide by the L2 norm.

For a kNN graph every node has in-degree k + 1, so the normalisation is a uniform 1/(k + 1): the layer
averages each point with its neighbours. With k = 0 there are no edges, every layer acts on each point
alone, and the embedding is a DeepSets encoder mean_i MLP(x_i) (the paper's k = 0 ablation).

Written for one population [n, d]; vmap over populations outside.
Reference: Atanackovic et al. 2024, "Meta Flow Matching", Sec. 3.2 (population embedding) and App.
(GCN, k = 50 for letters); Kipf & Welling 2017, Eq. 2 (GCN propagation rule).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from sciml.nn import knn_graph, mean_pool, segment_sum

#: Floor of the norm in the final L2 normalisation (an all-zero embedding stays zero, not NaN).
NORM_EPS = 1e-12


def gcn_normalisation(
    senders: Int[Array, " e"],
    receivers: Int[Array, " e"],
    num_nodes: int,
    edge_mask: Bool[Array, " e"] | None = None,
    node_mask: Bool[Array, " n"] | None = None,
) -> tuple[Float[Array, " e"], Float[Array, " n"]]:
    """Edge weights of D^-1/2 (A + I) D^-1/2: (weight of each edge, weight of each node's self-loop).

    A[r, s] counts the (unmasked) edges s -> r; D = diag of the row sums of A + I (in-degree + 1).
    Masked nodes get a self-loop weight 0, masked edges a weight 0.
    """
    w = jnp.ones(senders.shape, jnp.float32) if edge_mask is None else edge_mask.astype(jnp.float32)
    degree = 1.0 + segment_sum(w, receivers, num_nodes)
    inv_sqrt = jax.lax.rsqrt(degree)
    self_w = inv_sqrt * inv_sqrt
    if node_mask is not None:
        self_w = jnp.where(node_mask, self_w, 0.0)
    return w * inv_sqrt[senders] * inv_sqrt[receivers], self_w


class GCNLayer(eqx.Module):
    """One graph convolution H' = D^-1/2 (A + I) D^-1/2 H W + b given precomputed edge weights."""

    weight: Float[Array, "i o"]
    bias: Float[Array, " o"]

    def __init__(self, in_size: int, out_size: int, *, key: PRNGKeyArray):
        # Glorot-uniform weights and zero bias, as GCNConv initialises them.
        limit = jnp.sqrt(6.0 / (in_size + out_size))
        self.weight = jax.random.uniform(key, (in_size, out_size), minval=-limit, maxval=limit)
        self.bias = jnp.zeros(out_size)

    def __call__(
        self,
        h: Float[Array, "n i"],
        senders: Int[Array, " e"],
        receivers: Int[Array, " e"],
        edge_weight: Float[Array, " e"],
        self_weight: Float[Array, " n"],
    ) -> Float[Array, "n o"]:
        hw = h @ self.weight
        agg = segment_sum(edge_weight[:, None] * hw[senders], receivers, h.shape[0])
        return agg + self_weight[:, None] * hw + self.bias


def check_population(x: Array, dim: int, k: int) -> None:
    """Static checks of one population [n, d]: non-empty, the right dimension, more than k points."""
    if x.ndim != 2:
        raise ValueError(f"a population must have shape [n, d], got shape {x.shape}")
    n, d = x.shape
    if n == 0:
        raise ValueError("the population is empty (0 points)")
    if d != dim:
        raise ValueError(f"population points have dimension {d}, but the embedding expects {dim}")
    if k > n - 1:
        raise ValueError(f"k = {k} nearest neighbours need a population of more than {k} points, got {n}")


class PopulationEmbedding(eqx.Module):
    """phi: a population [n, d] -> a unit vector [width] (GCN on a kNN graph, mean pool, L2 norm)."""

    layers: tuple[GCNLayer, ...]
    dim: int = eqx.field(static=True)
    k: int = eqx.field(static=True)

    def __init__(self, dim: int, *, width: int = 64, num_layers: int = 3, k: int = 10, key: PRNGKeyArray):
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        sizes = [dim] + [width] * num_layers
        keys = jax.random.split(key, num_layers)
        self.layers = tuple(GCNLayer(a, b, key=kk) for a, b, kk in zip(sizes[:-1], sizes[1:], keys))
        self.dim, self.k = dim, k

    @property
    def width(self) -> int:
        return self.layers[-1].bias.shape[0]

    def graph(
        self, x: Float[Array, "n d"], mask: Bool[Array, " n"] | None = None
    ) -> tuple[Int[Array, " e"], Int[Array, " e"], Bool[Array, " e"]]:
        """The kNN graph (senders, receivers, edge_mask) the convolutions run on; empty when k = 0."""
        if self.k == 0:
            empty = jnp.zeros((0,), jnp.int32)
            return empty, empty, jnp.zeros((0,), bool)
        return knn_graph(jax.lax.stop_gradient(x), self.k, mask)

    def node_features(self, x: Float[Array, "n d"], mask: Bool[Array, " n"] | None = None) -> Float[Array, "n w"]:
        """Per-point features after the last graph convolution (before pooling)."""
        check_population(x, self.dim, self.k)
        senders, receivers, edge_mask = self.graph(x, mask)
        edge_w, self_w = gcn_normalisation(senders, receivers, x.shape[0], edge_mask, mask)
        h = x
        for i, layer in enumerate(self.layers):
            h = layer(h, senders, receivers, edge_w, self_w)
            if i < len(self.layers) - 1:
                h = jax.nn.relu(h)
        return h

    def __call__(self, x: Float[Array, "n d"], mask: Bool[Array, " n"] | None = None) -> Float[Array, " w"]:
        pooled = mean_pool(self.node_features(x, mask), mask)
        return pooled / jnp.maximum(jnp.linalg.norm(pooled), NORM_EPS)
