"""Distances between samples and between fields.

Exact W1/W2 use POT's network simplex on the host (as the papers' evaluation code does); sliced W2,
MMD and RMSE are JAX and jit-able; the Gaussian W2 is the closed Bures formula.
"""

import jax
import jax.numpy as jnp
import numpy as np
import ot
import scipy.linalg
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

#: RBF kernel bandwidths of the MMD used by Meta Flow Matching's evaluation (biased estimator).
MMD_GAMMAS = (2.0, 1.0, 0.5, 0.1, 0.01, 0.005)


def _points(x: ArrayLike, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a point cloud of shape [n, d], got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    return x


def _emd(x: ArrayLike, y: ArrayLike, metric: str) -> float:
    x, y = _points(x, "x"), _points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y have different dimensions: {x.shape[1]} vs {y.shape[1]}")
    cost = ot.dist(x, y, metric=metric)
    return float(ot.emd2(ot.unif(len(x)), ot.unif(len(y)), cost, numItermax=10_000_000))


def w1(x: ArrayLike, y: ArrayLike) -> float:
    """Exact 1-Wasserstein distance between two uniform point clouds (Euclidean ground cost)."""
    return _emd(x, y, "euclidean")


def w2(x: ArrayLike, y: ArrayLike) -> float:
    """Exact 2-Wasserstein distance between two uniform point clouds: sqrt(min E||x - y||^2)."""
    return float(np.sqrt(max(_emd(x, y, "sqeuclidean"), 0.0)))


def sliced_w2(
    x: Float[Array, "n d"], y: Float[Array, "m e"], *, key: PRNGKeyArray, num_projections: int = 128
) -> Float[Array, ""]:
    """Sliced 2-Wasserstein distance: sqrt of the mean over random directions of the 1-D W2^2.

    Needs equal sample sizes (1-D optimal transport is sorting). Reference: Bonneel et al. 2015.
    """
    if x.shape != y.shape:
        raise ValueError(f"sliced_w2 needs equal shapes, got {x.shape} and {y.shape}")
    dirs = jax.random.normal(key, (x.shape[1], num_projections))
    dirs = dirs / jnp.linalg.norm(dirs, axis=0, keepdims=True)
    px, py = jnp.sort(x @ dirs, axis=0), jnp.sort(y @ dirs, axis=0)
    return jnp.sqrt(jnp.mean((px - py) ** 2))


def mmd_rbf(
    x: Float[Array, "n d"], y: Float[Array, "m d"], gammas: tuple[float, ...] = MMD_GAMMAS
) -> Float[Array, ""]:
    """Biased MMD^2 with RBF kernels exp(-gamma ||a - b||^2), averaged over `gammas`.

    Matches the MFM evaluation (sklearn `rbf_kernel`, mean(Kxx) + mean(Kyy) - 2 mean(Kxy)).
    """

    def sqd(a, b):
        return jnp.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T, 0.0)

    dxx, dyy, dxy = sqd(x, x), sqd(y, y), sqd(x, y)
    g = jnp.asarray(gammas)[:, None, None]
    k = lambda d: jnp.exp(-g * d[None]).mean((1, 2))
    return jnp.mean(k(dxx) + k(dyy) - 2 * k(dxy))


def gaussian_w2(
    mean1: ArrayLike, cov1: ArrayLike, mean2: ArrayLike, cov2: ArrayLike
) -> float:
    """W2 between Gaussians: sqrt(||m1 - m2||^2 + tr(S1 + S2 - 2 (S2^1/2 S1 S2^1/2)^1/2)) (Bures).

    Reference: Dowson & Landau 1982; Takatsu 2011.
    """
    m1, m2 = np.asarray(mean1, np.float64), np.asarray(mean2, np.float64)
    s1, s2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    if m1.shape != m2.shape or s1.shape != s2.shape or s1.shape != m1.shape * 2:
        raise ValueError(f"shapes do not match: means {m1.shape}, {m2.shape}; covs {s1.shape}, {s2.shape}")
    r2 = scipy.linalg.sqrtm(s2).real
    cross = scipy.linalg.sqrtm(r2 @ s1 @ r2).real
    bures2 = np.trace(s1 + s2 - 2 * cross)
    return float(np.sqrt(max(((m1 - m2) ** 2).sum() + bures2, 0.0)))


def rmse(pred: Array, target: Array, mask: Array | None = None) -> Float[Array, ""]:
    """Root mean squared error, over the entries where `mask` is True if given."""
    if pred.shape != target.shape:
        raise ValueError(f"pred {pred.shape} and target {target.shape} differ")
    err = (pred - target) ** 2
    if mask is None:
        return jnp.sqrt(err.mean())
    w = jnp.broadcast_to(mask, err.shape).astype(err.dtype)
    return jnp.sqrt((err * w).sum() / jnp.maximum(w.sum(), 1))
