"""CIFAR-10's Python batches (`cifar-10-batches-py`), read from tiny batches in the published format."""

import io
import pickle
import struct
import tarfile

import numpy as np
import pytest

from sciml.data.cifar10 import label_names, load_cifar10

NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]


class _Py2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle wrote the published batches (protocol 2): every str and bytes as a
    (SHORT_)BINSTRING, NumPy's globals under `numpy.core`."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_str(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else bytes(obj)
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = _save_str
    dispatch[str] = _save_str

    def save_global(self, obj, name=None):
        name = name or obj.__qualname__
        module = pickle.whichmodule(obj, name).replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())
        self.memoize(obj)


def py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def _batch(rng, n, tag):
    # The published dict: byte-string keys, uint8 [n, 3072] rows = R plane, G plane, B plane (row-major),
    # labels a list of ints, plus the batch label and file names.
    return {
        b"batch_label": f"training batch {tag} of 5".encode(),
        b"labels": [int(v) for v in rng.integers(0, 10, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{tag}_{i}.png".encode() for i in range(n)],
    }


def write_batches(folder, n=3, seed=0):
    """The six batches and batches.meta in folder/cifar-10-batches-py; returns {name: dict}."""
    rng = np.random.default_rng(seed)
    out = folder / "cifar-10-batches-py"
    out.mkdir(parents=True)
    batches = {f"data_batch_{i}": _batch(rng, n, i) for i in range(1, 6)}
    batches["test_batch"] = _batch(rng, n + 1, "test")
    # A pixel with known colour: image 1 of data_batch_2 at row 3, column 5 is (R, G, B) = (7, 77, 177).
    for plane, value in enumerate((7, 77, 177)):
        batches["data_batch_2"][b"data"][1, plane * 1024 + 3 * 32 + 5] = value
    for name, d in batches.items():
        (out / name).write_bytes(py2_pickle(d))
    meta = {b"num_cases_per_batch": n, b"label_names": NAMES, b"num_vis": 3072}
    (out / "batches.meta").write_bytes(py2_pickle(meta))
    return batches


def test_reads_the_published_layout_values_and_order(tmp_path):
    batches = write_batches(tmp_path)
    x, y = load_cifar10(tmp_path)  # the parent folder works as well as the batches folder
    assert x.shape == (15, 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int32
    assert tuple(x[3 + 1, :, 3, 5]) == (7, 77, 177)  # channels-first, row-major planes
    for b in range(5):
        d = batches[f"data_batch_{b + 1}"]
        np.testing.assert_array_equal(x[3 * b : 3 * b + 3].reshape(3, -1), d[b"data"])
        np.testing.assert_array_equal(y[3 * b : 3 * b + 3], d[b"labels"])
    # Red plane row 0 is the first 32 bytes of the row.
    np.testing.assert_array_equal(x[0, 0, 0], batches["data_batch_1"][b"data"][0, :32])
    xt, yt = load_cifar10(tmp_path / "cifar-10-batches-py", "test")
    np.testing.assert_array_equal(xt.reshape(4, -1), batches["test_batch"][b"data"])
    np.testing.assert_array_equal(yt, batches["test_batch"][b"labels"])
    assert label_names(tmp_path) == [n.decode() for n in NAMES]


def test_batches_re_saved_by_python3_read_the_same(tmp_path):
    batches = write_batches(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    before = load_cifar10(folder)
    for i, name in enumerate(f"data_batch_{b}" for b in range(1, 6)):
        (folder / name).write_bytes(pickle.dumps(batches[name], protocol=2 + i % 4))
    for a, b in zip(before, load_cifar10(folder)):
        np.testing.assert_array_equal(a, b)


def test_reads_the_tar_gz_archive(tmp_path):
    write_batches(tmp_path / "src")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    np.testing.assert_array_equal(load_cifar10(archive)[0], load_cifar10(tmp_path / "src")[0])


def test_errors_name_the_path_and_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_cifar10(tmp_path / "nowhere")
    write_batches(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    (folder / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_4"):
        load_cifar10(folder)
    (folder / "data_batch_4").write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=2))
    with pytest.raises(ValueError, match=r"data_batch_4: missing key.*labels"):
        load_cifar10(folder)
    (folder / "data_batch_4").write_bytes(pickle.dumps({b"data": np.zeros((2, 32, 32, 3), np.float32),
                                                        b"labels": [0, 1]}, protocol=2))
    with pytest.raises(ValueError, match=r"uint8 \[N, 3072\]"):
        load_cifar10(folder)
    (folder / "data_batch_4").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="data_batch_4: not a CIFAR-10 pickle batch"):
        load_cifar10(folder)
    with pytest.raises(ValueError, match="split"):
        load_cifar10(folder, "valid")


class _Evil:
    def __reduce__(self):
        import os

        return (os.getcwd, ())


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    write_batches(tmp_path)
    buf = io.BytesIO()
    pickle.dump({b"data": np.zeros((1, 3072), np.uint8), b"labels": [_Evil()]}, buf, protocol=2)
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="not allowed"):
        load_cifar10(tmp_path)
