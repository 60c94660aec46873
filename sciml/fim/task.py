"""The `fim_mjp` task: pretrain FIM-MJP on the synthetic prior, evaluate zero-shot on the DFR.

Batches draw `batch_size` processes from a fixed seeded pretraining set and, per process, a random
number of paths in [min_paths, max_paths], distinct paths while the set holds enough (the original's
collate function draws with replacement);
unused path slots are masked so every batch has one static shape. `evaluate` runs the three procedures
of `sciml.fim.evaluation` (held-out synthetic RMSE per number of states, zero-shot DFR beside the MLE,
RMSE against the number of inference paths) and draws `sciml.fim.figures`. The DFR paths are simulated
(V, r, b = `dfr_V`, `dfr_r`, `dfr_b`) unless `dfr_path` names a published DFR archive
(`6_st_DFR_V=*.zip` of FIM4Science/OpenFIM, or its unpacked folder): then both DFR evaluations read its
paths, its rate matrix and its time normalisation instead (`sciml eval RUN_DIR task.dfr_path=...`
re-evaluates a trained run on it).
Reference: Berghaus et al. 2024, Sec. 4.1 and Table 1; docs/references.md FIM.3, FIM.4.
"""

import dataclasses
from pathlib import Path

import jax
import numpy as np

from sciml.data.mjp import (
    MAX_STATES,
    MJPPrior,
    dfr_rate_matrix,
    load_dfr_archive,
    make_dfr_dataset,
    mjp_dataset,
    path_batch,
)
from sciml.fim import evaluation, figures
from sciml.fim.loss import fim_loss
from sciml.fim.model import FIMMJP
from sciml.runner.task import Task, register_task
from sciml.validate import check_range, check_ranges

#: Seeds of the evaluation's DFR sets: eval_seed + offset (the held-out synthetic set uses eval_seed).
DFR_SEED_OFFSET = 1
PATHS_SEED_OFFSET = 2
#: Seed of the synthetic validation set (checkpoint selection, `validation_batch`): eval_seed + offset,
#: disjoint from the held-out synthetic set that the final evaluation scores and from the DFR.
VALIDATION_SEED_OFFSET = 3
#: Seed of the FIM-against-MLE comparison sets (`comparison_set`): eval_seed + offset.
COMPARISON_SEED_OFFSET = 4


@register_task("fim_mjp")
@dataclasses.dataclass(frozen=True)
class FIMMJPTask(Task):
    """Pretrain FIM-MJP on synthetic Markov jump processes; zero-shot DFR evaluation."""

    # model (the original: width 256, depth 4, 4 heads, ff 1024, 16 queries, [128, 128] heads, dropout .1)
    width: int = 48  # the transformer's model dimension (d_model)
    depth: int = 2  # encoder layers
    num_heads: int = 4
    ff_width: int = 128  # the feed-forward block's hidden width
    num_queries: int = 4
    head_width: int = 128
    head_depth: int = 2
    dropout: float = 0.0
    transition_tokens: bool = False  # deviation: add the previous state and the time gap to each token
    count_features: bool = False  # deviation: the heads also see the pooled transition counts (statistics.py)
    rate_residual: bool = False  # deviation: the rate head corrects the counts' crude log-rates (model.py)
    time_max_frequency: float = 0.0  # deviation when > 0: spread the time encoding's initial frequencies
    # prior and pretraining set
    num_processes: int = 4000
    paths_per_process: int = 64
    grid_size: int = 100
    t_end: float = 10.0
    min_states: int = 2
    max_states: int = MAX_STATES
    state_weights: tuple[float, ...] = (5.0, 5.0, 5.0, 5.0, 25.0)  # P(n) for n = 2..6, as the original's set
    label_noise: float = 0.01  # probability that an observation is replaced by another state
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
    dfr_path: str = ""  # a published DFR archive (.zip or folder) to evaluate on; "" = simulate the DFR
    chunk_size: int = 0  # paths per inference chunk; 0 = max_paths
    path_counts: tuple[int, ...] = (1, 10, 30, 100, 300, 1000)
    eval_mle: bool = True
    eval_mle_processes: int = 60  # held-out regular-grid processes that also get the MLE baseline
    validation_processes: int = 0  # synthetic processes of the validation batch (val/ metrics); 0 = none
    comparison_processes: int = 0  # per number of states: regular-grid processes for FIM vs MLE; 0 = skip
    comparison_paths: tuple[int, ...] = (1, 10, 30, 100, 300)  # path counts of the FIM-vs-MLE table

    def __post_init__(self):
        at_least_one = ("width", "depth", "num_heads", "ff_width", "num_queries", "head_width", "num_processes",
                        "paths_per_process", "batch_size", "min_paths", "max_paths", "eval_processes", "dfr_paths",
                        "dfr_batches")
        check_ranges(self, **{name: {"ge": 1} for name in at_least_one})
        if self.width % self.num_heads:
            raise ValueError(f"width ({self.width}) must be divisible by num_heads ({self.num_heads})")
        check_range("width", self.width, gt=MAX_STATES + 1)  # the tokens hold a time encoding and a one-hot state
        check_range("dropout", self.dropout, ge=0, lt=1)
        check_range("validation_processes", self.validation_processes, ge=0)
        check_range("comparison_processes", self.comparison_processes, ge=0)
        for p in self.comparison_paths:
            check_range("comparison_paths", p, ge=1)
        if self.rate_residual and not self.count_features:
            raise ValueError("rate_residual needs count_features (the crude log-rates come from the counts)")
        if not self.min_paths <= self.max_paths:
            raise ValueError(f"need min_paths <= max_paths, got {self.min_paths} > {self.max_paths}")
        MJPPrior(min_states=self.min_states, max_states=self.max_states, state_weights=self.state_weights)
        check_ranges(self, grid_size={"ge": 2}, dfr_grid_size={"ge": 2}, t_end={"gt": 0}, dfr_t_end={"gt": 0},
                     label_noise={"ge": 0, "le": 1}, p_regular={"ge": 0, "le": 1}, chunk_size={"ge": 0})
        for p in self.path_counts:
            check_range("path_counts", p, ge=1)
        lo, hi = self.irregular_fraction
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"irregular_fraction must satisfy 0 < lo <= hi <= 1, got {self.irregular_fraction}")
        if self.dfr_path and not Path(self.dfr_path).exists():
            raise FileNotFoundError(f"dfr_path {self.dfr_path} does not exist (expected a published DFR archive, "
                                    "e.g. 6_st_DFR_V=1.zip, or its unpacked folder)")

    # ------------------------------------------------------------------------------------ model

    def init(self, *, key) -> FIMMJP:
        return FIMMJP(
            num_states=MAX_STATES, d_model=self.width, num_layers=self.depth, num_heads=self.num_heads,
            ff_dim=self.ff_width, num_queries=self.num_queries, head_width=self.head_width,
            head_depth=self.head_depth, dropout=self.dropout, transition_tokens=self.transition_tokens,
            count_features=self.count_features, rate_residual=self.rate_residual,
            time_max_frequency=self.time_max_frequency or None, key=key,
        )

    # ------------------------------------------------------------------------------------- data

    @property
    def length_range(self) -> tuple[int, int]:
        """Observations per irregular path: 8-72 of 100 grid points in the original."""
        lo, hi = self.irregular_fraction
        return max(2, round(lo * self.grid_size)), max(2, round(hi * self.grid_size))

    def _synthetic(self, seed: int, num_processes: int, num_paths: int, cache: bool) -> dict[str, np.ndarray]:
        return mjp_dataset(
            seed, num_processes, num_paths, grid_size=self.grid_size, t_end=self.t_end, min_states=self.min_states,
            max_states=self.max_states, state_weights=tuple(self.state_weights), noise=self.label_noise,
            p_regular=self.p_regular, stride_choices=tuple(self.stride_choices), length_range=self.length_range,
            cache=cache,
        )

    def dataset(self) -> dict[str, np.ndarray]:
        """The seeded pretraining set (generated once, kept in memory and in the disk cache under fim/)."""
        return self._synthetic(self.data_seed, self.num_processes, self.paths_per_process, self.cache)

    def heldout(self, num_paths: int | None = None) -> dict[str, np.ndarray]:
        """Held-out synthetic processes from the same prior, drawn from `eval_seed` (kept in memory only)."""
        return self._synthetic(self.eval_seed, self.eval_processes, num_paths or self.max_paths, False)

    def comparison_set(self, n: int) -> dict[str, np.ndarray]:
        """`comparison_processes` held-out processes of n states from the prior, all on regular grids, with
        max(`comparison_paths`) paths each (eval_seed + COMPARISON_SEED_OFFSET; memory only)."""
        return mjp_dataset(
            self.eval_seed + COMPARISON_SEED_OFFSET, self.comparison_processes, max(self.comparison_paths),
            grid_size=self.grid_size, t_end=self.t_end, min_states=n, max_states=n,
            state_weights=tuple(self.state_weights), noise=self.label_noise, p_regular=1.0,
            stride_choices=tuple(self.stride_choices), length_range=self.length_range, cache=False,
        )

    def dfr_data(self, num_paths: int, seed: int) -> dict[str, np.ndarray]:
        return make_dfr_dataset(
            seed, num_paths, V=self.dfr_V, r=self.dfr_r, b=self.dfr_b, grid_size=self.dfr_grid_size,
            t_end=self.dfr_t_end,
        )

    def dfr_sets(self) -> tuple[np.ndarray, float, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(true rate matrix, time normalisation, paths of the batched DFR evaluation, path pool of the
        RMSE-against-paths curve): simulated from `eval_seed`, or read from the archive `dfr_path`, whose
        first `dfr_batches * dfr_paths` paths make the evaluation set and the next `max(path_counts)` the
        pool (disjoint, like the two simulated sets)."""
        n_eval, n_pool = self.dfr_paths * self.dfr_batches, max(self.path_counts)
        if not self.dfr_path:
            Q = dfr_rate_matrix(self.dfr_V, self.dfr_r, self.dfr_b)
            return (Q, self.dfr_t_end, self.dfr_data(n_eval, seed=self.eval_seed + DFR_SEED_OFFSET),
                    self.dfr_data(n_pool, seed=self.eval_seed + PATHS_SEED_OFFSET))
        a = load_dfr_archive(self.dfr_path)
        count, paths = a["states"].shape[:2]
        if count != 1:
            raise ValueError(f"{self.dfr_path}: holds {count} processes; a DFR archive holds one")
        if paths < n_eval + n_pool:
            raise ValueError(f"{self.dfr_path}: {paths} paths, but the evaluation needs dfr_batches x dfr_paths "
                             f"+ max(path_counts) = {self.dfr_batches} x {self.dfr_paths} + {n_pool} = "
                             f"{n_eval + n_pool}")

        def take(sl: slice) -> dict[str, np.ndarray]:
            return {k: a[k][0, sl] for k in ("times", "states", "lengths")}

        return a["Q"][0], float(a["t_norm"][0]), take(slice(0, n_eval)), take(slice(n_eval, n_eval + n_pool))

    def batch(self, step: int, *, seed: int) -> dict[str, np.ndarray]:
        data = self.dataset()
        rng = np.random.default_rng([seed, step])
        proc = rng.integers(0, data["Q"].shape[0], self.batch_size)
        available = data["states"].shape[1]
        if self.max_paths <= available:
            # deviation: distinct paths (the original draws with replacement; a repeated path adds no
            # information but inflates the transition counts that the network learns to read)
            paths = np.argsort(rng.random((self.batch_size, available)), axis=1)[:, : self.max_paths]
        else:
            paths = rng.integers(0, available, (self.batch_size, self.max_paths))
        n_paths = rng.integers(self.min_paths, self.max_paths + 1, self.batch_size)
        return path_batch(data, proc, paths, n_paths)

    def validation_batch(self, *, seed: int) -> dict[str, np.ndarray] | None:
        """`validation_processes` synthetic processes from the prior, drawn from eval_seed +
        VALIDATION_SEED_OFFSET (never the DFR, never the final evaluation's held-out set), each with a
        number of distinct paths in [min_paths, max_paths] as in training; the runner logs the loss and
        the rate RMSE on it as val/loss and val/rmse (checkpoint selection: train.select=val/rmse).
        The same batch for every training seed."""
        if not self.validation_processes:
            return None
        data = self._synthetic(self.eval_seed + VALIDATION_SEED_OFFSET, self.validation_processes,
                               self.max_paths, False)
        rng = np.random.default_rng([self.eval_seed, VALIDATION_SEED_OFFSET])
        proc = np.arange(self.validation_processes)
        paths = np.broadcast_to(np.arange(self.max_paths), (self.validation_processes, self.max_paths))
        n_paths = rng.integers(self.min_paths, self.max_paths + 1, self.validation_processes)
        return path_batch(data, proc, paths, n_paths)

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

    @property
    def states(self) -> range:
        return range(self.min_states, self.max_states + 1)

    def evaluate(self, model: FIMMJP, *, key, run_dir: Path) -> dict[str, float]:
        run_dir = Path(run_dir)
        Q, t_norm, dfr_set, pool = self.dfr_sets()
        metrics = evaluation.synthetic_rmse(
            model, self.heldout(), self.dataset(), num_paths=self.max_paths, states=self.states,
            mle_processes=self.eval_mle_processes if self.eval_mle else 0,
        )
        dfr, mats = evaluation.dfr_evaluation(
            model, dfr_set, Q, num_batches=self.dfr_batches, batch_paths=self.dfr_paths, t_norm=t_norm,
            chunk_size=self.inference_chunk, mle=self.eval_mle,
        )
        metrics |= dfr
        metrics |= evaluation.rmse_vs_paths(
            model, pool, Q, path_counts=self.path_counts, t_norm=t_norm, chunk_size=self.inference_chunk,
            mle=self.eval_mle,
        )
        for n in self.states if self.comparison_processes else ():
            metrics |= evaluation.fim_vs_mle(
                model, self.comparison_set(n), path_counts=self.comparison_paths, chunk_size=self.inference_chunk,
            )
        run_dir.mkdir(parents=True, exist_ok=True)
        figures.dfr_rate_matrices(mats, metrics, run_dir / "dfr_rate_matrices.png")
        figures.rmse_paths_states(
            metrics, run_dir / "rmse_paths_states.png", path_counts=self.path_counts,
            chunk_size=self.inference_chunk, max_paths=self.max_paths, states=self.states,
        )
        return {k: float(v) for k, v in metrics.items()}
