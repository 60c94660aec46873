"""Tasks of the study "distribution embeddings as population embeddings":

- `study_gde_populations`: a GDE (`sciml.gde.GDE`: set encoder + DDPM generator, trained jointly by the
  generator's own loss, GDE Alg. 1) on the *source* populations of an MFM dataset (letters or synthetic
  patients): every step draws `populations_per_batch` training sources and `points` points of each.
- `study_mfm_gde_encoder`: Meta Flow Matching (`sciml.mfm.PopulationTask`, MFM's loss and evaluation) with
  its population embedding chosen by `encoder`: `gcn` (MFM's own GCN, the baseline; `mfm` with the same
  fields trains the same model) or a GDE encoder (`resnet` mean-pooled, `attention` attention-pooled,
  `kme` kernel mean embedding), either trained from scratch with MFM's loss (`mode: scratch`) or taken
  from a `study_gde_populations` run (`pretrained`: its run directory) and then `frozen` or `finetune`d.

Both evaluate the latent geometry on source populations (Spearman of latent distance vs exact W2,
`evaluation.latent_geometry`); the MFM task also reports MFM's metrics (W1 / W2 / MMD on train / val /
test, `sciml.mfm.population_metrics`) and whether the latent distance of an unseen population to the
nearest training population predicts MFM's W2 error on it (`evaluation.error_geometry`).

Reference: Atanackovic et al. 2024, "Meta Flow Matching", Sec. 3.2 (population embedding), Sec. 4-5;
Fishman et al. 2025, "Generative Distribution Embeddings", Alg. 1, Sec. 3 (encoders), Sec. 5.1.
"""

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import equinox as eqx
import jax
import numpy as np

from sciml import metrics, plot
from sciml.data.letters import SOURCE_NOISE
from sciml.gde import DDPM, GDE, KMEEncoder, sample_sets
from sciml.mfm import FlowMatchingPopulations, PopulationEmbedding, PopulationTask, population_metrics
from sciml.params import trainable_mask
from sciml.runner import load, register_task
from sciml.runner.task import Task
from sciml.studies.population_embeddings import evaluation
from sciml.studies.population_embeddings.encoders import (
    ENCODERS,
    GDE_ENCODERS,
    NormalisedEncoder,
    make_gde_encoder,
    population_normalisation,
)
from sciml.studies.population_embeddings.figures import geometry_figure
from sciml.validate import check_choice, check_range, check_ranges

#: Fields that fix an MFM dataset (`sciml.mfm.PopulationTask`); a pretrained GDE must share them all.
DATA_FIELDS = ("data", "train_letters", "val_letters", "test_letters", "num_rotations", "letter_points", "noise",
               "num_patients", "num_test_patients", "holdout", "num_replicates", "patient_dim", "num_cell_types",
               "num_treatments", "num_cells", "path", "split", "data_seed")
#: Fields that fix a GDE encoder's architecture; a pretrained GDE must share them too.
ENCODER_FIELDS = ("encoder", "latent", "enc_width", "enc_depth", "fc_depth", "num_heads", "kme_bandwidth")
MODES = ("scratch", "frozen", "finetune")
#: Streams of `eval_seed`: the geometry populations and the GDE's reference subsamples.
GEOMETRY_STREAM, RECONSTRUCTION_STREAM = 7, 8


@dataclasses.dataclass(frozen=True)
class EncoderFields:
    """The GDE encoder's fields (names as in `sciml.gde.GDETask`) and the geometry evaluation's sizes."""

    encoder: str = "resnet"
    latent: int = 16
    enc_width: int = 64
    enc_depth: int = 2
    fc_depth: int = 2
    num_heads: int = 4
    kme_bandwidth: float = 1.0
    geometry_sources: int = 32  # training sources (spread evenly) whose pairwise geometry is measured
    geometry_points: int = 128  # points per population in every exact W2 of the geometry

    def check_encoder(self, valid: tuple[str, ...]) -> None:
        check_choice("encoder", self.encoder, valid)
        check_ranges(self, **dict.fromkeys(("latent", "enc_width", "enc_depth", "fc_depth", "num_heads",
                                            "geometry_sources"), {"ge": 1}))
        check_ranges(self, kme_bandwidth={"gt": 0}, geometry_points={"ge": 2})
        if self.encoder == "kme" and self.latent % 2:
            raise ValueError(f"the KME latent holds cos/sin pairs, so latent must be even, got {self.latent}")
        if self.encoder == "attention" and self.enc_width % self.num_heads:
            raise ValueError(f"enc_width ({self.enc_width}) must be divisible by num_heads ({self.num_heads})")

    def new_encoder(self, dim: int, *, key) -> eqx.Module:
        return make_gde_encoder(self.encoder, dim, self.latent, width=self.enc_width, depth=self.enc_depth,
                                fc_depth=self.fc_depth, num_heads=self.num_heads, bandwidth=self.kme_bandwidth,
                                key=key)


def geometry_populations(splits: dict, count: int, points: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(`count` training sources spread evenly [G, points, d], every val and test source [U, points, d]),
    each a random `points`-subsample drawn from rng [seed, GEOMETRY_STREAM]."""
    rng = np.random.default_rng([seed, GEOMETRY_STREAM])
    train = splits["train"].sources
    idx = np.unique(np.linspace(0, len(train) - 1, min(count, len(train))).round().astype(int))
    unseen = np.concatenate([splits[s].sources for s in ("val", "test") if splits[s] is not None])

    def sub(pops):
        keep = np.argsort(rng.random(pops.shape[:2]), axis=1)[:, :points]
        return np.take_along_axis(pops, keep[..., None], axis=1)

    return sub(train[idx]), sub(unseen)


def source_geometry(embedding, splits: dict, fields: EncoderFields, seed: int, points: int):
    """Latent geometry of `embedding` over the geometry populations: (metrics, latent distances, W2).

    The latents are of `points`-point subsamples (the population size the encoder is trained on), the W2
    of `geometry_points`-point ones."""
    n = max(points, fields.geometry_points)
    train, unseen = geometry_populations(splits, fields.geometry_sources, n, seed)
    pops = np.concatenate([train, unseen])
    z = evaluation.embed_populations(embedding, pops[:, :points])
    rho, lat, w2 = evaluation.latent_geometry(z, evaluation.pairwise_w2(pops[:, : fields.geometry_points]))
    t = len(train)
    unseen_rho = evaluation.latent_geometry(z[t:], evaluation.pairwise_w2(pops[t:, : fields.geometry_points]))[0]
    return {"geometry_spearman": rho, "geometry_spearman_unseen": unseen_rho}, lat, w2


@register_task("study_gde_populations")
@dataclasses.dataclass(frozen=True)
class PopulationGDETask(Task, EncoderFields):
    """A GDE (set encoder + conditional DDPM) trained on the source populations of an MFM dataset, to be
    used as MFM's population embedding (`study_mfm_gde_encoder`, `pretrained`). The data fields are those of
    `sciml.mfm.PopulationTask`, with the same defaults."""

    data: str = "patients"  # letters | patients | organoids
    train_letters: str = ""
    val_letters: str = "X"
    test_letters: str = "Y"
    num_rotations: int = 8
    letter_points: int = 1024
    noise: float = SOURCE_NOISE
    num_patients: int = 40
    num_test_patients: int = 8
    holdout: str = "patient"
    num_replicates: int = 2
    patient_dim: int = 5
    num_cell_types: int = 4
    num_treatments: int = 3
    num_cells: int = 512
    path: str = ""
    split: str = "pdo21"
    data_seed: int = 0
    populations_per_batch: int = 16  # sets per step
    points: int = 128  # points per set
    gen_width: int = 64
    gen_depth: int = 4
    ddpm_steps: int = 100
    eval_populations: int = 16  # unseen sources whose reconstruction W2 is measured
    eval_seed: int = 1_000_003

    def __post_init__(self):
        self.check_encoder(GDE_ENCODERS)
        check_ranges(self, populations_per_batch={"ge": 1}, points={"ge": 2}, gen_width={"ge": 1},
                     gen_depth={"ge": 1}, ddpm_steps={"ge": 2}, eval_populations={"ge": 1})
        self.populations_task()  # validates the data fields as MFM does

    def populations_task(self) -> FlowMatchingPopulations:
        """An MFM population task on the same data (its `splits()` are the populations)."""
        data = {f: getattr(self, f) for f in DATA_FIELDS}
        coupling = "paired" if self.data == "letters" else "independent"
        return FlowMatchingPopulations(**data, coupling=coupling, points=self.points, eval_points=self.points)

    def splits(self) -> dict:
        return self.populations_task().splits()

    def init(self, *, key) -> GDE:
        train = self.splits()["train"]
        ke, kg = jax.random.split(key)
        shift, scale = population_normalisation(train.sources)
        generator = DDPM(train.dim, self.latent, self.gen_width, self.gen_depth, self.ddpm_steps, key=kg)
        return GDE(self.new_encoder(train.dim, key=ke), generator, shift, scale)

    def trainable(self, model: GDE):
        if isinstance(model.encoder, KMEEncoder):  # random Fourier frequencies stay fixed, as in sciml.gde
            return trainable_mask(model, frozen=lambda m: m.encoder.freqs)
        return trainable_mask(model)

    def batch(self, step: int, *, seed: int) -> dict[str, np.ndarray]:
        """{"x": [populations_per_batch, points, d]}: random training sources, a random subsample of each."""
        sources = self.splits()["train"].sources
        rng = np.random.default_rng([seed, step])
        b = self.populations_per_batch
        s = rng.choice(len(sources), b, replace=len(sources) < b)
        idx = np.argsort(rng.random((b, sources.shape[1])), axis=1)[:, : self.points]
        return {"x": sources[s[:, None], idx].astype(np.float32)}

    def loss(self, model: GDE, batch, *, key):
        x = batch["x"]
        keys = jax.random.split(key, x.shape[0])
        return jax.vmap(lambda s, k: model.loss(s, key=k))(x, keys).mean(), {}

    def evaluate(self, model: GDE, *, key, run_dir: Path) -> dict[str, float]:
        """Latent geometry over source populations, and the reconstruction W2 of unseen sources (decoded
        from their latent) beside the W2 between two disjoint samples of the same population (the floor)."""
        splits = self.splits()
        embedding = NormalisedEncoder.from_gde(model)
        out, lat, w2 = source_geometry(embedding, splits, self, self.eval_seed, self.points)
        unseen = np.concatenate([splits[s].sources for s in ("val", "test") if splits[s] is not None])
        rng = np.random.default_rng([self.eval_seed, RECONSTRUCTION_STREAM])
        pick = np.unique(np.linspace(0, len(unseen) - 1, min(self.eval_populations, len(unseen))).round().astype(int))
        perm = np.argsort(rng.random((len(pick), unseen.shape[1])), axis=1)
        pops = np.take_along_axis(unseen[pick], perm[..., None], axis=1)
        m = min(self.geometry_points, pops.shape[1] // 2)
        z = evaluation.embed_populations(embedding, pops[:, : self.points])
        gen = sample_sets(model, z, m, key=key)
        out["recon_w2_unseen"] = float(np.mean([metrics.w2(g, p[-m:]) for g, p in zip(gen, pops, strict=True)]))
        out["recon_w2_floor"] = float(np.mean([metrics.w2(p[:m], p[-m:]) for p in pops]))
        fig = geometry_figure(lat, w2, None, f"GDE ({self.encoder})")
        plot.save(fig, Path(run_dir) / "geometry.png")
        return out


@register_task("study_mfm_gde_encoder")
@dataclasses.dataclass(frozen=True)
class MFMWithEncoder(PopulationTask, EncoderFields):
    """Meta Flow Matching with the population embedding chosen by `encoder` and `mode` (module docstring).

    `gcn` uses MFM's fields `k`, `gcn_depth`, `embed_width`; the GDE encoders use `latent`, `enc_width`,
    `enc_depth`, `fc_depth`, `num_heads`, `kme_bandwidth` (which a pretrained run must share, with every
    data field). `param_labels` names `embedding` and `field`, as `mfm` does.
    """

    label: ClassVar[str] = "mfm"

    encoder: str = "gcn"
    mode: str = "scratch"  # scratch | frozen | finetune
    pretrained: str = ""  # run directory of a `study_gde_populations` run (frozen / finetune)
    k: int = 10
    gcn_depth: int = 3
    embed_width: int = 64

    def __post_init__(self):
        super().__post_init__()
        self.check_encoder(ENCODERS)
        check_choice("mode", self.mode, MODES)
        if self.mode == "scratch" and self.pretrained:
            raise ValueError(f"mode 'scratch' trains the encoder from scratch; pretrained must be empty, got "
                             f"{self.pretrained!r} (use mode frozen or finetune)")
        if self.mode != "scratch" and not self.pretrained:
            raise ValueError(f"mode {self.mode!r} needs pretrained: the run directory of a study_gde_populations run")
        if self.encoder == "gcn" and self.mode != "scratch":
            raise ValueError("the GCN is MFM's own encoder and is trained from scratch (mode scratch)")
        check_range("k", self.k, ge=0)
        if self.encoder == "gcn" and self.k >= min(self.points, self.eval_points):
            raise ValueError(f"k = {self.k} needs populations of more than k points; points = {self.points}, "
                             f"eval_points = {self.eval_points}")
        check_ranges(self, gcn_depth={"ge": 1}, embed_width={"ge": 1})

    def pretrained_gde(self) -> GDE:
        """The GDE of the `pretrained` run; its data and encoder fields must equal this task's."""
        run = load(self.pretrained)
        pre = run.task
        if not isinstance(pre, PopulationGDETask):
            raise ValueError(f"{self.pretrained} holds a {type(pre).__name__} run, not a study_gde_populations one")
        differ = [f for f in DATA_FIELDS + ENCODER_FIELDS if getattr(pre, f) != getattr(self, f)]
        if differ:
            raise ValueError(f"the pretrained GDE in {self.pretrained} differs from this task in {differ}")
        return run.model

    def conditioning(self, train, *, key) -> dict[str, Any]:
        if self.encoder == "gcn":
            return {"embedding": PopulationEmbedding(train.dim, width=self.embed_width, num_layers=self.gcn_depth,
                                                     k=self.k, key=key)}
        if self.mode == "scratch":
            shift, scale = population_normalisation(train.sources)
            return {"embedding": NormalisedEncoder(self.new_encoder(train.dim, key=key), shift, scale)}
        return {"embedding": NormalisedEncoder.from_gde(self.pretrained_gde())}

    def trainable(self, model):
        fourier = () if model.field.fourier is None else (model.field.fourier.B,)
        if self.mode == "frozen":
            frozen = lambda m: (m.embedding, *((m.field.fourier.B,) if fourier else ()))  # noqa: E731
        elif self.encoder == "kme":  # random Fourier frequencies stay fixed; the bandwidth learns
            frozen = lambda m: (m.embedding.encoder.freqs, *((m.field.fourier.B,) if fourier else ()))  # noqa: E731
        elif fourier:
            frozen = lambda m: m.field.fourier.B  # noqa: E731
        else:
            frozen = None
        return trainable_mask(model, frozen=frozen)

    def param_labels(self, params):
        labels = jax.tree_util.tree_map(lambda _: "field", params)
        return eqx.tree_at(lambda m: m.embedding, labels,
                           jax.tree_util.tree_map(lambda _: "embedding", params.embedding))

    def evaluate(self, model, *, key, run_dir: Path) -> dict[str, float]:
        """MFM's metrics on every split, the latent geometry over source populations, and the error geometry
        on the unseen (val + test) problems; per-problem numbers go to `unseen_errors.npz`."""
        solver = dict(points=self.points, rtol=self.eval_rtol, steps=self.eval_steps)
        problems = {split: self.eval_problems(split) for split in ("train", "val", "test")}
        out, preds = population_metrics(model, problems, **solver)
        splits = self.splits()
        geo, lat, w2 = source_geometry(model.embedding, splits, self, self.eval_seed, self.points)
        out.update(geo)

        unseen = [s for s in ("val", "test") if problems[s] is not None]
        x0 = np.concatenate([problems[s]["x0"] for s in unseen])
        x1 = np.concatenate([problems[s]["x1"] for s in unseen])
        pred = np.concatenate([preds[s] for s in unseen])
        errors = np.array([metrics.w2(p, t) for p, t in zip(pred, x1, strict=True)])
        train_sources, _ = geometry_populations(splits, len(splits["train"].sources),
                                                max(self.points, self.geometry_points), self.eval_seed)
        z_train = evaluation.embed_populations(model.embedding, train_sources[:, : self.points])
        z_unseen = evaluation.embed_populations(model.embedding, x0[:, : self.points])
        g = self.geometry_points
        w2_cross = evaluation.cross_w2(x0[:, :g], train_sources[:, :g])
        err = evaluation.error_geometry(z_unseen, z_train, w2_cross, errors)
        out["unseen_w2"] = float(errors.mean())
        out["error_spearman_latent"] = err["spearman_latent"]
        out["error_spearman_w2"] = err["spearman_w2"]
        run_dir = Path(run_dir)
        which = np.concatenate([[s] * len(problems[s]["x0"]) for s in unseen])
        names = np.concatenate([problems[s]["names"] for s in unseen])
        np.savez_compressed(run_dir / "unseen_errors.npz", split=which, names=names,
                            **{k: err[k] for k in ("nearest_latent", "nearest_w2", "errors")})
        plot.save(geometry_figure(lat, w2, err, f"{self.encoder} ({self.mode})"), run_dir / "geometry.png")
        return out
