"""Diagnostics of issue 17: the DFR lies inside the prior's support; the linear probe reads what it should."""

import numpy as np
import pytest

from sciml.data.mjp import dfr_rate_matrix, make_dfr_dataset, make_mjp_dataset
from sciml.fim.evaluation import SUPPORT_PERCENTILES, dfr_support, linear_probe


def test_linear_probe_reads_linear_targets_and_not_noise():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    y_lin = X @ rng.normal(size=(5, 2))
    y_noise = rng.normal(size=(400, 1))
    assert np.all(linear_probe(X, y_lin) > 0.99)
    assert linear_probe(X, y_noise)[0] < 0.05


@pytest.fixture(scope="module")
def support():
    """The pretraining set of experiments/fim/pretrain.yaml (50-point grid on [0, 10], 16 paths per process,
    here 600 processes) against 15 batches of 16 DFR paths (50 points on [0, 2.5], T_norm = 2.5)."""
    train = make_mjp_dataset(0, 600, 16, grid_size=50, t_end=10.0)
    dfr = make_dfr_dataset(1, 240, grid_size=50, t_end=2.5)
    return dfr_support(train, dfr, dfr_rate_matrix(), t_norm=2.5, num_paths=16)


def test_dfr_lies_within_the_prior_support(support):
    """Criterion: the DFR's median of every statistic (largest and smallest rate, mean holding time, state
    changes per observation interval and per path, all in normalised time) lies between the 1st and 99th
    percentiles of the same statistic over the pretraining processes."""
    ref, tgt, pct = support
    assert SUPPORT_PERCENTILES == (1.0, 99.0)
    assert set(ref) == {"max_rate", "min_rate", "holding_time", "changes_per_interval", "changes_per_path"}
    for k in ref:
        assert pct[f"{k}_within"] == 1.0, (k, np.percentile(ref[k], SUPPORT_PERCENTILES), np.median(tgt[k]))


def test_support_criterion_rejects_a_slower_dfr():
    """The same DFR observed on a 10x longer window (rates x10 in normalised time) is outside the support."""
    train = make_mjp_dataset(0, 300, 16, grid_size=50, t_end=10.0)
    dfr = make_dfr_dataset(1, 64, grid_size=50, t_end=25.0)
    _, _, pct = dfr_support(train, dfr, dfr_rate_matrix(), t_norm=25.0, num_paths=16)
    assert pct["max_rate_within"] == 0.0 and pct["changes_per_interval_within"] == 0.0
