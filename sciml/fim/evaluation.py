"""FIM-MJP's evaluation procedures: pure functions of a model and data, returning metrics.

- `synthetic_rmse`: held-out synthetic processes, RMSE per number of states beside predicting the
  prior's mean rate, and FIM against the MLE on the regular-grid ones;
- `dfr_evaluation`: zero-shot on the discrete flashing ratchet, batch-averaged rate matrices of FIM
  (chunked) and the MLE, their RMSE, (V, r, b), stationary distribution and relaxation time;
- `rmse_vs_paths`: DFR RMSE against the number of inference paths, chunked and in one chunk (and the
  MLE on the same paths);
- `fim_vs_mle`: per number of states and per number of paths, the fraction of held-out synthetic
  processes on which FIM's RMSE is below the MLE's (the paper's argument: FIM wins where paths are few);
- diagnostics: `dfr_support` (is the DFR inside the prior's support? its rates, holding times and jumps
  per observation interval, in normalised time, against the pretraining set's) and `summary_probe`
  (linear probes of the transition counts from the learned path summary).

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
from sciml.fim.statistics import transition_statistics

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
    mle: bool = False,
) -> dict[str, float]:
    """DFR RMSE against the number of inference paths, chunked and in one chunk (mean over subsets).

    For each P in `path_counts`, up to `max_subsets` disjoint P-path subsets of the `make_dfr_dataset`
    `pool` are inferred in chunks of `chunk_size` (`..._chunked`) and all at once (`..._whole`); with
    `mle`, the MLE is fitted to the same subsets (`..._mle`).
    """
    out = {}
    for P in path_counts:
        subsets = [slice(i * P, (i + 1) * P) for i in range(min(max_subsets, len(pool["states"]) // P))]
        if mle:
            out[f"dfr_rmse_paths{P}_mle"] = float(np.mean([
                rate_rmse(mle_rate_matrix(pool["times"][s], pool["states"][s], pool["lengths"][s],
                                          n_states=Q.shape[0]), Q)
                for s in subsets
            ]))
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


def fim_vs_mle(
    model: FIMMJP,
    data: dict[str, np.ndarray],
    *,
    path_counts: tuple[int, ...],
    chunk_size: int,
    max_iter: int = 200,
) -> dict[str, float]:
    """FIM against the MLE per number of states n and number of paths P, on the same paths.

    `data` is a `make_mjp_dataset` set of held-out processes on regular grids (the MLE's likelihood has
    one time step there) with at least max(`path_counts`) paths each. For every process and P, FIM (in
    chunks of `chunk_size`) and the MLE (exact likelihood, observed labels taken as true) see the
    process's first P paths. Returns, per n and P, `beats_mle_n{n}_paths{P}` (the fraction of processes
    on which FIM's RMSE is strictly lower), `rmse_fim_...` / `rmse_mle_...` (mean RMSEs) and
    `processes_n{n}` (how many processes of n states there are).
    Reference: Berghaus et al. 2024, Sec. 4 (FIM against classical estimators when paths are few).
    """
    N, avail = data["Q"].shape[0], data["states"].shape[1]
    if max(path_counts) > avail:
        raise ValueError(f"the set holds {avail} paths per process; path_counts need {max(path_counts)}")
    b = path_batch(data, np.arange(N), np.broadcast_to(np.arange(avail), (N, avail)), np.full(N, avail))
    errs: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for i in range(N):
        n, tn = int(data["n_states"][i]), float(b["t_norm"][i])
        t = b["times"][i] * tn  # back to data units
        for P in path_counts:
            sl = slice(0, P)
            q_fim = infer_rate_matrix(model, t[sl], b["states"][i, sl], b["lengths"][i, sl], n_states=n,
                                      t_norm=tn, chunk_size=chunk_size).Q
            q_mle = mle_rate_matrix(t[sl], b["states"][i, sl], b["lengths"][i, sl], n_states=n, max_iter=max_iter)
            truth = data["Q"][i, :n, :n]
            errs.setdefault((n, P), []).append((rate_rmse(q_fim, truth), rate_rmse(q_mle, truth)))
    out = {}
    for (n, P), e in sorted(errs.items()):
        e = np.asarray(e)
        out[f"beats_mle_n{n}_paths{P}"] = float(np.mean(e[:, 0] < e[:, 1]))
        out[f"rmse_fim_n{n}_paths{P}"] = float(e[:, 0].mean())
        out[f"rmse_mle_n{n}_paths{P}"] = float(e[:, 1].mean())
        out[f"processes_n{n}"] = float(len(e))
    return out


# ------------------------------------------------------------------------------------- diagnostics

#: Percentiles of the pretraining distribution between which a target's statistic counts as covered.
SUPPORT_PERCENTILES = (1.0, 99.0)


def process_statistics(
    Q: np.ndarray, t_norm: np.ndarray, batch: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Per-process statistics that tell whether a target lies in the prior's support, in normalised time.

    `Q` [B, 6, 6] rate matrices in data units, `t_norm` [B], `batch` a `path_batch` layout (times already
    divided by t_norm). Returns arrays [B]: `max_rate`, `min_rate` (over existing edges), `holding_time`
    (mean over the process's states of 1 / exit rate), `changes_per_interval` (observed state
    changes per observation interval, pooled over the paths) and `changes_per_path`.
    Reference: Berghaus et al. 2024, Sec. 3.1 (the prior must cover the targets' rates and grids).
    """
    Q = np.asarray(Q, np.float64) * np.asarray(t_norm, np.float64)[:, None, None]
    off = ~np.eye(Q.shape[-1], dtype=bool)
    rates = np.where(off, Q, 0.0)
    exist = rates > 0
    exit_rate = rates.sum(-1)
    visited = exit_rate > 0
    holding = np.where(visited, 1.0 / np.where(visited, exit_rate, 1.0), 0.0).sum(-1) / visited.sum(-1)
    L = batch["times"].shape[-1]
    valid = (np.arange(L - 1) < (batch["lengths"][..., None] - 1)) & batch["path_mask"][..., None]
    change = (batch["states"][..., 1:] != batch["states"][..., :-1]) & valid
    paths = batch["path_mask"].sum(-1)
    return {
        "max_rate": np.where(exist, rates, -np.inf).max((-1, -2)),
        "min_rate": np.where(exist, rates, np.inf).min((-1, -2)),
        "holding_time": holding,
        "changes_per_interval": change.sum((-1, -2)) / np.maximum(valid.sum((-1, -2)), 1),
        "changes_per_path": change.sum((-1, -2)) / np.maximum(paths, 1),
    }


def support_percentiles(
    reference: dict[str, np.ndarray], target: dict[str, np.ndarray]
) -> dict[str, float]:
    """Percentile rank (0-100) of each target statistic's median in the reference (pretraining) distribution,
    and `<name>_within` (1.0 / 0.0): whether it lies within `SUPPORT_PERCENTILES` of the reference."""
    lo, hi = SUPPORT_PERCENTILES
    out = {}
    for k, ref in reference.items():
        x = float(np.median(target[k]))
        out[f"{k}_percentile"] = float(100.0 * np.mean(ref <= x))
        a, b = np.percentile(ref, [lo, hi])
        out[f"{k}_within"] = float(a <= x <= b)
    return out


def dfr_support(
    train: dict[str, np.ndarray], dfr: dict[str, np.ndarray], Q: np.ndarray, *, t_norm: float, num_paths: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, float]]:
    """The DFR's statistics beside the pretraining set's, with `num_paths` paths per process on both sides.

    `train` is a `make_mjp_dataset` set, `dfr` a `make_dfr_dataset` set (data units) whose paths are cut
    into batches of `num_paths`. Returns (pretraining statistics, DFR statistics per batch,
    `support_percentiles`).
    """
    N = train["Q"].shape[0]
    b = path_batch(train, np.arange(N), np.broadcast_to(np.arange(num_paths), (N, num_paths)), np.full(N, num_paths))
    ref = process_statistics(train["Q"], train["t_norm"], b)
    K = dfr["states"].shape[0] // num_paths
    shape = (K, num_paths, -1)
    db = {
        "times": dfr["times"][: K * num_paths].reshape(shape) / t_norm,
        "states": dfr["states"][: K * num_paths].reshape(shape),
        "lengths": dfr["lengths"][: K * num_paths].reshape(K, num_paths),
        "path_mask": np.ones((K, num_paths), bool),
    }
    tgt = process_statistics(np.broadcast_to(Q, (K, *Q.shape)), np.full(K, t_norm), db)
    return ref, tgt, support_percentiles(ref, tgt)


@eqx.filter_jit
def _summaries(model, times, states, lengths, path_mask):
    def one(t, s, n, m):
        h = jax.vmap(model.encode_path)(t, s, n)
        return jnp.concatenate([model.path_attention(h, m), (m.sum() / 100.0)[None]])

    return jax.vmap(one)(times, states, lengths, path_mask)


def path_summaries(model: FIMMJP, batch: dict[str, np.ndarray]) -> np.ndarray:
    """The learned summary [B, d + 1] of each process (across-path attention output and P / 100), the part
    of the heads' input that the network computes (without any `count_features`)."""
    out = []
    for s in range(0, batch["times"].shape[0], _FORWARD_CHUNK):
        sl = slice(s, s + _FORWARD_CHUNK)
        out.append(np.asarray(_summaries(model, *(jnp.asarray(batch[k][sl]) for k in
                                                  ("times", "states", "lengths", "path_mask")))))
    return np.concatenate(out)


def linear_probe(
    features: np.ndarray, targets: np.ndarray, *, train_fraction: float = 0.5, ridge: float = 1e-3
) -> np.ndarray:
    """Held-out R^2 of a ridge-regularised linear read-out of each target column from the features.

    The first `train_fraction` of the rows fit the read-out (standardised features, penalty
    `ridge * n_train`); R^2 is computed on the other rows (nan for a constant target).
    Reference: Alain & Bengio 2016, "Understanding intermediate layers using linear classifier probes".
    """
    X = np.asarray(features, np.float64)
    Y = np.asarray(targets, np.float64)
    n = int(len(X) * train_fraction)
    if not 2 <= n <= len(X) - 2:
        raise ValueError(f"need at least 2 rows on each side of the split, got {len(X)} rows")
    mu, sd = X[:n].mean(0), X[:n].std(0) + 1e-8
    Xs = np.c_[(X - mu) / sd, np.ones(len(X))]
    W = np.linalg.solve(Xs[:n].T @ Xs[:n] + ridge * n * np.eye(Xs.shape[1]), Xs[:n].T @ Y[:n])
    resid = ((Xs[n:] @ W - Y[n:]) ** 2).sum(0)
    total = ((Y[n:] - Y[n:].mean(0)) ** 2).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 1.0 - resid / total, np.nan)


def summary_probe(model: FIMMJP, data: dict[str, np.ndarray], *, num_paths: int) -> dict[str, float]:
    """Does the learned summary carry what the MLE uses? Mean held-out R^2 of linear probes from
    `path_summaries` to the pooled transition frequencies (off-diagonal N_ij / sum N and diagonal N_ii /
    sum N) and the time-at-risk shares T_i / sum T (`sciml.fim.statistics.transition_statistics`), on the
    first `num_paths` paths of every process of the `make_mjp_dataset` set `data` (fit on one half, scored
    on the other).
    """
    N = data["Q"].shape[0]
    b = path_batch(data, np.arange(N), np.broadcast_to(np.arange(num_paths), (N, num_paths)), np.full(N, num_paths))
    stats = jax.vmap(lambda t, s, n, m: transition_statistics(t, s, n, m, MAX_STATES))
    C, T, _ = (np.asarray(x, np.float64) for x in stats(*(jnp.asarray(b[k]) for k in
                                                          ("times", "states", "lengths", "path_mask"))))
    off = ~np.eye(MAX_STATES, dtype=bool)
    freq = C / np.maximum(C.sum((1, 2), keepdims=True), 1)
    targets = {
        "offdiagonal_frequency": freq[:, off],
        "diagonal_frequency": freq[:, ~off],
        "time_at_risk": T / np.maximum(T.sum(1, keepdims=True), 1e-12),
    }
    z = path_summaries(model, b)
    out = {}
    for name, y in targets.items():
        out[f"probe_r2_{name}"] = float(np.nanmean(linear_probe(z, y)))
    return out
