"""Tasks of the MFM package: `fm` (flow matching between 2-D toy distributions, the quickstart) and the
population comparison `fm_pop` (FM), `cgfm` (CGFM) and `mfm` (Meta Flow Matching).

The population tasks train one conditional flow per (source population -> target population) problem
of a `Populations` collection and are evaluated the same way (`evaluation.population_metrics`), on the
training populations and on held-out ones. Data (`data`): `letters` (denoising rotated letters; paired),
`patients` (synthetic patients x treatments; independent samples) or `organoids` (the published
organoid drug screen, read from the folder `path`, one of the paper's splits `split`;
`sciml.data.organoids`). A batch holds `populations_per_batch` problems of `points` points each; MFM embeds
each problem's batch source points.

Deviations from the original, on purpose: squared-error loss (same gradient as its ||v||^2 - 2 v.u);
joint updates of embedding and field by default (the original alternates with two Adams; here
`train.alternate: [embedding, field]` with `param_labels` does that through the runner, and the field
step sees the current embedding instead of a cached one); the Fourier matrix is a frozen array of the
model, so it is checkpointed. The `ot` coupling (exact minibatch OT within each population) is
computed on the host when the batch is made (`coupling.ot_pair`; the original also runs POT on the
host); we use it for MFM too (the original's MFM has no OT option, so its FM/CGFM got OT and MFM did not).
Reference: Atanackovic et al. 2024, "Meta Flow Matching", Sec. 4-5 and their Tables 1-2; Lipman et al.
2023, "Flow Matching for Generative Modeling".
"""

import abc
import dataclasses
import functools
from pathlib import Path
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from sciml import plot
from sciml.data.letters import SOURCE_NOISE, default_train_letters, letters_splits
from sciml.data.organoids import SPLITS as ORGANOID_SPLITS
from sciml.data.organoids import load_organoids
from sciml.data.patients import HOLDOUTS, split_cohort, synthetic_patients
from sciml.data.populations import Populations
from sciml.data.toy2d import TOY_DISTRIBUTIONS, sample_toy
from sciml.mfm import evaluation, figures
from sciml.mfm.coupling import check_coupling, ot_pair
from sciml.mfm.flow_matching import flow_matching_loss
from sciml.mfm.population_embedding import PopulationEmbedding
from sciml.mfm.population_flow import PopulationFlow
from sciml.mfm.vector_field import VectorField
from sciml.params import trainable_mask
from sciml.runner.task import Task, register_task
from sciml.validate import check_choice, check_range, check_ranges

DATASETS = ("letters", "patients", "organoids")
#: Default `eval_seed`: held-out evaluation samples (training batches use the sequence [seed, step]).
EVAL_SEED = 1_000_003


@register_task("fm")
@dataclasses.dataclass(frozen=True)
class FlowMatching2D(Task):
    """Conditional flow matching from one 2-D toy distribution to another (MFM's FM baseline)."""

    source: str = "8gaussians"
    target: str = "moons"
    coupling: str = "independent"  # independent | ot (exact minibatch OT, solved when the batch is made)
    sigma: float = 0.0
    batch_size: int = 256
    width: int = 128
    depth: int = 3
    act: str = "selu"
    time_dim: int = 32
    eval_samples: int = 1000
    eval_trajectories: int = 64
    eval_seed: int = EVAL_SEED

    def __post_init__(self):
        for which in ("source", "target"):
            if getattr(self, which) not in TOY_DISTRIBUTIONS:
                raise ValueError(f"{which} {getattr(self, which)!r} is unknown; valid: {sorted(TOY_DISTRIBUTIONS)}")
        check_coupling(self.coupling)
        check_ranges(self, batch_size={"ge": 2}, eval_samples={"ge": 2})

    def init(self, *, key):
        return VectorField(2, width=self.width, depth=self.depth, act=self.act, time_dim=self.time_dim, key=key)

    def batch(self, step: int, *, seed: int):
        rng = np.random.default_rng([seed, step])
        x0 = sample_toy(self.source, self.batch_size, rng)
        x1 = sample_toy(self.target, self.batch_size, rng)
        return {"x0": x0, "x1": ot_pair(x0, x1) if self.coupling == "ot" else x1}

    def loss(self, model, batch, *, key):
        return flow_matching_loss(model, batch["x0"], batch["x1"], key=key, sigma=self.sigma), {}

    def evaluate(self, model, *, key, run_dir: Path) -> dict[str, float]:
        rng = np.random.default_rng(self.eval_seed)
        x0 = sample_toy(self.source, self.eval_samples, rng)
        x1 = sample_toy(self.target, self.eval_samples, rng)
        x1_again = sample_toy(self.target, self.eval_samples, rng)  # drawn last: x0 and x1 stay as they were
        # one solve for the samples (t = 1) and the drawn trajectories (each point's solve is its own
        # under vmap, so the first trajectories are those of a solve of those points alone)
        paths = np.asarray(evaluation.push(model, jnp.asarray(x0), jnp.linspace(0.0, 1.0, 24)))
        generated, paths = paths[-1], paths[:, : self.eval_trajectories]
        fig = figures.toy_figure(x0, x1, generated, paths, f"{self.source} -> {self.target}")
        plot.save(fig, Path(run_dir) / "samples.png")
        return evaluation.toy_metrics(generated, x0, x1, x1_again)


@functools.lru_cache(maxsize=8)
def _splits(spec: tuple) -> dict[str, Populations | None]:
    kind, *args = spec
    if kind == "letters":
        train, val, test, rotations, n, noise, seed = args
        return letters_splits(train, val, test, rotations, n, seed=seed, noise=noise)
    if kind == "patients":
        patients, replicates, dim, types, treatments, cells, seed, holdout, test_patients = args
        cohort = synthetic_patients(
            patients, replicates, dim=dim, cell_types=types, treatments=treatments, cells=cells, seed=seed
        )
        train, test = split_cohort(cohort, holdout, test_patients=test_patients)
        return {"train": train, "val": None, "test": test}
    path, split, cells, seed = args
    return load_organoids(path, split, cells=cells, seed=seed)


@dataclasses.dataclass(frozen=True)
class PopulationTask(Task):
    """Shared fields and behaviour of `fm_pop`, `cgfm` and `mfm` (see the module docstring); abstract:
    each final task says how the field sees its population (`conditioning`)."""

    #: The method's name in figures.
    label: ClassVar[str]

    data: str = "letters"  # letters | patients | organoids
    coupling: str = "paired"  # paired (letters) | independent | ot (exact minibatch OT per population)
    sigma: float = 0.0
    populations_per_batch: int = 8
    points: int = 256  # points per population per batch
    # letters
    train_letters: str = ""  # "" = every capital letter not in val/test
    val_letters: str = "X"
    test_letters: str = "Y"
    num_rotations: int = 8
    letter_points: int = 1024  # points stored per letter population
    noise: float = SOURCE_NOISE
    # synthetic patients (num_cells also for organoids)
    num_patients: int = 40
    num_test_patients: int = 8
    holdout: str = "patient"  # patient | replicate
    num_replicates: int = 2
    patient_dim: int = 5
    num_cell_types: int = 4
    num_treatments: int = 3
    num_cells: int = 512
    # organoids: the folder of the published files, and which of the paper's splits
    path: str = ""
    split: str = "pdo21"  # replicas-1 | replicas-2 (replicate hold-out) | pdo21 | pdo27 | pdo75 (patient)
    data_seed: int = 0
    # vector field
    width: int = 256
    depth: int = 3
    act: str = "selu"
    residual: bool = True
    time_dim: int = 128
    time_scale: float = 10.0  # t is embedded as sinusoidal(time_scale * t)
    num_fourier_features: int = 0
    fourier_scale: float = 1.0
    # evaluation
    eval_populations: int = 8  # per split, spread evenly over the split
    eval_points: int = 512
    eval_rtol: float = 1e-4
    eval_steps: int = 0  # 0 = adaptive Tsit5 (eval_rtol); > 0 = Heun steps on a uniform grid
    eval_seed: int = EVAL_SEED

    def __post_init__(self):
        if self.data not in DATASETS:
            raise ValueError(f"unknown data {self.data!r}; valid: {list(DATASETS)}")
        check_coupling(self.coupling)
        if self.coupling == "paired" and self.data != "letters":
            raise ValueError(f"coupling 'paired' needs paired data (letters); {self.data} gives independent samples")
        at_least_one = ("populations_per_batch", "points", "num_rotations", "letter_points", "num_patients",
                        "num_replicates", "patient_dim", "num_cell_types", "num_treatments", "num_cells", "width",
                        "eval_populations")
        check_ranges(self, **dict.fromkeys(at_least_one, {"ge": 1}))
        check_ranges(self, eval_steps={"ge": 0}, time_scale={"gt": 0}, eval_rtol={"gt": 0}, eval_points={"ge": 2})
        size = self.population_size
        if self.points > size or self.eval_points > size:
            raise ValueError(f"points ({self.points}) and eval_points ({self.eval_points}) must be <= the "
                             f"population size ({size})")
        check_choice("holdout", self.holdout, HOLDOUTS)
        if self.data == "letters":
            letters = self.train_letters + self.val_letters + self.test_letters
            if not self.test_letters:
                raise ValueError("test_letters must not be empty")
            if not letters.isalpha() or not letters.isupper() or not letters.isascii():
                raise ValueError(f"letters must be capital letters A-Z, got {letters!r}")
            if len(set(letters)) != len(letters):
                raise ValueError(f"train, val and test letters must not overlap or repeat, got "
                                 f"{self.train_letters!r}, {self.val_letters!r}, {self.test_letters!r}")
        check_choice("split", self.split, ORGANOID_SPLITS)
        if self.data == "organoids" and not self.path:
            raise ValueError("data 'organoids' needs path: the folder of the published organoid files "
                             "(e.g. task.path=data/organoids)")

    @property
    def population_size(self) -> int:
        return self.letter_points if self.data == "letters" else self.num_cells

    def splits(self) -> dict[str, Populations | None]:
        """The train / val / test collections (val is None for patients and the organoids' patient splits);
        generated or read once per process."""
        if self.data == "letters":
            train = self.train_letters or default_train_letters(self.val_letters, self.test_letters)
            spec = ("letters", train, self.val_letters, self.test_letters, self.num_rotations, self.letter_points,
                    self.noise, self.data_seed)
        elif self.data == "patients":
            spec = ("patients", self.num_patients, self.num_replicates, self.patient_dim, self.num_cell_types,
                    self.num_treatments, self.num_cells, self.data_seed, self.holdout, self.num_test_patients)
        else:
            spec = ("organoids", self.path, self.split, self.num_cells, self.data_seed)
        return _splits(spec)

    # ----------------------------------------------------------------------------------- model

    @abc.abstractmethod
    def conditioning(self, train: Populations, *, key) -> dict[str, Any]:
        """How the field sees its population: `PopulationFlow` keyword arguments (`embedding` for MFM,
        `num_populations` for CGFM, none for FM); `key` initialises an embedding. A subclass may return
        any population encoder as `embedding` (a module mapping [points, d] to [k]), in place of the GCN."""

    def init(self, *, key):
        train = self.splits()["train"]
        ke, kf = jax.random.split(key)
        return PopulationFlow(
            train.dim,
            **self.conditioning(train, key=ke),
            num_treatments=len(train.treatments),
            width=self.width, depth=self.depth, act=self.act, residual=self.residual, time_dim=self.time_dim,
            time_scale=self.time_scale,
            fourier_features=self.num_fourier_features, fourier_scale=self.fourier_scale,
            probe_points=self.points, key=kf,
        )

    def trainable(self, model: PopulationFlow):
        if model.field.fourier is None:
            return trainable_mask(model)
        return trainable_mask(model, frozen=lambda m: m.field.fourier.B)  # fixed random features

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
        """The evaluated problems of a split (`evaluation.population_problems`), drawn from `eval_seed`."""
        pops = self.splits()[split]
        if pops is None:
            return None
        rng = np.random.default_rng([self.eval_seed, evaluation.SPLITS.index(split)])
        return evaluation.population_problems(pops, self.splits()["train"].num_sources, rng,
                                              count=self.eval_populations, points=self.eval_points,
                                              seen=split == "train")

    def predict(self, model: PopulationFlow, problems: dict) -> np.ndarray:
        return evaluation.predict_populations(model, problems, points=self.points, rtol=self.eval_rtol,
                                              steps=self.eval_steps)

    def evaluate(self, model, *, key, run_dir: Path) -> dict[str, float]:
        solver = dict(points=self.points, rtol=self.eval_rtol, steps=self.eval_steps)
        problems = {split: self.eval_problems(split) for split in evaluation.SPLITS}
        out, preds = evaluation.population_metrics(model, problems, **solver)
        test, pred = problems["test"], preds["test"]
        out["infer_ms_per_population"] = 1e3 * evaluation.inference_seconds(model, test, **solver) / len(pred)
        k = min(figures.FIGURE_POPULATIONS, len(pred))
        run_dir = Path(run_dir)
        np.savez_compressed(run_dir / "test_predictions.npz", source=test["x0"][:k], target=test["x1"][:k],
                            predicted=pred[:k], names=test["names"][:k], treatment=test["treatment"][:k])
        plot.save(figures.population_figure(test, pred, self.label), run_dir / "test_populations.png")
        return out


@register_task("fm_pop")
@dataclasses.dataclass(frozen=True)
class FlowMatchingPopulations(PopulationTask):
    """FM baseline over populations: one unconditional field for every problem (treatment one-hot only)."""

    label: ClassVar[str] = "fm"

    def conditioning(self, train: Populations, *, key) -> dict[str, Any]:
        return {}


@register_task("cgfm")
@dataclasses.dataclass(frozen=True)
class ConditionalGenerativeFlowMatching(PopulationTask):
    """CGFM: the field conditioned on a one-hot of the training population (average one-hot when unseen)."""

    label: ClassVar[str] = "cgfm"

    def conditioning(self, train: Populations, *, key) -> dict[str, Any]:
        return {"num_populations": train.num_sources}


@register_task("mfm")
@dataclasses.dataclass(frozen=True)
class MetaFlowMatching(PopulationTask):
    """Meta Flow Matching: the field conditioned on a GCN embedding of the source population.

    `k = 0` is the DeepSets ablation. `param_labels` names the groups `embedding` and `field` for
    the original's alternating updates (`train.alternate: [embedding, field]`).
    """

    label: ClassVar[str] = "mfm"

    k: int = 10
    gcn_depth: int = 3
    embed_width: int = 64

    def __post_init__(self):
        super().__post_init__()
        check_range("k", self.k, ge=0)
        if self.k >= min(self.points, self.eval_points):
            raise ValueError(f"k = {self.k} needs populations of more than k points; points = {self.points}, "
                             f"eval_points = {self.eval_points}")
        check_ranges(self, gcn_depth={"ge": 1}, embed_width={"ge": 1})

    def conditioning(self, train: Populations, *, key) -> dict[str, Any]:
        return {"embedding": PopulationEmbedding(train.dim, width=self.embed_width, num_layers=self.gcn_depth,
                                                 k=self.k, key=key)}

    def param_labels(self, params):
        labels = jax.tree_util.tree_map(lambda _: "field", params)
        return eqx.tree_at(lambda m: m.embedding, labels,
                           jax.tree_util.tree_map(lambda _: "embedding", params.embedding))
