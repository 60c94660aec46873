"""The `pfgmpp` task: PFGM++ on digits (U-Net or MLP) or on the authors' two-Gaussian toy (MLP).

Training is EDM's recipe with the D-kernel (Alg. 1 of the paper); `evaluate` samples with the Heun
sampler at NFE = 2 num_steps - 1 and reports the paper-style metrics, plus the robustness sweeps of
Fig. 5 (noise injection alpha, number of steps, weight bits) when their lists are given, all from the
same trained model and the same prior draws.

Metrics (all "lower is better"):
- digits: `fd` Fréchet distance of classifier features to the training set (our FID stand-in, see
  `frechet.py`), `w2` exact W2 (POT) in pixel space to as many training images, `mmd` RBF MMD².
- toy: `w2` and `mmd` against held-out points of the toy distribution.
The MMD uses `sciml.metrics.MMD_GAMMAS` divided by the data dimension N, so the bandwidths suit
N-dimensional data of unit scale (the MFM values are meant for 2-D data).
Reference: Xu et al. 2023, PFGM++, Sec. 5 (Tables 1-3, Fig. 5).
"""

import dataclasses
import functools
import math
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from sciml.data.digits import load_digits, resolve_digits_source, split_indices
from sciml.data.two_gaussians import two_gaussians
from sciml.metrics import MMD_GAMMAS, mmd_rbf, w2
from sciml.pfgmpp.init import host_init
from sciml.pfgmpp.kernel import check_D
from sciml.pfgmpp.loss import pfgmpp_loss
from sciml.pfgmpp.mlp_denoiser import MLPDenoiser
from sciml.pfgmpp.precond import EDMPrecond
from sciml.pfgmpp.quantise import quantise_weights
from sciml.pfgmpp.sampler import generate
from sciml.pfgmpp.unet import UNet
from sciml.runner.task import Task, register_task

DATA_KINDS = ("digits", "toy")
MODELS = ("unet", "mlp")


@functools.lru_cache(maxsize=8)
def _dataset(data: str, source: str, size: int, dim: int, latent: int, num: int):
    """(train, test, resolved source) as float32 arrays; cached per configuration."""
    if data == "digits":
        x, _, source = load_digits(source, size)
    else:
        x = two_gaussians(num, dim, latent)
    train, test = split_indices(len(x))
    return x[train], x[test], source


@register_task("pfgmpp")
@dataclasses.dataclass(frozen=True)
class PFGMPPTask(Task):
    """PFGM++ with augmented dimension D (D = inf is EDM), EDM preconditioning and the Heun sampler."""

    # data
    data: str = "digits"  # digits | toy
    digits_source: str = "auto"  # auto | sklearn | rendered (see sciml.data.digits)
    image_size: int = 8  # 8 or 16 (bilinear upsampling)
    toy_dim: int = 1000
    toy_latent_dim: int = 10
    toy_size: int = 2000
    # kernel and loss
    D: float = 128.0  # >= 1, or inf (EDM)
    beta_clip: float = 1e-3  # the original's training-time clip of B ~ Beta(N/2, D/2); 0 = off
    P_mean: float = -1.2
    P_std: float = 1.2
    sigma_data: float = 0.5
    # network
    model: str = "unet"  # unet | mlp
    channels: int = 32
    channel_mult: tuple[int, ...] = (1, 2)
    num_blocks: int = 2
    attn_resolutions: tuple[int, ...] = ()  # empty = the lowest resolution
    dropout: float = 0.0  # unet: dropout before each block's second convolution in training (original: 0.13)
    width: int = 256  # mlp
    depth: int = 3  # mlp
    batch_size: int = 128
    # sampling and evaluation
    num_samples: int = 1000
    num_steps: int = 18  # NFE = 2 num_steps - 1 = 35
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0
    alpha: float = 0.0  # noise injection of the main evaluation
    quant_bits: int = 0  # weight bits of the main evaluation; 0 = full precision
    robust_alphas: tuple[float, ...] = ()
    robust_steps: tuple[int, ...] = ()
    robust_bits: tuple[int, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "D", check_D(self.D))
        if self.data not in DATA_KINDS:
            raise ValueError(f"data must be one of {DATA_KINDS}, got {self.data!r}")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.data == "toy" and self.model != "mlp":
            raise ValueError("the toy data are vectors: use model='mlp'")
        resolve_digits_source(self.digits_source)
        if self.image_size not in (8, 16):
            raise ValueError(f"image_size must be 8 or 16, got {self.image_size}")
        if not (self.beta_clip == 0 or 0 < self.beta_clip < 0.5):
            raise ValueError(f"beta_clip must be 0 (off) or in (0, 0.5), got {self.beta_clip}")
        for name in ("P_std", "sigma_data", "sigma_min", "rho"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.sigma_max > self.sigma_min:
            raise ValueError(f"sigma_max must exceed sigma_min, got {self.sigma_max} <= {self.sigma_min}")
        for name in ("batch_size", "num_samples", "num_steps", "channels", "num_blocks", "width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.dropout and self.model != "unet":
            raise ValueError("dropout applies to the U-Net only (model='unet')")
        if self.alpha < 0 or any(a < 0 for a in self.robust_alphas):
            raise ValueError("noise-injection alphas must be >= 0")
        if self.quant_bits < 0 or any(b < 1 for b in self.robust_bits):
            raise ValueError("quantisation bits must be >= 1 (quant_bits 0 = full precision)")
        if any(n < 1 for n in self.robust_steps):
            raise ValueError("robust_steps must be >= 1")

    # ------------------------------------------------------------------------------------ data

    def _data(self):
        return _dataset(
            self.data, self.digits_source, self.image_size, self.toy_dim, self.toy_latent_dim, self.toy_size
        )

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one example."""
        if self.data == "digits":
            return (1, self.image_size, self.image_size)
        return (self.toy_dim,)

    def batch(self, step: int, *, seed: int) -> dict[str, np.ndarray]:
        train = self._data()[0]
        idx = np.random.default_rng((seed, step)).integers(0, len(train), self.batch_size)
        return {"y": train[idx]}

    # ----------------------------------------------------------------------------------- model

    def init(self, *, key: PRNGKeyArray) -> EDMPrecond:
        # Drawn on the host: eager construction compiles one small XLA program per parameter shape.
        return host_init(self._build, key=key)

    def _build(self, key: PRNGKeyArray) -> EDMPrecond:
        if self.model == "unet":
            net = UNet(
                self.shape[0],
                self.image_size,
                self.channels,
                self.channel_mult,
                self.num_blocks,
                self.attn_resolutions,
                self.dropout,
                key=key,
            )
        else:
            net = MLPDenoiser(self.shape, self.width, self.depth, key=key)
        return EDMPrecond(net, self.sigma_data)

    def trainable(self, model: EDMPrecond):
        """All floating arrays except the fixed random Fourier frequencies of the noise embedding."""
        spec = jax.tree_util.tree_map(eqx.is_inexact_array, model)
        return eqx.tree_at(lambda m: m.net.map_noise.B, spec, replace=False)

    def loss(self, model: EDMPrecond, batch: dict, *, key: PRNGKeyArray):
        y = batch["y"]
        keys = jax.random.split(key, y.shape[0])
        clip = self.beta_clip if self.beta_clip > 0 else None
        per_example = jax.vmap(
            lambda yi, ki: pfgmpp_loss(model, yi, self.D, key=ki, P_mean=self.P_mean, P_std=self.P_std, clip=clip,
                                       dropout=self.dropout > 0)
        )(y, keys)
        loss = jnp.mean(per_example)
        return loss, {"loss_per_dim": loss / math.prod(self.shape)}

    # ------------------------------------------------------------------------------ evaluation

    def sample(
        self,
        model: EDMPrecond,
        num: int,
        *,
        key: PRNGKeyArray,
        num_steps: int | None = None,
        alpha: float | None = None,
        bits: int | None = None,
    ) -> np.ndarray:
        """`num` samples as NumPy, with this task's sampler settings unless overridden."""
        bits = (self.quant_bits or None) if bits is None else bits
        x = generate(
            quantise_weights(model, bits),
            num,
            self.shape,
            self.D,
            key=key,
            num_steps=self.num_steps if num_steps is None else num_steps,
            sigma_min=self.sigma_min,
            sigma_max=self.sigma_max,
            rho=self.rho,
            alpha=self.alpha if alpha is None else alpha,
        )
        return np.asarray(x)

    def _metrics(self, samples: np.ndarray, ref: dict) -> dict[str, float]:
        """Distances of samples to the reference set (see the module docstring)."""
        flat = samples.reshape(len(samples), -1).astype(np.float64)
        if not np.isfinite(flat).all():
            return {"fd": math.inf, "w2": math.inf, "mmd": math.inf} if self.data == "digits" else {
                "w2": math.inf, "mmd": math.inf}
        if self.data == "digits":
            flat = np.clip(flat, -1.0, 1.0)  # images are stored clipped, as EDM clips before FID
        m = min(len(flat), len(ref["flat"]))
        gammas = tuple(g / flat.shape[1] for g in MMD_GAMMAS)
        out = {
            "w2": w2(flat[:m], ref["flat"][:m]),
            "mmd": float(mmd_rbf(jnp.asarray(flat[:m]), jnp.asarray(ref["flat"][:m]), gammas)),
        }
        if self.data == "digits":
            from sciml.pfgmpp.frechet import classifier_features, frechet_distance

            feats = classifier_features(ref["clf"], flat.reshape((-1, *self.shape)).astype(np.float32))
            out["fd"] = frechet_distance(feats, ref["feats"])
        return out

    def _reference(self) -> dict:
        train, test, _ = self._data()
        if self.data == "toy":
            return {"flat": test.reshape(len(test), -1).astype(np.float64)}
        from sciml.pfgmpp.frechet import classifier_features, load_classifier

        clf, acc = load_classifier(self.digits_source, self.image_size)
        perm = np.random.default_rng(0).permutation(len(train))
        return {
            "flat": train[perm].reshape(len(train), -1).astype(np.float64),
            "clf": clf,
            "clf_acc": acc,
            "feats": classifier_features(clf, train),
            "test_feats": classifier_features(clf, test),
        }

    def evaluate(self, model: EDMPrecond, *, key: PRNGKeyArray, run_dir: Path) -> dict[str, float]:
        ref = self._reference()
        samples = self.sample(model, self.num_samples, key=key)
        out = self._metrics(samples, ref)
        out["nfe"] = float(2 * self.num_steps - 1)
        if self.data == "digits":
            from sciml.pfgmpp.frechet import frechet_distance

            # The floor: held-out real digits against the training set, with the same features.
            out["fd_test_vs_train"] = frechet_distance(ref["test_feats"], ref["feats"])
            out["classifier_acc"] = ref["clf_acc"]
        else:
            # The finite-sample floor: as many training points against the held-out set.
            train = self._data()[0]
            m = min(self.num_samples, len(train), len(ref["flat"]))
            out["w2_train_vs_test"] = w2(train[:m].reshape(m, -1).astype(np.float64), ref["flat"][:m])
        for a in self.robust_alphas:
            res = self._metrics(self.sample(model, self.num_samples, key=key, alpha=a), ref)
            out.update({f"{k}_alpha{a:g}": v for k, v in res.items()})
        for n in self.robust_steps:
            res = self._metrics(self.sample(model, self.num_samples, key=key, num_steps=n), ref)
            out.update({f"{k}_nfe{2 * n - 1}": v for k, v in res.items()})
        for b in self.robust_bits:
            res = self._metrics(self.sample(model, self.num_samples, key=key, bits=b), ref)
            out.update({f"{k}_bits{b}": v for k, v in res.items()})
        _save_figure(samples, self, Path(run_dir))
        return {k: float(v) for k, v in out.items()}


def _save_figure(samples: np.ndarray, task: PFGMPPTask, run_dir: Path) -> None:
    """samples.png: a 10x10 grid of digits, or the toy samples on the data's top-2 principal axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir.mkdir(parents=True, exist_ok=True)
    if task.data == "digits":
        n = min(100, len(samples))
        k = int(math.ceil(math.sqrt(n)))
        s = task.image_size
        grid = np.ones((k * (s + 1), k * (s + 1)))
        for i in range(n):
            r, c = divmod(i, k)
            grid[r * (s + 1) : r * (s + 1) + s, c * (s + 1) : c * (s + 1) + s] = np.clip(samples[i, 0], -1, 1)
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.imshow(grid, cmap="gray", vmin=-1, vmax=1)
        ax.set_title(f"D = {task.D:g}, NFE {2 * task.num_steps - 1}")
    else:
        test = task._data()[1]
        mean = test.mean(0)
        _, _, vt = np.linalg.svd(test - mean, full_matrices=False)
        proj = lambda x: (x.reshape(len(x), -1) - mean) @ vt[:2].T
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.scatter(*proj(test).T, s=3, alpha=0.5, label="data")
        finite = np.isfinite(samples).all(axis=tuple(range(1, samples.ndim)))
        ax.scatter(*proj(samples[finite]).T, s=3, alpha=0.5, label="samples")
        ax.legend()
        ax.set_title(f"D = {task.D:g}")
    ax.axis("off")
    fig.savefig(run_dir / "samples.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
