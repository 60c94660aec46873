"""Rate-matrix utilities and the maximum-likelihood baseline."""

import jax
import numpy as np
import pytest
import scipy.linalg

from sciml.data.mjp import MJPPrior, compact_observations, sample_processes
from sciml.fim import (
    mle_rate_matrix,
    offdiagonal,
    rate_matrix_from_offdiagonal,
    relaxation_time,
    stationary_distribution,
    transition_counts,
)
from sciml.sim import sample_paths


def test_stationary_distribution_matches_linear_solve():
    p = sample_processes(np.random.default_rng(1), 20, MJPPrior(min_states=2, max_states=6))
    for Q, n in zip(p["Q"].astype(np.float64), p["n_states"]):
        q = Q[:n, :n]
        pi = np.asarray(stationary_distribution(q))
        # independent: solve pi Q = 0 with the last equation replaced by normalisation
        A = q.T.copy()
        A[-1] = 1.0
        ref = np.linalg.solve(A, np.eye(n)[-1])
        np.testing.assert_allclose(pi, ref, atol=1e-5)
        np.testing.assert_allclose(pi @ scipy.linalg.expm(q * 3.0), pi, atol=1e-5)


def test_relaxation_time_is_slowest_decay():
    Q = np.array([[-1.0, 1.0], [3.0, -3.0]])  # eigenvalues 0 and -4
    assert abs(relaxation_time(Q) - 0.25) < 1e-12
    # the distance to stationarity decays like exp(-t / tau)
    p = sample_processes(np.random.default_rng(2), 1, MJPPrior(min_states=4, max_states=4))["Q"][0, :4, :4]
    p = p.astype(np.float64)
    tau = relaxation_time(p)
    pi = np.asarray(stationary_distribution(p))
    d = [np.abs(scipy.linalg.expm(p * t)[0] - pi).sum() for t in (10 * tau, 11 * tau)]
    assert abs(d[1] / d[0] - np.exp(-1.0)) < 0.05


def test_offdiagonal_round_trip():
    Q = sample_processes(np.random.default_rng(0), 4)["Q"]
    off = offdiagonal(Q)
    assert off.shape == (4, 30)
    np.testing.assert_allclose(np.asarray(rate_matrix_from_offdiagonal(off, 6)), Q, atol=1e-6)
    with pytest.raises(ValueError, match="off-diagonal"):
        rate_matrix_from_offdiagonal(off[:, :29], 6)


Q3 = np.array([[-1.0, 0.6, 0.4], [0.2, -0.5, 0.3], [1.0, 1.0, -2.0]])


@pytest.fixture(scope="module")
def long_paths():
    times = np.linspace(0, 20, 201)
    x = sample_paths(Q3, np.ones(3) / 3, times, 200, key=jax.random.PRNGKey(0))
    return np.broadcast_to(times, x.shape).copy(), x


@pytest.mark.parametrize("method, rtol", [("expm", 0.12), ("logm", 0.15)])
def test_mle_recovers_rates(long_paths, method, rtol):
    t, x = long_paths
    Qh = mle_rate_matrix(t, x, n_states=3, method=method)
    np.testing.assert_allclose(Qh.sum(1), 0, atol=1e-9)
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_allclose(Qh[off], Q3[off], rtol=rtol)


def test_mle_on_irregular_grid(long_paths):
    t, x = long_paths
    mask = np.random.default_rng(0).random(x.shape) < 0.5
    tt, xx, ll = compact_observations(t[0], x, mask)
    steps, counts = transition_counts(tt, xx, ll, 3)
    assert len(steps) > 5 and counts.sum() == (ll - 1).sum()
    Qh = mle_rate_matrix(tt, xx, ll, n_states=3)
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_allclose(Qh[off], Q3[off], rtol=0.2)


def test_mle_bad_input():
    t = np.linspace(0, 1, 5)[None]
    with pytest.raises(ValueError, match="states must lie"):
        mle_rate_matrix(t, np.array([[0, 1, 3, 1, 0]]), n_states=3)
    with pytest.raises(ValueError, match="non-decreasing"):
        mle_rate_matrix(t[:, ::-1], np.array([[0, 1, 2, 1, 0]]), n_states=3)
    with pytest.raises(ValueError, match="method"):
        mle_rate_matrix(t, np.array([[0, 1, 2, 1, 0]]), n_states=3, method="em")
