"""The robustness figure puts each point's error bar on that point (not on a neighbour's)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from sciml.pfgmpp import figures  # noqa: E402
from sciml.pfgmpp.sampler import num_function_evals  # noqa: E402


def test_robustness_error_bars_belong_to_their_points():
    keys = ["fd", "fd_alpha0.1", "fd_alpha0.2", "fd_nfe7", "fd_nfe11", "fd_bits4", "fd_bits8"]
    means = {k: 10.0 + i for i, k in enumerate(keys)}
    sds = {k: 0.1 * (i + 1) for i, k in enumerate(keys)}
    fig = figures.robustness({"4": means}, alphas=[0.1, 0.2], steps=[4, 6], bits=[4, 8], num_steps=18,
                             spread={"4": sds})
    expected = [  # per panel: (x, key) in plotting order
        [(0.0, "fd"), (0.1, "fd_alpha0.1"), (0.2, "fd_alpha0.2")],
        [(7, "fd_nfe7"), (11, "fd_nfe11"), (num_function_evals(18), "fd")],
        [(4, "fd_bits4"), (8, "fd_bits8"), (32, "fd")],
    ]
    for ax, points in zip(fig.axes, expected):
        (bars,) = [c for c in ax.collections if isinstance(c, matplotlib.collections.LineCollection)]
        segments = {round(float(seg[0, 0]), 6): (seg[0, 1], seg[1, 1]) for seg in bars.get_segments()}
        for x, key in points:
            lo, hi = segments[round(float(x), 6)]
            np.testing.assert_allclose([lo, hi], [means[key] - sds[key], means[key] + sds[key]], rtol=1e-6)
