"""Letters, synthetic patients and the Populations container (the organoid files: test_mfm_organoids.py)."""

import numpy as np
import pytest
import scipy.ndimage
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import PathPatch
from matplotlib.textpath import TextPath

from sciml.data.letters import (
    GLYPH_SIZE,
    LETTER_FONT,
    default_train_letters,
    glyph_frame,
    inside_glyph,
    letter_population,
    letters_populations,
    sample_glyph,
)
from sciml.data.patients import response_scale, split_cohort, synthetic_patients
from sciml.data.populations import Populations, stack_populations


def _rasterise(letter: str, pixels: int = 300, dilate: bool = False):
    """An independent inside test: Agg fills the glyph's compound path (non-zero rule, its own curve code)."""
    path = TextPath((0, 0), letter, size=GLYPH_SIZE, prop=FontProperties(family=LETTER_FONT))
    lo, hi = path.vertices.min(0) - 2, path.vertices.max(0) + 2
    fig = Figure(figsize=(pixels / 100, pixels / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_axis_off()
    ax.add_patch(PathPatch(path, facecolor="black", edgecolor="none", antialiased=False))
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    canvas.draw()
    inked = np.asarray(canvas.buffer_rgba())[..., 0] < 128
    if dilate:  # tolerate one pixel at the outline, where the pixel grid and the flattened curves differ
        inked = scipy.ndimage.binary_dilation(inked)

    def lookup(font_points):
        col = ((font_points[:, 0] - lo[0]) / (hi[0] - lo[0]) * pixels).astype(int).clip(0, pixels - 1)
        row = ((hi[1] - font_points[:, 1]) / (hi[1] - lo[1]) * pixels).astype(int).clip(0, pixels - 1)
        return inked[row, col]

    return lookup, lo, hi


@pytest.mark.parametrize("letter", ["A", "B", "O", "Y"])
def test_glyph_points_lie_inside_the_rendered_glyph(letter):
    lookup, lo, hi = _rasterise(letter, dilate=True)
    pts = sample_glyph(letter, 1500, np.random.default_rng(0))
    assert pts.shape == (1500, 2)
    assert np.abs(pts).max() <= 3.0 + 1e-9 and np.isclose(np.abs(pts).max(0).max(), 3.0, atol=0.05)
    centre, scale = glyph_frame(letter)
    assert lookup(pts / scale + centre).all()  # every sample on an inked pixel (holes of A, B, O stay empty)
    # The even-odd inside test and Agg's fill agree on uniform points of the bounding box (up to edge pixels).
    lookup, lo, hi = _rasterise(letter)
    box = np.random.default_rng(1).uniform(lo, hi, (4000, 2))
    assert np.mean(inside_glyph(letter, box) == lookup(box)) > 0.98


def test_letters_are_deterministic_and_have_the_documented_noise():
    a = letters_populations("AB", 3, 200, seed=5)
    b = letters_populations("AB", 3, 200, seed=5)
    c = letters_populations("AB", 3, 200, seed=6)
    np.testing.assert_array_equal(a.sources, b.sources)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert not np.allclose(a.targets, c.targets)
    assert a.groups == ("A",) * 3 + ("B",) * 3 and a.paired and a.sources.shape == (6, 200, 2)
    # Adding letters does not change the populations already there.
    np.testing.assert_array_equal(letters_populations("ABC", 3, 200, seed=5).targets[:6], a.targets)
    x0, x1, theta = letter_population("Y", 4000, np.random.default_rng(0), noise=0.5, jitter=0.0)
    assert np.std(x0 - x1) == pytest.approx(0.5, rel=0.05)
    # Target = rotated upright glyph: rotating back puts every point inside the glyph.
    c, s = np.cos(-theta), np.sin(-theta)
    upright = x1 @ np.array([[c, s], [-s, c]])
    centre, scale = glyph_frame("Y")
    assert inside_glyph("Y", upright / scale + centre).mean() > 0.999
    assert default_train_letters() == "ABCDEFGHIJKLMNOPQRSTUVWZ"
    with pytest.raises(ValueError, match="one visible character"):
        sample_glyph("AB", 10, np.random.default_rng(0))


def test_patient_response_depends_on_the_cell_type_proportion():
    cohort = synthetic_patients(6, 2, dim=3, cell_types=3, treatments=2, cells=3000, seed=3)
    pops = cohort.populations
    assert pops.sources.shape == (12, 3000, 3) and pops.targets.shape == (24, 3000, 3)
    assert not pops.paired and pops.treatments == ("drug0", "drug1")
    again = synthetic_patients(6, 2, dim=3, cell_types=3, treatments=2, cells=3000, seed=3)
    np.testing.assert_array_equal(again.populations.targets, pops.targets)
    # The mean of target - control is sum_k pi_k s(pi_k) Delta_jk: it depends on the patient's proportions.
    for m in range(pops.num_targets):
        s, j = pops.source_of[m], pops.treatment[m]
        pi = cohort.proportions[cohort.patient[s]]
        expected = (pi * response_scale(pi)) @ cohort.responses[j]
        np.testing.assert_allclose(pops.targets[m].mean(0) - pops.sources[s].mean(0), expected, atol=0.35)
    assert response_scale(0.0) > response_scale(0.5) > response_scale(1.0) == 0.0
    train, test = split_cohort(cohort, "patient", test_patients=2)
    assert set(train.groups).isdisjoint(test.groups) and len(set(test.groups)) == 2
    train, test = split_cohort(cohort, "replicate")
    assert set(train.groups) == set(test.groups) and train.num_sources == test.num_sources == 6
    with pytest.raises(ValueError, match="unknown holdout"):
        split_cohort(cohort, "plate")


def test_populations_reject_bad_shapes():
    with pytest.raises(ValueError, match="same number of points"):
        stack_populations([np.zeros((5, 2)), np.zeros((6, 2))])
    with pytest.raises(ValueError, match="empty"):
        stack_populations([np.zeros((0, 2))])
    with pytest.raises(ValueError, match="no populations"):
        stack_populations([])
    src = np.zeros((2, 4, 2), np.float32)
    with pytest.raises(ValueError, match="same \\[n, d\\]"):
        Populations(src, np.zeros((2, 5, 2)), np.arange(2), np.zeros(2, int), ("a", "b"))
    with pytest.raises(ValueError, match="source_of points outside"):
        Populations(src, src, np.array([0, 2]), np.zeros(2, int), ("a", "b"))
    pops = Populations(src, np.concatenate([src, src]), np.array([0, 1, 1, 0]), np.array([0, 0, 1, 1]),
                       ("a", "b"), treatments=("t0", "t1"))
    sub = pops.select_groups(["b"])
    assert sub.num_sources == 1 and sub.num_targets == 2 and list(sub.source_of) == [0, 0]
    with pytest.raises(ValueError, match="unknown groups"):
        pops.select_groups(["z"])
