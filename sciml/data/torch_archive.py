"""A torch-free reader of tensors saved by `torch.save` (the zip format), for published datasets.

The archive holds `data.pkl` (a pickle whose tensors are `torch._utils._rebuild_tensor_v2` calls on
persistent storage ids) and one raw file per storage under `data/`. The unpickler below allows only
those tensor globals (and `collections.OrderedDict`), so reading a file cannot run arbitrary code.
Reference: PyTorch's serialization format (`torch/serialization.py`, `_load`).
"""

import collections
import io
import pickle
import zipfile

import numpy as np

_TORCH_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
    "UntypedStorage": np.uint8,
}


def _rebuild_tensor(storage, offset, size, stride, *_):
    item = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * item for s in stride)
    )
    return np.array(view)


class _TorchUnpickler(pickle.Unpickler):
    """Unpickles a `torch.save` zip archive's `data.pkl` into NumPy arrays, allowing only tensor globals."""

    def __init__(self, file, read_storage):
        super().__init__(file)
        self._read_storage = read_storage

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module in ("torch", "torch.storage") and name in _TORCH_STORAGE_DTYPES:
            return np.dtype(_TORCH_STORAGE_DTYPES[name])
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unsupported global {module}.{name} in a .pt file (only tensors are read)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, dtype, key, _location, numel = pid
        return np.frombuffer(self._read_storage(str(key)), dtype=dtype)[:numel]


def read_torch_tensor(data: bytes) -> np.ndarray:
    """Read one tensor saved by `torch.save` (zip format) without importing torch."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise ValueError("not a torch zip archive: no data.pkl inside")
        root = pkl[: -len("data.pkl")]
        order = z.read(root + "byteorder").decode().strip() if root + "byteorder" in names else "little"

        def read_storage(key):
            buf = z.read(f"{root}data/{key}")
            return buf if order == "little" else np.frombuffer(buf, np.uint8).tobytes()

        arr = _TorchUnpickler(io.BytesIO(z.read(pkl)), read_storage).load()
    if order != "little":
        arr = arr.byteswap().view(arr.dtype.newbyteorder())
    return np.asarray(arr)
