"""Exact (Gillespie) simulation of continuous-time Markov chains, observed on time grids.

A path waits an exponential time with rate lambda_x = sum_{y != x} Q[x, y] in state x, then jumps to
y with probability Q[x, y] / lambda_x. `gillespie_jumps` draws a fixed number of jumps with one
`lax.scan` (all random numbers drawn in bulk up front, which is much faster on CPU than a
`while_loop` per observation interval), `observe_jumps` reads the state at given times (the last jump
at or before t), and the host entry points (`sample_paths`, `simulate_many`) continue every path that
has not yet passed the last observation time from where it stopped, so the result is exact whatever
the number of jumps. A state with lambda_x = 0 is absorbing: its next jump time is +inf.

Everything is written for one path and vmapped outside (over paths, then over processes).
Reference: Gillespie 1977, "Exact stochastic simulation of coupled chemical reactions", J. Phys. Chem.
81(25), the direct method; the observation rule follows NeuralMJP's `generate_data.py`
(docs/references.md FIM.1).
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

#: Relative tolerance on row sums of a rate matrix (the published archives store float32 rates).
ROW_SUM_RTOL = 1e-4


def check_rate_matrix(Q: ArrayLike, *, name: str = "rate matrix") -> np.ndarray:
    """Validate a rate (intensity) matrix, or a stack of them, on the host; return float64 NumPy.

    Raises ValueError unless Q is square, finite, has non-negative off-diagonal entries and rows that
    sum to zero (to `ROW_SUM_RTOL` relative to the largest |entry|).
    """
    q = np.asarray(Q, dtype=np.float64)
    if q.ndim < 2 or q.shape[-1] != q.shape[-2]:
        raise ValueError(f"{name} must be square [..., n, n], got shape {q.shape}")
    if not np.all(np.isfinite(q)):
        raise ValueError(f"{name} has non-finite entries")
    n = q.shape[-1]
    off = q[..., ~np.eye(n, dtype=bool)]
    if off.size and np.any(off < 0):
        raise ValueError(
            f"{name} has negative off-diagonal rates (min {off.min():.3g}); a rate matrix needs "
            "Q[i, j] >= 0 for i != j"
        )
    scale = max(float(np.abs(q).max(initial=0.0)), 1.0)
    rows = np.abs(q.sum(-1))
    if np.any(rows > ROW_SUM_RTOL * scale):
        raise ValueError(
            f"{name} rows must sum to zero (Q[i, i] = -sum_{{j != i}} Q[i, j]); largest |row sum| is "
            f"{rows.max():.3g}"
        )
    return q


def check_times(times: ArrayLike, *, name: str = "observation times") -> np.ndarray:
    """Validate observation times [..., T]: finite and non-decreasing along the last axis."""
    t = np.asarray(times, dtype=np.float64)
    if t.ndim < 1 or t.shape[-1] < 1:
        raise ValueError(f"{name} must have a time axis, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{name} have non-finite entries")
    if np.any(np.diff(t, axis=-1) < 0):
        raise ValueError(f"{name} must be in non-decreasing order")
    return t


def gillespie_jumps(
    Q: Float[Array, "n n"],
    x0: Int[ArrayLike, ""],
    num_jumps: int,
    *,
    key: PRNGKeyArray,
    t0: Float[ArrayLike, ""] = 0.0,
) -> tuple[Float[Array, " J"], Int[Array, " J"]]:
    """The first `num_jumps` jumps of the chain started in x0 at t0: (jump times, state after each jump).

    After absorption the remaining times are +inf and the state stays. Jittable and vmappable; no value
    checks (use `check_rate_matrix` on the host).
    Reference: Gillespie 1977 (direct method).
    """
    n = Q.shape[0]
    off = jnp.where(jnp.eye(n, dtype=bool), 0.0, Q)
    lam = off.sum(-1)
    c = jnp.cumsum(off, -1)
    # dividing by the row's own last cumulative value makes the last entry exactly 1, so a uniform
    # u < 1 never selects past the last existing edge (no rounding-induced self-jumps)
    cum = c / jnp.where(c[:, -1:] > 0, c[:, -1:], 1.0)
    tiny = jnp.finfo(Q.dtype).tiny
    u = jax.random.uniform(key, (num_jumps, 2), dtype=Q.dtype, minval=tiny)

    def step(carry, uu):
        x, t = carry
        rate = lam[x]
        t_next = t + jnp.where(rate > 0, -jnp.log(uu[0]) / jnp.where(rate > 0, rate, 1.0), jnp.inf)
        y = jnp.where(rate > 0, jnp.sum(cum[x] < uu[1]), x).astype(jnp.int32)
        return (y, t_next), (t_next, y)

    carry = (jnp.asarray(x0, jnp.int32), jnp.asarray(t0, Q.dtype))
    _, (times, states) = jax.lax.scan(step, carry, u)
    return times, states


def observe_jumps(
    jump_times: Float[Array, " J"],
    jump_states: Int[Array, " J"],
    x0: Int[ArrayLike, ""],
    times: Float[Array, " T"],
) -> Int[Array, " T"]:
    """State at each time: the state after the last jump at or before t (x0 before the first jump)."""
    idx = jnp.searchsorted(jump_times, times, side="right")
    return jnp.where(idx > 0, jump_states[jnp.maximum(idx - 1, 0)], jnp.asarray(x0, jnp.int32))


def _one_path(Q, x0, t0, times, key, num_jumps):
    jt, js = gillespie_jumps(Q, x0, num_jumps, key=key, t0=t0)
    return observe_jumps(jt, js, x0, times), js[-1], jt[-1]


@partial(jax.jit, static_argnames=("num_jumps",))
def _many_paths(Q, x0, t0, times, keys, num_jumps):
    """Q [N, n, n], x0/t0/keys [N, P]: vmapped over paths, then over processes."""
    per_process = jax.vmap(_one_path, in_axes=(None, 0, 0, None, 0, None))
    return jax.vmap(per_process, in_axes=(0, 0, 0, None, 0, None))(Q, x0, t0, times, keys, num_jumps)


#: Most jumps a path may be expected to make (fastest exit rate x horizon); more is an error, not a hang.
MAX_EXPECTED_JUMPS = 1_000_000

#: Jumps simulated per path in one jitted round (the rest continue in further rounds), bounding memory.
JUMPS_PER_ROUND = 16_384


def _jump_budget(Q: np.ndarray, horizon: float) -> int:
    """Jumps per round that cover `horizon` for (almost) every path: Poisson mean + 8 sd, rounded up to
    16, at most JUMPS_PER_ROUND; an expected count above MAX_EXPECTED_JUMPS is a ValueError."""
    lam_max = float(np.max(-np.diagonal(Q, axis1=-2, axis2=-1), initial=0.0))
    m = lam_max * max(horizon, 0.0)
    if m > MAX_EXPECTED_JUMPS:
        raise ValueError(
            f"the fastest state leaves at rate {lam_max:.3g} over a horizon of {horizon:.3g}: about {m:.3g} jumps "
            f"per path, more than MAX_EXPECTED_JUMPS = {MAX_EXPECTED_JUMPS:,}; rescale the rates or the times"
        )
    return min(int(16 * np.ceil((m + 8 * np.sqrt(m) + 16) / 16)), JUMPS_PER_ROUND)


def simulate_many(
    Q: Float[ArrayLike, "N n n"],
    x0: Int[ArrayLike, "N P"],
    times: Float[ArrayLike, " T"],
    *,
    key: PRNGKeyArray,
    t0: float | None = None,
) -> Int[np.ndarray, "N P T"]:
    """Exact paths of N processes x P paths each, started in x0 at t0 (default times[0]), on `times`.

    Paths that have not passed the last observation time after the first batch of jumps are continued
    from their last state and time with fresh randomness (exact by the Markov property), so the number
    of jumps is never capped. Validates Q and times with clear errors.
    Reference: Gillespie 1977 (direct method).
    """
    q = check_rate_matrix(Q)
    if q.ndim != 3:
        raise ValueError(f"simulate_many takes a stack of rate matrices [N, n, n], got shape {q.shape}")
    t = check_times(times)
    if t.ndim != 1:
        raise ValueError(f"observation times must be 1-D, got shape {t.shape}")
    x = np.asarray(x0)
    if x.ndim != 2 or x.shape[0] != q.shape[0]:
        raise ValueError(f"x0 must have shape [N={q.shape[0]}, P], got {x.shape}")
    if np.any((x < 0) | (x >= q.shape[-1])) or not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"initial states must be integers in [0, {q.shape[-1]}), got range [{x.min()}, {x.max()}]")
    dtype = jnp.zeros(()).dtype  # float32 unless x64 is enabled
    start = float(t[0] if t0 is None else t0)
    if start > t[0]:
        raise ValueError(f"t0 = {start} is after the first observation time {t[0]}")
    qj, tj = jnp.asarray(q, dtype), jnp.asarray(t, dtype)
    num_jumps = _jump_budget(q, t[-1] - start)
    keys = jax.random.split(key, x.size).reshape(*x.shape, -1)
    t_start = jnp.full(x.shape, start, dtype)
    obs, x_last, t_last = _many_paths(qj, jnp.asarray(x, jnp.int32), t_start, tj, keys, num_jumps)
    obs, x_last, t_last = np.array(obs), np.asarray(x_last), np.asarray(t_last)
    rounds = 0
    while np.any(t_last <= t[-1]):  # some path stopped jumping before the last observation time
        rounds += 1
        key = jax.random.fold_in(key, rounds)
        keys = jax.random.split(key, x.size).reshape(*x.shape, -1)
        cont, x_new, t_new = _many_paths(qj, jnp.asarray(x_last), jnp.asarray(t_last), tj, keys, num_jumps)
        redo = (t_last <= t[-1])[..., None] & (t[None, None, :] >= t_last[..., None])
        obs = np.where(redo, np.asarray(cont), obs)
        open_ = t_last <= t[-1]
        x_last = np.where(open_, np.asarray(x_new), x_last)
        t_last = np.where(open_, np.asarray(t_new), t_last)
    return obs.astype(np.int32)


def sample_paths(
    Q: Float[ArrayLike, "n n"],
    p0: Float[ArrayLike, " n"],
    times: Float[ArrayLike, " T"],
    num_paths: int,
    *,
    key: PRNGKeyArray,
) -> Int[np.ndarray, "P T"]:
    """`num_paths` exact paths of one chain with initial states drawn from p0, observed on `times`.

    Validates Q (a rate matrix), p0 (a probability vector of matching size) and times (ordered) with
    clear errors.
    Reference: Gillespie 1977 (direct method).
    """
    q = check_rate_matrix(Q)
    if q.ndim != 2:
        raise ValueError(f"sample_paths takes one rate matrix [n, n], got shape {q.shape}")
    p = np.asarray(p0, dtype=np.float64)
    if p.shape != (q.shape[0],):
        raise ValueError(f"initial distribution must have shape ({q.shape[0]},), got {p.shape}")
    if np.any(p < 0) or not np.isclose(p.sum(), 1.0, atol=1e-5):
        raise ValueError("initial distribution must be non-negative and sum to one")
    if num_paths < 1:
        raise ValueError(f"num_paths must be >= 1, got {num_paths}")
    k_init, k_sim = jax.random.split(key)
    x0 = np.asarray(jax.random.choice(k_init, q.shape[0], (1, num_paths), p=jnp.asarray(p / p.sum())))
    return simulate_many(q[None], x0, times, key=k_sim)[0]
