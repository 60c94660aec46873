"""Mesh trajectories prepared for training: padded to static shapes, edge lists built, statistics computed.

Every trajectory has its own mesh, so nodes are padded to the largest mesh of the dataset and each edge
list (the mesh edges, K-hop powers, d-hop rings) to its largest size, with masks. A training batch is B
random (trajectory, frame) pairs; its leaves have a leading batch axis, as the runner shards them.
`meshgraphnets` reads the published CylinderFlow files (`sciml.data.meshgraphnets`) and computes
MeshGraphNets' own normalisation statistics. `synthetic_dataset` makes timing-only data on a Delaunay
mesh of random points (the shapes of the original benchmark), with smooth travelling velocity fields and no physics.
Used by `sciml.meshformer` (MeshGraphNet and the mesh transformer); the edge lists come from
`sciml.data.mesh_graph`.
Reference: Pfaff et al. 2021, "Learning Mesh-Based Simulation with Graph Networks" (schema, node types);
Garnier et al. 2025 (K-hop and dilated edge lists, the 1,900-node benchmark mesh).
"""

import dataclasses
import functools

import numpy as np
from scipy.spatial import Delaunay

from sciml.data.cylinder_flow import NODE_TYPE_SIZE, NORMAL, OUTFLOW, CylinderFlowConfig, cylinder_flow
from sciml.data.mesh_graph import cells_to_edges, check_mesh, hop_edges, pad_edges
from sciml.data.meshgraphnets import read_cylinder_split

#: The data sources `load` knows: our LBM cylinder flow, timing-only random meshes, published files.
SOURCES = ("lbm", "synthetic", "meshgraphnets")


@dataclasses.dataclass(frozen=True)
class EdgeSpec:
    """An edge list: all nodes within `hops` hops ("power") or exactly `hops` away ("ring")."""

    hops: int = 1
    mode: str = "power"

    @property
    def name(self) -> str:
        return f"{self.mode}{self.hops}"


MESH_EDGES = EdgeSpec(1, "power")


@dataclasses.dataclass
class Split:
    """Padded arrays of one split (M trajectories, T frames, N padded nodes)."""

    velocity: np.ndarray  # [M, T, N, 2] float32
    node_type: np.ndarray  # [M, N] int32 (padding: NORMAL, masked)
    mesh_pos: np.ndarray  # [M, N, 2] float32
    node_mask: np.ndarray  # [M, N] bool
    adjacency: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]  # per EdgeSpec: [M, E] x 3
    cells: list[np.ndarray]  # unpadded triangles per trajectory (figures)

    @property
    def num_trajectories(self) -> int:
        return self.velocity.shape[0]

    @property
    def frames(self) -> int:
        return self.velocity.shape[1]

    def mesh(self, m: int | np.integer | np.ndarray) -> dict:
        """The static inputs of trajectory (or trajectories) `m`, as a dict of arrays."""
        return {
            "node_type": self.node_type[m],
            "mesh_pos": self.mesh_pos[m],
            "node_mask": self.node_mask[m],
            "adjacency": tuple((s[m], r[m], k[m]) for s, r, k in self.adjacency),
        }


def validate_trajectory(traj: dict, k: int) -> None:
    """Shapes and indices of one MeshGraphNets trajectory; raises ValueError naming the problem."""
    for name in ("mesh_pos", "cells", "node_type", "velocity"):
        if name not in traj:
            raise ValueError(f"trajectory {k} lacks {name!r}")
    pos, vel = np.asarray(traj["mesh_pos"]), np.asarray(traj["velocity"])
    if pos.ndim != 2 or pos.shape[1] != 2:
        raise ValueError(f"trajectory {k}: mesh_pos must be [N, 2], got {pos.shape}")
    n = pos.shape[0]
    if vel.ndim != 3 or vel.shape[1:] != (n, 2):
        raise ValueError(f"trajectory {k}: velocity must be [T, {n}, 2], got {vel.shape}")
    types = np.asarray(traj["node_type"]).reshape(-1)
    if types.shape != (n,) or types.min() < 0 or types.max() >= NODE_TYPE_SIZE:
        raise ValueError(f"trajectory {k}: node_type must be {n} integers in [0, {NODE_TYPE_SIZE})")
    check_mesh(traj["cells"], n, name=f"trajectory {k} cells")


def prepare(
    train: list[dict], test: list[dict], specs: tuple[EdgeSpec, ...]
) -> tuple[Split, Split]:
    """Pad both splits to common sizes (so one compiled program serves both) and build the edge lists."""
    trajs = list(train) + list(test)
    for k, t in enumerate(trajs):
        validate_trajectory(t, k)
    frames = {np.asarray(t["velocity"]).shape[0] for t in trajs}
    if len(frames) != 1:
        raise ValueError(f"all trajectories need the same number of frames, got {sorted(frames)}")
    n_max = max(len(t["mesh_pos"]) for t in trajs)
    edges = []
    for t in trajs:
        n = len(t["mesh_pos"])
        s, r = cells_to_edges(t["cells"], n)
        edges.append([(s, r) if spec == MESH_EDGES else hop_edges(s, r, n, spec.hops, spec.mode) for spec in specs])
    e_max = [max(len(e[i][0]) for e in edges) for i in range(len(specs))]
    t_len = frames.pop()

    def build(items, offset):
        m = len(items)
        out = Split(
            velocity=np.zeros((m, t_len, n_max, 2), np.float32),
            node_type=np.full((m, n_max), NORMAL, np.int32),
            mesh_pos=np.zeros((m, n_max, 2), np.float32),
            node_mask=np.zeros((m, n_max), bool),
            adjacency=tuple(
                (np.zeros((m, e), np.int32), np.zeros((m, e), np.int32), np.zeros((m, e), bool)) for e in e_max
            ),
            cells=[],
        )
        for j, t in enumerate(items):
            n = len(t["mesh_pos"])
            out.velocity[j, :, :n] = t["velocity"]
            out.node_type[j, :n] = np.asarray(t["node_type"]).reshape(-1)
            out.mesh_pos[j, :n] = t["mesh_pos"]
            out.node_mask[j, :n] = True
            out.cells.append(np.asarray(t["cells"]))
            for i, (s, r) in enumerate(edges[offset + j]):
                ps, pr, pm = pad_edges(s, r, e_max[i])
                out.adjacency[i][0][j], out.adjacency[i][1][j], out.adjacency[i][2][j] = ps, pr, pm
        return out

    return build(train, 0), build(test, len(train))


def statistics(train: Split) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Mean and std of node inputs [velocity, one-hot type], mesh edge features and one-step deltas."""
    vel = train.velocity.astype(np.float64)
    mask = train.node_mask
    rows = []
    for m in range(len(vel)):
        v = vel[m][:, mask[m]]  # [T, n, 2]
        onehot = np.broadcast_to(np.eye(NODE_TYPE_SIZE)[train.node_type[m][mask[m]]], v.shape[:2] + (NODE_TYPE_SIZE,))
        rows.append(np.concatenate([v, onehot], -1).reshape(-1, 2 + NODE_TYPE_SIZE))
    node_rows = np.concatenate(rows)
    pred = mask & ((train.node_type == NORMAL) | (train.node_type == OUTFLOW))
    delta = np.concatenate([(vel[m, 1:] - vel[m, :-1])[:, pred[m]].reshape(-1, 2) for m in range(len(vel))])
    s, r, em = train.adjacency[0]
    rel = np.concatenate(
        [(train.mesh_pos[m][s[m][em[m]]] - train.mesh_pos[m][r[m][em[m]]]).astype(np.float64) for m in range(len(vel))]
    )
    edge_rows = np.concatenate([rel, np.linalg.norm(rel, axis=1, keepdims=True)], 1)
    return {
        "node": (node_rows.mean(0), node_rows.std(0)),
        "edge": (edge_rows.mean(0), edge_rows.std(0)),
        "target": (delta.mean(0), delta.std(0)),
    }


def meshgraphnets_statistics(train: Split, noise: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The statistics MeshGraphNets' normalisers converge to, computed exactly and one trajectory at a time.

    MeshGraphNets (`cfd_model.py`, `normalization.py`) accumulates its node normaliser on the *noisy*
    inputs [velocity + noise on normal nodes, one-hot type] and its output normaliser on the velocity
    change target - noisy input over *all* nodes (boundary nodes included; the loss masks them later).
    Noise is zero-mean and independent, so its effect is exact: the mean is unchanged and the mean
    square of each velocity component grows by noise^2 times the share of normal nodes. Edge statistics
    are those of `statistics` (relative mesh positions and their norm over the mesh edges). Streaming
    in float64 keeps memory at one trajectory (the published train split is about 9 GB of velocities).
    """
    k = NODE_TYPE_SIZE
    node_sum, node_sq, node_n = np.zeros(2 + k), np.zeros(2 + k), 0.0
    tgt_sum, tgt_sq, tgt_n = np.zeros(2), np.zeros(2), 0.0
    normal_rows, normal_tgt_rows = 0.0, 0.0
    edge_rows = []
    s, r, em = train.adjacency[0]
    for m in range(train.num_trajectories):
        real = train.node_mask[m]
        v = train.velocity[m][:, real].astype(np.float64)  # [T, n, 2]
        types = train.node_type[m][real]
        counts = np.bincount(types, minlength=k)[:k].astype(np.float64)
        frames = v.shape[0]
        node_sum[:2] += v.sum((0, 1))
        node_sq[:2] += (v**2).sum((0, 1))
        node_sum[2:] += frames * counts  # one-hot: a column's sum is its count (and so is its sum of squares)
        node_sq[2:] += frames * counts
        node_n += frames * v.shape[1]
        normal_rows += frames * counts[NORMAL]
        delta = v[1:] - v[:-1]
        tgt_sum += delta.sum((0, 1))
        tgt_sq += (delta**2).sum((0, 1))
        tgt_n += delta.shape[0] * delta.shape[1]
        normal_tgt_rows += delta.shape[0] * counts[NORMAL]
        rel = (train.mesh_pos[m][s[m][em[m]]] - train.mesh_pos[m][r[m][em[m]]]).astype(np.float64)
        edge_rows.append(np.concatenate([rel, np.linalg.norm(rel, axis=1, keepdims=True)], 1))
    node_sq[:2] += noise**2 * normal_rows
    tgt_sq += noise**2 * normal_tgt_rows
    node_mean, tgt_mean = node_sum / node_n, tgt_sum / tgt_n
    node_std = np.sqrt(np.maximum(node_sq / node_n - node_mean**2, 0.0))
    tgt_std = np.sqrt(np.maximum(tgt_sq / tgt_n - tgt_mean**2, 0.0))
    edges = np.concatenate(edge_rows)
    return {"node": (node_mean, node_std), "edge": (edges.mean(0), edges.std(0)), "target": (tgt_mean, tgt_std)}


def synthetic_dataset(nodes: int, frames: int, trajectories: int, seed: int) -> list[dict]:
    """Timing-only trajectories on a Delaunay mesh of `nodes` random points in the 1.6 x 0.41 channel."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(trajectories):
        pos = rng.uniform([0, 0], [1.6, 0.41], (nodes, 2))
        cells = Delaunay(pos).simplices.astype(np.int32)
        types = np.where(pos[:, 0] < 0.02, 4, np.where(pos[:, 0] > 1.58, 5, 0)).astype(np.int32)
        k = rng.normal(size=(4, 2)) * 6
        phase = rng.uniform(0, 2 * np.pi, 4)
        t = np.arange(frames)[:, None, None] * 0.05
        arg = pos @ k.T  # [N, 4]
        vx = np.cos(arg[None] + phase - t).sum(-1)
        vy = np.sin(arg[None] + phase - 2 * t).sum(-1)
        out.append({"mesh_pos": pos.astype(np.float32), "cells": cells, "node_type": types[:, None],
                    "velocity": np.stack([vx, vy], -1).astype(np.float32)})
    return out


@functools.lru_cache(maxsize=4)
def load(
    source: str, config: CylinderFlowConfig, specs: tuple[EdgeSpec, ...], data_dir: str, synthetic_nodes: int,
    path: str = "", noise: float = 0.0,
) -> tuple[Split, Split, dict]:
    """Prepared (train, test, statistics), cached per process (the runner calls the task many times).

    `data_dir` "" means the shared data cache (`sciml.data.cache.data_dir()`). Source "meshgraphnets"
    reads the published files in `path` (`meta.json`, `train.tfrecord`, `test.tfrecord`): the first
    `config.n_train` / `config.n_test` trajectories, each cut to `config.frames` frames, with
    MeshGraphNets' statistics at training noise `noise` (`meshgraphnets_statistics`).
    """
    if source == "meshgraphnets":
        if not path:
            raise ValueError("data 'meshgraphnets' reads the published files: set task.path to the dataset "
                             "directory (meta.json, train.tfrecord, test.tfrecord)")
        if config.n_test < 1:
            raise ValueError("the dataset needs at least one test trajectory (num_test >= 1)")
        train = read_cylinder_split(path, "train", config.n_train, config.frames)
        test = read_cylinder_split(path, "test", config.n_test, config.frames)
        tr, te = prepare(train, test, specs)
        del train, test
        return tr, te, meshgraphnets_statistics(tr, noise)
    if source == "lbm":
        data = cylinder_flow(config, data_dir=data_dir or None)
        train, test = data["train"], data["test"]
    elif source == "synthetic":
        train = synthetic_dataset(synthetic_nodes, config.frames, config.n_train, config.seed)
        test = synthetic_dataset(synthetic_nodes, config.frames, max(config.n_test, 1), config.seed + 1)
    else:
        raise ValueError(f"data source must be one of {SOURCES}, got {source!r}")
    if not test:
        raise ValueError("the dataset needs at least one test trajectory (n_test >= 1)")
    tr, te = prepare(train, test, specs)
    return tr, te, statistics(tr)
