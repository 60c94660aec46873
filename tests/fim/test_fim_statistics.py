"""Pooled transition statistics (the count features of the heads) against the MLE's own counting."""

import jax.numpy as jnp
import numpy as np

from sciml.data.mjp import make_dfr_dataset
from sciml.fim.mle import transition_counts
from sciml.fim.statistics import count_feature_size, count_statistics, transition_statistics


def _irregular_paths(seed=0, P=9, L=14):
    rng = np.random.default_rng(seed)
    times = np.sort(rng.random((P, L)), axis=1).astype(np.float32)
    states = rng.integers(0, 6, (P, L)).astype(np.int32)
    lengths = rng.integers(2, L + 1, P).astype(np.int32)
    return times, states, lengths


def test_counts_match_the_mle_counting_and_skip_padding():
    """N_ij equals `transition_counts` summed over time steps; padded points and masked paths are ignored."""
    times, states, lengths = _irregular_paths()
    mask = np.r_[np.ones(6, bool), np.zeros(3, bool)]
    N, T, first = transition_statistics(jnp.asarray(times), jnp.asarray(states), jnp.asarray(lengths),
                                        jnp.asarray(mask), 6)
    steps, counts = transition_counts(times[:6], states[:6], lengths[:6], 6)
    np.testing.assert_array_equal(np.asarray(N), counts.sum(0))
    # time at risk: the summed steps of the intervals that start in each state
    T_ref = np.zeros(6)
    for p in range(6):
        x, t = states[p, : lengths[p]], times[p, : lengths[p]]
        np.add.at(T_ref, x[:-1], np.diff(t))
    np.testing.assert_allclose(np.asarray(T), T_ref, rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(first), np.bincount(states[:6, 0], minlength=6))


def test_log_rate_feature_approaches_the_rates_on_a_fine_grid():
    """On a fine grid log((N_ij + 1/2) / (T_i + dt)) tends to the true log-rate (normalised time)."""
    d = make_dfr_dataset(0, 400, grid_size=400, t_end=2.5)
    t = jnp.asarray(d["times"] / 2.5)
    f = np.asarray(count_statistics(t, jnp.asarray(d["states"]), jnp.asarray(d["lengths"]),
                                    jnp.ones(400, bool), 6))
    assert f.shape == (count_feature_size(6),)
    off = ~np.eye(6, dtype=bool)
    true = d["Q"][off] * 2.5
    est = np.exp(f[:30])
    exist = true > 0
    np.testing.assert_allclose(est[exist], true[exist], rtol=0.15)
    assert np.all(est[~exist] < 0.2 * true[exist].min())  # absent edges: only double jumps within a step
