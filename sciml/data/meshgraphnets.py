"""The MeshGraphNets dataset format: TFRecord files of `tf.train.Example` protos plus a `meta.json`.

Each record is one trajectory. Every field is one `bytes_list` feature holding the raw little-endian
bytes of a NumPy array; `meta.json` says, per field, whether it is `static` (shape [1, N, d], the same
for every frame: `mesh_pos`, `cells`, `node_type`), `dynamic` ([T, N, d]: `velocity`, `pressure`) or
`dynamic_varlen` (a ragged time axis whose row lengths are stored as `length_<field>`), its dtype, and
its shape with -1 for the node / cell counts that vary between trajectories. CylinderFlow's meta is
`{"field_names": ["cells", "mesh_pos", "node_type", "velocity", "pressure"], "trajectory_length": 600,
"dt": 0.01, "features": {"velocity": {"type": "dynamic", "shape": [600, -1, 2], "dtype": "float32"},
...}}`.

TensorFlow is not a dependency: the records are read and written by `sciml.data.tfrecord`.
Reference: Pfaff et al. 2021, "Learning Mesh-Based Simulation with Graph Networks" (ICLR), the schema
of `meshgraphnets/dataset.py` in google-deepmind/deepmind-research.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from sciml.data.tfrecord import decode_example, encode_example, read_tfrecord, write_tfrecord
from sciml.files import read_json, write_atomic

# ------------------------------------------------------------------------ MeshGraphNets datasets

#: The CylinderFlow fields, in the published order.
CYLINDER_FIELDS = ("cells", "mesh_pos", "node_type", "velocity", "pressure")
STATIC_FIELDS = ("cells", "mesh_pos", "node_type")


def load_meta(directory: str | Path) -> dict:
    """Read and check `meta.json`: every field named in field_names has a type, shape and dtype."""
    path = Path(directory) / "meta.json"
    meta = read_json(path, "MeshGraphNets meta.json")
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    for key in ("field_names", "features", "trajectory_length"):
        if key not in meta:
            raise ValueError(f"{path}: missing {key!r}")
    for name in meta["field_names"]:
        spec = meta["features"].get(name)
        if spec is None:
            raise ValueError(f"{path}: field {name!r} has no entry in 'features'")
        if spec.get("type") not in ("static", "dynamic", "dynamic_varlen"):
            raise ValueError(
                f"{path}: field {name!r} has type {spec.get('type')!r}; valid: static, dynamic, dynamic_varlen"
            )
        try:
            np.dtype(spec["dtype"])
        except (KeyError, TypeError) as e:
            raise ValueError(f"{path}: field {name!r} has no valid dtype ({e})") from None
        if not isinstance(spec.get("shape"), list):
            raise ValueError(f"{path}: field {name!r} has no shape list")
    return meta


def parse_trajectory(record: bytes, meta: dict, source: str = "record") -> dict[str, np.ndarray | list[np.ndarray]]:
    """One record -> {field: array}. Static fields keep their leading axis of 1 as stored ([1, N, d]);
    MeshGraphNets' reader tiles them over time, which callers can do with `np.broadcast_to`.
    A `dynamic_varlen` field becomes a list of per-frame arrays. Every per-node field (all but `cells`)
    must agree on the node count, and `cells` must index those nodes: a dtype in `meta.json` that does
    not match the bytes is caught here. `source` names the record in errors."""
    raw = decode_example(record)
    out = {}
    for name, spec in meta["features"].items():
        if name not in raw:
            raise ValueError(f"{source}: lacks field {name!r}; it has {sorted(raw)}")
        chunks = raw[name]
        if not isinstance(chunks, list):
            raise ValueError(f"{source}: field {name!r} must be a bytes_list (raw array bytes), got a numeric list")
        blob = b"".join(chunks)
        itemsize = np.dtype(spec["dtype"]).itemsize
        if len(blob) % itemsize:
            raise ValueError(f"{source}: field {name!r} has {len(blob)} bytes, not a multiple of its dtype "
                             f"{spec['dtype']!r} ({itemsize} bytes; is the dtype in meta.json right?)")
        data = np.frombuffer(blob, np.dtype(spec["dtype"]).newbyteorder("<"))
        shape = list(spec["shape"])
        if spec["type"] == "dynamic_varlen":
            lengths = np.frombuffer(b"".join(raw[f"length_{name}"]), "<i4")
            inner = [s for s in shape[2:]]
            flat = data.reshape([-1] + inner)
            out[name] = np.split(flat, np.cumsum(lengths)[:-1])
            continue
        try:
            out[name] = data.reshape(shape).astype(np.dtype(spec["dtype"]))
        except ValueError:
            raise ValueError(f"{source}: field {name!r}: {data.size} values do not fit shape {shape} "
                             f"(is the dtype {spec['dtype']!r} in meta.json right?)") from None
    _check_node_counts(out, meta, source)
    return out


def _check_node_counts(out: dict, meta: dict, source: str) -> None:
    def per_node(name, a):
        shape = meta["features"][name]["shape"]
        return name != "cells" and isinstance(a, np.ndarray) and a.ndim >= 2 and len(shape) >= 2 and shape[1] == -1

    nodes = {name: a.shape[1] for name, a in out.items() if per_node(name, a)}
    if len(set(nodes.values())) > 1:
        raise ValueError(f"{source}: fields disagree on the number of nodes {nodes}; "
                         "a dtype or shape in meta.json does not match the stored bytes")
    cells = out.get("cells")
    if nodes and isinstance(cells, np.ndarray) and cells.size:
        n = next(iter(nodes.values()))
        if cells.min() < 0 or cells.max() >= n:
            raise ValueError(f"{source}: 'cells' index nodes outside [0, {n}) (range {cells.min()}..{cells.max()}); "
                             "is the dtype of 'cells' in meta.json right?")


def read_dataset(directory: str | Path, split: str, *, verify: bool = True) -> Iterator[dict]:
    """The trajectories of `<directory>/<split>.tfrecord` as dicts of NumPy arrays (see `parse_trajectory`)."""
    meta = load_meta(directory)
    path = Path(directory) / f"{split}.tfrecord"
    if not path.exists():
        splits = sorted(p.stem for p in Path(directory).glob("*.tfrecord"))
        raise FileNotFoundError(f"{path} does not exist; splits here: {splits}")
    k = -1
    for k, record in enumerate(read_tfrecord(path, verify=verify)):
        yield parse_trajectory(record, meta, f"{path}, record {k}")
    if k < 0:
        raise ValueError(f"{path}: no records (an empty TFRecord file)")


def write_dataset(
    directory: str | Path, split: str, trajectories: list[dict[str, np.ndarray]], *, extra_meta: dict | None = None
) -> Path:
    """Write trajectories in the MeshGraphNets format; returns the TFRecord path.

    Each trajectory maps field -> array: static fields [1, N, d] (or [N, d], a leading 1 is added),
    dynamic fields [T, N, d]. The node and cell axes are stored as -1 in `meta.json`, so meshes may
    differ between trajectories; T must be the same. Writes (or checks against) `meta.json`.
    """
    if not trajectories:
        raise ValueError("no trajectories to write")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    first = trajectories[0]
    features = {}
    length = None
    for name, arr in first.items():
        arr = np.asarray(arr)
        static = name in STATIC_FIELDS
        if static and arr.ndim == 2:
            arr = arr[None]
        if not static:
            length = arr.shape[0] if length is None else length
        shape = [1 if static else arr.shape[0], -1, *arr.shape[2:]]
        features[name] = {"type": "static" if static else "dynamic", "shape": shape, "dtype": arr.dtype.name}
    meta = {"field_names": list(first), "features": features, "trajectory_length": int(length or 1)}
    meta.update(extra_meta or {})
    meta_path = directory / "meta.json"
    if meta_path.exists():
        old = read_json(meta_path, "MeshGraphNets meta.json")
        if old["features"] != features:
            raise ValueError(f"{meta_path} describes other fields: {old['features']} vs {features}")
    write_atomic(meta_path, json.dumps(meta, indent=1))

    def records():
        for k, traj in enumerate(trajectories):
            if list(traj) != list(first):
                raise ValueError(f"trajectory {k} has fields {list(traj)}, expected {list(first)}")
            out = {}
            for name, arr in traj.items():
                arr = np.ascontiguousarray(arr, dtype=features[name]["dtype"])
                if name in STATIC_FIELDS and arr.ndim == 2:
                    arr = arr[None]
                want = features[name]["shape"]
                if arr.ndim != len(want) or arr.shape[0] != want[0] or list(arr.shape[2:]) != want[2:]:
                    raise ValueError(f"trajectory {k}, field {name!r}: shape {arr.shape} does not match {want}")
                out[name] = [arr.astype(arr.dtype.newbyteorder("<")).tobytes()]
            yield encode_example(out)

    path = directory / f"{split}.tfrecord"
    write_tfrecord(path, records())
    return path


# ------------------------------------------------------------------- training-ready CylinderFlow splits

#: The fields a CylinderFlow trajectory needs for training (pressure is published but not learned).
CYLINDER_TRAINING_FIELDS = {"cells": 3, "mesh_pos": 2, "node_type": 1, "velocity": 2}


def read_cylinder_split(directory: str | Path, split: str, count: int, frames: int) -> list[dict[str, np.ndarray]]:
    """The first `count` trajectories of `<directory>/<split>.tfrecord`, each cut to its first `frames` frames.

    Returns dicts with static fields squeezed (`mesh_pos` [N, 2], `cells` [C, 3], `node_type` [N, 1]) and
    `velocity` [frames, N, 2] float32; other fields (`pressure`) are dropped to save memory. Raises
    ValueError naming the file and what is missing: a field, trajectories, or frames.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"MeshGraphNets dataset directory {directory} does not exist "
                                "(expected meta.json and train/valid/test.tfrecord, e.g. CylinderFlow)")
    meta = load_meta(directory)
    path = directory / f"{split}.tfrecord"
    missing = [name for name in CYLINDER_TRAINING_FIELDS if name not in meta["features"]]
    if missing:
        raise ValueError(f"{directory / 'meta.json'} lacks the fields {missing} that CylinderFlow training "
                         f"needs ({sorted(CYLINDER_TRAINING_FIELDS)}); it has {sorted(meta['features'])}")
    for name, width in CYLINDER_TRAINING_FIELDS.items():
        shape = meta["features"][name]["shape"]
        if shape[-1] != width:
            raise ValueError(f"{directory / 'meta.json'}: field {name!r} has shape {shape}, expected last axis {width} "
                             "(a 2-D CylinderFlow-like dataset)")
    if meta["features"]["velocity"]["type"] != "dynamic":
        raise ValueError(f"{directory / 'meta.json'}: 'velocity' must be a dynamic field")
    length = int(meta["features"]["velocity"]["shape"][0])
    if frames > length:
        raise ValueError(f"{path}: asked for {frames} frames, but its trajectories hold {length} (trajectory_length)")
    out = []
    for traj in read_dataset(directory, split):
        if len(out) == count:
            break
        out.append({
            "mesh_pos": np.asarray(traj["mesh_pos"][0], np.float32),
            "cells": np.asarray(traj["cells"][0]),
            "node_type": np.asarray(traj["node_type"][0], np.int32),
            "velocity": np.ascontiguousarray(traj["velocity"][:frames], np.float32),
        })
    if len(out) < count:
        raise ValueError(f"{path} holds {len(out)} trajectories, but {count} were asked for "
                         "(lower task.num_train / task.num_test)")
    return out
