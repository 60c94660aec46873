"""Rate-matrix utilities: off-diagonal packing, stationary distribution, relaxation time, entropy production.

Reference: Norris 1997, "Markov Chains", Ch. 3 (invariant distributions, Q-matrices); Berghaus et al.
2024, Sec. 4.1 (the DFR observables); docs/references.md FIM.2.
"""

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from sciml.sim.gillespie import check_rate_matrix


def offdiagonal(Q: Float[ArrayLike, "*b n n"]) -> Float[Array, "*b m"]:
    """The n(n-1) off-diagonal entries of Q in row-major order (the model's output layout)."""
    Q = jnp.asarray(Q)
    n = Q.shape[-1]
    rows, cols = np.nonzero(~np.eye(n, dtype=bool))
    return Q[..., rows, cols]


def rate_matrix_from_offdiagonal(off: Float[ArrayLike, "*b m"], n: int) -> Float[Array, "*b n n"]:
    """Rebuild Q from its n(n-1) off-diagonal rates (row-major); the diagonal is minus the row sum."""
    off = jnp.asarray(off)
    if off.shape[-1] != n * (n - 1):
        raise ValueError(f"expected {n * (n - 1)} off-diagonal entries for n = {n}, got {off.shape[-1]}")
    rows, cols = np.nonzero(~np.eye(n, dtype=bool))
    Q = jnp.zeros((*off.shape[:-1], n, n), off.dtype).at[..., rows, cols].set(off)
    return Q - jnp.eye(n, dtype=off.dtype) * Q.sum(-1, keepdims=True)


def stationary_distribution(Q: Float[ArrayLike, "n n"]) -> Float[Array, " n"]:
    """The invariant distribution pi Q = 0, sum(pi) = 1 of an irreducible chain (least squares; jittable).

    Reference: Norris 1997, Thm. 3.5.2.
    """
    Q = jnp.asarray(Q)
    n = Q.shape[-1]
    A = jnp.concatenate([Q.T, jnp.ones((1, n), Q.dtype)], axis=0)
    rhs = jnp.zeros(n + 1, Q.dtype).at[n].set(1.0)
    pi = jnp.linalg.lstsq(A, rhs)[0]
    pi = jnp.clip(pi, 0.0, None)
    return pi / pi.sum()


def relaxation_time(Q: Float[ArrayLike, "n n"]) -> float:
    """1 / |Re lambda_2|: the decay time of the slowest non-stationary mode (host-side, NumPy).

    Uses `numpy.linalg.eigvals` because non-symmetric eigendecomposition is CPU-only in JAX.
    Reference: Berghaus et al. 2024, Sec. 4.1 (0.5 for the DFR at V = r = b = 1).
    """
    q = check_rate_matrix(Q)
    if q.ndim != 2:
        raise ValueError(f"relaxation_time takes one rate matrix, got shape {q.shape}")
    decay = np.sort(-np.linalg.eigvals(q).real)  # 0 for the stationary mode, then the slowest decay
    if decay.size < 2 or decay[1] <= 1e-12:
        return float("inf")  # reducible chain: a second zero mode never relaxes
    return float(1.0 / decay[1])


def entropy_production(Q: Float[ArrayLike, "n n"]) -> float:
    """Stationary entropy-production rate sum_{i != j} pi_i Q_ij ln(pi_i Q_ij / (pi_j Q_ji)) (host-side).

    Edges with a rate in one direction only make it infinite; pairs without either rate contribute 0.
    Reference: Berghaus et al. 2024, Sec. 4.1 (about 0.179 for the DFR at V = r = b = 1).
    """
    q = check_rate_matrix(Q)
    pi = np.asarray(stationary_distribution(q))
    total = 0.0
    n = q.shape[0]
    for i in range(n):
        for j in range(n):
            if i == j or (q[i, j] == 0 and q[j, i] == 0):
                continue
            if q[i, j] == 0 or q[j, i] == 0:
                return float("inf")
            total += pi[i] * q[i, j] * np.log(pi[i] * q[i, j] / (pi[j] * q[j, i]))
    return float(total)
