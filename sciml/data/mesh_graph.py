"""Mesh graphs on the host: edges from triangles, K-hop powers, d-hop rings, padding to static sizes.

Edges are directed pairs (sender -> receiver) listed in both directions, without self-loops, as the
mesh transformer's attention masks and MeshGraphNets' message passing use them. The K-hop adjacency
is the pattern of A + A^2 + ... + A^K minus the diagonal (every node within K hops); the d-hop ring is
the set of nodes at graph distance exactly d (the graph analogue of one dilated window offset).
Reference: Garnier et al. 2025, "Training Transformers for Mesh-Based Simulations" (K-hop adjacency as
in graph-physics' `compute_k_hop_edge_index`; rings are our reading of the paper's dilation);
Pfaff et al. 2021 (edges from mesh cells, both directions).
"""

import numpy as np
import scipy.sparse as sp
from jaxtyping import Int


def check_mesh(cells: np.ndarray, num_nodes: int, *, name: str = "cells") -> np.ndarray:
    """Validate triangles [C, 3] against `num_nodes`; returns them as int64. Raises on dangling indices."""
    cells = np.asarray(cells)
    if cells.ndim != 2 or cells.shape[1] != 3:
        raise ValueError(f"{name} must be triangles [C, 3], got shape {cells.shape}")
    if not np.issubdtype(cells.dtype, np.integer):
        raise ValueError(f"{name} must hold integer node indices, got {cells.dtype}")
    if cells.size and (cells.min() < 0 or cells.max() >= num_nodes):
        bad = cells[(cells < 0) | (cells >= num_nodes)]
        raise ValueError(
            f"{name} reference nodes outside [0, {num_nodes}): e.g. {bad[:5].tolist()} (dangling indices)"
        )
    a, b, c = cells.T
    if cells.size and np.any((a == b) | (b == c) | (a == c)):
        raise ValueError(f"{name} has degenerate triangles (a repeated node)")
    return cells.astype(np.int64)


def cells_to_edges(cells: Int[np.ndarray, "c 3"], num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique directed mesh edges (both directions) of a triangle mesh; returns (senders, receivers)."""
    cells = check_mesh(cells, num_nodes)
    pairs = np.concatenate([cells[:, [0, 1]], cells[:, [1, 2]], cells[:, [2, 0]]])
    pairs = np.unique(np.sort(pairs, axis=1), axis=0)
    senders = np.concatenate([pairs[:, 0], pairs[:, 1]])
    receivers = np.concatenate([pairs[:, 1], pairs[:, 0]])
    order = np.lexsort((senders, receivers))
    return senders[order], receivers[order]


def _adjacency(senders, receivers, n) -> sp.csr_matrix:
    a = sp.csr_matrix((np.ones(len(senders), np.int64), (receivers, senders)), shape=(n, n))
    a.data[:] = 1
    return a


def _to_edges(a: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    a = sp.coo_matrix(a)
    keep = a.row != a.col
    receivers, senders = a.row[keep], a.col[keep]
    order = np.lexsort((senders, receivers))
    return senders[order].astype(np.int64), receivers[order].astype(np.int64)


def hop_distances_within(senders, receivers, n: int, k: int) -> list[sp.csr_matrix]:
    """Boolean reachability matrices R_1..R_k with R_d[i, j] = 1 iff j is within d hops of i."""
    a = _adjacency(senders, receivers, n)
    eye = sp.identity(n, dtype=np.int64, format="csr")
    reach, out = eye, []
    for _ in range(k):
        reach = reach + reach @ a
        reach.data[:] = 1
        out.append(reach.copy())
    return out


def k_hop_edges(senders, receivers, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Edges to every node within `k` hops (the pattern of A + ... + A^k), self-loops removed."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return _to_edges(hop_distances_within(senders, receivers, n, k)[-1])


def ring_edges(senders, receivers, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Edges to the nodes at graph distance exactly `d` (within d hops but not within d - 1)."""
    if d < 1:
        raise ValueError(f"d must be >= 1, got {d}")
    reach = hop_distances_within(senders, receivers, n, d)
    ring = reach[-1] - (reach[-2] if d > 1 else sp.identity(n, dtype=np.int64, format="csr"))
    ring.eliminate_zeros()
    return _to_edges(ring)


def hop_edges(senders, receivers, n: int, hops: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """`mode` "power": within `hops` hops; "ring": exactly `hops` hops."""
    if mode == "power":
        return k_hop_edges(senders, receivers, n, hops)
    if mode == "ring":
        return ring_edges(senders, receivers, n, hops)
    raise ValueError(f"hop mode must be 'power' or 'ring', got {mode!r}")


def pad_edges(senders, receivers, size: int, *, fill: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pad an edge list to `size` (static shapes); returns (senders, receivers, mask)."""
    e = len(senders)
    if e > size:
        raise ValueError(f"{e} edges do not fit a padded size of {size}")
    s = np.full(size, fill, np.int32)
    r = np.full(size, fill, np.int32)
    s[:e], r[:e] = senders, receivers
    return s, r, np.arange(size) < e
