"""Letters: populations of points inside rotated capital letters, and noisy copies of them (MFM Sec. 4).

Each population is one letter under one random rotation: `n` points drawn uniformly inside the glyph,
scaled so the glyph's longer side spans [-3, 3] (aspect kept), jittered by N(0, 0.05^2) and rotated by
theta ~ U[0, 2 pi). The source is the target plus N(0, 0.5^2) noise, point by point (a paired
denoising problem). Default splits as the original: train on the 24 letters other than X and Y, X for
validation, Y for test, several rotations each.

Deviation from the original: it renders Arial (shipped with its repository) with PIL on a 200 x 200
canvas and takes every inked pixel as a point (~1.7k points for "A"); we use the font matplotlib ships
(DejaVu Sans) and sample points uniformly inside the exact glyph outline (`TextPath`, curves flattened
finely, even-odd rule so holes stay empty), which gives any number of points and no pixel grid.

Reference: Atanackovic et al. 2024, "Meta Flow Matching", Sec. 4.1 (synthetic letters).
"""

import functools
import string

import numpy as np
from matplotlib.font_manager import FontProperties
from matplotlib.path import Path
from matplotlib.textpath import TextPath

from sciml.data.populations import Populations

#: The font every glyph is taken from (bundled with matplotlib, so nothing is downloaded).
LETTER_FONT = "DejaVu Sans"
#: Font size at which glyph curves are flattened into polygons: the flattening tolerance is about one
#: unit, so 200 units per em keep the polygon within ~0.5% of the true outline.
GLYPH_SIZE = 200.0
#: Half-width of the box the glyph's longer side is scaled to, as in the original.
HALF_WIDTH = 3.0
#: Std of the jitter added to target points, and of the noise that turns a target into its source.
JITTER = 0.05
SOURCE_NOISE = 0.5
#: The original's splits: X for validation, Y for test, the other 24 letters for training.
VAL_LETTERS = "X"
TEST_LETTERS = "Y"


def default_train_letters(val: str = VAL_LETTERS, test: str = TEST_LETTERS) -> str:
    return "".join(c for c in string.ascii_uppercase if c not in val + test)


@functools.lru_cache(maxsize=64)
def glyph_polygons(letter: str) -> tuple[np.ndarray, ...]:
    """The closed outline polygons of a glyph, in font units (a letter with holes has several)."""
    if len(letter) != 1 or not letter.strip():
        raise ValueError(f"a glyph is one visible character, got {letter!r}")
    path = TextPath((0.0, 0.0), letter, size=GLYPH_SIZE, prop=FontProperties(family=LETTER_FONT))
    polygons = tuple(np.asarray(p, np.float64) for p in path.to_polygons(closed_only=True))
    if not polygons:
        raise ValueError(f"the font has no outline for {letter!r}")
    return polygons


def inside_glyph(letter: str, points: np.ndarray) -> np.ndarray:
    """Which `points` (font units) lie inside the glyph: even-odd rule over its outline polygons."""
    crossings = sum(Path(p).contains_points(points).astype(int) for p in glyph_polygons(letter))
    return crossings % 2 == 1


@functools.lru_cache(maxsize=64)
def glyph_frame(letter: str) -> tuple[np.ndarray, float]:
    """(centre, scale): normalised = (font units - centre) * scale puts the longer side on [-3, 3]."""
    pts = np.concatenate(glyph_polygons(letter))
    lo, hi = pts.min(0), pts.max(0)
    return (lo + hi) / 2, 2 * HALF_WIDTH / float((hi - lo).max())


def sample_glyph(letter: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` points uniform inside the upright glyph, normalised to [-3, 3] (rejection sampling)."""
    if n < 1:
        raise ValueError(f"need at least one point, got n={n}")
    pts = np.concatenate(glyph_polygons(letter))
    lo, hi = pts.min(0), pts.max(0)
    kept: list[np.ndarray] = []
    count = 0
    while count < n:
        cand = rng.uniform(lo, hi, (max(2 * n, 256), 2))
        cand = cand[inside_glyph(letter, cand)]
        kept.append(cand)
        count += len(cand)
    centre, scale = glyph_frame(letter)
    return (np.concatenate(kept)[:n] - centre) * scale


def rotation(theta: float) -> np.ndarray:
    """2-D rotation matrix acting on row vectors: x @ rotation(theta)."""
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, s], [-s, c]])


def letter_population(
    letter: str, n: int, rng: np.random.Generator, *, noise: float = SOURCE_NOISE, jitter: float = JITTER
) -> tuple[np.ndarray, np.ndarray, float]:
    """(source, target, theta): one rotated letter `target [n, 2]` and its noisy copy `source`."""
    theta = float(rng.uniform(0.0, 2 * np.pi))
    target = sample_glyph(letter, n, rng) + jitter * rng.standard_normal((n, 2))
    target = target @ rotation(theta)
    source = target + noise * rng.standard_normal((n, 2))
    return source.astype(np.float32), target.astype(np.float32), theta


def letters_populations(
    letters: str,
    rotations: int,
    n: int,
    *,
    seed: int = 0,
    noise: float = SOURCE_NOISE,
    jitter: float = JITTER,
) -> Populations:
    """`len(letters) x rotations` paired populations; population (letter, r) depends on (seed, letter, r) only.

    So adding letters or rotations never changes the populations that were already there.
    """
    if not letters:
        raise ValueError("no letters given")
    if rotations < 1:
        raise ValueError(f"rotations must be >= 1, got {rotations}")
    sources, targets, groups = [], [], []
    for letter in letters:
        for r in range(rotations):
            rng = np.random.default_rng([seed, ord(letter), r])
            x0, x1, _ = letter_population(letter, n, rng, noise=noise, jitter=jitter)
            sources.append(x0)
            targets.append(x1)
            groups.append(letter)
    m = len(sources)
    return Populations(
        sources=np.stack(sources),
        targets=np.stack(targets),
        source_of=np.arange(m),
        treatment=np.zeros(m, int),
        groups=tuple(groups),
        paired=True,
    )


def letters_splits(
    train: str, val: str, test: str, rotations: int, n: int, *, seed: int = 0, noise: float = SOURCE_NOISE
) -> dict[str, Populations | None]:
    """The train / val / test collections of `letters_populations` (val is None when no val letters)."""
    return {
        "train": letters_populations(train, rotations, n, seed=seed, noise=noise),
        "val": letters_populations(val, rotations, n, seed=seed, noise=noise) if val else None,
        "test": letters_populations(test, rotations, n, seed=seed, noise=noise),
    }
