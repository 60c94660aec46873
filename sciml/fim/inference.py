"""Zero-shot inference with a pretrained FIM-MJP on any number of paths: chunk, predict, average.

The network is known to fail on more paths than it saw in training (its attention across paths and
its P / 100 input leave the training range), so paths are split into nearly equal chunks of at most
`chunk_size`, each chunk is inferred separately and the rates (in data units) are averaged.
Reference: Berghaus et al. 2024, Sec. 4; docs/references.md FIM.3 (batch-averaged Q) and FIM.5.
"""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Float, Int

from sciml.fim.markov import rate_matrix_from_offdiagonal
from sciml.fim.model import FIMMJP
from sciml.sim.gillespie import check_rate_matrix


@dataclasses.dataclass(frozen=True)
class MJPEstimate:
    """A rate-matrix estimate in data time units, cropped to the process's n states."""

    Q: np.ndarray  # [n, n] rate matrix (rows sum to zero)
    std: np.ndarray  # [n, n] predicted standard deviation of each off-diagonal rate (0 on the diagonal)
    p0: np.ndarray  # [n] initial distribution (softmax of the logits, renormalised over n states)
    Q_chunks: np.ndarray  # [C, n, n] one estimate per chunk of paths
    chunk_sizes: np.ndarray  # [C]


def check_paths(
    times: Float[ArrayLike, "P L"],
    states: Int[ArrayLike, "P L"],
    lengths: Int[ArrayLike, " P"] | None,
    num_states: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate observed paths (padded layout) and return them as float32/int32 NumPy arrays.

    Raises ValueError for mismatched shapes, lengths outside [1, L], times out of order within a path,
    or observed states outside [0, num_states).
    """
    t = np.asarray(times, np.float64)
    x = np.asarray(states)
    if t.ndim != 2 or x.shape != t.shape:
        raise ValueError(f"times and states must both be [P, L], got {t.shape} and {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"states must be integers, got dtype {x.dtype}")
    n_len = np.full(t.shape[0], t.shape[1], np.int64) if lengths is None else np.asarray(lengths)
    if n_len.shape != (t.shape[0],) or np.any(n_len < 1) or np.any(n_len > t.shape[1]):
        raise ValueError(f"lengths must be [P] with values in [1, {t.shape[1]}]")
    valid = np.arange(t.shape[1]) < n_len[:, None]
    if not np.all(np.isfinite(t[valid])):
        raise ValueError("observation times have non-finite entries")
    if np.any((np.diff(t, axis=1) < 0) & valid[:, 1:]):
        raise ValueError("observation times must be in non-decreasing order within each path")
    xv = x[valid]
    if np.any((xv < 0) | (xv >= num_states)):
        raise ValueError(
            f"observed states must lie in [0, {num_states}); found values in [{xv.min()}, {xv.max()}]"
        )
    return t.astype(np.float32), np.where(valid, x, 0).astype(np.int32), n_len.astype(np.int32)


def split_chunks(num_paths: int, chunk_size: int | None) -> list[np.ndarray]:
    """Indices of ceil(P / chunk_size) nearly equal consecutive chunks (one chunk if chunk_size is None)."""
    if chunk_size is None or chunk_size >= num_paths:
        return [np.arange(num_paths)]
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return np.array_split(np.arange(num_paths), int(np.ceil(num_paths / chunk_size)))


@eqx.filter_jit
def _forward(model, times, states, lengths, path_mask):
    return jax.vmap(model)(times, states, lengths, path_mask)


def infer_rate_matrix(
    model: FIMMJP,
    times: Float[ArrayLike, "P L"],
    states: Int[ArrayLike, "P L"],
    lengths: Int[ArrayLike, " P"] | None = None,
    *,
    n_states: int | None = None,
    t_norm: float | None = None,
    chunk_size: int | None = 64,
) -> MJPEstimate:
    """Zero-shot rate matrix of the process behind P observed paths, in the data's time units.

    `times` are in data units; they are divided by `t_norm` (default: the largest observed time, as in
    the original) before the network sees them, and the rates are multiplied back. Observed points sit
    at the front of each row (`lengths` of them; all if None). `n_states` (default: the model's) crops
    the answer to the leading n x n block; observations must lie in [0, n_states).
    Reference: Berghaus et al. 2024, Sec. 3.2 and 4; docs/references.md FIM.1, FIM.5.
    """
    if np.ndim(times) < 1 or np.shape(times)[0] == 0:
        raise ValueError(f"infer_rate_matrix needs at least one observed path; got times of shape {np.shape(times)}")
    n = model.num_states if n_states is None else int(n_states)
    if not 2 <= n <= model.num_states:
        raise ValueError(f"n_states must be in [2, {model.num_states}], got {n}")
    t, x, lens = check_paths(times, states, lengths, n)
    if t_norm is None:
        t_norm = float(np.max(np.where(np.arange(t.shape[1]) < lens[:, None], t, -np.inf)))
    if not t_norm > 0:
        raise ValueError(f"t_norm must be > 0 (the observation window's length), got {t_norm}")
    chunks = split_chunks(t.shape[0], chunk_size)
    width = max(len(c) for c in chunks)
    C = len(chunks)
    tt = np.zeros((C, width, t.shape[1]), np.float32)
    xx = np.zeros((C, width, t.shape[1]), np.int32)
    ll = np.ones((C, width), np.int32)  # padding paths get one dummy observation (they are masked out)
    mm = np.zeros((C, width), bool)
    for c, idx in enumerate(chunks):
        k = len(idx)
        tt[c, :k], xx[c, :k], ll[c, :k], mm[c, :k] = t[idx] / t_norm, x[idx], lens[idx], True
    out = _forward(model, jnp.asarray(tt), jnp.asarray(xx), jnp.asarray(ll), jnp.asarray(mm))
    N = model.num_states
    rates = np.asarray(rate_matrix_from_offdiagonal(jnp.exp(out.log_mean) / t_norm, N))[:, :n, :n]
    off = ~np.eye(n, dtype=bool)
    Qc = np.where(off, rates, 0.0)
    Qc = Qc - np.eye(n) * Qc.sum(-1, keepdims=True)  # the diagonal of the cropped block, not of 6 x 6
    std = np.asarray(rate_matrix_from_offdiagonal(jnp.exp(out.log_std) / t_norm, N))[:, :n, :n]
    std = np.where(off, std, 0.0)
    p = np.asarray(jax.nn.softmax(out.init_logits[:, :n], axis=-1))
    return MJPEstimate(
        Q=Qc.mean(0), std=std.mean(0), p0=p.mean(0) / p.mean(0).sum(), Q_chunks=Qc,
        chunk_sizes=np.array([len(c) for c in chunks]),
    )


def rate_rmse(Q_hat: Float[ArrayLike, "n n"], Q_true: Float[ArrayLike, "n n"]) -> float:
    """RMSE over the off-diagonal entries of the n x n block (the paper's metric)."""
    q_hat, q = np.asarray(Q_hat, np.float64), check_rate_matrix(Q_true, name="true rate matrix")
    if q_hat.shape != q.shape:
        raise ValueError(f"shape mismatch: estimate {q_hat.shape} vs truth {q.shape}")
    off = ~np.eye(q.shape[-1], dtype=bool)
    return float(np.sqrt(np.mean((q_hat[..., off] - q[..., off]) ** 2)))
