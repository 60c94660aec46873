"""Digits for the PFGM++ reproduction: 8x8 (or 16x16) images in [-1, 1], and a fixed train/test split.

Digits come from scikit-learn's bundled copy of the UCI digits (1797 images, 8x8, values 0..16: each
pixel counts the set pixels of a 4x4 block of a 32x32 bitmap), read straight from its csv.gz so nothing
is downloaded. Where scikit-learn is not installed we *render* digits the same way: glyphs of the
DejaVu fonts that matplotlib ships, randomly rotated, sheared, scaled, shifted and thickened on a 32x32
bitmap, then block-counted to 8x8. The rendered set is our stand-in, not the UCI data; `source` says
which one a run used. Rendered digits are kept in the data cache (`sciml.data.cache`, under digits/).
"""

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from sciml.data.cache import cached_arrays
from sciml.validate import check_choice

DIGITS_SOURCES = ("auto", "sklearn", "rendered")
#: Image sizes: the 8x8 originals, or upsampled bilinearly to 16x16.
DIGITS_SIZES = (8, 16)
#: Rendered digits per class and the seed of their random glyph transforms (1800 images in all).
RENDERED_PER_CLASS = 180
RENDERED_SEED = 0


def resolve_digits_source(source: str) -> str:
    """'auto' -> 'sklearn' when scikit-learn is importable, else 'rendered'; others are checked."""
    check_choice("digits source", source, DIGITS_SOURCES)
    if source == "auto":
        return "sklearn" if importlib.util.find_spec("sklearn") is not None else "rendered"
    return source


def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise ImportError(
            "digits source 'sklearn' needs scikit-learn (its bundled digits.csv.gz); install it or use "
            "source='rendered' (or 'auto')"
        )
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as f:
        raw = np.loadtxt(f, delimiter=",")
    return raw[:, :-1].reshape(-1, 8, 8), raw[:, -1].astype(np.int32)


def render_digits(per_class: int = RENDERED_PER_CLASS, seed: int = RENDERED_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Digits rendered from matplotlib's DejaVu fonts, block-counted to 8x8 values in 0..16 (UCI-style)."""
    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    font_dir = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    names = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif.ttf",
             "DejaVuSerif-Bold.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSerif-Italic.ttf"]
    fonts = [font_dir / n for n in names if (font_dir / n).exists()]
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for digit in range(10):
        for _ in range(per_class):
            font = ImageFont.truetype(str(fonts[rng.integers(len(fonts))]), int(rng.integers(40, 52)))
            canvas = Image.new("L", (64, 64), 0)
            draw = ImageDraw.Draw(canvas)
            stroke = int(rng.integers(0, 3))
            draw.text((32, 32), str(digit), fill=255, font=font, anchor="mm", stroke_width=stroke, stroke_fill=255)
            angle = rng.uniform(-15, 15)
            shear = rng.uniform(-0.25, 0.25)
            canvas = canvas.rotate(angle, resample=Image.BILINEAR)
            canvas = canvas.transform((64, 64), Image.AFFINE, (1, shear, -shear * 32, 0, 1, 0), Image.BILINEAR)
            # Crop the glyph's bounding box and fit it into the 32x32 frame like the UCI preprocessing.
            arr = np.asarray(canvas)
            ys, xs = np.nonzero(arr > 127)
            box = arr[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
            h, w = box.shape
            s = rng.uniform(24, 31) / max(h, w)
            glyph = Image.fromarray(box).resize((max(1, round(w * s)), max(1, round(h * s))), Image.BILINEAR)
            frame = Image.new("L", (32, 32), 0)
            dx = (32 - glyph.width) // 2 + int(rng.integers(-1, 2))
            dy = (32 - glyph.height) // 2 + int(rng.integers(-1, 2))
            frame.paste(glyph, (min(max(dx, 0), 32 - glyph.width), min(max(dy, 0), 32 - glyph.height)))
            bits = (np.asarray(frame) > 127).astype(np.int32)
            images.append(bits.reshape(8, 4, 8, 4).sum(axis=(1, 3)))
            labels.append(digit)
    order = rng.permutation(len(labels))
    return np.asarray(images, np.float64)[order], np.asarray(labels, np.int32)[order]


def load_digits(source: str = "auto", size: int = 8) -> tuple[np.ndarray, np.ndarray, str]:
    """(images [n, 1, size, size] float32 in [-1, 1], labels [n] int32, resolved source).

    size 16 upsamples the 8x8 images bilinearly (scipy.ndimage.zoom, order 1).
    """
    check_choice("digits size", size, DIGITS_SIZES)
    source = resolve_digits_source(source)
    if source == "sklearn":
        raw, labels = _sklearn_digits()
    else:
        params = {"per_class": RENDERED_PER_CLASS, "seed": RENDERED_SEED}

        def make():
            images, labels = render_digits(**params)
            return {"images": images, "labels": labels}

        arrays = cached_arrays("digits/rendered", params, make, required=("images", "labels"))
        raw, labels = arrays["images"], arrays["labels"]
    x = raw / 16.0 * 2.0 - 1.0
    if size == 16:
        import scipy.ndimage

        x = scipy.ndimage.zoom(x, (1, 2, 2), order=1, mode="nearest")
    return x[:, None].astype(np.float32), labels, source


def split_indices(n: int, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed random train/test split of range(n)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])
