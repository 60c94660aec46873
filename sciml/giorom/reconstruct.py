"""Discretisation-agnostic reconstruction: the motion of any query points from a sparse particle set.

Given the sparse particles' reference positions x_s^0 and current positions x_s^t, the displacement
u = x_s^t - x_s^0 is splatted with bilinear weights at x_s^0 onto a regular grid together with a
density channel, blurred with a Gaussian (std sigma), and sampled bilinearly at the query points'
reference positions x_q^0; dividing by the sampled density gives a smooth displacement field, a
normalised kernel average of the sparse displacements. A learned residual corrects it from features
that vanish when the sparse set moves rigidly by a translation (the difference between two blur
scales and the field's local gradient), written as MLP(f, c) - MLP(0, c) with c the query's
positional encoding and density, so a rigid translation is reproduced exactly (to rounding). The cost
is O(n + q) (plus the grid), independent of how the queries were discretised.
Reference: GIOROM (Viswanath et al. 2024/2026), `online/src/giorom/model.py::HighFreqMonteCarloLagrangianMLS`
(3-D trilinear splat on 64^3, 8 Gaussian jitters, positional encoding with 3 octaves, MLP residual).
Deviations: 2-D bilinear; a Gaussian blur of the grid replaces the Monte-Carlo jitters; the residual is
built to vanish for translations; the loss is on displacements, not absolute positions.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from sciml.giorom.gno import LatentGrid
from sciml.nn import MLP

#: Densities below this (relative to one particle's unit weight) count as "no sparse particle nearby".
MIN_DENSITY = 1e-6


def _bilinear(grid: LatentGrid, p: Array) -> tuple[Array, Array]:
    """Node ids [n, 4] and bilinear weights [n, 4] of points p on the cell-centred grid (0 off the grid)."""
    g = (p - grid.origin) / grid.spacing - 0.5
    i0 = jnp.floor(g).astype(jnp.int32)
    f = g - i0
    corners = np.array([(0, 0), (0, 1), (1, 0), (1, 1)], np.int32)
    ij = i0[:, None, :] + corners[None]
    w = jnp.where(corners[None] == 1, f[:, None, :], 1 - f[:, None, :]).prod(-1)
    inside = jnp.all((ij >= 0) & (ij < grid.size), -1)
    ids = jnp.where(inside, ij[..., 0] * grid.size + ij[..., 1], 0)
    return ids, jnp.where(inside, w, 0.0)


def _blur_matrix(grid: LatentGrid, sigma: float, axis: int) -> np.ndarray:
    c = (np.arange(grid.size) + 0.5) * grid.spacing[axis]
    return np.exp(-((c[:, None] - c[None, :]) ** 2) / (2 * sigma**2)).astype(np.float32)


def splat(grid: LatentGrid, points: Float[Array, "n 2"], values: Float[Array, "n c"]) -> Float[Array, "g g c1"]:
    """Bilinear splat of [values, 1] at `points` onto the grid: [G, G, c + 1] (the last channel is density)."""
    ids, w = _bilinear(grid, points)
    content = jnp.concatenate([values, jnp.ones_like(values[:, :1])], -1)
    field = jnp.zeros((grid.size**2, content.shape[-1]), values.dtype).at[ids.ravel()].add(
        (w[..., None] * content[:, None, :]).reshape(-1, content.shape[-1])
    )
    return field.reshape(grid.size, grid.size, -1)


def blur(grid: LatentGrid, field: Float[Array, "g g c"], sigma: float) -> Float[Array, "g g c"]:
    """Separable Gaussian blur with std `sigma` (physical units), zero outside the grid."""
    kx, ky = _blur_matrix(grid, sigma, 0), _blur_matrix(grid, sigma, 1)
    return jnp.einsum("ik,kjc,lj->ilc", kx, field, ky)


def sample(grid: LatentGrid, field: Float[Array, "g g c"], queries: Float[Array, "q 2"]) -> Float[Array, "q c"]:
    """Bilinear interpolation of a grid field at `queries` (zero off the grid)."""
    ids, w = _bilinear(grid, queries)
    return jnp.einsum("qk,qkc->qc", w, field.reshape(grid.size**2, -1)[ids])


def splat_sample(
    grid: LatentGrid, sigma: float, points: Float[Array, "n 2"], values: Float[Array, "n c"],
    queries: Float[Array, "q 2"],
) -> tuple[Float[Array, "q c"], Float[Array, " q"]]:
    """Gaussian-blurred bilinear splat of `values` at `points`, sampled at `queries`: (sum, density).

    Both are linear in the splatted weights, so sum / density is a weighted average of `values`.
    """
    out = sample(grid, blur(grid, splat(grid, points, values), sigma), queries)
    return out[:, :-1], out[:, -1]


def _normalise(sampled: Array) -> tuple[Array, Array]:
    dens = sampled[:, -1]
    ok = dens > MIN_DENSITY
    return jnp.where(ok[:, None], sampled[:, :-1] / jnp.where(ok, dens, 1.0)[:, None], 0.0), dens


def positional_encoding(x01: Float[Array, "q 2"], octaves: int) -> Float[Array, "q f"]:
    """[sin, cos](2^k pi x) for k < octaves, per coordinate of points in [0, 1]^2."""
    freqs = (2.0 ** np.arange(octaves) * np.pi).astype(np.float32)
    a = (x01[..., None] * freqs).reshape(x01.shape[0], -1)
    return jnp.concatenate([jnp.sin(a), jnp.cos(a)], -1)


class Reconstructor(eqx.Module):
    """Query positions at time t from a sparse set's reference and current positions (see module doc)."""

    mlp: MLP
    grid: LatentGrid = eqx.field(static=True)
    sigma: float = eqx.field(static=True)  # blur std (physical units), about the sparse spacing
    scale: float = eqx.field(static=True)  # displacement normaliser
    octaves: int = eqx.field(static=True)

    def __init__(self, grid: LatentGrid, sigma: float, scale: float = 0.1, width: int = 64, octaves: int = 3, *,
                 key: PRNGKeyArray):
        if sigma <= 0 or scale <= 0:
            raise ValueError(f"sigma and scale must be > 0, got {sigma}, {scale}")
        self.grid, self.sigma, self.scale, self.octaves = grid, float(sigma), float(scale), octaves
        self.mlp = MLP(6 + 4 * octaves + 1, 2, width, 2, act="gelu", key=key)

    def smooth(self, sparse_ref, sparse_cur, queries, sigma) -> tuple[Array, Array]:
        """Normalised kernel average of the sparse displacements at `queries`, and the density there."""
        field = splat(self.grid, sparse_ref, (sparse_cur - sparse_ref) / self.scale)
        return _normalise(sample(self.grid, blur(self.grid, field, sigma), queries))

    def __call__(
        self, sparse_ref: Float[Array, "n 2"], sparse_cur: Float[Array, "n 2"], query_ref: Float[Array, "q 2"],
    ) -> Float[Array, "q 2"]:
        """Current positions of the queries [q, 2] (query_ref must lie inside the grid's domain)."""
        if sparse_ref.shape[0] < 1:
            raise ValueError("reconstruction needs a non-empty sparse set")
        lo = self.grid.origin
        hi = lo + self.grid.spacing * self.grid.size
        outside = jnp.any((query_ref < lo) | (query_ref > hi))
        query_ref = eqx.error_if(query_ref, outside, f"query points outside the reconstruction domain "
                                 f"{self.grid.domain}")
        field = splat(self.grid, sparse_ref, (sparse_cur - sparse_ref) / self.scale)
        fine_field, coarse_field = blur(self.grid, field, self.sigma), blur(self.grid, field, 2 * self.sigma)
        fine, dens = _normalise(sample(self.grid, fine_field, query_ref))
        coarse, _ = _normalise(sample(self.grid, coarse_field, query_ref))
        h = float(self.grid.spacing.min())
        grads = []
        for e in np.eye(2, dtype=np.float32):
            up, _ = _normalise(sample(self.grid, coarse_field, query_ref + h * e))
            down, _ = _normalise(sample(self.grid, coarse_field, query_ref - h * e))
            grads.append((up - down) / 2)
        feats = jnp.concatenate([fine - coarse, *grads], -1)  # zero for a rigid translation
        context = jnp.concatenate(
            [positional_encoding((query_ref - lo) / (hi - lo), self.octaves), jnp.log1p(dens)[:, None]], -1
        )
        f = jax.vmap(self.mlp)
        residual = f(jnp.concatenate([feats, context], -1)) - f(jnp.concatenate([jnp.zeros_like(feats), context], -1))
        return query_ref + self.scale * (fine + residual)
