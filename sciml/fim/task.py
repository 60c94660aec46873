"""The `fim_mjp` task: pretrain FIM-MJP on the synthetic prior, evaluate zero-shot on the DFR.

Batches draw `batch_size` processes from a fixed seeded pretraining set and, per process, a random
number of paths in [min_paths, max_paths] (with replacement, as the original's collate function);
unused path slots are masked so every batch has one static shape. `evaluate` reports:
- held-out synthetic RMSE per number of states, beside predicting the prior mean;
- zero-shot DFR (V = r = b = 1 by default): batch-averaged rate matrix, its RMSE, (V, r, b), the
  stationary distribution and relaxation time, beside the maximum-likelihood baseline;
- RMSE against the number of inference paths, with and without chunking.
Reference: Berghaus et al. 2024, Sec. 4.1 and Table 1; docs/references.md FIM.3, FIM.4.
"""

import dataclasses
import functools
import hashlib
import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from sciml.data.mjp import (
    MAX_STATES,
    MJPPrior,
    compact_observations,
    dfr_parameters,
    dfr_rate_matrix,
    make_dfr_dataset,
    make_mjp_dataset,
)
from sciml.fim.inference import infer_rate_matrix, rate_rmse
from sciml.fim.loss import fim_loss
from sciml.fim.markov import offdiagonal, rate_matrix_from_offdiagonal, relaxation_time, stationary_distribution
from sciml.fim.mle import mle_rate_matrix
from sciml.fim.model import FIMMJP
from sciml.runner.task import Task, register_task

#: Where generated pretraining sets are cached (the repository's data/ folder, if it exists).
DATA_DIR = Path(__file__).resolve().parents[2] / "data"

#: Reference numbers (docs/references.md FIM.3): released FIM on DFR V=1, regular grid.
PAPER_FIM_DFR = {"V": 1.13, "r": 0.98, "b": 1.04, "rmse": 0.131}
PAPER_NEURALMJP_DFR = {"V": 1.00, "r": 1.37, "b": 1.36, "rmse": 0.231}  # regular grid
PAPER_RMSE_VS_PATHS = {1: 0.648, 30: 0.330, 100: 0.212, 300: 0.162, 500: 0.164, 1000: 0.230, 5000: 0.723}


def _dataset_key(params: dict) -> str:
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]


@functools.lru_cache(maxsize=4)
def _cached_dataset(params_json: str, use_disk: bool) -> dict[str, np.ndarray]:
    params = json.loads(params_json)
    path = DATA_DIR / "fim" / f"mjp_{_dataset_key(params)}.npz"
    if use_disk and path.exists():
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    prior = MJPPrior(
        min_states=params.pop("min_states"), max_states=params.pop("max_states"),
        state_weights=tuple(params.pop("state_weights")),
    )
    seed, n_proc, n_paths = params.pop("seed"), params.pop("num_processes"), params.pop("num_paths")
    params["stride_choices"] = tuple(params["stride_choices"])
    params["length_range"] = tuple(params["length_range"])
    data = make_mjp_dataset(seed, n_proc, n_paths, prior=prior, **params)
    if use_disk and DATA_DIR.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **data)
        tmp.replace(path)
    return data


@register_task("fim_mjp")
@dataclasses.dataclass(frozen=True)
class FIMMJPTask(Task):
    """Pretrain FIM-MJP on synthetic Markov jump processes; zero-shot DFR evaluation."""

    # model (the original: d_model 256, 4 layers, 4 heads, ff 1024, 16 queries, [128, 128] heads, dropout .1)
    d_model: int = 48
    num_layers: int = 2
    num_heads: int = 4
    ff_dim: int = 128
    num_queries: int = 4
    head_width: int = 128
    head_depth: int = 2
    dropout: float = 0.0
    transition_tokens: bool = False  # deviation: add the previous state and the time gap to each token
    time_max_frequency: float = 0.0  # deviation when > 0: spread the time encoding's initial frequencies
    # prior and pretraining set
    num_processes: int = 4000
    paths_per_process: int = 64
    grid_size: int = 100
    t_end: float = 10.0
    min_states: int = 2
    max_states: int = MAX_STATES
    state_weights: tuple[float, ...] = (5.0, 5.0, 5.0, 5.0, 25.0)  # P(n) for n = 2..6, as the original's set
    noise: float = 0.01
    p_regular: float = 0.5
    stride_choices: tuple[int, ...] = (1, 2, 3, 4)
    irregular_fraction: tuple[float, float] = (0.08, 0.72)  # observed share of the grid per irregular path
    data_seed: int = 0
    cache: bool = True
    # batches and loss
    batch_size: int = 16
    min_paths: int = 1
    max_paths: int = 32
    missing_link_weight: float = 1.0
    # evaluation
    eval_processes: int = 200
    eval_seed: int = 12345
    dfr_V: float = 1.0
    dfr_r: float = 1.0
    dfr_b: float = 1.0
    dfr_paths: int = 300
    dfr_batches: int = 5
    dfr_grid_size: int = 100
    dfr_t_end: float = 2.5
    chunk_size: int = 0  # paths per inference chunk; 0 = max_paths
    path_counts: tuple[int, ...] = (1, 10, 30, 100, 300, 1000)
    eval_mle: bool = True
    eval_mle_processes: int = 60  # held-out regular-grid processes that also get the MLE baseline

    def __post_init__(self):
        pos = ("d_model", "num_layers", "num_heads", "ff_dim", "num_queries", "head_width", "num_processes",
               "paths_per_process", "batch_size", "min_paths", "max_paths", "eval_processes", "dfr_paths",
               "dfr_batches")
        for name in pos:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by num_heads ({self.num_heads})")
        if self.d_model <= MAX_STATES + 1:
            raise ValueError(f"d_model must be > {MAX_STATES + 1} (time encoding + one-hot), got {self.d_model}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.min_paths <= self.max_paths:
            raise ValueError(f"need min_paths <= max_paths, got {self.min_paths} > {self.max_paths}")
        if not 2 <= self.min_states <= self.max_states <= MAX_STATES:
            raise ValueError(f"need 2 <= min_states <= max_states <= {MAX_STATES}")
        MJPPrior(min_states=self.min_states, max_states=self.max_states, state_weights=self.state_weights)
        if self.grid_size < 2 or self.dfr_grid_size < 2:
            raise ValueError("grid sizes must be >= 2")
        if not (self.t_end > 0 and self.dfr_t_end > 0):
            raise ValueError("t_end and dfr_t_end must be > 0")
        if not 0 <= self.noise <= 1 or not 0 <= self.p_regular <= 1:
            raise ValueError("noise and p_regular must be in [0, 1]")
        if self.chunk_size < 0 or any(p < 1 for p in self.path_counts):
            raise ValueError("chunk_size must be >= 0 and path_counts >= 1")
        lo, hi = self.irregular_fraction
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"irregular_fraction must satisfy 0 < lo <= hi <= 1, got {self.irregular_fraction}")

    # ------------------------------------------------------------------------------------ model

    def init(self, *, key) -> FIMMJP:
        return FIMMJP(
            num_states=MAX_STATES, d_model=self.d_model, num_layers=self.num_layers, num_heads=self.num_heads,
            ff_dim=self.ff_dim, num_queries=self.num_queries, head_width=self.head_width,
            head_depth=self.head_depth, dropout=self.dropout, transition_tokens=self.transition_tokens,
            time_max_frequency=self.time_max_frequency or None, key=key,
        )

    # ------------------------------------------------------------------------------------- data

    def _data_params(self, seed: int, num_processes: int, num_paths: int) -> dict:
        return {
            "seed": seed, "num_processes": num_processes, "num_paths": num_paths, "grid_size": self.grid_size,
            "t_end": self.t_end, "min_states": self.min_states, "max_states": self.max_states,
            "state_weights": list(self.state_weights),
            "noise": self.noise, "p_regular": self.p_regular, "stride_choices": list(self.stride_choices),
            "length_range": self.length_range,
        }

    @property
    def length_range(self) -> list[int]:
        """Observations per irregular path: 8-72 of 100 grid points in the original."""
        lo, hi = self.irregular_fraction
        return [max(2, round(lo * self.grid_size)), max(2, round(hi * self.grid_size))]

    def dataset(self) -> dict[str, np.ndarray]:
        """The seeded pretraining set (generated once, cached in memory and under data/fim/)."""
        params = self._data_params(self.data_seed, self.num_processes, self.paths_per_process)
        return _cached_dataset(json.dumps(params, sort_keys=True), self.cache)

    def heldout(self, num_paths: int | None = None) -> dict[str, np.ndarray]:
        """Held-out synthetic processes from the same prior (a different seed)."""
        params = self._data_params(self.eval_seed, self.eval_processes, num_paths or self.max_paths)
        return _cached_dataset(json.dumps(params, sort_keys=True), False)

    def _assemble(self, data: dict, proc: np.ndarray, paths: np.ndarray, n_paths: np.ndarray) -> dict:
        states = data["states"][proc[:, None], paths]  # [B, P, G]
        mask = data["mask"][proc[:, None], paths]
        times, states, lengths = compact_observations(data["grid"], states, mask)
        t_norm = data["t_norm"][proc]
        return {
            "times": (times / t_norm[:, None, None]).astype(np.float32),
            "states": states.astype(np.int32),
            "lengths": lengths,
            "path_mask": np.arange(self.max_paths)[None, :] < n_paths[:, None],
            "t_norm": t_norm.astype(np.float32),
            "Q": data["Q"][proc],
            "adjacency": data["adjacency"][proc],
            "p0": data["p0"][proc],
        }

    def batch(self, step: int, *, seed: int) -> dict[str, np.ndarray]:
        data = self.dataset()
        rng = np.random.default_rng([seed, step])
        proc = rng.integers(0, data["Q"].shape[0], self.batch_size)
        paths = rng.integers(0, data["states"].shape[1], (self.batch_size, self.max_paths))
        n_paths = rng.integers(self.min_paths, self.max_paths + 1, self.batch_size)
        return self._assemble(data, proc, paths, n_paths)

    # ------------------------------------------------------------------------------------- loss

    def loss(self, model: FIMMJP, batch: dict, *, key) -> tuple[jax.Array, dict]:
        B = batch["times"].shape[0]
        keys = jax.random.split(key, B) if self.dropout > 0 else None
        fwd = jax.vmap(lambda t, s, n, m, k: model(t, s, n, m, key=k))
        out = fwd(batch["times"], batch["states"], batch["lengths"], batch["path_mask"], keys)
        return fim_loss(
            out, batch["Q"], batch["adjacency"], batch["p0"], batch["t_norm"],
            missing_link_weight=self.missing_link_weight,
        )

    # ------------------------------------------------------------------------------- evaluation

    @property
    def inference_chunk(self) -> int:
        return self.chunk_size or self.max_paths

    def synthetic_rmse(self, model: FIMMJP) -> dict[str, float]:
        """Held-out RMSE per number of states (all max_paths paths, one chunk) and the prior-mean baseline."""
        data = self.heldout()
        N = data["Q"].shape[0]
        n_paths = np.full(N, self.max_paths)
        paths = np.broadcast_to(np.arange(self.max_paths), (N, self.max_paths))
        b = self._assemble(data, np.arange(N), paths, n_paths)
        log_mean = []
        for s in range(0, N, 50):
            sl = slice(s, s + 50)
            out = _forward(model, *(jnp.asarray(b[k][sl]) for k in ("times", "states", "lengths", "path_mask")))
            log_mean.append(np.asarray(out.log_mean))
        rates = np.exp(np.concatenate(log_mean)) / b["t_norm"][:, None]
        Qhat = np.asarray(rate_matrix_from_offdiagonal(rates, MAX_STATES))
        # the prior-mean baseline: the mean off-diagonal rate of the pretraining set's n x n blocks
        train = self.dataset()
        res, base = {}, {}
        for n in range(self.min_states, self.max_states + 1):
            sel = np.nonzero(data["n_states"] == n)[0]
            tr = train["Q"][train["n_states"] == n][:, :n, :n]
            c = float(np.asarray(offdiagonal(tr)).mean()) if len(tr) else 0.0
            const = np.full((n, n), c) - np.eye(n) * c * n
            res[n] = [rate_rmse(_crop(Qhat[i], n), data["Q"][i, :n, :n]) for i in sel]
            base[n] = [rate_rmse(const, data["Q"][i, :n, :n]) for i in sel]
        out = {}
        for n in res:
            if res[n]:
                out[f"synthetic_rmse_n{n}"] = float(np.mean(res[n]))
                out[f"synthetic_rmse_prior_mean_n{n}"] = float(np.mean(base[n]))
        out["synthetic_rmse"] = float(np.mean(np.concatenate([np.array(v) for v in res.values() if v])))
        out["synthetic_rmse_prior_mean"] = float(np.mean(np.concatenate([np.array(v) for v in base.values() if v])))
        if self.eval_mle and self.eval_mle_processes > 0:
            # MLE on the same paths, for held-out processes on regular grids (one time step: fast)
            regular = [i for i in range(N) if np.all(data["mask"][i] == data["mask"][i, :1])]
            fim_err, mle_err = [], []
            for i in regular[: self.eval_mle_processes]:
                n = int(data["n_states"][i])
                t_i = b["times"][i] * b["t_norm"][i]  # back to data units
                q = mle_rate_matrix(t_i, b["states"][i], b["lengths"][i], n_states=n, max_iter=200)
                mle_err.append(rate_rmse(q, data["Q"][i, :n, :n]))
                fim_err.append(rate_rmse(_crop(Qhat[i], n), data["Q"][i, :n, :n]))
            if mle_err:
                out |= {
                    "synthetic_regular_rmse_fim": float(np.mean(fim_err)),
                    "synthetic_regular_rmse_mle": float(np.mean(mle_err)),
                    "synthetic_regular_median_rmse_fim": float(np.median(fim_err)),
                    "synthetic_regular_median_rmse_mle": float(np.median(mle_err)),
                }
        return out

    def dfr_data(self, num_paths: int, seed: int) -> dict[str, np.ndarray]:
        return make_dfr_dataset(
            seed, num_paths, V=self.dfr_V, r=self.dfr_r, b=self.dfr_b, grid_size=self.dfr_grid_size,
            t_end=self.dfr_t_end,
        )

    def dfr_evaluation(self, model: FIMMJP) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Zero-shot DFR: batch-averaged estimates of FIM (chunked) and MLE, their RMSE and observables."""
        Q = dfr_rate_matrix(self.dfr_V, self.dfr_r, self.dfr_b)
        d = self.dfr_data(self.dfr_paths * self.dfr_batches, seed=self.eval_seed + 1)
        fim, mle = [], []
        for k in range(self.dfr_batches):
            sl = slice(k * self.dfr_paths, (k + 1) * self.dfr_paths)
            est = infer_rate_matrix(
                model, d["times"][sl], d["states"][sl], d["lengths"][sl], n_states=6,
                t_norm=self.dfr_t_end, chunk_size=self.inference_chunk,
            )
            fim.append(est.Q)
            if self.eval_mle:
                mle.append(mle_rate_matrix(d["times"][sl], d["states"][sl], d["lengths"][sl], n_states=6))
        out, mats = {}, {"true": Q}
        for name, qs in (("fim", fim), ("mle", mle)):
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

    def rmse_vs_paths(self, model: FIMMJP, max_subsets: int = 5) -> dict[str, float]:
        """DFR RMSE against the number of inference paths, chunked and in one chunk (mean over subsets)."""
        Q = dfr_rate_matrix(self.dfr_V, self.dfr_r, self.dfr_b)
        pool = self.dfr_data(max(self.path_counts), seed=self.eval_seed + 2)
        out = {}
        for P in self.path_counts:
            subsets = [slice(i * P, (i + 1) * P) for i in range(min(max_subsets, len(pool["states"]) // P))]
            for tag, chunk in (("chunked", self.inference_chunk), ("whole", None)):
                errs = [
                    rate_rmse(
                        infer_rate_matrix(
                            model, pool["times"][s], pool["states"][s], pool["lengths"][s], n_states=6,
                            t_norm=self.dfr_t_end, chunk_size=chunk,
                        ).Q,
                        Q,
                    )
                    for s in subsets
                ]
                out[f"dfr_rmse_paths{P}_{tag}"] = float(np.mean(errs))
        return out

    def evaluate(self, model: FIMMJP, *, key, run_dir: Path) -> dict[str, float]:
        run_dir = Path(run_dir)
        metrics = self.synthetic_rmse(model)
        dfr, mats = self.dfr_evaluation(model)
        metrics |= dfr
        metrics |= self.rmse_vs_paths(model)
        _figures(self, metrics, mats, run_dir)
        return {k: float(v) for k, v in metrics.items()}


@eqx.filter_jit
def _forward(model, times, states, lengths, path_mask):
    return jax.vmap(model)(times, states, lengths, path_mask)


def _crop(Q: np.ndarray, n: int) -> np.ndarray:
    q = np.where(np.eye(n, dtype=bool), 0.0, Q[:n, :n])
    return q - np.diag(q.sum(1))


def _figures(task: FIMMJPTask, m: dict, mats: dict, run_dir: Path) -> None:
    from sciml import plot

    run_dir.mkdir(parents=True, exist_ok=True)
    names = [k for k in ("true", "fim", "mle") if k in mats]
    fig, axes = plot.figure(len(names), size=2.6)
    vmax = max(np.abs(np.where(np.eye(6, dtype=bool), 0, q)).max() for q in mats.values())
    for ax, k in zip(axes[0], names):
        q = np.where(np.eye(6, dtype=bool), np.nan, mats[k])
        im = ax.imshow(q, vmin=0, vmax=vmax, cmap="viridis")
        title = {"true": "DFR (V=r=b=1)", "fim": "FIM (zero-shot)", "mle": "MLE"}[k]
        if k != "true":
            title += f"\nRMSE {m[f'dfr_rmse_{k}']:.3f}"
        ax.set_title(title)
        ax.grid(False)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    plot.save(fig, run_dir / "dfr_rate_matrices.png")

    fig, axes = plot.figure(2, size=3.2)
    ax = axes[0, 0]
    P = np.array(task.path_counts)
    ax.plot(P, [m[f"dfr_rmse_paths{p}_chunked"] for p in P], "o-", label=f"ours, chunks of {task.inference_chunk}")
    ax.plot(P, [m[f"dfr_rmse_paths{p}_whole"] for p in P], "s--", label="ours, one chunk")
    ref = sorted(PAPER_RMSE_VS_PATHS.items())
    ax.plot([p for p, _ in ref], [r for _, r in ref], "^:", color="0.4", label="paper's FIM (one chunk)")
    ax.axvline(task.max_paths, color="0.7", lw=0.8)
    ax.set(xscale="log", xlabel="paths at inference", ylabel="DFR rate RMSE")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    ns = [n for n in range(task.min_states, task.max_states + 1) if f"synthetic_rmse_n{n}" in m]
    w = 0.38
    ax.bar(np.array(ns) - w / 2, [m[f"synthetic_rmse_n{n}"] for n in ns], w, label="FIM (ours)")
    ax.bar(np.array(ns) + w / 2, [m[f"synthetic_rmse_prior_mean_n{n}"] for n in ns], w, label="prior mean")
    ax.set(xlabel="number of states", ylabel="held-out rate RMSE")
    ax.legend(fontsize=7)
    plot.save(fig, run_dir / "rmse_paths_states.png")
