"""FIM-MJP's evaluation procedures: pure functions of a model and data, returning metrics.

- `synthetic_rmse`: held-out synthetic processes, RMSE per number of states beside predicting the
  prior's mean rate, and FIM against the MLE on the regular-grid ones;
- `dfr_evaluation`: zero-shot on the discrete flashing ratchet, batch-averaged rate matrices of FIM
  (chunked) and the MLE, their RMSE, (V, r, b), stationary distribution and relaxation time;
- `rmse_vs_paths`: DFR RMSE against the number of inference paths, chunked and in one chunk.

Reference numbers (docs/references.md FIM.3) are named here once: `PAPER_FIM_DFR` (the released FIM on
the regular-grid DFR, V = r = b = 1), `PAPER_NEURALMJP_DFR` (NeuralMJP's hard-coded (V, r, b)) and
`PAPER_RMSE_VS_PATHS` (the released FIM's one-chunk RMSE against the number of paths).
Reference: Berghaus et al. 2024, Sec. 4.1 and Table 1; docs/references.md FIM.3, FIM.4.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from sciml.data.mjp import MAX_STATES, dfr_parameters, path_batch
from sciml.fim.inference import infer_rate_matrix, rate_rmse
from sciml.fim.markov import offdiagonal, rate_matrix_from_offdiagonal, relaxation_time, stationary_distribution
from sciml.fim.mle import mle_rate_matrix
from sciml.fim.model import FIMMJP

#: The released FIM on DFR V=1, regular grid (docs/references.md FIM.3).
PAPER_FIM_DFR = {"V": 1.13, "r": 0.98, "b": 1.04, "rmse": 0.131}
#: NeuralMJP on the regular grid: the (V, r, b) that OpenFIM's evaluation script hard-codes (FIM.3).
PAPER_NEURALMJP_DFR = {"V": 1.00, "r": 1.37, "b": 1.36, "rmse": 0.231}
#: The released FIM's DFR RMSE against the number of paths, in one chunk (OpenFIM tutorial outputs).
PAPER_RMSE_VS_PATHS = {1: 0.648, 30: 0.330, 100: 0.212, 300: 0.162, 500: 0.164, 1000: 0.230, 5000: 0.723}

#: Processes per forward pass in `synthetic_rmse` (bounded memory).
_FORWARD_CHUNK = 50


@eqx.filter_jit
def _forward(model, times, states, lengths, path_mask):
    return jax.vmap(model)(times, states, lengths, path_mask)


def crop_rate_matrix(Q: np.ndarray, n: int) -> np.ndarray:
    """The leading n x n block of a padded rate matrix, its diagonal reset so that rows sum to zero."""
    q = np.where(np.eye(n, dtype=bool), 0.0, Q[:n, :n])
    return q - np.diag(q.sum(1))


def predict_rate_matrices(model: FIMMJP, batch: dict[str, np.ndarray]) -> np.ndarray:
    """The model's mean rate matrices [B, 6, 6] (data units) for a `path_batch` batch."""
    log_mean = []
    for s in range(0, batch["times"].shape[0], _FORWARD_CHUNK):
        sl = slice(s, s + _FORWARD_CHUNK)
        out = _forward(model, *(jnp.asarray(batch[k][sl]) for k in ("times", "states", "lengths", "path_mask")))
        log_mean.append(np.asarray(out.log_mean))
    rates = np.exp(np.concatenate(log_mean)) / batch["t_norm"][:, None]
    return np.asarray(rate_matrix_from_offdiagonal(rates, MAX_STATES))


def synthetic_rmse(
    model: FIMMJP,
    heldout: dict[str, np.ndarray],
    train: dict[str, np.ndarray],
    *,
    num_paths: int,
    states: range,
    mle_processes: int = 0,
) -> dict[str, float]:
    """Held-out RMSE per number of states (the first `num_paths` paths, one chunk) and the prior-mean baseline.

    `heldout` and `train` are `make_mjp_dataset` sets; the baseline predicts, for n states, the mean
    off-diagonal rate of the training set's n x n blocks. With `mle_processes` > 0 the first that many
    held-out processes on regular grids are also fitted by maximum likelihood on the same paths.
    """
    N = heldout["Q"].shape[0]
    paths = np.broadcast_to(np.arange(num_paths), (N, num_paths))
    b = path_batch(heldout, np.arange(N), paths, np.full(N, num_paths))
    Qhat = predict_rate_matrices(model, b)
    res, base = {}, {}
    for n in states:
        sel = np.nonzero(heldout["n_states"] == n)[0]
        tr = train["Q"][train["n_states"] == n][:, :n, :n]
        c = float(np.asarray(offdiagonal(tr)).mean()) if len(tr) else 0.0
        const = np.full((n, n), c) - np.eye(n) * c * n
        res[n] = [rate_rmse(crop_rate_matrix(Qhat[i], n), heldout["Q"][i, :n, :n]) for i in sel]
        base[n] = [rate_rmse(const, heldout["Q"][i, :n, :n]) for i in sel]
    out = {}
    for n in res:
        if res[n]:
            out[f"synthetic_rmse_n{n}"] = float(np.mean(res[n]))
            out[f"synthetic_rmse_prior_mean_n{n}"] = float(np.mean(base[n]))
    out["synthetic_rmse"] = float(np.mean(np.concatenate([np.array(v) for v in res.values() if v])))
    out["synthetic_rmse_prior_mean"] = float(np.mean(np.concatenate([np.array(v) for v in base.values() if v])))
    if mle_processes > 0:
        # MLE on the same paths, for held-out processes on regular grids (one time step: fast)
        regular = [i for i in range(N) if np.all(heldout["mask"][i] == heldout["mask"][i, :1])]
        fim_err, mle_err = [], []
        for i in regular[:mle_processes]:
            n = int(heldout["n_states"][i])
            t_i = b["times"][i] * b["t_norm"][i]  # back to data units
            q = mle_rate_matrix(t_i, b["states"][i], b["lengths"][i], n_states=n, max_iter=200)
            mle_err.append(rate_rmse(q, heldout["Q"][i, :n, :n]))
            fim_err.append(rate_rmse(crop_rate_matrix(Qhat[i], n), heldout["Q"][i, :n, :n]))
        if mle_err:
            out |= {
                "synthetic_regular_rmse_fim": float(np.mean(fim_err)),
                "synthetic_regular_rmse_mle": float(np.mean(mle_err)),
                "synthetic_regular_median_rmse_fim": float(np.median(fim_err)),
                "synthetic_regular_median_rmse_mle": float(np.median(mle_err)),
            }
    return out


def dfr_evaluation(
    model: FIMMJP,
    data: dict[str, np.ndarray],
    Q: np.ndarray,
    *,
    num_batches: int,
    batch_paths: int,
    t_norm: float,
    chunk_size: int,
    mle: bool = True,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Zero-shot DFR: batch-averaged estimates of FIM (chunked) and MLE, their RMSE and observables.

    `data` is a `make_dfr_dataset` set of at least `num_batches * batch_paths` paths of the process with
    rate matrix `Q`. Returns the metrics and the rate matrices (`true`, `fim`, `mle`) for the figure.
    """
    fim, mles = [], []
    for k in range(num_batches):
        sl = slice(k * batch_paths, (k + 1) * batch_paths)
        est = infer_rate_matrix(
            model, data["times"][sl], data["states"][sl], data["lengths"][sl], n_states=6, t_norm=t_norm,
            chunk_size=chunk_size,
        )
        fim.append(est.Q)
        if mle:
            mles.append(mle_rate_matrix(data["times"][sl], data["states"][sl], data["lengths"][sl], n_states=6))
    out, mats = {}, {"true": Q}
    for name, qs in (("fim", fim), ("mle", mles)):
        if not qs:
            continue
        qbar = np.mean(qs, 0)
        mats[name] = qbar
        V, r, b = dfr_parameters(qbar)
        pi = np.asarray(stationary_distribution(qbar))
        out |= {
            f"dfr_rmse_{name}": rate_rmse(qbar, Q),
            f"dfr_rmse_{name}_sd": float(np.std([rate_rmse(q, Q) for q in qs])),
            f"dfr_V_{name}": V, f"dfr_r_{name}": r, f"dfr_b_{name}": b,
            f"dfr_relaxation_{name}": relaxation_time(qbar),
        }
        out |= {f"dfr_pi{i}_{name}": float(p) for i, p in enumerate(pi)}
    return out, mats


def rmse_vs_paths(
    model: FIMMJP,
    pool: dict[str, np.ndarray],
    Q: np.ndarray,
    *,
    path_counts: tuple[int, ...],
    t_norm: float,
    chunk_size: int,
    max_subsets: int = 5,
) -> dict[str, float]:
    """DFR RMSE against the number of inference paths, chunked and in one chunk (mean over subsets).

    For each P in `path_counts`, up to `max_subsets` disjoint P-path subsets of the `make_dfr_dataset`
    `pool` are inferred in chunks of `chunk_size` (`..._chunked`) and all at once (`..._whole`).
    """
    out = {}
    for P in path_counts:
        subsets = [slice(i * P, (i + 1) * P) for i in range(min(max_subsets, len(pool["states"]) // P))]
        for tag, chunk in (("chunked", chunk_size), ("whole", None)):
            errs = [
                rate_rmse(
                    infer_rate_matrix(
                        model, pool["times"][s], pool["states"][s], pool["lengths"][s], n_states=6, t_norm=t_norm,
                        chunk_size=chunk,
                    ).Q,
                    Q,
                )
                for s in subsets
            ]
            out[f"dfr_rmse_paths{P}_{tag}"] = float(np.mean(errs))
    return out
