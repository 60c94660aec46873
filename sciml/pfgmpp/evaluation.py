"""Sample quality of PFGM++ against a reference set, and the robustness sweeps of the paper's Fig. 5.

Pure functions on host arrays (NumPy float64), callable from the task, notebooks and benchmarks.
Metrics (all "lower is better"):
- digits: `fd` Fréchet distance of classifier features to the training set (our FID stand-in, see
  `frechet.py`), `w2` exact W2 (POT) in pixel space to as many training images, `mmd` RBF MMD².
- toy: `w2` and `mmd` against held-out points of the toy distribution.
- images (CIFAR-10, image folders): `pixel_fd` Fréchet distance of 8x8 average-pooled pixels (192
  features for RGB) to the whole training set, and `w2` / `mmd` in pixel space to at most
  `IMAGE_PIXEL_POINTS` training images. FID proper needs Inception-v3 weights, which are not
  available offline; `pixel_fd` only orders runs on one dataset and is not comparable with published
  FIDs. The task also writes the samples as a zip of PNGs that EDM's / PFGM++'s `fid.py` reads.
The MMD uses `sciml.metrics.MMD_GAMMAS` divided by the data dimension N, so the bandwidths suit
N-dimensional data of unit scale (the MFM values are meant for 2-D data).
The robustness sweeps resample with one knob changed (noise injection alpha, number of steps, weight
bits) from the same model and the same prior draws, and suffix each metric with the knob's value
(`fd_alpha0.2`, `fd_nfe7`, `fd_bits4`).
Reference: Xu et al. 2023, PFGM++, Sec. 5 (Tables 1-3, Fig. 5).
"""

import dataclasses
import math
from collections.abc import Callable, Sequence

import jax.numpy as jnp
import numpy as np

from sciml.metrics import MMD_GAMMAS, mmd_rbf, w2
from sciml.pfgmpp.frechet import DigitsClassifier, classifier_features, frechet_distance
from sciml.pfgmpp.sampler import num_function_evals


@dataclasses.dataclass(frozen=True, eq=False)
class Reference:
    """What samples are scored against: reference points and, for digits, the FD's feature network.

    `flat [n, N]` float64 are the reference points (the first as many as there are samples are used);
    `classifier` and `feats` (its features of the reference set) are given for digits, whose samples
    are also clipped to [-1, 1] before scoring, as the images are stored (EDM clips before FID);
    `classifier_acc` is that classifier's held-out accuracy, reported beside the FD.
    """

    flat: np.ndarray
    classifier: DigitsClassifier | None = None
    feats: np.ndarray | None = None
    classifier_acc: float = float("nan")
    pool: int = 0  # images: `feats` are pixels average-pooled to pool x pool (`pooled_pixels`); 0 = not images


#: Exact W2 (POT) and MMD of image samples use at most this many samples and reference images.
IMAGE_PIXEL_POINTS = 2000
#: `pixel_fd` pools images to POOL_SIZE x POOL_SIZE per channel.
POOL_SIZE = 8


def pooled_pixels(images: np.ndarray, size: int = POOL_SIZE, chunk: int = 4096) -> np.ndarray:
    """[n, C, H, W] images (uint8 or in [-1, 1]) -> [n, C size²] float64 block means in [-1, 1]."""
    n, c, h, w = images.shape
    if h % size or w % size:
        raise ValueError(f"images of {h}x{w} cannot be average-pooled to {size}x{size}")
    out = []
    for i in range(0, n, chunk):
        x = images[i : i + chunk].astype(np.float64)
        if images.dtype == np.uint8:
            x = x / 127.5 - 1.0
        out.append(x.reshape(len(x), c, size, h // size, size, w // size).mean(axis=(3, 5)).reshape(len(x), -1))
    return np.concatenate(out) if out else np.zeros((0, c * size * size))


def digits_reference(
    train: np.ndarray, classifier: DigitsClassifier, *, seed: int, classifier_acc: float = float("nan")
) -> Reference:
    """The training images in an order drawn from `seed` (pixel metrics use a prefix), with the
    classifier's features of all of them (and its held-out accuracy, when given)."""
    perm = np.random.default_rng(seed).permutation(len(train))
    return Reference(
        flat=train[perm].reshape(len(train), -1).astype(np.float64),
        classifier=classifier,
        feats=classifier_features(classifier, train),
        classifier_acc=classifier_acc,
    )


def image_reference(train: np.ndarray, *, seed: int, points: int = IMAGE_PIXEL_POINTS) -> Reference:
    """Training images (uint8 [n, C, H, W]): a prefix of `points` in an order drawn from `seed` for the
    pixel metrics, and the pooled pixels of all of them for `pixel_fd`."""
    perm = np.random.default_rng(seed).permutation(len(train))[:points]
    flat = train[perm].reshape(len(perm), -1).astype(np.float64) / 127.5 - 1.0
    return Reference(flat=flat, feats=pooled_pixels(train), pool=POOL_SIZE)


def images_floor(ref: Reference, test: np.ndarray) -> dict[str, float]:
    """`pixel_fd_test_vs_train`: held-out real images against the training set (empty without a test split)."""
    if len(test) < 2:
        return {}
    return {"pixel_fd_test_vs_train": frechet_distance(pooled_pixels(test, ref.pool), ref.feats)}


def toy_reference(test: np.ndarray) -> Reference:
    """The held-out toy points."""
    return Reference(flat=test.reshape(len(test), -1).astype(np.float64))


def metric_names(ref: Reference) -> tuple[str, ...]:
    """The keys `sample_metrics` returns for this reference."""
    if ref.pool:
        return ("pixel_fd", "w2", "mmd")
    return ("fd", "w2", "mmd") if ref.classifier is not None else ("w2", "mmd")


def sample_metrics(samples: np.ndarray, ref: Reference) -> dict[str, float]:
    """Distances of `samples [n, ...]` to the reference (see the module docstring); inf if any sample
    is not finite."""
    if ref.pool:
        return _image_metrics(samples, ref)
    flat = samples.reshape(len(samples), -1).astype(np.float64)
    if not np.isfinite(flat).all():
        return dict.fromkeys(metric_names(ref), math.inf)
    if ref.classifier is not None:
        flat = np.clip(flat, -1.0, 1.0)  # images are stored clipped, as EDM clips before FID
    m = min(len(flat), len(ref.flat))
    gammas = tuple(g / flat.shape[1] for g in MMD_GAMMAS)
    out = {
        "w2": w2(flat[:m], ref.flat[:m]),
        "mmd": float(mmd_rbf(jnp.asarray(flat[:m]), jnp.asarray(ref.flat[:m]), gammas)),
    }
    if ref.classifier is not None:
        feats = classifier_features(ref.classifier, flat.reshape(samples.shape).astype(np.float32))
        out["fd"] = frechet_distance(feats, ref.feats)
    return out


def _image_metrics(samples: np.ndarray, ref: Reference) -> dict[str, float]:
    if not np.isfinite(samples).all():
        return dict.fromkeys(metric_names(ref), math.inf)
    x = np.clip(samples, -1.0, 1.0)  # images are stored clipped, as EDM clips before FID
    m = min(len(x), len(ref.flat))
    flat = x[:m].reshape(m, -1).astype(np.float64)
    gammas = tuple(g / flat.shape[1] for g in MMD_GAMMAS)
    return {
        "pixel_fd": frechet_distance(pooled_pixels(x, ref.pool), ref.feats),
        "w2": w2(flat, ref.flat[:m]),
        "mmd": float(mmd_rbf(jnp.asarray(flat), jnp.asarray(ref.flat[:m]), gammas)),
    }


def to_uint8(samples: np.ndarray) -> np.ndarray:
    """Samples in [-1, 1] -> uint8 as the original's `generate.py` stores them (x 127.5 + 128, clipped)."""
    return np.clip(np.nan_to_num(samples) * 127.5 + 128, 0, 255).astype(np.uint8)


def digits_floor(
    ref: Reference, test: np.ndarray, num_samples: int, *, draws: int = 5, seed: int = 0
) -> dict[str, float]:
    """`fd_test_vs_train`: held-out real digits against the training set, with the same features (at the
    test split's size, so not comparable with `fd` at another); `fd_floor`: the mean of
    `resampled_fd_floor`, the FD a model reproducing the training distribution scores at `num_samples`."""
    return {"fd_test_vs_train": frechet_distance(classifier_features(ref.classifier, test), ref.feats),
            "fd_floor": float(resampled_fd_floor(ref, num_samples, draws=draws, seed=seed).mean())}


def resampled_fd_floor(ref: Reference, num_samples: int, *, draws: int, seed: int) -> np.ndarray:
    """FD of `num_samples` training digits drawn with replacement against the whole training set, `draws`
    times: what a model that reproduces the training distribution exactly scores with as many samples.

    FD is biased upward at small sample sizes, so a run's `fd` is read against this floor at its own
    sample size (it falls as `num_samples` grows; at 1,000 and 5,000 digits the two differ).
    """
    rng = np.random.default_rng(seed)
    n = len(ref.feats)
    return np.array([frechet_distance(ref.feats[rng.integers(n, size=num_samples)], ref.feats) for _ in range(draws)])


def toy_floor(train: np.ndarray, ref: Reference, num_samples: int) -> dict[str, float]:
    """`w2_train_vs_test`: the finite-sample floor, as many training points against the held-out set."""
    m = min(num_samples, len(train), len(ref.flat))
    return {"w2_train_vs_test": w2(train[:m].reshape(m, -1).astype(np.float64), ref.flat[:m])}


def robustness_sweeps(
    sample: Callable[..., np.ndarray],
    ref: Reference,
    *,
    alphas: Sequence[float] = (),
    steps: Sequence[int] = (),
    bits: Sequence[int] = (),
) -> dict[str, float]:
    """The metrics of samples drawn with one knob changed at a time (Fig. 5 a-c of the paper).

    `sample(alpha=..)`, `sample(num_steps=..)` and `sample(bits=..)` draw the samples with that knob
    and every other setting as in the main evaluation (the same model and prior draws).
    """
    out = {}
    for a in alphas:
        out.update({f"{k}_alpha{a:g}": v for k, v in sample_metrics(sample(alpha=a), ref).items()})
    for n in steps:
        res = sample_metrics(sample(num_steps=n), ref)
        out.update({f"{k}_nfe{num_function_evals(n)}": v for k, v in res.items()})
    for b in bits:
        out.update({f"{k}_bits{b}": v for k, v in sample_metrics(sample(bits=b), ref).items()})
    return out
