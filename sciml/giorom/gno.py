"""Graph neural operators between a particle cloud and a regular latent grid.

`LatentGrid` is a G x G grid of nodes at cell centres over a rectangular domain. `grid_neighbors`
lists, for each particle, the grid nodes within radius r (a static (2s+1)^2 stencil around its cell,
masked by distance), which is all either direction of the operator needs, in O(n s^2):
- `GNOIn`, particles -> grid: v(x) = mean over particles y with |x - y| < r of kappa([(x - y)/r, f(y)]),
  plus an occupancy channel (1 where some particle is within r); empty nodes get 0.
- `GNOOut`, grid -> particles: w(y) = mean over grid nodes x with |x - y| < r of kappa((x - y)/r) * v(x)
  (the "linear" kernel: a learned weight per offset times the latent value).
Reference: Li et al. 2020, "Neural operator: graph kernel network" (Eq. 6); GIOROM (Viswanath et al.
2024) Sec. 3.2 and `integral_transform.py` (`nonlinear_kernelonly` in, `linear` out). Deviation: the
original's locally modified kernel sees the absolute particle position y; ours sees the offset
(x - y) / r, which keeps the operator translation equivariant away from the walls.
"""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from sciml.nn import MLP, segment_sum


@dataclasses.dataclass(frozen=True)
class LatentGrid:
    """G x G nodes at the cell centres of `domain` ((x0, x1), (y0, y1)); node id = i * G + j."""

    size: int
    domain: tuple[tuple[float, float], tuple[float, float]]

    def __post_init__(self):
        if self.size < 2:
            raise ValueError(f"latent grid size must be >= 2, got {self.size}")

    @property
    def spacing(self) -> np.ndarray:
        return np.array([(hi - lo) / self.size for lo, hi in self.domain], np.float32)

    @property
    def origin(self) -> np.ndarray:
        return np.array([lo for lo, _ in self.domain], np.float32)

    def nodes(self) -> np.ndarray:
        """Node coordinates [G * G, 2]."""
        i, j = np.meshgrid(np.arange(self.size), np.arange(self.size), indexing="ij")
        ij = np.stack([i.ravel(), j.ravel()], -1).astype(np.float32)
        return self.origin + (ij + 0.5) * self.spacing


def grid_neighbors(
    x: Float[Array, "n 2"], grid: LatentGrid, radius: float
) -> tuple[Int[Array, "n s"], Float[Array, "n s 2"], Bool[Array, "n s"]]:
    """For each particle, the grid nodes within `radius`: (node ids, offsets (node - particle) / r, mask).

    The stencil covers every node within `radius` of any particle inside the domain; particles
    outside it only see the nodes the stencil reaches.
    """
    h = grid.spacing
    s = int(np.ceil(radius / h.min()))
    rng = np.arange(-s, s + 1)
    off = np.stack(np.meshgrid(rng, rng, indexing="ij"), -1).reshape(-1, 2)
    cell = jnp.floor((x - grid.origin) / h).astype(jnp.int32)
    ij = cell[:, None, :] + off[None]  # [n, S, 2]
    inside = jnp.all((ij >= 0) & (ij < grid.size), -1)
    node_xy = grid.origin + (ij.astype(x.dtype) + 0.5) * h
    rel = (node_xy - x[:, None, :]) / radius
    mask = inside & (jnp.sum(rel**2, -1) < 1.0)
    ids = jnp.where(inside, ij[..., 0] * grid.size + ij[..., 1], 0)
    return ids, rel, mask


class GNOIn(eqx.Module):
    """Particles -> latent grid: mean of kappa([(x - y)/r, f(y)]) over particles y within r of node x."""

    kernel: MLP
    grid: LatentGrid = eqx.field(static=True)
    radius: float = eqx.field(static=True)

    def __init__(self, in_dim: int, out_dim: int, grid: LatentGrid, radius: float, width: int = 64, *,
                 key: PRNGKeyArray):
        if radius <= 0:
            raise ValueError(f"GNO radius must be > 0, got {radius}")
        self.kernel = MLP(2 + in_dim, out_dim, width, 2, act="gelu", key=key)
        self.grid, self.radius = grid, radius

    def __call__(self, x: Float[Array, "n 2"], f: Float[Array, "n c"], node_mask: Bool[Array, " n"] | None = None
                 ) -> Float[Array, "g g o1"]:
        """Latent grid [G, G, out_dim + 1]: averaged kernel values and the occupancy channel."""
        ids, rel, mask = grid_neighbors(x, self.grid, self.radius)
        if node_mask is not None:
            mask = mask & node_mask[:, None]
        n, s = ids.shape
        inputs = jnp.concatenate([rel, jnp.broadcast_to(f[:, None, :], (n, s, f.shape[-1]))], -1)
        msgs = jax.vmap(jax.vmap(self.kernel))(inputs)  # [n, S, out]
        g = self.grid.size**2
        total = segment_sum(msgs.reshape(n * s, -1), ids.ravel(), g, mask.ravel())
        count = jax.ops.segment_sum(mask.ravel().astype(f.dtype), ids.ravel(), g)
        mean = total / jnp.maximum(count, 1)[:, None]
        occupied = (count > 0).astype(f.dtype)[:, None]
        return jnp.concatenate([mean, occupied], -1).reshape(self.grid.size, self.grid.size, -1)


class GNOOut(eqx.Module):
    """Latent grid -> particles: mean of kappa((x - y)/r) * v(x) over grid nodes x within r of particle y."""

    kernel: MLP
    grid: LatentGrid = eqx.field(static=True)
    radius: float = eqx.field(static=True)

    def __init__(self, channels: int, grid: LatentGrid, radius: float, width: int = 64, *, key: PRNGKeyArray):
        if radius <= 0:
            raise ValueError(f"GNO radius must be > 0, got {radius}")
        self.kernel = MLP(2, channels, width, 2, act="gelu", key=key)
        self.grid, self.radius = grid, radius

    def __call__(self, v: Float[Array, "g g c"], x: Float[Array, "n 2"]) -> Float[Array, "n c"]:
        ids, rel, mask = grid_neighbors(x, self.grid, self.radius)
        vals = v.reshape(-1, v.shape[-1])[ids]  # [n, S, c]
        k = jax.vmap(jax.vmap(self.kernel))(rel)
        w = mask[..., None].astype(v.dtype)
        return (w * k * vals).sum(1) / jnp.maximum(w.sum(1), 1)
