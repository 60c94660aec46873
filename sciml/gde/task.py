"""The `gde` task: Generative Distribution Embeddings on Gaussian and Gaussian-mixture sets.

Training batches are fresh sets every step (a pure function of [seed, step]); evaluation uses held-out
sets drawn from `eval_seed` and reports the paper's synthetic metrics (`sciml.gde.evaluation`:
reconstruction W2, Spearman of latent distance vs W2, interpolation vs the McCann path, throughput).

Reference: Fishman et al. 2025, "Generative Distribution Embeddings", Table 2 (reconstruction),
Sec. 5.1 / Fig. 3 (latent distance vs W2; interpolation).
"""

import abc
import dataclasses
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

from sciml import plot
from sciml.data.gaussian_sets import (
    SET_DATA,
    default_df,
    prior_normalisation,
    sample_distributions,
    set_distributions,
)
from sciml.gde import evaluation
from sciml.gde.ddpm import DDPM, SCHEDULES
from sciml.gde.direct import DirectGenerator
from sciml.gde.encoders import ENCODERS, KMEEncoder, make_encoder
from sciml.gde.figures import interpolation_figure, latent_distance_figure, reconstruction_figure
from sciml.gde.flow import FlowMatching
from sciml.gde.model import GDE
from sciml.gde.sets import encode_sets
from sciml.params import trainable_mask
from sciml.runner.task import Task, register_task
from sciml.validate import check_ranges

GENERATORS = ("ddpm", "flow", "direct")
#: The held-out sets' stream of `eval_seed`: rng [eval_seed, *EVAL_SETS_STREAM] (training batches use
#: [seed, step, 0]); two words, as the sets were drawn before the one seed rule, so they stay the same.
EVAL_SETS_STREAM = (0, 1)


@dataclasses.dataclass(frozen=True)
class GDETaskBase(Task):
    """Encoder + conditional generator trained jointly on random sets of Gaussian / GMM samples.

    The shared base (fields, data, loss, evaluation) of the `gde` task and of variants that bring a
    generator of their own (a study): each final task names its generators (`generator_names`) and builds
    the one that `generator` names (`make_generator`; `builtin_generator` builds GDE's own three).

    Data: `normal` (mean ~ U[0, 5]^d, Sigma ~ cov_scale x inverse-Wishart(cov_df, I), cov_df = 0
    meaning the original's 10 (d - 1)); `shared_mean` (every mean at the centre, only Sigma varies,
    so the mean-only encoder carries no information); `gmm` (`num_components` Gaussians from that prior
    mixed with Dirichlet(`dirichlet_alpha`) weights).

    `normalise`: map the data by the prior's (shift, scale) before both networks (ours; the original
    trains on raw coordinates, `normalise: false`). `ddpm_schedule`: `scaled` (ours) or `original` (the
    original's betas; `sciml.gde.ddpm.SCHEDULES`).
    """

    data: str = "normal"
    dim: int = 2
    set_size: int = 128
    sets_per_batch: int = 64
    num_components: int = 3
    dirichlet_alpha: float = 1.0
    cov_df: int = 0
    cov_scale: float = 1.0
    encoder: str = "deepsets"
    generator: str = "ddpm"
    latent: int = 16
    width: int = 64
    enc_depth: int = 2
    fc_depth: int = 2
    num_heads: int = 4
    kme_bandwidth: float = 1.0
    gen_width: int = 64
    gen_depth: int = 4
    ddpm_steps: int = 100
    ddpm_schedule: str = "scaled"
    normalise: bool = True
    flow_steps: int = 32
    noise_dim: int = 8
    num_projections: int = 100
    chunk_size: int = 0  # > 0: encode held-out sets in chunks of this size and average
    eval_sets: int = 100  # sets whose reconstruction is measured
    eval_set_size: int = 0  # points per held-out set; 0 = set_size
    eval_samples: int = 2000  # generated points per set for the fitted-Gaussian W2
    eval_sample_w2_points: int = 500  # points per side of the exact (POT) sample W2; 0 = skip
    spearman_sets: int = 300  # held-out sets whose pairwise latent distances are ranked
    interp_pairs: int = 4
    interp_steps: int = 5
    eval_seed: int = 1234
    figures: bool = True

    def __post_init__(self):
        for name, value, valid in (("dataset", self.data, SET_DATA), ("encoder", self.encoder, ENCODERS),
                                   ("generator", self.generator, self.generator_names()),
                                   ("ddpm_schedule", self.ddpm_schedule, SCHEDULES)):
            if value not in valid:
                raise ValueError(f"{name} {value!r} is unknown; valid: {list(valid)}")
        positive = (
            "dim set_size sets_per_batch num_components latent width enc_depth fc_depth num_heads gen_width "
            "gen_depth ddpm_steps flow_steps noise_dim num_projections eval_sets eval_samples spearman_sets "
            "interp_steps"
        )
        for name in positive.split():
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        at_least_zero = ("eval_set_size", "chunk_size", "interp_pairs", "eval_sample_w2_points", "cov_df")
        check_ranges(self, **dict.fromkeys(at_least_zero, {"ge": 0}))
        if self.set_size < 2 or (self.eval_set_size and self.eval_set_size < 2):
            raise ValueError("sets need at least 2 points (set_size, eval_set_size >= 2)")
        check_ranges(self, eval_samples={"ge": 2}, spearman_sets={"ge": 3}, cov_scale={"gt": 0},
                     dirichlet_alpha={"gt": 0}, kme_bandwidth={"gt": 0})
        if self.chunk_size == 1:
            raise ValueError("chunk_size must be 0 (off) or >= 2")
        if self.cov_df == 0 and self.dim < 2:
            raise ValueError(f"the default inverse-Wishart df = 10 (d - 1) needs dim >= 2, got {self.dim}")
        if self.cov_df and self.cov_df < self.dim:
            raise ValueError(f"cov_df must be >= dim ({self.dim}) so that covariances exist, got {self.cov_df}")
        if self.encoder == "kme" and self.latent % 2:
            raise ValueError(f"the KME latent holds cos/sin pairs, so latent must be even, got {self.latent}")
        if self.encoder == "attention" and self.width % self.num_heads:
            raise ValueError(f"width ({self.width}) must be divisible by num_heads ({self.num_heads})")
        if self.generator == "direct" and self.noise_dim < self.dim:
            raise ValueError(f"noise_dim must be >= dim ({self.dim}), got {self.noise_dim}")

    # ---- data -------------------------------------------------------------------------------------

    @property
    def df(self) -> int:
        return self.cov_df or default_df(self.dim)

    def normalisation(self) -> tuple[float, float]:
        """(shift, scale): centre of the mean prior and the marginal per-coordinate std of the data; (0, 1)
        when `normalise` is off (raw coordinates, as the original)."""
        if not self.normalise:
            return 0.0, 1.0
        return prior_normalisation(self.data, self.dim, df=self.df, cov_scale=self.cov_scale)

    def _params(self, rng: np.random.Generator, n: int) -> dict:
        return set_distributions(rng, n, self.data, self.dim, df=self.df, cov_scale=self.cov_scale,
                                 components=self.num_components, alpha=self.dirichlet_alpha)

    def batch(self, step: int, *, seed: int) -> dict[str, np.ndarray]:
        """`sets_per_batch` fresh sets of `set_size` points: {"x": [B, m, d] float32}."""
        rng = np.random.default_rng([seed, step, 0])
        params = self._params(rng, self.sets_per_batch)
        return {"x": sample_distributions(rng, params, self.set_size).astype(np.float32)}

    def eval_data(self) -> tuple[dict, np.ndarray]:
        """Held-out parameters and sets ([N, m, d]) for N = max(eval_sets, spearman_sets, 2 pairs)."""
        rng = np.random.default_rng([self.eval_seed, *EVAL_SETS_STREAM])
        n = max(self.eval_sets, self.spearman_sets, 2 * self.interp_pairs)
        params = self._params(rng, n)
        return params, sample_distributions(rng, params, self.eval_set_size or self.set_size).astype(np.float32)

    # ---- model ------------------------------------------------------------------------------------

    def init(self, *, key) -> GDE:
        ke, kg = jax.random.split(key)
        encoder = make_encoder(self.encoder, self.dim, self.latent, self.width, self.enc_depth, self.fc_depth,
                               self.num_heads, self.kme_bandwidth, key=ke)
        shift, scale = self.normalisation()
        return GDE(encoder, self.make_generator(key=kg), shift, scale)

    @abc.abstractmethod
    def generator_names(self) -> tuple[str, ...]:
        """The valid values of `generator`."""

    @abc.abstractmethod
    def make_generator(self, *, key) -> eqx.Module:
        """The conditional generator named by `generator`: any module with GDE's generator interface
        (`dim`, `loss(x, z, *, key)`, `sample(z, num, *, key)`; see `sciml.gde.GDE`)."""

    def builtin_generator(self, *, key) -> eqx.Module:
        """GDE's own generator named by `generator` (one of `GENERATORS`)."""
        w, d = self.gen_width, self.gen_depth
        if self.generator == "ddpm":
            return DDPM(self.dim, self.latent, w, d, self.ddpm_steps, self.ddpm_schedule, key=key)
        if self.generator == "flow":
            return FlowMatching(self.dim, self.latent, w, d, self.flow_steps, key=key)
        if self.generator == "direct":
            return DirectGenerator(self.dim, self.latent, w, d, self.noise_dim, self.num_projections, key=key)
        raise ValueError(f"generator {self.generator!r} is unknown; valid: {list(GENERATORS)}")

    def trainable(self, model: GDE):
        if isinstance(model.encoder, KMEEncoder):  # random Fourier frequencies stay fixed; the bandwidth learns
            return trainable_mask(model, frozen=lambda m: m.encoder.freqs)
        return trainable_mask(model)

    def loss(self, model: GDE, batch, *, key):
        x = batch["x"]
        keys = jax.random.split(key, x.shape[0])
        losses = jax.vmap(lambda s, k: model.loss(s, key=k))(x, keys)
        return losses.mean(), {}

    # ---- evaluation -------------------------------------------------------------------------------

    def evaluate(self, model: GDE, *, key, run_dir: Path) -> dict[str, float]:
        params, sets = self.eval_data()
        z = encode_sets(model, sets, chunk_size=self.chunk_size)
        out = {"encode_sets_per_s": evaluation.encode_sets_per_s(model, sets, chunk_size=self.chunk_size)}
        geometry, lat, true = evaluation.latent_geometry(z[: self.spearman_sets], params)
        out.update(geometry)

        ne = self.eval_sets
        kgen, kref, kint = jax.random.split(key, 3)
        gen = evaluation.decode(model, z[:ne], self.eval_samples, key=kgen)
        half = max(ne // 2, 1)
        if ne > half:  # the second half of `decode` (compiled already unless its size is capped for timing)
            out["decode_points_per_s"] = evaluation.decode_points_per_s(
                model, z[half:ne], self.eval_samples, key=jax.random.fold_in(kgen, 1))
        rng = np.random.default_rng(np.asarray(jax.random.randint(kref, (4,), 0, 2**31 - 1)).tolist())
        sub = {k: v[:ne] for k, v in params.items()}
        out.update(evaluation.reconstruction_metrics(gen, sets[:ne], sub, rng,
                                                     sample_w2_points=self.eval_sample_w2_points))
        interp = None
        if self.data != "gmm" and self.interp_pairs > 0:
            interp = evaluation.interpolation(model, params, z, pairs=self.interp_pairs, steps=self.interp_steps,
                                              num=self.eval_samples, key=kint)
            out.update(interp["metrics"])

        if self.figures:
            run_dir = Path(run_dir)
            fig = latent_distance_figure(lat, true, mixture=self.data == "gmm")
            plot.save(fig, run_dir / "latent_vs_w2.png")
            plot.save(reconstruction_figure(sets[:ne], gen, sub), run_dir / "reconstructions.png")
            if interp is not None:
                plot.save(interpolation_figure(interp), run_dir / "interpolation.png")
        return out


@register_task("gde")
@dataclasses.dataclass(frozen=True)
class GDETask(GDETaskBase):
    """GDE with its own generators: `generator` is ddpm, flow or direct (see `GDETaskBase`)."""

    def generator_names(self) -> tuple[str, ...]:
        return GENERATORS

    def make_generator(self, *, key) -> eqx.Module:
        return self.builtin_generator(key=key)
