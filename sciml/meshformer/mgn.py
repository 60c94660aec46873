"""MeshGraphNet: encode-process-decode with residual edge and node MLPs and sum aggregation.

Encoder: node MLP on the (normalised) node features and edge MLP on the (normalised) relative-position
features [dx, dy, |d|], each followed by a norm. Processor: `layers` blocks of
    e'_ij = e_ij + norm(MLP_e([e_ij, v_i, v_j])),   v'_i = v_i + norm(MLP_v([v_i, sum_j e'_ij]))
(i the receiver, j the sender): `sciml.nn.InteractionNetwork`, with LayerNorm (DeepMind) or RMSNorm
without bias (graph-physics). Decoder: MLP without norm. `mlp_depth` counts hidden layers: DeepMind
uses 2 (3 linear layers), graph-physics 3.
Reference: Pfaff et al. 2021, "Learning Mesh-Based Simulation with Graph Networks" (ICLR), sec. 3 and
appendix A.1; the graph-physics variant of Garnier et al. 2025 for the benchmark shapes.
"""

import equinox as eqx
import jax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from sciml.nn import MLP, Graph, InteractionNetwork
from sciml.nn.graph import NORMS as NORMS
from sciml.nn.graph import make_norm


class NormedMLP(eqx.Module):
    """An MLP followed by an optional norm; applied row-wise to [n, in] arrays."""

    mlp: MLP
    norm: eqx.nn.LayerNorm | eqx.nn.RMSNorm | None

    def __init__(self, in_size: int, out_size: int, width: int, depth: int, norm: str, *, key: PRNGKeyArray):
        self.mlp = MLP(in_size, out_size, width, depth, act="relu", key=key)
        self.norm = make_norm(norm, out_size)

    def __call__(self, x: Float[Array, "n i"]) -> Float[Array, "n o"]:
        y = jax.vmap(self.mlp)(x)
        return y if self.norm is None else jax.vmap(self.norm)(y)


class MeshGraphNet(eqx.Module):
    """Encode-process-decode graph network on one mesh (vmap outside for batches)."""

    node_encoder: NormedMLP
    edge_encoder: NormedMLP
    blocks: tuple[InteractionNetwork, ...]
    decoder: MLP
    node_in: int = eqx.field(static=True)
    edge_in: int = eqx.field(static=True)

    def __init__(
        self,
        node_in: int,
        edge_in: int,
        out: int,
        *,
        width: int = 128,
        layers: int = 15,
        mlp_depth: int = 2,
        norm: str = "layer",
        key: PRNGKeyArray,
    ):
        if layers < 1 or width < 1 or mlp_depth < 1:
            raise ValueError(f"need layers, width, mlp_depth >= 1, got {layers}, {width}, {mlp_depth}")
        kn, ke, kd, *kb = jax.random.split(key, 3 + layers)
        self.node_encoder = NormedMLP(node_in, width, width, mlp_depth, norm, key=kn)
        self.edge_encoder = NormedMLP(edge_in, width, width, mlp_depth, norm, key=ke)
        self.blocks = tuple(InteractionNetwork(width, width, width, mlp_depth, norm=norm, key=k) for k in kb)
        self.decoder = MLP(width, out, width, mlp_depth, act="relu", key=kd)
        self.node_in, self.edge_in = node_in, edge_in

    def __call__(
        self,
        node_features: Float[Array, "n fn"],
        edge_features: Float[Array, "e fe"],
        senders: Int[Array, " e"],
        receivers: Int[Array, " e"],
        node_mask: Bool[Array, " n"],
        edge_mask: Bool[Array, " e"],
    ) -> Float[Array, "n out"]:
        if node_features.shape[-1] != self.node_in:
            raise ValueError(f"MeshGraphNet expects {self.node_in} node features, got {node_features.shape[-1]}")
        if edge_features.shape[-1] != self.edge_in:
            raise ValueError(f"MeshGraphNet expects {self.edge_in} edge features, got {edge_features.shape[-1]}")
        g = Graph(self.node_encoder(node_features), self.edge_encoder(edge_features), senders, receivers,
                  node_mask, edge_mask)
        for block in self.blocks:
            g = block(g)
        return jax.vmap(self.decoder)(g.nodes)
