"""Image folders and zips in the layout of EDM's / PFGM++'s dataset_tool.py, written here with Pillow."""

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from sciml.data.image_folder import load_image_folder, save_image_zip


def _png(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="png", compress_level=0)
    return buf.getvalue()


def _images(n=5, size=32, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    shape = (n, size, size, channels) if channels == 3 else (n, size, size)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def _names(n):
    return [f"{i:08d}"[:5] + f"/img{i:08d}.png" for i in range(n)]


def write_zip(path, imgs, labels=None, extra=()):
    with zipfile.ZipFile(path, "w") as z:
        # Written out of order, with labels listed in another order: the reader sorts by name.
        for name, img in reversed(list(zip(_names(len(imgs)), imgs))):
            z.writestr(name, _png(img))
        table = None if labels is None else [[n, int(v)] for n, v in reversed(list(zip(_names(len(imgs)), labels)))]
        z.writestr("dataset.json", json.dumps({"labels": table}))
        for name, data in extra:
            z.writestr(name, data)
    return path


def test_zip_with_labels_values_order_and_channels_first(tmp_path):
    imgs = _images(5)
    labels = [3, 1, 4, 1, 5]
    x, y = load_image_folder(write_zip(tmp_path / "set.zip", imgs, labels), resolution=32)
    assert x.shape == (5, 3, 32, 32) and x.dtype == np.uint8
    np.testing.assert_array_equal(x, imgs.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(y, labels)


def test_folder_grayscale_and_unlabelled(tmp_path):
    imgs = _images(3, size=16, channels=1)
    for name, img in zip(_names(3), imgs):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(_png(img))
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": None}))
    (tmp_path / "notes.txt").write_text("not an image")
    x, y = load_image_folder(tmp_path)
    assert y is None and x.shape == (3, 1, 16, 16)
    np.testing.assert_array_equal(x[:, 0], imgs)


def test_errors_name_the_path_and_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "missing.zip")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        load_image_folder(tmp_path / "empty")
    with pytest.raises(ValueError, match="expected 16x16"):
        load_image_folder(write_zip(tmp_path / "a.zip", _images(2)), resolution=16)
    odd = write_zip(tmp_path / "b.zip", _images(2), extra=[("00000/img00000009.png", _png(_images(1, size=8)[0]))])
    with pytest.raises(ValueError, match=r"img00000009.png: shape .* differs"):
        load_image_folder(odd)
    partial = write_zip(tmp_path / "c.zip", _images(2), labels=[1, 2],
                        extra=[("00000/img00000002.png", _png(_images(1)[0]))])
    with pytest.raises(ValueError, match=r"dataset.json: no label for 1 image"):
        load_image_folder(partial)
    bad = write_zip(tmp_path / "d.zip", _images(1), extra=[("00000/img00000001.png", b"garbage")])
    with pytest.raises(ValueError, match=r"img00000001.png: not a readable image"):
        load_image_folder(bad)
    (tmp_path / "e.npz").write_bytes(b"x")
    with pytest.raises(ValueError, match="folder or a .zip"):
        load_image_folder(tmp_path / "e.npz")


def test_save_image_zip_round_trips_in_the_dataset_tool_layout(tmp_path):
    imgs = _images(4).transpose(0, 3, 1, 2)
    path = save_image_zip(tmp_path / "samples.zip", imgs)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == sorted(_names(4) + ["dataset.json"])
        assert json.loads(z.read("dataset.json")) == {"labels": None}
    x, y = load_image_folder(path)
    np.testing.assert_array_equal(x, imgs)
    assert y is None
