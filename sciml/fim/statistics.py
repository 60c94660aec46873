"""Pooled transition statistics of observed paths: the counts and times at risk that the MLE uses.

For discretely observed paths of a Markov jump process the likelihood depends on the data only through
the counts N_ij of consecutive observations (x_k, x_{k+1}) = (i, j) and their time steps; on a regular
grid (N_ij, dt) is sufficient. `count_statistics` pools, over the observed intervals of all unmasked
paths of one process, N_ij, the time at risk T_i (the summed lengths of the intervals that start in
state i) and the states of the first observations, and returns them as scale-free features for the
network's heads: log((N_ij + 1/2) / (T_i + dt_mean)) (a crude log-rate, exact as dt -> 0), N_ij / N_i,
log(N_i + 1), log(T_i + dt_mean), the first-state frequencies, log(dt_mean) and log(number of intervals).
Our deviation from FIM-MJP (the original's heads see only the attention summary and P / 100; see
`sciml.fim.model`): the linear probe in `sciml.fim.evaluation` showed that a small encoder trained on a
CPU budget does not carry the transition counts into its summary.
Reference: Bladt & Sørensen 2005, JRSS B 67(3), Sec. 2 (the discretely observed likelihood);
Berghaus et al. 2024, Sec. 3.2 (the heads φ1, φ2).
"""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int


def count_feature_size(num_states: int) -> int:
    """Length of the `count_statistics` feature vector for `num_states` states."""
    n = num_states
    return 2 * n * (n - 1) + 4 * n + 2


def transition_statistics(
    times: Float[Array, "P L"],
    states: Int[Array, "P L"],
    lengths: Int[Array, " P"],
    path_mask: Bool[Array, " P"],
    num_states: int,
) -> tuple[Float[Array, "n n"], Float[Array, " n"], Float[Array, " n"]]:
    """(N [n, n] transition counts, T [n] time at risk, first [n] first-observation counts), pooled over
    the observed intervals of the unmasked paths (observed points at the front of each row)."""
    L = times.shape[1]
    valid = (jnp.arange(L - 1)[None, :] < (lengths[:, None] - 1)) & path_mask[:, None]
    a = jax.nn.one_hot(states[:, :-1], num_states) * valid[..., None]
    b = jax.nn.one_hot(states[:, 1:], num_states)
    N = jnp.einsum("pki,pkj->ij", a, b)
    dt = jnp.maximum(times[:, 1:] - times[:, :-1], 0.0)
    T = jnp.einsum("pk,pki->i", dt, a)
    first = jnp.einsum("pi,p->i", jax.nn.one_hot(states[:, 0], num_states), path_mask.astype(times.dtype))
    return N, T, first


def count_statistics(
    times: Float[Array, "P L"],
    states: Int[Array, "P L"],
    lengths: Int[Array, " P"],
    path_mask: Bool[Array, " P"],
    num_states: int,
) -> Float[Array, " f"]:
    """The scale-free feature vector of `transition_statistics` for one process (see the module doc).

    Times are the network's (normalised) times, so the log-rates are in normalised units.
    """
    N, T, first = transition_statistics(times, states, lengths, path_mask, num_states)
    n = num_states
    intervals = N.sum()
    dt_mean = T.sum() / jnp.maximum(intervals, 1.0)
    pseudo_time = jnp.maximum(dt_mean, 1e-3)
    rows, cols = np.nonzero(~np.eye(n, dtype=bool))
    log_rate = jnp.log(N + 0.5) - jnp.log(T + pseudo_time)[:, None]
    N_i = N.sum(1)
    prob = N / jnp.maximum(N_i, 1.0)[:, None]
    first_freq = first / jnp.maximum(first.sum(), 1.0)
    return jnp.concatenate([
        log_rate[rows, cols], prob[rows, cols], jnp.log1p(N_i), jnp.log(T + pseudo_time), first_freq,
        (N_i > 0).astype(times.dtype), jnp.log(pseudo_time)[None], jnp.log1p(intervals)[None],
    ])
