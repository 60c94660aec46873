"""The linear conservation constraint of channel flow on a triangular mesh: volume flux through cross-sections.

For incompressible flow in a channel with no-slip walls, the volume flux Q(x) = int u_x(x, y) dy through
every vertical cross-section equals the inflow flux Q(0) (mass balance over the region between them). On
a triangular mesh with piecewise-linear (P1) velocity, Q at x = c is exactly linear in the nodal u_x: the
line x = c crosses each triangle in one segment, u_x is linear along it, so the segment contributes
length * (u(p1) + u(p2)) / 2 with u(p) interpolated along the two crossed edges. The cylinder is a hole in
the mesh, so the sections through it integrate over the fluid alone. The outflow row is the trapezoid
rule over the nodes on x = L and the inflow flux (the right-hand side b) the trapezoid rule over the nodes
on x = 0 (`sciml.probconserv.trapezoid_weights`), so the constraint is

    G v = b(t),   rows of G: sections x_k = L k / (m + 1), k = 1..m, and the outflow x = L,

with v the flattened velocity [2 N] (node-major: u_x of node i is entry 2 i) and b = Q_in(t) in every row.
The ground truth (LBM, weakly compressible, interpolated bilinearly onto the mesh) satisfies it only up to
a tolerance, measured by `relative_imbalance` (see the tests and the notebook).
Reference: Hansen et al., ICML 2023, Sec. 3 (a linear constraint G u = b from the integral form of a
conservation law); the flux form of mass conservation for incompressible flow.
"""

import dataclasses

import numpy as np
from jaxtyping import Float, Int

from sciml.probconserv import trapezoid_weights

#: Nodes within this distance of x = 0 / x = L lie on the inflow / outflow boundary (positions are float32).
BOUNDARY_TOL = 1e-5


def section_weights(
    mesh_pos: Float[np.ndarray, "n 2"], cells: Int[np.ndarray, "c 3"], c: float
) -> Float[np.ndarray, " n"]:
    """Weights w [N] with w . u_x = int u_x dy along x = c for the P1 field on the mesh (exact).

    `c` must not be the x of any node (then every crossed triangle is cut through two edge interiors).
    """
    pos = np.asarray(mesh_pos, np.float64)
    cells = np.asarray(cells, np.int64)
    x = pos[:, 0]
    if np.any(np.abs(x - c) < 1e-9):
        raise ValueError(f"the section x = {c} passes through a node; move it slightly")
    right = x[cells] > c  # [C, 3]
    tri = cells[right.any(1) & ~right.all(1)]
    w = np.zeros(len(pos))
    ends, parts = [], []
    for a, b in ((0, 1), (1, 2), (2, 0)):
        ia, ib = tri[:, a], tri[:, b]
        cut = (x[ia] > c) != (x[ib] > c)
        t = np.where(cut, (c - x[ia]) / np.where(cut, x[ib] - x[ia], 1.0), 0.0)
        ends.append(np.where(cut, pos[ia, 1] + t * (pos[ib, 1] - pos[ia, 1]), np.nan))
        parts.append((ia, ib, t, cut))
    y_cut = np.stack(ends, 1)  # [C', 3]: y of the crossing on each edge, nan if that edge is not cut
    if not np.all((~np.isnan(y_cut)).sum(1) == 2):
        raise ValueError("a crossed triangle is not cut through exactly two edges")
    length = np.nanmax(y_cut, 1) - np.nanmin(y_cut, 1)
    for ia, ib, t, cut in parts:  # each crossing point carries half the segment's length
        half = np.where(cut, 0.5 * length, 0.0)
        np.add.at(w, ia, half * (1 - t))
        np.add.at(w, ib, half * t)
    return w


def boundary_weights(mesh_pos: Float[np.ndarray, "n 2"], x0: float) -> Float[np.ndarray, " n"]:
    """Trapezoid weights over the nodes on the vertical boundary x = x0 (sorted by y); zero elsewhere."""
    pos = np.asarray(mesh_pos, np.float64)
    on = np.flatnonzero(np.abs(pos[:, 0] - x0) < BOUNDARY_TOL)
    if len(on) < 2:
        raise ValueError(f"fewer than 2 nodes lie on x = {x0}")
    order = on[np.argsort(pos[on, 1])]
    w = np.zeros(len(pos))
    w[order] = trapezoid_weights(pos[order, 1])
    return w


@dataclasses.dataclass(frozen=True)
class FluxConstraint:
    """G [m, 2 N] (section and outflow fluxes of u_x) and g_in [2 N] (inflow flux), for one padded mesh.

    b(t) = g_in . v(t) is known each step (the inflow is a boundary condition), so G v = b 1.
    """

    G: np.ndarray
    g_in: np.ndarray
    sections: np.ndarray  # x of each row (the last is the outflow, x = L)

    def rhs(self, velocity: np.ndarray) -> np.ndarray:
        """b = Q_in 1 [m] (or [..., m] for leading axes of `velocity [..., N, 2]`)."""
        v = np.asarray(velocity, np.float64)
        q = v.reshape(*v.shape[:-2], -1) @ self.g_in
        return np.repeat(q[..., None], self.G.shape[0], -1)


def flux_constraint(
    mesh_pos: Float[np.ndarray, "n 2"], cells: Int[np.ndarray, "c 3"], num_sections: int, num_nodes: int | None = None
) -> FluxConstraint:
    """The flux constraint of one mesh: `num_sections` interior sections plus the outflow.

    `num_nodes` pads the columns to a padded node count (padding nodes get zero weight).
    """
    if num_sections < 0:
        raise ValueError(f"num_sections must be >= 0, got {num_sections}")
    pos = np.asarray(mesh_pos, np.float64)
    n = len(pos)
    num_nodes = n if num_nodes is None else num_nodes
    if num_nodes < n:
        raise ValueError(f"num_nodes {num_nodes} is smaller than the mesh ({n} nodes)")
    lo, hi = pos[:, 0].min(), pos[:, 0].max()
    xs = lo + (hi - lo) * np.arange(1, num_sections + 1) / (num_sections + 1)
    # Move a section off a node by a hair (the weights are continuous in c, so this changes nothing real).
    xs = np.array([c if np.all(np.abs(pos[:, 0] - c) >= 1e-9) else c + 1e-7 for c in xs])
    rows = [section_weights(pos, cells, c) for c in xs] + [boundary_weights(pos, hi)]
    G = np.zeros((len(rows), 2 * num_nodes))
    G[:, 0 : 2 * n : 2] = np.stack(rows)
    g_in = np.zeros(2 * num_nodes)
    g_in[0 : 2 * n : 2] = boundary_weights(pos, lo)
    return FluxConstraint(G, g_in, np.append(xs, hi))


def relative_imbalance(constraint: FluxConstraint, velocity: Float[np.ndarray, "*t n 2"]) -> np.ndarray:
    """|G v - b| / |b| per row (and leading axes): the flux mismatch of each section, relative to the inflow."""
    v = np.asarray(velocity, np.float64)
    flat = v.reshape(*v.shape[:-2], -1)
    b = constraint.rhs(v)
    return np.abs(flat @ constraint.G.T - b) / np.abs(b)
