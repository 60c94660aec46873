"""The `gde` task: Generative Distribution Embeddings on Gaussian and Gaussian-mixture sets.

Training batches are fresh sets every step (a pure function of [seed, step]); evaluation uses
held-out sets from a separate seed and reports the paper's synthetic metrics:

- reconstruction W2: encode a held-out set, sample from the decoded distribution, and measure W2 to
  the true distribution. For Gaussian data: the closed-form W2 between the Gaussian fitted to the
  generated points and the truth (`recon_w2`), beside the same number for exact samples of equal
  count (`recon_w2_floor`, what sampling noise alone costs) and for the input set's own moments
  (`recon_w2_plugin`). For every dataset also the exact (POT) W2 between generated points and fresh
  true points (`recon_w2_sample`) with its floor from two true samples (`recon_w2_sample_floor`).
- `spearman`: rank correlation of latent L2 distance with the true W2 (Gaussians: Bures formula;
  mixtures: the mixture distance MW2) over all pairs of held-out sets.
- interpolation (Gaussian data): decode z_t = (1 - t) z0 + t z1 and measure the W2 of its fitted
  Gaussian to the McCann (OT) interpolant (`interp_w2_gde`), beside that of the linear mixture
  (1 - t) P0 + t P1 (`interp_w2_mixture`), averaged over interior t.
- throughput: `encode_sets_per_s`, `decode_points_per_s` (timed after compilation).

Reference: Fishman et al. 2025, "Generative Distribution Embeddings", Table 2 (reconstruction),
Sec. 5.1 / Fig. 3 (latent distance vs W2, Spearman 0.96 Gaussians / 0.76 GMMs; interpolation).
"""

import dataclasses
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from sciml import metrics
from sciml.data.gaussian_sets import (
    MEAN_RANGE,
    default_df,
    gaussian_params,
    mixture_params,
    sample_gaussians,
    sample_mixtures,
)
from sciml.gde.ddpm import DDPM
from sciml.gde.direct import DirectGenerator
from sciml.gde.encoders import ENCODERS, KMEEncoder, make_encoder
from sciml.gde.flow import FlowMatching
from sciml.gde.model import GDE, interpolate_latents
from sciml.gde.sets import encode_sets, sample_sets
from sciml.gde.wasserstein import (
    bures_w2,
    fit_gaussian,
    mccann_interpolant,
    mixture_path_moments,
    pairwise_bures_w2,
    pairwise_mixture_w2,
)
from sciml.runner.task import Task, register_task

DATASETS = ("normal", "shared_mean", "gmm")
GENERATORS = ("ddpm", "flow", "direct")
#: Third word of the evaluation data's seed sequence (training batches use [seed, step, 0]).
_EVAL_STREAM = 1


@register_task("gde")
@dataclasses.dataclass(frozen=True)
class GDETask(Task):
    """Encoder + conditional generator trained jointly on random sets of Gaussian / GMM samples.

    Data: `normal` (mean ~ U[0, 5]^d, Sigma ~ cov_scale x inverse-Wishart(cov_df, I), cov_df = 0
    meaning the original's 10 (d - 1)); `shared_mean` (every mean at the centre, only Sigma varies,
    so the mean-only encoder carries no information); `gmm` (`components` Gaussians from that prior
    mixed with Dirichlet(`dirichlet_alpha`) weights).
    """

    dataset: str = "normal"
    dim: int = 2
    set_size: int = 128
    sets_per_batch: int = 64
    components: int = 3
    dirichlet_alpha: float = 1.0
    cov_df: int = 0
    cov_scale: float = 1.0
    encoder: str = "deepsets"
    generator: str = "ddpm"
    latent: int = 16
    hidden: int = 64
    enc_layers: int = 2
    fc_layers: int = 2
    heads: int = 4
    kme_bandwidth: float = 1.0
    gen_width: int = 64
    gen_depth: int = 4
    ddpm_steps: int = 100
    flow_steps: int = 32
    noise_dim: int = 8
    projections: int = 100
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
        _choice("dataset", self.dataset, DATASETS)
        _choice("encoder", self.encoder, ENCODERS)
        _choice("generator", self.generator, GENERATORS)
        positive = (
            "dim set_size sets_per_batch components latent hidden enc_layers fc_layers heads gen_width "
            "gen_depth ddpm_steps flow_steps noise_dim projections eval_sets eval_samples spearman_sets "
            "interp_steps"
        )
        for name in positive.split():
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        for name in ("eval_set_size", "chunk_size", "interp_pairs", "eval_sample_w2_points", "cov_df"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.set_size < 2 or (self.eval_set_size and self.eval_set_size < 2):
            raise ValueError("sets need at least 2 points (set_size, eval_set_size >= 2)")
        if self.eval_samples < 2 or self.spearman_sets < 3:
            raise ValueError("eval_samples must be >= 2 and spearman_sets >= 3")
        if self.chunk_size == 1:
            raise ValueError("chunk_size must be 0 (off) or >= 2")
        if self.cov_df == 0 and self.dim < 2:
            raise ValueError(f"the default inverse-Wishart df = 10 (d - 1) needs dim >= 2, got {self.dim}")
        if self.cov_df and self.cov_df < self.dim:
            raise ValueError(f"cov_df must be >= dim ({self.dim}) so that covariances exist, got {self.cov_df}")
        if self.cov_scale <= 0 or self.dirichlet_alpha <= 0 or self.kme_bandwidth <= 0:
            raise ValueError("cov_scale, dirichlet_alpha and kme_bandwidth must be > 0")
        if self.encoder == "kme" and self.latent % 2:
            raise ValueError(f"the KME latent holds cos/sin pairs, so latent must be even, got {self.latent}")
        if self.encoder == "attention" and self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        if self.generator == "direct" and self.noise_dim < self.dim:
            raise ValueError(f"noise_dim must be >= dim ({self.dim}), got {self.noise_dim}")

    # ---- data -------------------------------------------------------------------------------------

    @property
    def df(self) -> int:
        return self.cov_df or default_df(self.dim)

    @property
    def expected_cov(self) -> float:
        """E[Sigma_ii] under the prior (infinite when df <= d + 1; then use the scale itself)."""
        denom = self.df - self.dim - 1
        return self.cov_scale / denom if denom > 0 else self.cov_scale

    def normalisation(self) -> tuple[float, float]:
        """(shift, scale): centre of the mean prior and the marginal per-coordinate std of the data."""
        lo, hi = MEAN_RANGE
        mean_var = 0.0 if self.dataset == "shared_mean" else (hi - lo) ** 2 / 12
        return 0.5 * (lo + hi), float(np.sqrt(mean_var + self.expected_cov))

    def _params(self, rng: np.random.Generator, n: int) -> dict:
        if self.dataset == "gmm":
            w, mu, cov = mixture_params(
                rng, n, self.dim, self.components, alpha=self.dirichlet_alpha, df=self.df, cov_scale=self.cov_scale
            )
            return {"weights": w, "means": mu, "covs": cov}
        mu, cov = gaussian_params(
            rng, n, self.dim, df=self.df, cov_scale=self.cov_scale, shared_mean=self.dataset == "shared_mean"
        )
        return {"means": mu, "covs": cov}

    def _sample(self, rng: np.random.Generator, params: dict, m: int) -> np.ndarray:
        if self.dataset == "gmm":
            return sample_mixtures(rng, params["weights"], params["means"], params["covs"], m)
        return sample_gaussians(rng, params["means"], params["covs"], m)

    def batch(self, step: int, *, seed: int) -> dict[str, np.ndarray]:
        """`sets_per_batch` fresh sets of `set_size` points: {"x": [B, m, d] float32}."""
        rng = np.random.default_rng([seed, step, 0])
        params = self._params(rng, self.sets_per_batch)
        return {"x": self._sample(rng, params, self.set_size).astype(np.float32)}

    def eval_data(self) -> tuple[dict, np.ndarray]:
        """Held-out parameters and sets ([N, m, d]) for N = max(eval_sets, spearman_sets, 2 pairs)."""
        rng = np.random.default_rng([self.eval_seed, 0, _EVAL_STREAM])
        n = max(self.eval_sets, self.spearman_sets, 2 * self.interp_pairs)
        params = self._params(rng, n)
        return params, self._sample(rng, params, self.eval_set_size or self.set_size).astype(np.float32)

    # ---- model ------------------------------------------------------------------------------------

    def init(self, *, key) -> GDE:
        ke, kg = jax.random.split(key)
        encoder = make_encoder(
            self.encoder,
            self.dim,
            self.latent,
            self.hidden,
            self.enc_layers,
            self.fc_layers,
            self.heads,
            self.kme_bandwidth,
            key=ke,
        )
        w, d = self.gen_width, self.gen_depth
        if self.generator == "ddpm":
            generator = DDPM(self.dim, self.latent, w, d, self.ddpm_steps, key=kg)
        elif self.generator == "flow":
            generator = FlowMatching(self.dim, self.latent, w, d, self.flow_steps, key=kg)
        else:
            generator = DirectGenerator(self.dim, self.latent, w, d, self.noise_dim, self.projections, key=kg)
        shift, scale = self.normalisation()
        return GDE(encoder, generator, shift, scale)

    def trainable(self, model: GDE):
        spec = jax.tree_util.tree_map(eqx.is_inexact_array, model)
        if isinstance(model.encoder, KMEEncoder):
            # Random Fourier frequencies stay fixed; only the bandwidth learns.
            spec = eqx.tree_at(lambda m: m.encoder.freqs, spec, replace=False)
        return spec

    def loss(self, model: GDE, batch, *, key):
        x = batch["x"]
        keys = jax.random.split(key, x.shape[0])
        losses = jax.vmap(lambda s, k: model.loss(s, key=k))(x, keys)
        return losses.mean(), {}

    # ---- evaluation -------------------------------------------------------------------------------

    def evaluate(self, model: GDE, *, key, run_dir: Path) -> dict[str, float]:
        params, sets = self.eval_data()
        gaussian = self.dataset != "gmm"
        out: dict[str, float] = {}

        # Latents of every held-out set (timed on the second call, after compilation).
        z = encode_sets(model, sets, chunk_size=self.chunk_size)
        t0 = time.perf_counter()
        z = encode_sets(model, sets, chunk_size=self.chunk_size)
        out["encode_sets_per_s"] = len(sets) / max(time.perf_counter() - t0, 1e-9)

        # Spearman correlation of latent L2 with the true W2 over all pairs of held-out sets.
        ns = self.spearman_sets
        zs = z[:ns].astype(np.float64)
        lat = np.sqrt(((zs[:, None] - zs[None]) ** 2).sum(-1))
        if gaussian:
            true = pairwise_bures_w2(params["means"][:ns], params["covs"][:ns])
        else:
            true = pairwise_mixture_w2(params["weights"][:ns], params["means"][:ns], params["covs"][:ns])
        iu = np.triu_indices(ns, 1)
        out["spearman"] = float(scipy.stats.spearmanr(lat[iu], true[iu]).statistic)

        # Reconstruction: decode the first eval_sets latents. Two equal halves: the first compiles,
        # the second is timed for the decode throughput.
        ne = self.eval_sets
        kgen, kref, kint = jax.random.split(key, 3)
        half = max(ne // 2, 1)
        gen_a = sample_sets(model, z[:half], self.eval_samples, key=jax.random.fold_in(kgen, 0))
        t0 = time.perf_counter()
        gen_b = sample_sets(model, z[half:ne], self.eval_samples, key=jax.random.fold_in(kgen, 1))
        dt = time.perf_counter() - t0
        gen = np.concatenate([gen_a, gen_b]) if ne > half else gen_a
        if ne > half:
            out["decode_points_per_s"] = (ne - half) * self.eval_samples / max(dt, 1e-9)
        rng = np.random.default_rng(np.asarray(jax.random.randint(kref, (4,), 0, 2**31 - 1)).tolist())
        sub = {k: v[:ne] for k, v in params.items()}
        ref = self._sample(rng, sub, self.eval_samples)  # exact samples of the same count

        if gaussian:
            mu_g, cov_g = fit_gaussian(gen)
            mu_r, cov_r = fit_gaussian(ref)
            mu_p, cov_p = fit_gaussian(sets[:ne])
            w_gen = bures_w2(mu_g, cov_g, sub["means"], sub["covs"])
            out["recon_w2"] = float(w_gen.mean())
            out["recon_w2_median"] = float(np.median(w_gen))
            out["recon_w2_floor"] = float(bures_w2(mu_r, cov_r, sub["means"], sub["covs"]).mean())
            out["recon_w2_plugin"] = float(bures_w2(mu_p, cov_p, sub["means"], sub["covs"]).mean())
        k = min(self.eval_sample_w2_points, self.eval_samples)
        if k >= 2:
            ref2 = self._sample(rng, sub, k)
            out["recon_w2_sample"] = float(np.mean([metrics.w2(g[:k], r[:k]) for g, r in zip(gen, ref, strict=True)]))
            out["recon_w2_sample_floor"] = float(
                np.mean([metrics.w2(r2, r[:k]) for r2, r in zip(ref2, ref, strict=True)])
            )

        interp = None
        if gaussian and self.interp_pairs > 0:
            interp = self._interpolation(model, params, z, kint)
            out.update(interp["metrics"])

        if self.figures:
            self._figures(run_dir, sets[:ne], gen, sub, lat[iu], true[iu], interp)
        return out

    def _interpolation(self, model: GDE, params: dict, z: np.ndarray, key) -> dict:
        """Decoded latent interpolants vs the McCann path and vs the mixture path, pairs (2i, 2i+1)."""
        ts = np.linspace(0.0, 1.0, self.interp_steps)
        pairs = [(2 * i, 2 * i + 1) for i in range(self.interp_pairs)]
        zt = np.stack(
            [np.asarray(interpolate_latents(jnp.asarray(z[a]), jnp.asarray(z[b]), jnp.asarray(ts))) for a, b in pairs]
        )
        gen = sample_sets(model, zt.reshape(-1, zt.shape[-1]), self.eval_samples, key=key)
        gen = gen.reshape(len(pairs), len(ts), *gen.shape[1:])
        mu_g, cov_g = fit_gaussian(gen)  # [P, T, d], [P, T, d, d]
        err_gde = np.zeros((len(pairs), len(ts)))
        err_mix = np.zeros_like(err_gde)
        ot_path = []
        for p, (a, b) in enumerate(pairs):
            m0, s0, m1, s1 = params["means"][a], params["covs"][a], params["means"][b], params["covs"][b]
            row = []
            for i, t in enumerate(ts):
                mt, st = mccann_interpolant(m0, s0, m1, s1, t)
                mm, sm = mixture_path_moments(m0, s0, m1, s1, t)
                err_gde[p, i] = bures_w2(mu_g[p, i], cov_g[p, i], mt, st)
                err_mix[p, i] = bures_w2(mm, sm, mt, st)
                row.append((mt, st))
            ot_path.append(row)
        interior = slice(1, -1) if len(ts) > 2 else slice(None)
        return {
            "metrics": {
                "interp_w2_gde": float(err_gde[:, interior].mean()),
                "interp_w2_mixture": float(err_mix[:, interior].mean()),
                "interp_w2_endpoints": float(err_gde[:, [0, -1]].mean()),
            },
            "ts": ts,
            "gen": gen,
            "fit": (mu_g, cov_g),
            "ot_path": ot_path,
            "err_gde": err_gde,
            "err_mix": err_mix,
        }

    def _figures(self, run_dir: Path, sets, gen, params, lat, true, interp) -> None:
        from sciml import plot
        from sciml.gde.figures import interpolation_figure, latent_distance_figure, reconstruction_figure

        run_dir = Path(run_dir)
        plot.save(latent_distance_figure(lat, true, mixture=self.dataset == "gmm"), run_dir / "latent_vs_w2.png")
        plot.save(reconstruction_figure(sets, gen, params), run_dir / "reconstructions.png")
        if interp is not None:
            plot.save(interpolation_figure(interp), run_dir / "interpolation.png")


def _choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"{name} {value!r} is unknown; valid: {list(valid)}")
