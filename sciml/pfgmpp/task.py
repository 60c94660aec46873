"""The `pfgmpp` task: PFGM++ on digits (U-Net or MLP), on the authors' two-Gaussian toy (MLP), or on
published image data: CIFAR-10's Python batches (`data=cifar10`) or a folder / zip of images as EDM's
`dataset_tool.py` writes them (`data=images`), read from `path` (nothing is downloaded).

Training is EDM's recipe with the D-kernel (Alg. 1 of the paper); `evaluate` samples with the Heun
sampler at NFE = 2 num_steps - 1 and reports the paper-style metrics of `evaluation.py`, plus the
robustness sweeps of Fig. 5 (noise injection alpha, number of steps, weight bits) when their lists are
given, all from the same trained model and the same prior draws.
Reference: Xu et al. 2023, PFGM++, Sec. 5 (Tables 1-3, Fig. 5).
"""

import dataclasses
import functools
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from sciml import plot
from sciml.data.cifar10 import load_cifar10
from sciml.data.digits import DIGITS_SIZES, load_digits, resolve_digits_source, split_indices
from sciml.data.image_folder import load_image_folder, save_image_zip
from sciml.data.two_gaussians import two_gaussians
from sciml.params import trainable_mask
from sciml.pfgmpp import evaluation, figures
from sciml.pfgmpp.frechet import load_classifier
from sciml.pfgmpp.init import host_init
from sciml.pfgmpp.kernel import BETA_CLIP, check_D
from sciml.pfgmpp.loss import pfgmpp_loss
from sciml.pfgmpp.mlp_denoiser import MLPDenoiser
from sciml.pfgmpp.precond import P_MEAN, P_STD, SIGMA_DATA, EDMPrecond
from sciml.pfgmpp.quantise import quantise_weights
from sciml.pfgmpp.sampler import NUM_STEPS, RHO, SIGMA_MAX, SIGMA_MIN, generate, num_function_evals
from sciml.pfgmpp.unet import UNet
from sciml.runner.task import Task, register_task
from sciml.validate import check_choice, check_range, check_ranges

DATA_KINDS = ("digits", "toy", "cifar10", "images")
#: Data read from `path`: kept as uint8 [N, C, H, W] and scaled to [-1, 1] per batch (EDM's x / 127.5 - 1).
IMAGE_DATA = ("cifar10", "images")
CIFAR10_SIZE = 32
MODELS = ("unet", "mlp")


def to_unit(x: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 in [-1, 1] (as EDM's training loop scales them); float data pass through."""
    return x.astype(np.float32) / 127.5 - 1.0 if x.dtype == np.uint8 else x


@functools.lru_cache(maxsize=8)
def _dataset(data: str, source: str, size: int, dim: int, latent: int, num: int, seed: int, path: str = ""):
    """(train, test, resolved source); cached per configuration.

    The digits keep their one fixed split (seed 0), the one the FD classifier is trained on; the toy
    and its split come from `seed` (the task's `data_seed`). CIFAR-10 has its published split
    (data_batch_1..5 / test_batch); an image folder is all training data (test is empty), as the
    original trains on the whole folder. Image data stay uint8 [N, C, H, W] (see `to_unit`).
    """
    if data == "cifar10":
        return load_cifar10(path, "train")[0], load_cifar10(path, "test")[0], path
    if data == "images":
        x, _ = load_image_folder(path, resolution=size)
        return x, x[:0], path
    if data == "digits":
        x, _, source = load_digits(source, size)
        train, test = split_indices(len(x))
    else:
        x = two_gaussians(num, dim, latent, seed=seed)
        train, test = split_indices(len(x), seed=seed)
    return x[train], x[test], source


@register_task("pfgmpp")
@dataclasses.dataclass(frozen=True)
class PFGMPPTask(Task):
    """PFGM++ with augmented dimension D (D = inf is EDM), EDM preconditioning and the Heun sampler."""

    # data
    data: str = "digits"  # digits | toy | cifar10 | images
    path: str = ""  # cifar10: cifar-10-batches-py folder (or its parent, or the .tar.gz); images: folder or .zip
    digits_source: str = "auto"  # auto | sklearn | rendered (see sciml.data.digits)
    image_size: int = 8  # digits: 8 or 16 (bilinear upsampling); cifar10: 32; images: their height and width
    toy_dim: int = 1000
    toy_latent_dim: int = 10
    num_toy_points: int = 2000  # toy points in all, train and held-out
    data_seed: int = 0  # the toy data and their split (the digits have one fixed split)
    eval_seed: int = 0  # the order of the training digits whose prefix the pixel metrics use
    # kernel and loss
    D: float = 128.0  # >= 1, or inf (EDM)
    beta_clip: float = BETA_CLIP  # the original's training-time clip of B ~ Beta(N/2, D/2); 0 = off
    P_mean: float = P_MEAN
    P_std: float = P_STD
    sigma_data: float = SIGMA_DATA
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
    eval_samples: int = 1000
    num_steps: int = NUM_STEPS  # NFE = 2 num_steps - 1 = 35
    sigma_min: float = SIGMA_MIN
    sigma_max: float = SIGMA_MAX
    rho: float = RHO
    alpha: float = 0.0  # noise injection of the main evaluation
    quant_bits: int = 0  # weight bits of the main evaluation; 0 = full precision
    robust_alphas: tuple[float, ...] = ()
    robust_steps: tuple[int, ...] = ()
    robust_bits: tuple[int, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "D", check_D(self.D))
        check_choice("data", self.data, DATA_KINDS)
        check_choice("model", self.model, MODELS)
        if self.data == "toy" and self.model != "mlp":
            raise ValueError("the toy data are vectors: use model='mlp'")
        resolve_digits_source(self.digits_source)
        if self.data in IMAGE_DATA:
            if not self.path:
                raise ValueError(f"data={self.data!r} reads published files: set task.path (a folder or archive)")
            if self.data == "cifar10":
                check_choice("image_size (CIFAR-10 is 32x32)", self.image_size, (CIFAR10_SIZE,))
            if self.image_size < evaluation.POOL_SIZE or self.image_size % evaluation.POOL_SIZE:
                raise ValueError(f"image_size must be a multiple of {evaluation.POOL_SIZE} (the pixel FD pools to "
                                 f"{evaluation.POOL_SIZE}x{evaluation.POOL_SIZE}), got {self.image_size}")
        else:
            if self.path:
                raise ValueError(f"task.path applies to data in {list(IMAGE_DATA)}, not data={self.data!r}")
            check_choice("image_size", self.image_size, DIGITS_SIZES)
        if self.beta_clip != 0:  # 0 = off
            check_range("beta_clip", self.beta_clip, gt=0, lt=0.5)
        check_ranges(self, P_std={"gt": 0}, sigma_data={"gt": 0}, sigma_min={"gt": 0}, rho={"gt": 0})
        check_range("sigma_max", self.sigma_max, gt=self.sigma_min)
        check_ranges(self, **dict.fromkeys(("batch_size", "eval_samples", "num_steps", "channels", "num_blocks",
                                            "width", "num_toy_points"), {"ge": 1}))
        check_range("dropout", self.dropout, ge=0, lt=1)
        if self.dropout and self.model != "unet":
            raise ValueError("dropout applies to the U-Net only (model='unet')")
        check_range("alpha", self.alpha, ge=0)
        check_range("quant_bits", self.quant_bits, ge=0)  # 0 = full precision
        for name, low in (("robust_alphas", 0), ("robust_steps", 1), ("robust_bits", 1)):
            for i, v in enumerate(getattr(self, name)):
                check_range(f"{name}[{i}]", v, ge=low)

    # ------------------------------------------------------------------------------------ data

    def _data(self):
        return _dataset(self.data, self.digits_source, self.image_size, self.toy_dim, self.toy_latent_dim,
                        self.num_toy_points, self.data_seed, self.path)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one example."""
        if self.data == "digits":
            return (1, self.image_size, self.image_size)
        if self.data == "cifar10":
            return (3, CIFAR10_SIZE, CIFAR10_SIZE)
        if self.data == "images":
            return tuple(self._data()[0].shape[1:])
        return (self.toy_dim,)

    def batch(self, step: int, *, seed: int) -> dict[str, np.ndarray]:
        train = self._data()[0]
        idx = np.random.default_rng((seed, step)).integers(0, len(train), self.batch_size)
        return {"y": to_unit(train[idx])}

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
        return trainable_mask(model, frozen=lambda m: m.net.map_noise.B)

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

    def reference(self) -> evaluation.Reference:
        """What `evaluate` scores samples against (`evaluation.Reference`): for digits the training set
        with the FD classifier's features, for images pooled training pixels, for toys the held-out set."""
        train, test, _ = self._data()
        if self.data == "digits":
            classifier, accuracy = load_classifier(self.digits_source, self.image_size)
            return evaluation.digits_reference(train, classifier, seed=self.eval_seed, classifier_acc=accuracy)
        if self.data in IMAGE_DATA:
            return evaluation.image_reference(train, seed=self.eval_seed)
        return evaluation.toy_reference(test)

    def evaluate(self, model: EDMPrecond, *, key: PRNGKeyArray, run_dir: Path) -> dict[str, float]:
        train, test, _ = self._data()
        ref = self.reference()
        draw = functools.partial(self.sample, model, self.eval_samples, key=key)
        samples = draw()
        out = evaluation.sample_metrics(samples, ref)
        out["nfe"] = float(num_function_evals(self.num_steps))
        if self.data == "digits":
            out.update(evaluation.digits_floor(ref, test, self.eval_samples, seed=self.eval_seed),
                       classifier_acc=ref.classifier_acc)
        elif self.data in IMAGE_DATA:
            out.update(evaluation.images_floor(ref, test))
        else:
            out.update(evaluation.toy_floor(train, ref, self.eval_samples))
        out.update(evaluation.robustness_sweeps(draw, ref, alphas=self.robust_alphas, steps=self.robust_steps,
                                                bits=self.robust_bits))
        title = f"D = {self.D:g}, NFE {num_function_evals(self.num_steps)}"
        if self.data == "digits":
            fig = figures.digits_grid(samples, title=title)
        elif self.data in IMAGE_DATA:
            fig = figures.image_grid(samples, title=title)
            # For an FID computed elsewhere (the original's fid.py reads a zip of PNGs).
            save_image_zip(Path(run_dir) / "samples.zip", evaluation.to_uint8(samples))
        else:
            fig = figures.toy_projection(samples, test, title=f"D = {self.D:g}")
        plot.save(fig, Path(run_dir) / "samples.png")
        return {k: float(v) for k, v in out.items()}
