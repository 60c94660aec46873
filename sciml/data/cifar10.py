"""CIFAR-10 in its published Python format ("CIFAR-10 python version", Krizhevsky 2009).

The archive `cifar-10-python.tar.gz` unpacks to a folder `cifar-10-batches-py/` holding the pickled
batches `data_batch_1` ... `data_batch_5` (10000 training images each), `test_batch` (10000) and
`batches.meta`. Each batch is a dict with byte-string keys: `b"data"` a uint8 array [10000, 3072]
whose rows are the 1024 red, then 1024 green, then 1024 blue values of a 32x32 image, each plane
row-major (so a row reshapes to [3, 32, 32] directly), and `b"labels"` a list of ints 0..9;
`batches.meta` has `b"label_names"`.

`load_cifar10(path)` accepts that folder, a folder containing it, or the `.tar.gz` archive itself,
and reads nothing from the network. The pickles are read with an unpickler that admits only the
NumPy array reconstruction the published files use, so a foreign pickle cannot run code.
"""

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from sciml.validate import check_choice

FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
META = "batches.meta"
SPLITS = ("train", "test")
IMAGE_SHAPE = (3, 32, 32)

# What the published pickles (NumPy arrays pickled by cPickle) may reference; NumPy 2 moved `core`.
_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),  # protocol 5
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # how Python 3 writes bytes at protocol 2 (batches re-saved by Python 3)
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch")


def _unpickle(raw: bytes, where: str) -> dict:
    try:
        obj = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:  # noqa: BLE001 - any failure to unpickle is a malformed file
        raise ValueError(f"{where}: not a CIFAR-10 pickle batch ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a pickled dict, got {type(obj).__name__}")
    # The published files have byte-string keys (pickled by Python 2); accept str keys as well.
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _check_batch(batch: dict, where: str) -> tuple[np.ndarray, np.ndarray]:
    missing = [k for k in ("data", "labels") if k not in batch]
    if missing:
        raise ValueError(f"{where}: missing key(s) {[k.encode() for k in missing]}; has {sorted(batch)}")
    data = np.asarray(batch["data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{where}: b'data' must be uint8 [N, 3072], got {data.dtype} {list(data.shape)}")
    labels = np.asarray(batch["labels"])
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{where}: b'labels' must be {len(data)} integers, got {labels.dtype} {list(labels.shape)}")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{where}: labels must lie in 0..9, got {labels.min()}..{labels.max()}")
    return data.reshape(-1, *IMAGE_SHAPE), labels.astype(np.int32)


def _reader(path: Path):
    """(read(name) -> bytes, description) for the batches folder or the archive."""
    if path.is_file():
        if not tarfile.is_tarfile(path):
            raise ValueError(f"{path}: not a folder and not the {ARCHIVE} archive")

        def read(name):
            with tarfile.open(path, "r:*") as tar:
                try:
                    member = tar.getmember(f"{FOLDER}/{name}")
                except KeyError:
                    raise FileNotFoundError(f"{path}: the archive has no {FOLDER}/{name}") from None
                with tar.extractfile(member) as f:
                    return f.read()

        return read, str(path)
    if not path.is_dir():
        raise FileNotFoundError(f"CIFAR-10 path {path} does not exist (expected the {FOLDER} folder or {ARCHIVE})")
    folder = path / FOLDER if (path / FOLDER).is_dir() else path

    def read(name):
        file = folder / name
        if not file.is_file():
            raise FileNotFoundError(
                f"{folder}: no {name} (CIFAR-10 python batches need {', '.join(TRAIN_BATCHES + TEST_BATCHES)})"
            )
        return file.read_bytes()

    return read, str(folder)


def load_cifar10(path: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 3, 32, 32], labels int32 [N]) of one split: `train` (data_batch_1..5, in
    order) or `test` (test_batch)."""
    check_choice("CIFAR-10 split", split, SPLITS)
    read, where = _reader(Path(path))
    images, labels = [], []
    for name in TRAIN_BATCHES if split == "train" else TEST_BATCHES:
        x, y = _check_batch(_unpickle(read(name), f"{where}/{name}"), f"{where}/{name}")
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels)


def label_names(path: str | Path) -> list[str]:
    """The class names of `batches.meta` (b"label_names"), as str."""
    read, where = _reader(Path(path))
    meta = _unpickle(read(META), f"{where}/{META}")
    if "label_names" not in meta:
        raise ValueError(f"{where}/{META}: missing key b'label_names'")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in meta["label_names"]]
