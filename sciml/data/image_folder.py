"""Image datasets as a folder or a zip of image files, the layout of EDM's / PFGM++'s `dataset_tool.py`.

That tool writes `00000/img00000000.png`, `00000/img00000001.png`, ... (uncompressed PNGs, RGB or
grayscale, square) and a `dataset.json` at the top: `{"labels": [["00000/img00000000.png", 6], ...]}`,
or `{"labels": null}` for an unlabelled set. Its training reader takes every file with an image
extension, recursively, in sorted order of the relative path, and looks labels up by that path.

`load_image_folder(path)` does the same for a folder or a `.zip` (any image format Pillow reads), checks
that all images share one size and channel count, and returns uint8 [N, C, H, W] (C = 1 or 3) with the
labels, or None when there is no `dataset.json` or it holds `"labels": null`.
"""

import contextlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

#: File extensions read as images (those Pillow reads that dataset tools write).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
LABELS_FILE = "dataset.json"


@contextlib.contextmanager
def _opened(path: Path):
    """Yields (relative names with '/' separators, read(name) -> bytes) of a folder or zip."""
    if path.is_dir():
        names = [Path(root, f).relative_to(path).as_posix() for root, _, files in os.walk(path) for f in files]
        yield names, lambda name: (path / name).read_bytes()
    elif path.is_file() and path.suffix.lower() == ".zip":
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path}: not a valid zip archive")
        with zipfile.ZipFile(path) as z:
            yield [n for n in z.namelist() if not n.endswith("/")], z.read
    elif not path.exists():
        raise FileNotFoundError(f"image dataset {path} does not exist (expected a folder or a .zip of images)")
    else:
        raise ValueError(f"{path}: an image dataset must be a folder or a .zip, got a {path.suffix or 'plain'} file")


def _decode(raw: bytes, name: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(raw)) as img:
            if img.mode not in ("L", "RGB"):
                img = img.convert("RGB" if img.mode in ("RGBA", "P", "CMYK", "YCbCr", "LA") else "L")
            arr = np.array(img)
    except Exception as e:  # noqa: BLE001 - any decoding failure is a malformed file
        raise ValueError(f"{name}: not a readable image ({type(e).__name__}: {e})") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _labels(read, names: set[str], images: list[str], where: str) -> np.ndarray | None:
    if LABELS_FILE not in names:
        return None
    try:
        raw = json.loads(read(LABELS_FILE))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{where}/{LABELS_FILE}: not valid JSON ({e})") from None
    if not isinstance(raw, dict) or "labels" not in raw:
        raise ValueError(f"{where}/{LABELS_FILE}: expected an object with a 'labels' entry")
    if raw["labels"] is None:
        return None
    try:
        table = {str(k).replace("\\", "/"): v for k, v in raw["labels"]}
    except (TypeError, ValueError):
        raise ValueError(f"{where}/{LABELS_FILE}: 'labels' must be a list of [file name, label] pairs") from None
    missing = [n for n in images if n not in table]
    if missing:
        raise ValueError(f"{where}/{LABELS_FILE}: no label for {len(missing)} image(s), e.g. {missing[0]}")
    return np.asarray([table[n] for n in images], np.int32)


def load_image_folder(path: str | Path, *, resolution: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(images uint8 [N, C, H, W], labels int32 [N] or None) of a folder or zip of images.

    `resolution` (if given) is the required height and width.
    """
    path = Path(path)
    with _opened(path) as (names, read):
        images = sorted(n for n in names if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS)
        if not images:
            raise ValueError(f"{path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) found")
        arrays = []
        for name in images:
            arr = _decode(read(name), f"{path}/{name}")
            if arrays and arr.shape != arrays[0].shape:
                raise ValueError(f"{path}/{name}: shape [C, H, W] = {list(arr.shape)} differs from the first "
                                 f"image's {list(arrays[0].shape)} ({images[0]}); all images must have one size")
            arrays.append(arr)
        labels = _labels(read, set(names), images, str(path))
    x = np.stack(arrays)
    if resolution is not None and x.shape[2:] != (resolution, resolution):
        raise ValueError(f"{path}: images are {x.shape[2]}x{x.shape[3]}, expected {resolution}x{resolution}")
    return x, labels


def save_image_zip(path: str | Path, images: np.ndarray) -> Path:
    """Write uint8 [N, C, H, W] images (C = 1 or 3) as a zip in `dataset_tool.py`'s layout
    (`00000/img00000000.png`, ..., `dataset.json` with `"labels": null`), e.g. for EDM's `fid.py`."""
    from PIL import Image

    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"need uint8 [N, 1 or 3, H, W] images, got {images.dtype} {list(images.shape)}")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
            for i, img in enumerate(images):
                name = f"{i:08d}"
                buf = io.BytesIO()
                Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)).save(buf, format="png")
                z.writestr(f"{name[:5]}/img{name}.png", buf.getvalue())
            z.writestr(LABELS_FILE, json.dumps({"labels": None}))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
