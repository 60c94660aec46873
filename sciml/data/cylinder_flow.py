"""A CylinderFlow-like dataset: LBM flow past a cylinder, interpolated onto a triangular mesh, cached.

Each trajectory draws a cylinder (centre, radius) and a Reynolds number, simulates the channel with
`sciml.sim.lbm` until vortices shed, and samples the flow on its own triangular mesh: SciPy Delaunay
of nodes that are denser near the cylinder and in its wake (placed by a few DistMesh-style spring
relaxation steps), with fixed nodes along the walls, inflow, outflow and the cylinder. Nodes carry the
MeshGraphNets node types (0 normal, 4 inflow, 5 outflow, 6 wall; the cylinder is wall, corners are
wall). Velocity is bilinear on the lattice (exact for linear fields), zero on walls and the analytic
parabola on the inflow; pressure is the kinematic gauge pressure.

Trajectories use the MeshGraphNets schema (`mesh_pos [N, 2]`, `cells [C, 3]`, `node_type [N, 1]`,
`velocity [T, N, 2]`, `pressure [T, N, 1]`) and are cached under `<data_dir>/cylinder_flow/<hash>/`
(`sciml.data.cache.data_dir()` unless given) in the MeshGraphNets TFRecord format
(`sciml.data.meshgraphnets`), so the published CylinderFlow files load through the same reader.
`meta.json` also lists each trajectory's parameters.

Differences from MeshGraphNets' CylinderFlow (COMSOL, ~1.9k nodes, 600 steps of 0.01, 1000
trajectories): our solver is a coarse LBM (48 lattice nodes across by default, Mach <= 0.17), meshes
have about 1.1-1.4k nodes, and trajectories are short; the viscosity (1e-3) and inflow law of the
original were never published, so only the geometry and the schema match.
Reference: Pfaff et al. 2021, "Learning Mesh-Based Simulation with Graph Networks", CylinderFlow;
mesh generation after Persson & Strang 2004, "A simple mesh generator in MATLAB" (DistMesh).
"""

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import numpy as np
from scipy.spatial import Delaunay

from sciml.data import meshgraphnets as mgn_format
from sciml.data.cache import data_dir as default_data_dir
from sciml.files import move_aside
from sciml.sim import lbm

#: MeshGraphNets node types (`meshgraphnets/common.py`); SIZE is the width of the one-hot encoding.
NORMAL, OBSTACLE, AIRFOIL, HANDLE, INFLOW, OUTFLOW, WALL_BOUNDARY = 0, 1, 2, 3, 4, 5, 6
NODE_TYPE_SIZE = 9

#: Bumped whenever the simulator or the mesher changes what a config produces (part of the cache key).
DATASET_VERSION = 2

#: Size field: edge length grows by SIZE_GROWTH per unit distance from the cylinder, downstream
#: distances shrunk by WAKE_STRETCH (a wake refinement like the MeshGraphNets meshes).
SIZE_GROWTH = 0.25
WAKE_STRETCH = 4.0


# ------------------------------------------------------------------------------------------- mesh


@dataclasses.dataclass(frozen=True)
class Geometry:
    """Channel [0, length] x [0, height] minus the disc |p - center| < radius (physical units)."""

    length: float
    height: float
    center: tuple[float, float]
    radius: float

    def __post_init__(self):
        cx, cy = self.center
        if not (self.radius < cx < self.length - self.radius and self.radius < cy < self.height - self.radius):
            raise ValueError(f"cylinder {self.center}, r={self.radius} does not fit in {self.length} x {self.height}")

    def distance(self, p: np.ndarray) -> np.ndarray:
        """Signed distance (negative inside the fluid) to the domain boundary."""
        x, y = p[..., 0], p[..., 1]
        rect = -np.minimum(np.minimum(x, self.length - x), np.minimum(y, self.height - y))
        disc = self.radius - np.hypot(x - self.center[0], y - self.center[1])
        return np.maximum(rect, disc)


def mesh_size(p: np.ndarray, geo: Geometry, h_min: float, h_max: float) -> np.ndarray:
    """Target edge length: h_min on the cylinder, growing with distance, slowest along the wake."""
    dx = p[..., 0] - geo.center[0]
    dy = p[..., 1] - geo.center[1]
    # Downstream distances count WAKE_STRETCH times less, so refinement stretches into the wake.
    d = np.hypot(np.where(dx > 0, dx / WAKE_STRETCH, dx), dy) - geo.radius
    return np.clip(h_min + SIZE_GROWTH * np.maximum(d, 0.0), h_min, h_max)


def _boundary_nodes(geo: Geometry, h_min: float, h_max: float) -> np.ndarray:
    """Fixed nodes along the four sides (spacing from the size function) and the cylinder."""
    pts = []

    def side(a, b):
        a, b = np.asarray(a, float), np.asarray(b, float)
        # Walk along the side with steps of the local size (a 1-D size field, integrated).
        s = np.linspace(0, 1, 2001)
        q = a + s[:, None] * (b - a)
        h = mesh_size(q, geo, h_min, h_max)
        arclen = np.linalg.norm(b - a)
        n_steps = np.concatenate([[0], np.cumsum((1 / h[1:] + 1 / h[:-1]) / 2 * np.diff(s) * arclen)])
        n = max(int(round(n_steps[-1])), 1)
        t = np.interp(np.linspace(0, n_steps[-1], n + 1), n_steps, s)
        pts.append(a + t[:-1, None] * (b - a))

    L, H = geo.length, geo.height
    side((0, 0), (L, 0))
    side((L, 0), (L, H))
    side((L, H), (0, H))
    side((0, H), (0, 0))
    n_c = max(int(math.ceil(2 * math.pi * geo.radius / h_min)), 8)
    ang = 2 * math.pi * np.arange(n_c) / n_c
    pts.append(np.stack([geo.center[0] + geo.radius * np.cos(ang), geo.center[1] + geo.radius * np.sin(ang)], -1))
    return np.concatenate(pts)


def _edges_of(tri: np.ndarray) -> np.ndarray:
    e = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    return np.unique(np.sort(e, axis=1), axis=0)


def _triangulate(p: np.ndarray, geo: Geometry) -> np.ndarray:
    tri = Delaunay(p).simplices
    centroid = p[tri].mean(1)
    a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
    area = 0.5 * np.abs((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
    keep = (geo.distance(centroid) < 0) & (area > 1e-12)
    return tri[keep]


def make_mesh(
    geo: Geometry, h_min: float, h_max: float, *, rng: np.random.Generator, iterations: int = 40
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A graded triangular mesh of the channel; returns (mesh_pos [N, 2], cells [C, 3], node_type [N]).

    Interior nodes start from a hexagonal grid thinned to the size field, then relax as a truss whose
    bars push apart when shorter than the local size (DistMesh); boundary nodes stay fixed, interior
    nodes that drift within half a cell of the boundary are pulled back.
    """
    if not 0 < h_min <= h_max:
        raise ValueError(f"need 0 < h_min <= h_max, got {h_min}, {h_max}")
    fixed = _boundary_nodes(geo, h_min, h_max)
    r0 = h_min
    xs = np.arange(r0 / 2, geo.length, r0)
    ys = np.arange(r0 / 2, geo.height, r0 * math.sqrt(3) / 2)
    gx, gy = np.meshgrid(xs, ys)
    gx = gx + (np.arange(len(ys))[:, None] % 2) * r0 / 2
    p = np.stack([gx.ravel(), gy.ravel()], -1)
    p = p + rng.uniform(-0.05, 0.05, p.shape) * r0  # breaks exact co-circularity for Delaunay
    h = mesh_size(p, geo, h_min, h_max)
    p = p[(geo.distance(p) < -0.5 * h) & (rng.random(len(p)) < (h_min / h) ** 2)]
    nf = len(fixed)
    for _ in range(iterations):
        allp = np.concatenate([fixed, p])
        bars = _edges_of(_triangulate(allp, geo))
        vec = allp[bars[:, 0]] - allp[bars[:, 1]]
        length = np.linalg.norm(vec, axis=1)
        hb = mesh_size(allp[bars].mean(1), geo, h_min, h_max)
        target = 1.2 * hb * np.sqrt((length**2).sum() / (hb**2).sum())
        force = np.maximum(target - length, 0) / np.maximum(length, 1e-12)
        fvec = force[:, None] * vec
        total = np.zeros_like(allp)
        np.add.at(total, bars[:, 0], fvec)
        np.add.at(total, bars[:, 1], -fvec)
        p = p + 0.2 * total[nf:]
        # Pull nodes that came too close to (or crossed) the boundary back along the distance gradient.
        hp = mesh_size(p, geo, h_min, h_max)
        d = geo.distance(p)
        eps = 1e-6
        grad = np.stack(
            [(geo.distance(p + [eps, 0]) - d) / eps, (geo.distance(p + [0, eps]) - d) / eps], -1
        )
        push = np.maximum(d + 0.5 * hp, 0.0)
        p = p - push[:, None] * grad
    pos = np.concatenate([fixed, p])
    cells = _triangulate(pos, geo)
    used = np.unique(cells)
    remap = -np.ones(len(pos), np.int64)
    remap[used] = np.arange(len(used))
    pos, cells = pos[used], remap[cells]
    return pos.astype(np.float32), cells.astype(np.int32), node_types(pos, geo)


def node_types(pos: np.ndarray, geo: Geometry, tol: float = 1e-6) -> np.ndarray:
    """MeshGraphNets node types from geometry: inflow x = 0, outflow x = length, wall y = 0 or height
    and the cylinder (walls win at corners), normal elsewhere."""
    x, y = pos[:, 0], pos[:, 1]
    t = np.full(len(pos), NORMAL, np.int32)
    t[np.abs(x) < tol] = INFLOW
    t[np.abs(x - geo.length) < tol] = OUTFLOW
    on_wall = (np.abs(y) < tol) | (np.abs(y - geo.height) < tol)
    on_wall |= np.abs(np.hypot(x - geo.center[0], y - geo.center[1]) - geo.radius) < max(tol, 1e-5 * geo.radius)
    t[on_wall] = WALL_BOUNDARY
    return t


def bilinear(xg: np.ndarray, yg: np.ndarray, values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of `values [..., nx, ny]` on the (possibly non-uniform) grid xg x yg at
    `points [N, 2]`; returns [..., N]. Exact for fields linear (indeed bilinear) in x and y; points
    outside the grid are clamped to it."""
    xg, yg = np.asarray(xg, float), np.asarray(yg, float)
    if values.shape[-2:] != (len(xg), len(yg)):
        raise ValueError(f"values {values.shape} do not match the grid ({len(xg)}, {len(yg)})")
    px = np.clip(points[:, 0], xg[0], xg[-1])
    py = np.clip(points[:, 1], yg[0], yg[-1])
    i = np.clip(np.searchsorted(xg, px, side="right") - 1, 0, len(xg) - 2)
    j = np.clip(np.searchsorted(yg, py, side="right") - 1, 0, len(yg) - 2)
    tx = (px - xg[i]) / (xg[i + 1] - xg[i])
    ty = (py - yg[j]) / (yg[j + 1] - yg[j])
    v00, v10 = values[..., i, j], values[..., i + 1, j]
    v01, v11 = values[..., i, j + 1], values[..., i + 1, j + 1]
    return (1 - tx) * (1 - ty) * v00 + tx * (1 - ty) * v10 + (1 - tx) * ty * v01 + tx * ty * v11


# ---------------------------------------------------------------------------------------- dataset


@dataclasses.dataclass(frozen=True)
class CylinderFlowConfig:
    """What to simulate. Ranges are (low, high), drawn uniformly per trajectory.

    Re = U_mean * 2 r / viscosity; the inflow mean speed follows from Re and the radius. Recording
    starts after `warmup` convective times 2r / U_mean (shedding has set in by then for Re >= 100).
    """

    n_train: int = 16
    n_test: int = 4
    frames: int = 100
    warmup: float = 15.0
    ny: int = 48
    frame_dt: float = 0.01
    viscosity: float = 1e-3
    reynolds: tuple[float, float] = (100.0, 200.0)
    radius: tuple[float, float] = (0.045, 0.06)
    center_x: tuple[float, float] = (0.2, 0.3)
    center_y: tuple[float, float] = (0.17, 0.24)
    h_min: float = 0.01
    h_max: float = 0.03
    seed: int = 0

    def __post_init__(self):
        if self.n_train < 1 or self.n_test < 0 or self.frames < 2:
            raise ValueError("need n_train >= 1, n_test >= 0 and frames >= 2")
        for name in ("reynolds", "radius", "center_x", "center_y"):
            lo, hi = getattr(self, name)
            if lo > hi or lo <= 0:
                raise ValueError(f"{name} must be a range (low, high) with 0 < low <= high, got {(lo, hi)}")

    @property
    def key(self) -> str:
        text = json.dumps({"version": DATASET_VERSION, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def simulate_trajectory(config: CylinderFlowConfig, split_index: int, k: int) -> tuple[dict, dict]:
    """One trajectory (MeshGraphNets fields) and its parameters; deterministic in (seed, split, k)."""
    rng = np.random.default_rng([config.seed, split_index, k])
    setup = lbm.ChannelSetup(ny=config.ny, frame_dt=config.frame_dt, viscosity=config.viscosity)
    x_lat, y_lat = setup.grid()
    length = float(x_lat[-1])  # the lattice's channel length ((nx - 1) dx ~ 1.6)
    radius = float(rng.uniform(*config.radius))
    center = (float(rng.uniform(*config.center_x)), float(rng.uniform(*config.center_y)))
    re = float(rng.uniform(*config.reynolds))
    mean_speed = re * config.viscosity / (2 * radius)
    geo = Geometry(length, setup.height, center, radius)
    warmup_frames = int(math.ceil(config.warmup * 2 * radius / mean_speed / config.frame_dt))
    sim = lbm.channel_flow(setup, center, radius, mean_speed, frames=config.frames, warmup_frames=warmup_frames)
    pos, cells, types = make_mesh(geo, config.h_min, config.h_max, rng=rng)
    # Interpolate with the wall rows moved onto the walls (y = 0 and height), where the halfway
    # bounce-back puts the no-slip condition.
    yg = y_lat.copy()
    yg[0], yg[-1] = 0.0, setup.height
    u = sim["u"].copy()
    u[..., 0] = u[..., -1] = 0.0
    vel = np.moveaxis(bilinear(x_lat, yg, u, pos.astype(float)), 1, 2)  # [T, N, 2]
    p = bilinear(x_lat, yg, sim["p"], pos.astype(float))[..., None]  # [T, N, 1]
    vel[:, types == WALL_BOUNDARY] = 0.0
    inflow = types == INFLOW
    vel[:, inflow] = setup.inflow_profile(mean_speed, pos[inflow, 1]).T
    traj = {
        "cells": cells,
        "mesh_pos": pos,
        "node_type": types[:, None].astype(np.int32),
        "velocity": vel.astype(np.float32),
        "pressure": p.astype(np.float32),
    }
    info = {"reynolds": re, "radius": radius, "center": list(center), "mean_speed": mean_speed,
            "steps_per_frame": setup.steps_per_frame(1.5 * mean_speed), "warmup_frames": warmup_frames,
            "nodes": int(len(pos)), "cells": int(len(cells))}
    return traj, info


def cache_directory(config: CylinderFlowConfig, data_dir: str | Path | None = None) -> Path:
    """The folder of `config`'s cached dataset: `<data_dir>/cylinder_flow/<config hash>/`
    (`data_dir` None or "": `sciml.data.cache.data_dir()`, which honours `$SCIML_DATA_DIR`)."""
    return (Path(data_dir) if data_dir else default_data_dir()) / "cylinder_flow" / config.key


def cylinder_flow(
    config: CylinderFlowConfig = CylinderFlowConfig(), *, data_dir: str | Path | None = None, cache: bool = True
) -> dict[str, list[dict[str, np.ndarray]]]:
    """The dataset {"train": [...], "test": [...]} of trajectories (fields squeezed: static [N, d]).

    Generated on first use and cached in `cache_directory(config, data_dir)` as `train.tfrecord`,
    `test.tfrecord` and `meta.json` (MeshGraphNets format, plus our `config` and per-trajectory
    `params`); later calls read the cache.
    """
    directory = cache_directory(config, data_dir)
    splits = {"train": config.n_train, "test": config.n_test}
    if cache and all((directory / f"{s}.tfrecord").exists() for s in splits if splits[s]):
        try:
            return _read_cache(directory, splits)
        except (OSError, ValueError, KeyError, EOFError) as e:
            move_aside(directory, e)
    out, params = {}, {}
    for index, (split, n) in enumerate(splits.items()):
        made = [simulate_trajectory(config, index, k) for k in range(n)]
        out[split] = [t for t, _ in made]
        params[split] = [p for _, p in made]
    if cache:
        meta = {"dt": config.frame_dt, "simulator": "sciml.sim.lbm (D2Q9, regularized BGK, bulk viscosity raised)",
                "version": DATASET_VERSION,
                "config": dataclasses.asdict(config), "params": params}
        for split, trajs in out.items():
            if trajs:
                mgn_format.write_dataset(directory, split, trajs, extra_meta=meta)
    return {s: [_squeeze(t) for t in trajs] for s, trajs in out.items()}


def _read_cache(directory: Path, splits: dict[str, int]) -> dict[str, list[dict[str, np.ndarray]]]:
    out = {s: [_squeeze(t) for t in mgn_format.read_dataset(directory, s)] if n else [] for s, n in splits.items()}
    for s, n in splits.items():
        if len(out[s]) != n:
            raise ValueError(f"{directory / (s + '.tfrecord')} holds {len(out[s])} trajectories, expected {n}")
    return out


def _squeeze(traj: dict) -> dict:
    return {k: (np.asarray(v)[0] if k in mgn_format.STATIC_FIELDS and np.ndim(v) == 3 else np.asarray(v))
            for k, v in traj.items()}
