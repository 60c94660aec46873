"""Tasks of the MFM comparison over populations: `fm_pop` (FM), `cgfm` (CGFM) and `mfm` (Meta Flow Matching).

All three train one conditional flow per (source population -> target population) problem of a
`Populations` collection and are evaluated the same way: every evaluated source population is pushed
through the learned flow (diffrax, adaptive Tsit5), and the prediction is compared with the target
population by exact W1 and W2 (POT) and the RBF MMD of the original, averaged over populations, on the
training populations and on held-out ones. `identity_*` metrics score predicting the source itself.

Data (`data`): `letters` (denoising rotated letters; paired), `patients` (synthetic patients x
treatments; independent samples) or `h5ad` (the organoid screen from an AnnData file). A batch holds
`populations_per_batch` problems of `points` points each; MFM embeds each problem's batch source points.

Deviations from the original, on purpose: squared-error loss (same gradient as its ||v||^2 - 2 v.u);
joint updates of embedding and field by default (the original alternates with two Adams; here
`train.alternate: [embedding, field]` with `param_labels` does that through the runner, and the field
step sees the current embedding instead of a cached one); the Fourier matrix is a frozen array of the
model, so it is checkpointed. The `ot` coupling (exact minibatch OT within each population) is
computed on the host when the batch is made (`coupling.ot_pair`; the original also runs POT on the
host); we use it for MFM too (the original's MFM has no OT option, so its FM/CGFM got OT and MFM did not).
Reference: Atanackovic et al. 2024, "Meta Flow Matching", Sec. 4-5 and their Tables 1-2.
"""

import dataclasses
import functools
import time
from pathlib import Path
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from sciml import metrics, plot
from sciml.data.letters import SOURCE_NOISE, default_train_letters, letters_populations
from sciml.data.organoids import load_organoids
from sciml.data.patients import HOLDOUTS, split_cohort, synthetic_patients
from sciml.data.populations import Populations
from sciml.mfm.coupling import COUPLINGS, ot_pair
from sciml.mfm.flow_matching import flow_matching_loss
from sciml.mfm.population_embedding import PopulationEmbedding
from sciml.mfm.population_flow import PopulationFlow
from sciml.runner.task import Task, register_task

DATASETS = ("letters", "patients", "h5ad")
#: Seed of the evaluation subsamples (training batches use the sequence [seed, step]).
EVAL_DATA_SEED = 1_000_003
#: Evaluation splits, in the order they are evaluated.
SPLITS = ("train", "val", "test")
#: Populations drawn in the evaluation figure.
FIGURE_POPULATIONS = 4


@functools.lru_cache(maxsize=8)
def _splits(spec: tuple) -> dict[str, Populations]:
    kind, *args = spec
    if kind == "letters":
        train, val, test, rotations, n, noise, seed = args
        return {
            "train": letters_populations(train, rotations, n, seed=seed, noise=noise),
            "val": letters_populations(val, rotations, n, seed=seed, noise=noise) if val else None,
            "test": letters_populations(test, rotations, n, seed=seed, noise=noise),
        }
    if kind == "patients":
        patients, replicates, dim, types, treatments, cells, seed, holdout, test_patients = args
        cohort = synthetic_patients(
            patients, replicates, dim=dim, cell_types=types, treatments=treatments, cells=cells, seed=seed
        )
        train, test = split_cohort(cohort, holdout, test_patients=test_patients)
        return {"train": train, "val": None, "test": test}
    path, cells, test_patients, seed = args
    pops = load_organoids(path, cells=cells, min_cells=cells, seed=seed)
    groups = sorted(set(pops.groups))
    if not 0 < test_patients < len(groups):
        raise ValueError(f"test_patients must be in [1, {len(groups) - 1}] for {len(groups)} patients")
    return {
        "train": pops.select_groups(groups[:-test_patients]),
        "val": None,
        "test": pops.select_groups(groups[-test_patients:]),
    }


@dataclasses.dataclass(frozen=True)
class PopulationTask(Task):
    """Shared fields and behaviour of `fm_pop`, `cgfm` and `mfm` (see the module docstring)."""

    METHOD: ClassVar[str] = "fm"

    data: str = "letters"  # letters | patients | h5ad
    coupling: str = "paired"  # paired (letters) | independent | ot (exact minibatch OT per population)
    sigma: float = 0.0
    populations_per_batch: int = 8
    points: int = 256  # points per population per batch
    # letters
    train_letters: str = ""  # "" = every capital letter not in val/test
    val_letters: str = "X"
    test_letters: str = "Y"
    rotations: int = 8
    letter_points: int = 1024  # points stored per letter population
    noise: float = SOURCE_NOISE
    # synthetic patients (and h5ad: cells, test_patients)
    patients: int = 40
    test_patients: int = 8
    holdout: str = "patient"  # patient | replicate
    replicates: int = 2
    patient_dim: int = 5
    cell_types: int = 4
    treatments: int = 3
    cells: int = 512
    h5ad_path: str = ""
    data_seed: int = 0
    # vector field
    width: int = 256
    depth: int = 3
    act: str = "selu"
    residual: bool = True
    time_dim: int = 128
    time_scale: float = 10.0  # t is embedded as sinusoidal(time_scale * t)
    fourier_features: int = 0
    fourier_scale: float = 1.0
    # evaluation
    eval_populations: int = 8  # per split, spread evenly over the split
    eval_points: int = 512
    eval_rtol: float = 1e-4
    eval_steps: int = 0  # 0 = adaptive Tsit5 (eval_rtol); > 0 = Heun steps on a uniform grid

    def __post_init__(self):
        if self.data not in DATASETS:
            raise ValueError(f"unknown data {self.data!r}; valid: {list(DATASETS)}")
        if self.coupling not in COUPLINGS:
            raise ValueError(f"unknown coupling {self.coupling!r}; valid: {list(COUPLINGS)}")
        if self.coupling == "paired" and self.data != "letters":
            raise ValueError(f"coupling 'paired' needs paired data (letters); {self.data} gives independent samples")
        for name in ("populations_per_batch", "points", "rotations", "letter_points", "patients", "replicates",
                     "patient_dim", "cell_types", "treatments", "cells", "width", "eval_populations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.eval_steps < 0 or self.time_scale <= 0 or self.eval_rtol <= 0:
            raise ValueError(f"need eval_steps >= 0, time_scale > 0 and eval_rtol > 0, got {self.eval_steps}, "
                             f"{self.time_scale}, {self.eval_rtol}")
        if self.eval_points < 2:
            raise ValueError(f"eval_points must be >= 2, got {self.eval_points}")
        size = self.population_size
        if self.points > size or self.eval_points > size:
            raise ValueError(f"points ({self.points}) and eval_points ({self.eval_points}) must be <= the "
                             f"population size ({size})")
        if self.holdout not in HOLDOUTS:
            raise ValueError(f"unknown holdout {self.holdout!r}; valid: {list(HOLDOUTS)}")
        if self.data == "letters":
            letters = self.train_letters + self.val_letters + self.test_letters
            if not self.test_letters:
                raise ValueError("test_letters must not be empty")
            if not letters.isalpha() or not letters.isupper() or not letters.isascii():
                raise ValueError(f"letters must be capital letters A-Z, got {letters!r}")
            if len(set(letters)) != len(letters):
                raise ValueError(f"train, val and test letters must not overlap or repeat, got "
                                 f"{self.train_letters!r}, {self.val_letters!r}, {self.test_letters!r}")
        if self.data == "h5ad" and not self.h5ad_path:
            raise ValueError("data 'h5ad' needs h5ad_path")

    @property
    def population_size(self) -> int:
        return self.letter_points if self.data == "letters" else self.cells

    def splits(self) -> dict[str, Populations]:
        """The train / val / test collections (val is None for patients); generated once per process."""
        if self.data == "letters":
            train = self.train_letters or default_train_letters(self.val_letters, self.test_letters)
            spec = ("letters", train, self.val_letters, self.test_letters, self.rotations, self.letter_points,
                    self.noise, self.data_seed)
        elif self.data == "patients":
            spec = ("patients", self.patients, self.replicates, self.patient_dim, self.cell_types, self.treatments,
                    self.cells, self.data_seed, self.holdout, self.test_patients)
        else:
            spec = ("h5ad", self.h5ad_path, self.cells, self.test_patients, self.data_seed)
        return _splits(spec)

    # ----------------------------------------------------------------------------------- model

    def embedding(self, dim: int, *, key) -> PopulationEmbedding | None:
        return None

    def init(self, *, key):
        train = self.splits()["train"]
        ke, kf = jax.random.split(key)
        return PopulationFlow(
            train.dim,
            embedding=self.embedding(train.dim, key=ke),
            num_populations=train.num_sources if self.METHOD == "cgfm" else 0,
            num_treatments=len(train.treatments),
            width=self.width, depth=self.depth, act=self.act, residual=self.residual, time_dim=self.time_dim,
            time_scale=self.time_scale,
            fourier_features=self.fourier_features, fourier_scale=self.fourier_scale, key=kf,
        )

    def trainable(self, model: PopulationFlow):
        spec = jax.tree_util.tree_map(eqx.is_inexact_array, model)
        if model.field.fourier is not None:  # fixed random features, never trained
            spec = eqx.tree_at(lambda m: m.field.fourier.B, spec, False)
        return spec

    # ----------------------------------------------------------------------------------- training

    def batch(self, step: int, *, seed: int):
        pops = self.splits()["train"]
        rng = np.random.default_rng([seed, step])
        b, n = self.populations_per_batch, pops.num_points
        m = rng.choice(pops.num_targets, b, replace=pops.num_targets < b)
        src = pops.source_of[m]
        idx0 = np.argsort(rng.random((b, n)), axis=1)[:, : self.points]
        # Paired data keep the pairing by drawing the same points; otherwise draw the target's own.
        idx1 = idx0 if self.coupling == "paired" else np.argsort(rng.random((b, n)), axis=1)[:, : self.points]
        x0, x1 = pops.sources[src[:, None], idx0], pops.targets[m[:, None], idx1]
        if self.coupling == "ot":
            x1 = np.stack([ot_pair(a, c) for a, c in zip(x0, x1)])
        return {
            "x0": x0,
            "x1": x1,
            "population": src.astype(np.int32),
            "treatment": pops.treatment[m].astype(np.int32),
        }

    def loss(self, model: PopulationFlow, batch, *, key):
        x0, x1 = batch["x0"], batch["x1"]
        keys = jax.random.split(key, x0.shape[0])
        onehot = jax.nn.one_hot(batch["population"], model.num_populations) if model.num_populations else None

        def one(x0, x1, population, treatment, k):
            cond = model.condition(x0, population, treatment)
            return flow_matching_loss(lambda t, x: model(t, x, cond), x0, x1, key=k, sigma=self.sigma)

        losses = jax.vmap(one)(x0, x1, onehot, batch["treatment"], keys)
        return losses.mean(), {}

    # ----------------------------------------------------------------------------------- evaluation

    def eval_problems(self, split: str) -> dict[str, np.ndarray] | None:
        """The evaluated problems of a split: source/target subsamples, CGFM weights, treatments."""
        pops = self.splits()[split]
        if pops is None:
            return None
        rng = np.random.default_rng([EVAL_DATA_SEED, SPLITS.index(split)])
        count = min(self.eval_populations, pops.num_targets)
        m = np.unique(np.linspace(0, pops.num_targets - 1, count).round().astype(int))
        n = pops.num_points
        idx0 = np.argsort(rng.random((len(m), n)), axis=1)[:, : self.eval_points]
        idx1 = idx0 if pops.paired else np.argsort(rng.random((len(m), n)), axis=1)[:, : self.eval_points]
        src = pops.source_of[m]
        num_train = self.splits()["train"].num_sources
        if split == "train":
            weights = np.eye(num_train, dtype=np.float32)[src]
        else:  # an unseen population: the original's CGFM conditions on the average training one-hot
            weights = np.full((len(m), num_train), 1.0 / num_train, np.float32)
        return {
            "x0": pops.sources[src[:, None], idx0],
            "x1": pops.targets[m[:, None], idx1],
            "weights": weights,
            "treatment": pops.treatment[m].astype(np.int32),
            "names": np.array([pops.groups[s] + (f" {pops.treatments[t]}" if pops.treatments else "")
                               for s, t in zip(src, pops.treatment[m])]),
        }

    def predict(self, model: PopulationFlow, problems: dict) -> np.ndarray:
        weights = jnp.asarray(problems["weights"]) if model.num_populations else None
        # MFM embeds `points` of the source, the population size it was trained on (the eval subsample is
        # a random permutation, so its first `points` are a uniform subsample): a kNN graph over a denser
        # sample would have smaller neighbourhoods than in training. All eval points are then pushed.
        embed_from = jnp.asarray(problems["x0"][:, : self.points])
        conds = _conditions(model, embed_from, weights, jnp.asarray(problems["treatment"]))
        return np.asarray(_predict(model, jnp.asarray(problems["x0"]), conds, self.eval_rtol, self.eval_steps))

    def evaluate(self, model, *, key, run_dir: Path) -> dict[str, float]:
        out: dict[str, float] = {}
        shown = None
        for split in SPLITS:
            problems = self.eval_problems(split)
            if problems is None:
                continue
            pred = self.predict(model, problems)
            for name, x in (("", pred), ("identity_", problems["x0"])):
                scores = _scores(x, problems["x1"])
                out.update({f"{name}{split}_{k}": v for k, v in scores.items()})
            if split == "test":
                shown = (problems, pred)
        # Inference time per population, timed on the (already compiled) test problems.
        problems, pred = shown
        started = time.perf_counter()
        self.predict(model, problems)
        out["infer_ms_per_population"] = 1e3 * (time.perf_counter() - started) / len(pred)
        _figure(problems, pred, Path(run_dir), self.METHOD)
        return out


@eqx.filter_jit
def _conditions(model, x0, weights, treatment):
    return jax.vmap(model.condition)(x0, weights, treatment)


@eqx.filter_jit
def _predict(model, x0, conds, rtol, steps):
    return jax.vmap(lambda s, c: model.predict(s, c, rtol=rtol, atol=rtol, steps=steps))(x0, conds)


@jax.jit
def _mmd(x, y):
    return jax.vmap(metrics.mmd_rbf)(x, y)


def _scores(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """W1, W2 (exact, POT) and RBF MMD between each prediction and its target, averaged over populations."""
    w1 = [metrics.w1(p, t) for p, t in zip(pred, target)]
    w2 = [metrics.w2(p, t) for p, t in zip(pred, target)]
    mmd = np.asarray(_mmd(jnp.asarray(pred), jnp.asarray(target)))
    return {"w1": float(np.mean(w1)), "w2": float(np.mean(w2)), "mmd": float(np.mean(mmd))}


def _figure(problems: dict, pred: np.ndarray, run_dir: Path, method: str) -> None:
    k = min(FIGURE_POPULATIONS, len(pred))
    np.savez_compressed(run_dir / "test_predictions.npz", source=problems["x0"][:k], target=problems["x1"][:k],
                        predicted=pred[:k], names=problems["names"][:k], treatment=problems["treatment"][:k])
    fig, ax = plot.figure(k, 3, size=2.2)
    for j in range(k):
        for row, (label, x, c) in enumerate([("source", problems["x0"][j], "tab:blue"),
                                             ("target", problems["x1"][j], "tab:green"),
                                             (f"{method} prediction", pred[j], "tab:red")]):
            plot.points(ax[row, j], x[:, :2], c=c)
            ax[row, j].set_title(f"{problems['names'][j]}: {label}", fontsize=8)
    fig.tight_layout()
    plot.save(fig, run_dir / "test_populations.png")


@register_task("fm_pop")
@dataclasses.dataclass(frozen=True)
class FlowMatchingPopulations(PopulationTask):
    """FM baseline over populations: one unconditional field for every problem (treatment one-hot only)."""

    METHOD: ClassVar[str] = "fm"


@register_task("cgfm")
@dataclasses.dataclass(frozen=True)
class ConditionalGenerativeFlowMatching(PopulationTask):
    """CGFM: the field conditioned on a one-hot of the training population (average one-hot when unseen)."""

    METHOD: ClassVar[str] = "cgfm"


@register_task("mfm")
@dataclasses.dataclass(frozen=True)
class MetaFlowMatching(PopulationTask):
    """Meta Flow Matching: the field conditioned on a GCN embedding of the source population.

    `k = 0` is the DeepSets ablation. `param_labels` names the groups `embedding` and `field` for
    the original's alternating updates (`train.alternate: [embedding, field]`).
    """

    METHOD: ClassVar[str] = "mfm"

    k: int = 10
    gcn_layers: int = 3
    embed_width: int = 64

    def __post_init__(self):
        super().__post_init__()
        if self.k < 0:
            raise ValueError(f"k must be >= 0, got {self.k}")
        if self.k >= min(self.points, self.eval_points):
            raise ValueError(f"k = {self.k} needs populations of more than k points; points = {self.points}, "
                             f"eval_points = {self.eval_points}")
        if self.gcn_layers < 1 or self.embed_width < 1:
            raise ValueError("gcn_layers and embed_width must be >= 1")

    def embedding(self, dim: int, *, key) -> PopulationEmbedding:
        return PopulationEmbedding(dim, width=self.embed_width, num_layers=self.gcn_layers, k=self.k, key=key)

    def param_labels(self, params):
        labels = jax.tree_util.tree_map(lambda _: "field", params)
        return eqx.tree_at(lambda m: m.embedding, labels,
                           jax.tree_util.tree_map(lambda _: "embedding", params.embedding))
