"""Particle setup (radius, walls, normalisation) and the encoder shared by GNS and GIOROM.

Node features: an embedding of the particle type, the last C velocities (finite differences of the
position window, normalised), and the distances to the four walls divided by the connectivity radius
and clipped to [-1, 1]. Edge features: the relative displacement x_sender - x_receiver over R and its
norm. Both go through an MLP and LayerNorm to the latent width. Everything but the wall distances is
translation invariant, and the wall features saturate one radius away from the walls.
Reference: Sanchez-Gonzalez et al. 2020 (GNS), Sec. 2 and Appendix C.1 (features, normalisation
with sqrt(std^2 + noise^2)); GIOROM's encoder (`giorom2d_T.py`) uses the same features.
"""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from sciml.data.particles import NUM_PARTICLE_TYPES
from sciml.giorom.neighbors import particle_graph
from sciml.nn import MLP, Graph

#: Width of the particle-type embedding (GNS and GIOROM: 16).
TYPE_EMBEDDING = 16


@dataclasses.dataclass(frozen=True)
class ParticleSetup:
    """The static context of a particle model: graph radius, walls, window length and normalisation.

    Velocities and accelerations are per frame (dt = 1), normalised by their dataset mean and by
    sqrt(std^2 + noise_std^2) as GNS does, so the training noise does not blow up the inputs.
    """

    radius: float
    bounds: tuple[tuple[float, float], tuple[float, float]]
    window: int  # C: number of past velocities the model sees (positions window = C + 1)
    vel_mean: tuple[float, float]
    vel_std: tuple[float, float]
    acc_mean: tuple[float, float]
    acc_std: tuple[float, float]
    noise_std: float = 0.0
    max_neighbors: int = 24  # average edges per particle reserved in the padded edge list

    def __post_init__(self):
        if self.radius <= 0:
            raise ValueError(f"radius must be > 0, got {self.radius}")
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        if self.max_neighbors < 1:
            raise ValueError(f"max_neighbors must be >= 1, got {self.max_neighbors}")
        if any(lo >= hi for lo, hi in self.bounds):
            raise ValueError(f"bounds must be ((lo, hi), (lo, hi)) with lo < hi, got {self.bounds}")

    @classmethod
    def from_metadata(cls, metadata: dict, *, radius: float | None = None, window: int = 5,
                      noise_std: float = 0.0, max_neighbors: int = 24) -> "ParticleSetup":
        """From GNS-style metadata (bounds, vel/acc mean and std, default_connectivity_radius)."""
        tup = lambda v: tuple(float(a) for a in v)  # noqa: E731
        return cls(
            radius=float(radius if radius is not None else metadata["default_connectivity_radius"]),
            bounds=tuple(tup(b) for b in metadata["bounds"]),
            window=window, vel_mean=tup(metadata["vel_mean"]), vel_std=tup(metadata["vel_std"]),
            acc_mean=tup(metadata["acc_mean"]), acc_std=tup(metadata["acc_std"]), noise_std=float(noise_std),
            max_neighbors=max_neighbors,
        )

    def with_radius(self, radius: float) -> "ParticleSetup":
        return dataclasses.replace(self, radius=float(radius))

    def vel_scale(self) -> np.ndarray:
        return np.sqrt(np.square(self.vel_std) + self.noise_std**2).astype(np.float32)

    def acc_scale(self) -> np.ndarray:
        return np.sqrt(np.square(self.acc_std) + self.noise_std**2).astype(np.float32)

    def normalise_acc(self, acc: Array) -> Array:
        return (acc - np.float32(self.acc_mean)) / self.acc_scale()

    def denormalise_acc(self, acc: Array) -> Array:
        return acc * self.acc_scale() + np.float32(self.acc_mean)

    def max_edges(self, n: int) -> int:
        return max(1, n * self.max_neighbors)

    def domain(self, margin: float | None = None) -> tuple[tuple[float, float], tuple[float, float]]:
        """The walls' box widened by `margin` (default: one radius), for grids that must hold every particle."""
        m = self.radius if margin is None else margin
        return tuple((lo - m, hi + m) for lo, hi in self.bounds)


def node_inputs(window: Float[Array, "c1 n 2"], setup: ParticleSetup) -> Float[Array, "n f"]:
    """[normalised velocities (C x 2), clipped wall distances / R (4)] per particle."""
    vel = (jnp.diff(window, axis=0) - np.float32(setup.vel_mean)) / setup.vel_scale()  # [C, n, 2]
    vel = jnp.moveaxis(vel, 0, 1).reshape(window.shape[1], -1)
    x = window[-1]
    lo = np.float32([b[0] for b in setup.bounds])
    hi = np.float32([b[1] for b in setup.bounds])
    walls = jnp.concatenate([x - lo, hi - x], -1) / setup.radius
    return jnp.concatenate([vel, jnp.clip(walls, -1.0, 1.0)], -1)


def edge_inputs(x: Float[Array, "n 2"], senders: Int[Array, " e"], receivers: Int[Array, " e"],
                radius: float) -> Float[Array, "e 3"]:
    """[(x_s - x_r) / R, |x_s - x_r| / R] per edge."""
    rel = (x[senders] - x[receivers]) / radius
    return jnp.concatenate([rel, jnp.linalg.norm(rel + 1e-12, axis=-1, keepdims=True)], -1)


class ParticleEncoder(eqx.Module):
    """Node and edge encoders: features -> MLP -> LayerNorm, latent width `width`."""

    embed: eqx.nn.Embedding
    node_mlp: MLP
    edge_mlp: MLP
    node_norm: eqx.nn.LayerNorm
    edge_norm: eqx.nn.LayerNorm

    def __init__(self, window: int, width: int, depth: int = 2, *, key: PRNGKeyArray):
        k1, k2, k3 = jax.random.split(key, 3)
        self.embed = eqx.nn.Embedding(NUM_PARTICLE_TYPES, TYPE_EMBEDDING, key=k1)
        self.node_mlp = MLP(TYPE_EMBEDDING + 2 * window + 4, width, width, depth, act="relu", key=k2)
        self.edge_mlp = MLP(3, width, width, depth, act="relu", key=k3)
        self.node_norm = eqx.nn.LayerNorm(width)
        self.edge_norm = eqx.nn.LayerNorm(width)

    def __call__(self, window, ptype, senders, receivers, setup: ParticleSetup) -> tuple[Array, Array]:
        nodes = jnp.concatenate([jax.vmap(self.embed)(ptype), node_inputs(window, setup)], -1)
        edges = edge_inputs(window[-1], senders, receivers, setup.radius)
        nodes = jax.vmap(lambda v: self.node_norm(self.node_mlp(v)))(nodes)
        edges = jax.vmap(lambda e: self.edge_norm(self.edge_mlp(e)))(edges)
        return nodes, edges

    def graph(
        self, window: Float[Array, "c1 n 2"], ptype: Int[Array, " n"], setup: ParticleSetup
    ) -> tuple[Graph, Array]:
        """The encoded radius graph of the latest frame, and its edge count (GNS and GIOROM both start here)."""
        x = window[-1]
        s, r, mask, count = particle_graph(x, setup.radius, setup.max_edges(x.shape[0]), domain=setup.domain(),
                                           check_empty=False)
        nodes, edges = self(window, ptype, s, r, setup)
        return Graph(nodes, edges, s, r, edge_mask=mask), count
