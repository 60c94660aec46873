"""Particle trajectories in the GNS schema: MPM-generated datasets (cached) and the GNS TFRecord format.

A dataset split is `{"position": [M, T, N, 2] float32, "particle_type": [M, N] int32}` (M
trajectories, T frames, N particles) plus a metadata dict with the keys of the GNS `metadata.json`:
`bounds`, `sequence_length`, `default_connectivity_radius`, `dim`, `dt`, `vel_mean`, `vel_std`,
`acc_mean`, `acc_std` (velocities and accelerations are per frame: finite differences of positions,
the GNS convention), and ours: `materials` (name -> particle type) and `n_particles`.

`mpm_dataset` simulates scenes with `sciml.sim.mpm` (one material per scene: 1-2 random blocks or
disks dropped with random velocities), computes the statistics on the training split and caches the
result in the data cache (`sciml.data.cache`: `$SCIML_DATA_DIR/particles/`, else the checkout's
`data/particles/`). Particle types are the simulator's material ids (0 water, 1 sand,
2 elastic); GNS datasets use other ids (e.g. 5 for water), so models embed up to `NUM_PARTICLE_TYPES`.

The published GNS datasets (WaterDrop, Sand, Goop, ...) are TFRecord files of `tf.train.SequenceExample`
protos: context `particle_type` (bytes of int64) and `key`, feature list `position` (one bytes feature
of float32 [N, dim] per step). TensorFlow is not a dependency: `sciml.data.tfrecord` reads and writes them;
`gns_dataset` turns a published set into training-ready splits of one particle count.
Reference: Sanchez-Gonzalez et al. 2020, "Learning to simulate complex physics with graph networks"
(`learning_to_simulate/reading_utils.py` defines the schema).
"""

import json
from collections.abc import Iterable
from pathlib import Path

import jax
import numpy as np

from sciml.data.cache import cached_arrays, data_dir, params_key
from sciml.data.tfrecord import decode_sequence_example, encode_sequence_example, read_tfrecord, write_tfrecord
from sciml.files import move_aside, read_json, write_atomic
from sciml.sim.mpm import DEFAULT_CONFIG, MATERIALS, MPMConfig, simulate

#: Size of the particle-type vocabulary (GNS's NUM_PARTICLE_TYPES), enough for ours and the GNS sets.
NUM_PARTICLE_TYPES = 9

#: Connectivity radius of our MPM datasets in initial particle spacings sqrt(area / N): about 14
#: neighbours inside the material (GNS: 0.015 at a spacing of about 0.006 in WaterDrop, 2.5 spacings).
RADIUS_SPACINGS = 2.3

# ---------------------------------------------------------------------------------------- scenes


def _blue_noise(candidates: np.ndarray, k: int, start: int) -> np.ndarray:
    """Greedy farthest-point subset of `candidates` (near-uniform spacing for the MPM particles)."""
    chosen = np.empty(k, np.int64)
    chosen[0] = start
    d = np.linalg.norm(candidates - candidates[start], axis=1)
    for i in range(1, k):
        chosen[i] = int(d.argmax())
        d = np.minimum(d, np.linalg.norm(candidates - candidates[chosen[i]], axis=1))
    return candidates[chosen]


def _random_shape(rng: np.random.Generator, area: float, lo: float, hi: float):
    """(kind, centre, half-size) of a block or disk of the given area inside [lo, hi]^2, in the upper part."""
    kind = str(rng.choice(["box", "disk"]))
    if kind == "box":
        aspect = rng.uniform(0.6, 1.6)
        half = np.sqrt(area / 4 * np.array([aspect, 1 / aspect]))
    else:
        half = np.full(2, np.sqrt(area / np.pi))
    cx = rng.uniform(lo + half[0] + 0.02, hi - half[0] - 0.02)
    cy = rng.uniform(max(0.4, lo + half[1] + 0.05), hi - half[1] - 0.02)
    return kind, np.array([cx, cy]), half


def _inside(kind: str, centre: np.ndarray, half: np.ndarray, p: np.ndarray) -> np.ndarray:
    if kind == "box":
        return np.all(np.abs(p - centre) <= half, axis=-1)
    return np.linalg.norm(p - centre, axis=-1) <= half[0]


def _area(kind: str, half: np.ndarray) -> float:
    return float(4 * half[0] * half[1]) if kind == "box" else float(np.pi * half[0] ** 2)


def sample_scene(
    rng: np.random.Generator, n_particles: int, material: str, cfg: MPMConfig = DEFAULT_CONFIG,
    area: float = 0.06, max_shapes: int = 2,
) -> dict[str, np.ndarray]:
    """A random initial scene: 1..max_shapes non-overlapping blocks/disks of total `area`, one velocity each.

    The total area is fixed so every scene has the same particle density (and the same neighbour
    count at a given radius). Particles are a blue-noise (farthest-point) subset of 8N uniform
    candidates, so their spacing is near-uniform as MPM likes; each particle's volume is area / N.
    Returns x0, v0, material [N] and vol [N].
    """
    if material not in MATERIALS:
        raise ValueError(f"unknown material {material!r}; valid: {sorted(MATERIALS)}")
    if n_particles < 2:
        raise ValueError(f"need at least 2 particles, got {n_particles}")
    (lo, hi), _ = cfg.bounds
    if not 0 < area <= 0.25 * (hi - lo) ** 2:
        raise ValueError(f"area must be in (0, {0.25 * (hi - lo) ** 2:.3f}], got {area}")
    n_shapes = int(rng.integers(1, max_shapes + 1))
    fractions = np.array([1.0]) if n_shapes == 1 else rng.dirichlet(np.full(n_shapes, 4.0))
    shapes = []
    for frac in fractions:
        for _ in range(200):
            kind, c, h = _random_shape(rng, area * frac, lo, hi)
            if all(np.any(np.abs(c - c2) > h + h2 + 0.02) for _, c2, h2 in shapes):
                shapes.append((kind, c, h))
                break
        else:
            raise RuntimeError("could not place non-overlapping shapes; lower `area`")
    areas = np.array([_area(k, h) for k, _, h in shapes])
    counts = np.maximum(1, np.round(n_particles * areas / areas.sum()).astype(int))
    counts[-1] = n_particles - counts[:-1].sum()
    xs, vs = [], []
    for (kind, c, h), n in zip(shapes, counts):
        cand = rng.uniform(c - h, c + h, size=(16 * n, 2))
        cand = cand[_inside(kind, c, h, cand)][: 8 * n]
        xs.append(_blue_noise(cand, int(n), int(rng.integers(len(cand)))))
        vs.append(np.tile(rng.uniform([-0.5, -0.5], [0.5, 0.25]), (n, 1)))
    return {
        "x0": np.concatenate(xs).astype(np.float32),
        "v0": np.concatenate(vs).astype(np.float32),
        "material": np.full(n_particles, MATERIALS[material], np.int32),
        "vol": np.full(n_particles, areas.sum() / n_particles, np.float32),
    }


def simulate_scenes(
    seed: int, materials: Iterable[str], n_per_material: int, n_particles: int, n_frames: int,
    cfg: MPMConfig = DEFAULT_CONFIG, area: float = 0.06,
) -> dict[str, np.ndarray]:
    """Simulate `n_per_material` random scenes per material: position [M, T, N, 2], particle_type [M, N].

    Scene k of material m uses the seed sequence (seed, m, k), so a split is reproducible and adding
    scenes keeps the earlier ones.
    """
    positions, types = [], []
    for m in materials:
        for k in range(n_per_material):
            rng = np.random.default_rng([seed, MATERIALS[m], k])
            s = sample_scene(rng, n_particles, m, cfg, area)
            pos = simulate(s["x0"], s["v0"], s["material"], s["vol"], cfg=cfg, n_frames=n_frames)
            positions.append(np.asarray(jax.device_get(pos), np.float32))
            types.append(s["material"])
    return {"position": np.stack(positions), "particle_type": np.stack(types)}


def statistics(position: np.ndarray) -> dict[str, list[float]]:
    """Per-dimension mean and std of per-frame velocities and accelerations (pooled, GNS metadata)."""
    pos = np.asarray(position, np.float64)
    vel = np.diff(pos, axis=-3)
    acc = np.diff(vel, axis=-3)
    d = pos.shape[-1]
    return {
        "vel_mean": vel.reshape(-1, d).mean(0).tolist(),
        "vel_std": vel.reshape(-1, d).std(0).tolist(),
        "acc_mean": acc.reshape(-1, d).mean(0).tolist(),
        "acc_std": acc.reshape(-1, d).std(0).tolist(),
    }


def mpm_dataset(
    *,
    n_particles: int = 512,
    n_frames: int = 160,
    n_train: int = 8,
    n_test: int = 2,
    materials: tuple[str, ...] = ("water", "sand", "elastic"),
    seed: int = 0,
    area: float = 0.06,
    cfg: MPMConfig = DEFAULT_CONFIG,
    cache: bool = True,
) -> dict:
    """Train and test splits of MPM trajectories with GNS metadata; cached as `particles/mpm_<hash>.npz`
    in the data cache (`sciml.data.cache`; `cache=False`: neither read nor written).

    Returns {"train": split, "test": split, "metadata": dict}. The test scenes use seed + 1000.
    """
    if n_frames < 3:
        raise ValueError(f"n_frames must be >= 3 (two velocities and a target), got {n_frames}")
    if n_train < 1 or n_test < 1:
        raise ValueError(f"need n_train >= 1 and n_test >= 1, got {n_train}, {n_test}")
    params = {"n_particles": n_particles, "n_frames": n_frames, "n_train": n_train, "n_test": n_test,
              "materials": list(materials), "seed": seed, "area": area, "cfg": {k: v for k, v in vars(cfg).items()}}

    def make() -> dict[str, np.ndarray]:
        train = simulate_scenes(seed, materials, n_train, n_particles, n_frames, cfg, area)
        test = simulate_scenes(seed + 1000, materials, n_test, n_particles, n_frames, cfg, area)
        metadata = {
            "bounds": [list(b) for b in cfg.bounds],
            "sequence_length": n_frames,
            "default_connectivity_radius": RADIUS_SPACINGS * float(np.sqrt(area / n_particles)),
            "dim": 2,
            "dt": cfg.frame_dt,
            **statistics(train["position"]),
            "materials": {m: MATERIALS[m] for m in materials},
            "n_particles": n_particles,
        }
        return ({"metadata": np.asarray(json.dumps(metadata))} | {f"train_{k}": v for k, v in train.items()}
                | {f"test_{k}": v for k, v in test.items()})

    arrays = cached_arrays("particles/mpm", params, make, cache=cache, required=_CACHE_KEYS)
    try:
        metadata = json.loads(str(arrays["metadata"]))
    except ValueError as e:  # a readable archive whose metadata is not JSON: damaged, rebuild it
        move_aside(data_dir("particles") / f"mpm_{params_key(params)}.npz", e)
        arrays = cached_arrays("particles/mpm", params, make, cache=cache, required=_CACHE_KEYS)
        metadata = json.loads(str(arrays["metadata"]))
    split = lambda s: {k: arrays[f"{s}_{k}"] for k in ("position", "particle_type")}  # noqa: E731
    return {"train": split("train"), "test": split("test"), "metadata": metadata}


_CACHE_KEYS = ("metadata", "train_position", "train_particle_type", "test_position", "test_particle_type")


# ------------------------------------------------------------------------------ GNS dataset files


def read_gns_metadata(directory: str | Path) -> dict:
    """The `metadata.json` of a GNS dataset directory."""
    path = Path(directory) / "metadata.json"
    meta = read_json(path, "GNS metadata.json")
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    if "dim" in meta and meta["dim"] not in (1, 2, 3):
        raise ValueError(f"{path}: 'dim' must be 1, 2 or 3, got {meta['dim']!r}")
    return meta


def read_gns_split(
    directory: str | Path, split: str, *, verify: bool = True, limit: int | None = None
) -> list[dict[str, np.ndarray]]:
    """Trajectories of `<directory>/<split>.tfrecord`: [{"position": [T, N, dim] float32, "particle_type": [N]}].

    Trajectories may differ in particle count (WaterDrop does), so this returns a list; `key` and
    `step_context` are passed through when present. `limit`: read only the first `limit` records.
    """
    directory = Path(directory)
    meta = read_gns_metadata(directory)
    if "dim" not in meta:
        raise ValueError(f"{directory / 'metadata.json'}: missing 'dim'")
    dim = int(meta["dim"])
    path = directory / f"{split}.tfrecord"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    out = []
    for k, record in enumerate(read_tfrecord(path, verify=verify)):
        if limit is not None and k >= limit:
            break
        context, lists = decode_sequence_example(record)
        if "position" not in lists or "particle_type" not in context:
            raise ValueError(f"{path}: record {k} lacks `position` or `particle_type` (not a GNS dataset?)")
        ptype = np.frombuffer(b"".join(context["particle_type"]), "<i8")
        frames = [np.frombuffer(b"".join(f), "<f4") for f in lists["position"]]
        for f in frames:
            if f.size != len(ptype) * dim:
                raise ValueError(
                    f"{path}: record {k} has {f.size} position values per frame, not {len(ptype)} particles x "
                    f"dim {dim} (is 'dim' in metadata.json right?)"
                )
        pos = np.stack([f.reshape(len(ptype), dim) for f in frames])
        traj = {"position": pos, "particle_type": ptype}
        if "key" in context:
            traj["key"] = np.asarray(context["key"])
        if "step_context" in lists:
            traj["step_context"] = np.stack([np.frombuffer(b"".join(f), "<f4") for f in lists["step_context"]])
        out.append(traj)
    if not out:
        raise ValueError(f"{path}: no records (an empty TFRecord file)")
    return out


def write_gns_split(directory: str | Path, split: str, trajectories: Iterable[dict], metadata: dict | None = None):
    """Write trajectories ({"position": [T, N, dim], "particle_type": [N]}) as a GNS TFRecord split.

    Writes `metadata.json` too when given. Positions are stored as float32, types as int64, as GNS does.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if metadata is not None:
        write_atomic(directory / "metadata.json", json.dumps(metadata, indent=2))
    records = []
    for key, t in enumerate(trajectories):
        pos = np.asarray(t["position"], "<f4")
        context = {"particle_type": np.asarray(t["particle_type"], "<i8").tobytes(), "key": np.array([key])}
        records.append(encode_sequence_example(context, {"position": [p.tobytes() for p in pos]}))
    path = directory / f"{split}.tfrecord"
    write_tfrecord(path, records)


# ------------------------------------------------------------------- training-ready GNS datasets

#: GNS's id of kinematic (obstacle) particles (`learning_to_simulate/train.py`, KINEMATIC_PARTICLE_ID):
#: GNS excludes them from the loss and sets them to the truth in rollouts.
KINEMATIC_PARTICLE_TYPE = 3

#: The `metadata.json` keys the particle tasks use (normalisation, walls, graph radius).
GNS_METADATA_KEYS = ("bounds", "default_connectivity_radius", "dim", "vel_mean", "vel_std", "acc_mean", "acc_std")


def farthest_point_order(x: np.ndarray, k: int, start: int = 0) -> np.ndarray:
    """Indices of `k` points of `x` [N, d] chosen greedily farthest from those already chosen, from `start`."""
    chosen = np.empty(k, np.int64)
    chosen[0] = start
    d = np.linalg.norm(x - x[start], axis=1)
    for i in range(1, k):
        chosen[i] = int(d.argmax())
        d = np.minimum(d, np.linalg.norm(x - x[chosen[i]], axis=1))
    return chosen


def gns_dataset(directory: str | Path, *, num_train: int, num_test: int, num_frames: int, num_particles: int = 0,
                dims: tuple[int, ...] = (2,)) -> dict:
    """A published GNS dataset (WaterDrop, Water, Sand, Goop, ...) as {"train", "test", "metadata"} splits.

    Reads the first `num_train` trajectories of `train.tfrecord` and `num_test` of `test.tfrecord`, each
    cut to its first `num_frames` frames. The published trajectories differ in particle count, while a
    batch needs one static shape, so every trajectory keeps `num_particles` particles (0: the count of
    the smallest trajectory read), chosen by farthest-point sampling of its first frame from particle 0
    (a uniform thinning; GIOROM's `parseGNSData.py` subsamples the GNS sets too). Splits are
    {"position": [M, T, N, dim] float32, "particle_type": [M, N] int32}; the metadata is
    `metadata.json` (whose velocity and acceleration statistics GNS normalises with) plus `materials`
    ("type<id>" -> id for the particle types present) and `n_particles`. `dims` lists the spatial
    dimensions the caller's model handles. Raises ValueError naming the file and what is missing.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"GNS dataset directory {directory} does not exist "
                                "(expected metadata.json and train/valid/test.tfrecord, e.g. WaterDrop)")
    meta = read_gns_metadata(directory)
    missing = [k for k in GNS_METADATA_KEYS if k not in meta]
    if missing:
        raise ValueError(f"{directory / 'metadata.json'} lacks {missing} "
                         f"(a GNS metadata.json has {list(GNS_METADATA_KEYS)})")
    if int(meta["dim"]) not in dims:
        raise ValueError(f"{directory}: a {meta['dim']}-D dataset, but this model handles {list(dims)}-D "
                         "particles only")
    splits = {}
    for split, count in (("train", num_train), ("test", num_test)):
        trajs = read_gns_split(directory, split, limit=count)
        path = directory / f"{split}.tfrecord"
        if len(trajs) < count:
            raise ValueError(f"{path} holds {len(trajs)} trajectories, but {count} were asked for "
                             "(lower task.num_train / task.num_test)")
        for k, t in enumerate(trajs):
            if len(t["position"]) < num_frames:
                raise ValueError(f"{path}, record {k}: {len(t['position'])} frames, but {num_frames} were asked "
                                 "for (lower task.num_frames)")
            types = t["particle_type"]
            if np.any(types == KINEMATIC_PARTICLE_TYPE):
                raise ValueError(f"{path}, record {k} has kinematic (obstacle) particles, type "
                                 f"{KINEMATIC_PARTICLE_TYPE}, which GNS resets to the truth every step; "
                                 "this task does not support them (use sets without obstacles: WaterDrop, Water, "
                                 "Sand, Goop)")
            if types.min() < 0 or types.max() >= NUM_PARTICLE_TYPES:
                raise ValueError(f"{path}, record {k}: particle types {np.unique(types).tolist()} outside "
                                 f"[0, {NUM_PARTICLE_TYPES})")
        splits[split] = trajs
    counts = [len(t["particle_type"]) for s in splits.values() for t in s]
    n = num_particles or min(counts)
    if n > min(counts):
        raise ValueError(f"{directory}: num_particles {n} exceeds the smallest trajectory read ({min(counts)} "
                         f"particles; counts range {min(counts)}..{max(counts)}); use num_particles <= {min(counts)} "
                         "or 0 (= the smallest)")

    def stack(trajs):
        pos, types = [], []
        for t in trajs:
            x = t["position"][:num_frames]
            idx = np.arange(n) if x.shape[1] == n else np.sort(farthest_point_order(x[0].astype(np.float64), n))
            pos.append(x[:, idx])
            types.append(t["particle_type"][idx])
        return {"position": np.stack(pos).astype(np.float32), "particle_type": np.stack(types).astype(np.int32)}

    out = {s: stack(t) for s, t in splits.items()}
    present = np.unique(np.concatenate([out[s]["particle_type"].ravel() for s in out]))
    metadata = dict(meta, materials={f"type{int(t)}": int(t) for t in present}, n_particles=int(n))
    return {"train": out["train"], "test": out["test"], "metadata": metadata}
