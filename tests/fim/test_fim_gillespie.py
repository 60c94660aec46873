"""Gillespie simulator: state histograms against the master equation, absorbing states, bad input."""

import jax
import numpy as np
import pytest
import scipy.linalg
import scipy.stats

import sciml.sim.gillespie as gillespie
from sciml.data.mjp import MJPPrior, sample_processes
from sciml.sim import check_rate_matrix, gillespie_jumps, sample_paths, simulate_many


def _chi2_pvalues(states, Q, p0, times):
    """p-values of chi-square tests of the state histogram at each time against p0 expm(Q t)."""
    n = Q.shape[0]
    pvals = []
    for k, t in enumerate(times):
        expected = p0 @ scipy.linalg.expm(Q * t) * states.shape[0]
        observed = np.bincount(states[:, k], minlength=n)
        keep = expected > 5  # the chi-square approximation needs populated cells
        rest_obs, rest_exp = observed[~keep].sum(), expected[~keep].sum()
        obs = np.r_[observed[keep], rest_obs] if rest_exp > 0 else observed[keep]
        exp = np.r_[expected[keep], rest_exp] if rest_exp > 0 else expected[keep]
        pvals.append(scipy.stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue)
    return np.array(pvals)


def test_histograms_match_master_equation():
    """Three random processes (4-6 states, zero-padded to 6) simulated in one vectorised call."""
    rng = np.random.default_rng(0)
    procs = sample_processes(rng, 3, MJPPrior(min_states=4, max_states=6))
    Q = procs["Q"].astype(np.float64) * 3.0  # faster mixing: several jumps per observation interval
    times = np.array([0.0, 0.3, 1.0, 2.5, 6.0])
    x = simulate_many(Q, np.zeros((3, 3000), np.int32), times, key=jax.random.PRNGKey(0))
    p0 = np.eye(6)[0]
    # 12 tests at a fixed seed: a Bonferroni-style floor well below 1/12
    for i in range(3):
        assert _chi2_pvalues(x[i, :, 1:], Q[i], p0, times[1:]).min() > 1e-3


def test_continuation_is_exact(monkeypatch):
    """With a tiny jump budget every path is continued many times; the statistics must not change."""
    monkeypatch.setattr(gillespie, "_jump_budget", lambda Q, horizon: 2)
    Q = np.array([[-2.0, 1.5, 0.5], [1.0, -1.0, 0.0], [0.5, 2.5, -3.0]])
    times = np.linspace(0.0, 3.0, 7)
    x = sample_paths(Q, np.array([0.0, 0.0, 1.0]), times, 4000, key=jax.random.PRNGKey(3))
    assert _chi2_pvalues(x[:, 1:], Q, np.array([0.0, 0.0, 1.0]), times[1:]).min() > 1e-3


def test_absorbing_state():
    Q = np.array([[-1.0, 0.7, 0.3], [0.0, 0.0, 0.0], [0.5, 0.0, -0.5]])  # state 1 absorbs
    times = np.linspace(0.0, 4.0, 9)
    x = sample_paths(Q, np.array([1.0, 0.0, 0.0]), times, 4000, key=jax.random.PRNGKey(1))
    assert _chi2_pvalues(x[:, 1:], Q, np.array([1.0, 0.0, 0.0]), times[1:]).min() > 1e-3
    # once absorbed, a path never leaves
    absorbed = np.maximum.accumulate(x == 1, axis=1)
    assert np.all(x[absorbed] == 1)
    # a path started in the absorbing state has no finite jump
    jt, js = gillespie_jumps(jax.numpy.asarray(Q, jax.numpy.float32), 1, 8, key=jax.random.PRNGKey(0))
    assert np.all(np.isinf(np.asarray(jt))) and np.all(np.asarray(js) == 1)


def test_jumps_follow_edges():
    """The embedded chain never jumps to the current state or along a missing edge."""
    Q = np.array([[-1.0, 1.0, 0.0, 0.0], [0.0, -2.0, 2.0, 0.0], [0.0, 0.0, -0.5, 0.5], [3.0, 0.0, 0.0, -3.0]])
    keys = jax.random.split(jax.random.PRNGKey(0), 500)
    jt, js = jax.vmap(lambda k: gillespie_jumps(jax.numpy.asarray(Q, jax.numpy.float32), 0, 40, key=k))(keys)
    js = np.concatenate([np.zeros((500, 1), int), np.asarray(js)], axis=1)
    assert np.all(js[:, 1:] == (js[:, :-1] + 1) % 4)  # the only edges form the cycle 0 -> 1 -> 2 -> 3 -> 0
    assert np.all(np.diff(np.asarray(jt), axis=1) > 0)


def test_simulate_many_shapes_and_determinism():
    Q = np.stack([np.array([[-1.0, 1.0], [2.0, -2.0]]), np.array([[-0.1, 0.1], [0.3, -0.3]])])
    x0 = np.zeros((2, 5), np.int32)
    a = simulate_many(Q, x0, np.linspace(0, 1, 11), key=jax.random.PRNGKey(0))
    b = simulate_many(Q, x0, np.linspace(0, 1, 11), key=jax.random.PRNGKey(0))
    assert a.shape == (2, 5, 11) and np.array_equal(a, b) and np.all(a[:, :, 0] == 0)


@pytest.mark.parametrize(
    "Q, match",
    [
        (np.array([[-1.0, 1.0], [-0.5, 0.5]]), "negative off-diagonal"),
        (np.array([[-1.0, 0.5], [0.5, -0.5]]), "sum to zero"),
        (np.array([[-np.inf, 1.0], [1.0, -1.0]]), "non-finite"),
    ],
)
def test_bad_rate_matrix(Q, match):
    with pytest.raises(ValueError, match=match):
        sample_paths(Q, np.array([1.0, 0.0])[: Q.shape[0]], np.linspace(0, 1, 3), 2, key=jax.random.PRNGKey(0))


def test_non_square_rate_matrix():
    with pytest.raises(ValueError, match="square"):
        check_rate_matrix(np.array([[-1.0, 1.0, 0.0], [1.0, -1.0, 0.0]]))


def test_bad_times_and_states():
    Q = np.array([[-1.0, 1.0], [1.0, -1.0]])
    with pytest.raises(ValueError, match="non-decreasing"):
        sample_paths(Q, np.array([1.0, 0.0]), np.array([0.0, 2.0, 1.0]), 2, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="initial distribution"):
        sample_paths(Q, np.array([0.7, 0.7]), np.linspace(0, 1, 3), 2, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="initial states"):
        simulate_many(Q[None], np.array([[0, 2]]), np.linspace(0, 1, 3), key=jax.random.PRNGKey(0))
