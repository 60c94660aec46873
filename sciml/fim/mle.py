"""Classical baseline: maximum-likelihood rate matrix from the observed transitions.

For discretely observed paths the likelihood of Q is prod_k expm(Q dt_k)[x_k, x_{k+1}] over consecutive
observations. `mle_rate_matrix(method="expm")` maximises it exactly (L-BFGS over log-rates, with the
exact gradient from the Fréchet derivative of expm), for any mix of time steps; `method="logm"` is the
closed-form estimate for one time step, logm(P_hat) / dt with P_hat the row-normalised count matrix
(clipped to a valid rate matrix), which also initialises the exact MLE.
Label noise is not modelled (the baseline treats observed labels as true states).
Reference: Bladt & Sørensen 2005, "Statistical inference for discretely observed Markov jump
processes", JRSS B 67(3) (likelihood, Sec. 2); Israel, Rosenthal & Wei 2001 (the logm estimator);
docs/references.md FIM.4 ("MLE baseline: count matrix -> logm / dt").
"""

import warnings

import numpy as np
import scipy.linalg
import scipy.optimize
from jaxtyping import ArrayLike, Float, Int

from sciml.fim.inference import check_paths
from sciml.validate import check_choice

#: Bounds on the fitted rates, relative to 1 / (smallest time step).
MIN_RATE, MAX_RATE = 1e-6, 50.0


def transition_counts(
    times: Float[ArrayLike, "P L"],
    states: Int[ArrayLike, "P L"],
    lengths: Int[ArrayLike, " P"] | None,
    n_states: int,
    *,
    decimals: int = 6,
) -> tuple[Float[np.ndarray, " U"], Int[np.ndarray, "U n n"]]:
    """Counts of observed transitions i -> j between consecutive observations, grouped by time step.

    Steps are grouped after rounding to `decimals` significant digits (so float grids collapse).
    Returns (unique positive time steps [U], counts [U, n, n]); zero steps are dropped.
    """
    t, x, lens = check_paths(times, states, lengths, n_states)
    t = t.astype(np.float64)
    valid = np.arange(t.shape[1] - 1) < (lens[:, None] - 1)
    dt = (t[:, 1:] - t[:, :-1])[valid]
    a, b = x[:, :-1][valid], x[:, 1:][valid]
    keep = dt > 0
    dt, a, b = dt[keep], a[keep], b[keep]
    if dt.size == 0:
        raise ValueError("no transitions: every path needs at least two observations at different times")
    # round to `decimals` significant digits so that float grids collapse onto few distinct steps
    scale = 10.0 ** (decimals - 1 - np.floor(np.log10(dt)))
    rounded = np.round(dt * scale) / scale
    steps, inverse = np.unique(rounded, return_inverse=True)
    counts = np.zeros((len(steps), n_states, n_states), np.int64)
    np.add.at(counts, (inverse, a, b), 1)
    return steps, counts


def _project(Q: np.ndarray, floor: float) -> np.ndarray:
    off = ~np.eye(Q.shape[0], dtype=bool)
    F = np.where(off, np.maximum(Q, floor), 0.0)
    return F - np.diag(F.sum(1))


def _logm_estimate(steps: np.ndarray, counts: np.ndarray, floor: float) -> np.ndarray:
    u = int(np.argmax(counts.sum((1, 2))))  # the most frequent time step
    C = counts[u].astype(np.float64)
    n = C.shape[0]
    rows = C.sum(1, keepdims=True)
    P = np.where(rows > 0, C / np.maximum(rows, 1), np.eye(n))
    # few paths leave P singular or without a real logarithm: that is expected here (the fallback below),
    # so scipy's warnings about it are not shown
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            L = scipy.linalg.logm(P)
            L = np.real(L) if np.all(np.isfinite(L)) else P - np.eye(n)
        except (ValueError, np.linalg.LinAlgError):
            L = P - np.eye(n)  # first-order fallback when logm does not exist
    return _project(L / steps[u], floor)


def _neg_loglik(theta: np.ndarray, steps: np.ndarray, counts: np.ndarray, n: int):
    off = ~np.eye(n, dtype=bool)
    F = np.zeros((n, n))
    F[off] = np.exp(theta)
    Q = F - np.diag(F.sum(1))
    value, grad_Q = 0.0, np.zeros((n, n))
    for dt, C in zip(steps, counts):
        P = np.maximum(scipy.linalg.expm(Q * dt), 1e-300)
        value -= np.sum(C * np.log(P))
        G = np.where(C > 0, C / P, 0.0)
        # adjoint of the Fréchet derivative of expm: d<G, expm(A)> / dA = L(A^T, G)
        _, L = scipy.linalg.expm_frechet((Q * dt).T, G)
        grad_Q -= dt * L
    # Q_ij = exp(theta_ij) (i != j) and Q_ii = -sum_j Q_ij
    grad_theta = (F * (grad_Q - np.diag(grad_Q)[:, None]))[off]
    return value, grad_theta


def mle_rate_matrix(
    times: Float[ArrayLike, "P L"],
    states: Int[ArrayLike, "P L"],
    lengths: Int[ArrayLike, " P"] | None = None,
    *,
    n_states: int,
    method: str = "expm",
    max_iter: int = 500,
) -> Float[np.ndarray, "n n"]:
    """Maximum-likelihood rate matrix [n, n] from discretely observed paths (see the module docstring).

    Reference: Bladt & Sørensen 2005, Sec. 2.
    """
    check_choice("method", method, ("expm", "logm"))
    steps, counts = transition_counts(times, states, lengths, n_states)
    lo, hi = MIN_RATE / steps.min(), MAX_RATE / steps.min()
    Q0 = _logm_estimate(steps, counts, lo)
    if method == "logm":
        return Q0
    off = ~np.eye(n_states, dtype=bool)
    theta0 = np.log(np.clip(Q0[off], lo, hi))
    res = scipy.optimize.minimize(
        _neg_loglik, theta0, args=(steps, counts, n_states), jac=True, method="L-BFGS-B",
        bounds=[(np.log(lo), np.log(hi))] * theta0.size, options={"maxiter": max_iter},
    )
    F = np.zeros((n_states, n_states))
    F[off] = np.exp(res.x)
    return F - np.diag(F.sum(1))
