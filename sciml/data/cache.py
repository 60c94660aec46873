"""The one disk cache for generated datasets: where it lives and how an entry is read and written.

Location: `$SCIML_DATA_DIR` if set; else the repository's `data/` folder when running from a checkout;
else `~/.cache/sciml/data`. An entry is a NumPy `.npz` named by a hash of the parameters that made it,
written through a process-unique temporary file and an atomic rename (parallel test workers and
hosts may build the same entry at once), and a damaged entry is moved aside and regenerated.
"""

import hashlib
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sciml.files import move_aside

_REPO_DATA = Path(__file__).resolve().parents[2] / "data"


def data_dir(subdir: str = "") -> Path:
    """The data cache folder (created), or its `subdir`."""
    root = os.environ.get("SCIML_DATA_DIR")
    if root:
        base = Path(root)
    elif _REPO_DATA.is_dir():
        base = _REPO_DATA
    else:
        base = Path.home() / ".cache" / "sciml" / "data"
    out = base / subdir if subdir else base
    out.mkdir(parents=True, exist_ok=True)
    return out


def params_key(params: dict[str, Any]) -> str:
    """A short stable hash of JSON-able parameters (the cache key)."""
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]


def save_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """`np.savez` through a process-unique temporary file and a rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.npz")
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_npz(path: Path, required: tuple[str, ...] = ()) -> dict[str, np.ndarray] | None:
    """The arrays of a cached `.npz`; None (after moving it aside with a note) if it is damaged or incomplete."""
    try:
        # Opened here so that a damaged archive, on which np.load itself raises, is still closed.
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        missing = [k for k in required if k not in arrays]
        if missing:
            raise KeyError(f"missing arrays {missing}")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        if isinstance(e, ValueError) and "pickle" in str(e):  # NumPy's advice to unpickle is unsafe and wrong here
            e = ValueError("not a NumPy .npz archive")
        move_aside(path, e)
        return None
    return arrays


def cached_arrays(
    name: str,
    params: dict[str, Any],
    make: Callable[[], dict[str, np.ndarray]],
    *,
    cache: bool = True,
    required: tuple[str, ...] = (),
) -> dict[str, np.ndarray]:
    """`make()`'s arrays, read from `<data_dir>/<name>_<hash(params)>.npz` when cached, else built and saved.

    `name` may contain a sub-folder (`"fim/mjp"`). With `cache=False` nothing is read or written.
    """
    if not cache:
        return make()
    folder, _, stem = name.rpartition("/")
    path = data_dir(folder) / f"{stem}_{params_key(params)}.npz"
    if path.exists():
        arrays = load_npz(path, required)
        if arrays is not None:
            return arrays
    arrays = make()
    save_npz_atomic(path, arrays)
    return arrays
