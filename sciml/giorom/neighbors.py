"""Radius graphs over particles: brute force for small sets, a cell list for large ones.

Both return padded, statically shaped edge lists `(senders, receivers, edge_mask, count)`, directed
both ways, without self-loops: a particle's own state reaches it through the residual updates of the
interaction networks (as in GNS). The cell list bins particles into square cells at least one radius
wide, so every neighbour lies in one of the 9 surrounding cells; per cell it looks at no more than
`max_per_cell` particles, and reports when a cell held more (the graph may then miss edges).
Reference: Sanchez-Gonzalez et al. 2020 (GNS), Sec. 2 (connectivity radius R); cell lists after
Allen & Tildesley, "Computer simulation of liquids", Sec. 5.3.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from sciml.nn import radius_graph

#: Above this many particles `particle_graph` switches from the dense O(n^2) search to the cell list.
DENSE_SEARCH_LIMIT = 1024

Domain = tuple[tuple[float, float], tuple[float, float]]


def cell_radius_graph(
    x: Float[Array, "n 2"],
    radius: float,
    max_edges: int,
    *,
    domain: Domain,
    max_per_cell: int = 16,
) -> tuple[Int[Array, " e"], Int[Array, " e"], Bool[Array, " e"], Int[Array, ""], Bool[Array, ""]]:
    """All ordered pairs (i != j) closer than `radius` via a cell list; also returns whether a cell overflowed.

    Particles outside `domain` are binned into its border cells, which keeps every pair within reach
    (clipping never separates two points by more than one cell). Cost O(n * 9 * max_per_cell).
    """
    n = x.shape[0]
    (x0, x1), (y0, y1) = domain
    nx, ny = max(1, int((x1 - x0) // radius)), max(1, int((y1 - y0) // radius))
    size = jnp.array([(x1 - x0) / nx, (y1 - y0) / ny], x.dtype)
    cell = jnp.floor((x - jnp.array([x0, y0], x.dtype)) / size).astype(jnp.int32)
    cell = jnp.clip(cell, 0, jnp.array([nx - 1, ny - 1]))
    cid = cell[:, 0] * ny + cell[:, 1]
    order = jnp.argsort(cid)
    sorted_cid = cid[order]
    ids = jnp.arange(nx * ny)
    start = jnp.searchsorted(sorted_cid, ids, side="left")
    count = jnp.searchsorted(sorted_cid, ids, side="right") - start
    off = jnp.array([(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1)], jnp.int32)
    nb = cell[:, None, :] + off[None]  # [n, 9, 2]
    inside = (nb[..., 0] >= 0) & (nb[..., 0] < nx) & (nb[..., 1] >= 0) & (nb[..., 1] < ny)
    nb_id = jnp.where(inside, nb[..., 0] * ny + nb[..., 1], 0)
    m = jnp.arange(max_per_cell)
    slot = start[nb_id][..., None] + m  # [n, 9, M]
    ok = inside[..., None] & (m < count[nb_id][..., None])
    cand = order[jnp.clip(slot, 0, n - 1)]
    d2 = jnp.sum((x[cand] - x[:, None, None, :]) ** 2, -1)
    adj = (ok & (d2 < radius**2) & (cand != jnp.arange(n)[:, None, None])).reshape(n, -1)
    receivers, flat = jnp.nonzero(adj, size=max_edges, fill_value=0)
    senders = cand.reshape(n, -1)[receivers, flat]
    total = adj.sum()
    return senders, receivers, jnp.arange(max_edges) < total, total, count.max() > max_per_cell


def particle_graph(
    x: Float[Array, "n 2"],
    radius: float,
    max_edges: int,
    *,
    domain: Domain,
    max_per_cell: int = 16,
    check_empty: bool = True,
) -> tuple[Int[Array, " e"], Int[Array, " e"], Bool[Array, " e"], Int[Array, ""]]:
    """The radius graph of `x` (dense search up to DENSE_SEARCH_LIMIT particles, cell list above).

    Returns (senders, receivers, edge_mask, count); `count > max_edges` means the graph was truncated.
    With `check_empty`, a radius that connects no pair raises at run time (inside jit too).
    """
    if radius <= 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    if max_edges < 1:
        raise ValueError(f"max_edges must be >= 1, got {max_edges}")
    if x.shape[0] <= DENSE_SEARCH_LIMIT:
        s, r, mask, count = radius_graph(x, radius, max_edges)
    else:
        s, r, mask, count, _ = cell_radius_graph(x, radius, max_edges, domain=domain, max_per_cell=max_per_cell)
    if check_empty:
        s = eqx.error_if(s, count == 0, f"radius {radius} yields an empty graph: no two particles are closer; "
                         "increase the connectivity radius")
    return s, r, mask, count


def brute_force_edges(x: np.ndarray, radius: float) -> set[tuple[int, int]]:
    """Every ordered pair (sender, receiver), i != j, closer than `radius` (NumPy reference for tests)."""
    x = np.asarray(x, np.float64)
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    r, s = np.nonzero((d2 < radius**2) & ~np.eye(len(x), dtype=bool))
    return set(zip(s.tolist(), r.tolist()))


def edge_set(senders, receivers, mask) -> set[tuple[int, int]]:
    """The real edges of a padded edge list as a set of (sender, receiver) pairs."""
    s, r, m = (np.asarray(jax.device_get(a)) for a in (senders, receivers, mask))
    return set(zip(s[m].tolist(), r[m].tolist()))
