"""Distances between samples and between fields.

Exact W1/W2 use POT's network simplex on the host (as the papers' evaluation code does); sliced W2,
MMD and RMSE are JAX and jit-able; the Gaussian W2 is the closed Bures formula.
"""

import jax
import jax.numpy as jnp
import numpy as np
import ot
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

#: RBF kernel bandwidths of the MMD used by Meta Flow Matching's evaluation (biased estimator).
MMD_GAMMAS = (2.0, 1.0, 0.5, 0.1, 0.01, 0.005)


def _points(x: ArrayLike, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a point cloud of shape [n, d], got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty point cloud (shape {x.shape}); a distance needs at least one point")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    return x


def _check_clouds(fn: str, x, y, same_size: bool = False) -> None:
    """Shape checks (also under jit) and, for concrete inputs, finiteness: one clear error per problem."""
    for name, a in (("x", x), ("y", y)):
        if jnp.ndim(a) != 2:
            raise ValueError(f"{fn}: {name} must be a point cloud of shape [n, d], got shape {jnp.shape(a)}")
        if jnp.shape(a)[0] == 0:
            raise ValueError(f"{fn}: {name} is an empty point cloud")
    if jnp.shape(x)[1] != jnp.shape(y)[1]:
        raise ValueError(f"{fn}: x and y have different dimensions: {jnp.shape(x)[1]} vs {jnp.shape(y)[1]}")
    if same_size and jnp.shape(x) != jnp.shape(y):
        raise ValueError(f"{fn} needs equal shapes, got {jnp.shape(x)} and {jnp.shape(y)}")
    for name, a in (("x", x), ("y", y)):
        if not isinstance(a, jax.core.Tracer) and not np.isfinite(np.asarray(a)).all():
            raise ValueError(f"{fn}: {name} contains NaN or inf")


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
    _check_clouds("sliced_w2", x, y, same_size=True)
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

    _check_clouds("mmd_rbf", x, y)

    def sqd(a, b):
        return jnp.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T, 0.0)

    dxx, dyy, dxy = sqd(x, x), sqd(y, y), sqd(x, y)
    g = jnp.asarray(gammas)[:, None, None]
    k = lambda d: jnp.exp(-g * d[None]).mean((1, 2))
    return jnp.mean(k(dxx) + k(dyy) - 2 * k(dxy))


def psd_sqrt(s: ArrayLike) -> np.ndarray:
    """Principal square root of (batched) symmetric positive semi-definite matrices, by eigendecomposition
    (exact on singular matrices, where `scipy.linalg.sqrtm` warns and loses accuracy)."""
    s = np.asarray(s, np.float64)
    vals, vecs = np.linalg.eigh(0.5 * (s + np.swapaxes(s, -1, -2)))
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))[..., None, :]) @ np.swapaxes(vecs, -1, -2)


def check_gaussians(means: np.ndarray, covs: np.ndarray, name: str) -> None:
    """Raise a ValueError naming `name` unless covs has shape means.shape + (d,), all is finite and every
    covariance is symmetric positive semi-definite (to a relative 1e-8)."""
    if means.ndim < 1 or covs.shape != means.shape + means.shape[-1:]:
        raise ValueError(f"{name}: covariances must have shape means.shape + (d,), got {means.shape}, {covs.shape}")
    if not (np.isfinite(means).all() and np.isfinite(covs).all()):
        raise ValueError(f"{name}: means or covariances contain NaN or inf")
    scale = np.maximum(np.abs(covs).max(axis=(-2, -1)), 1e-300)
    if (np.abs(covs - np.swapaxes(covs, -1, -2)).max(axis=(-2, -1)) > 1e-8 * scale).any():
        raise ValueError(f"{name}: covariance is not symmetric")
    low = np.linalg.eigvalsh(0.5 * (covs + np.swapaxes(covs, -1, -2))).min(-1)
    if (low < -1e-8 * scale).any():
        raise ValueError(
            f"{name}: covariance is not positive semi-definite (smallest eigenvalue {low.min():.3g})"
        )


def gaussian_w2(mean1: ArrayLike, cov1: ArrayLike, mean2: ArrayLike, cov2: ArrayLike) -> np.ndarray:
    """W2 between Gaussians, broadcasting over leading axes: sqrt(||m1 - m2||^2 + Bures(S1, S2)^2).

    Bures^2 = tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2), with symmetric eigensolvers, so thousands of pairs
    take milliseconds and singular covariances are exact. Means [..., d], covariances [..., d, d].
    Reference: Dowson & Landau 1982; Takatsu 2011.
    """
    m1, s1 = np.asarray(mean1, np.float64), np.asarray(cov1, np.float64)
    m2, s2 = np.asarray(mean2, np.float64), np.asarray(cov2, np.float64)
    check_gaussians(m1, s1, "first Gaussian")
    check_gaussians(m2, s2, "second Gaussian")
    if m1.shape[-1] != m2.shape[-1]:
        raise ValueError(f"Gaussians live in different dimensions: {m1.shape[-1]} vs {m2.shape[-1]}")
    r1 = psd_sqrt(s1)
    tr = lambda a: np.trace(a, axis1=-2, axis2=-1)
    bures2 = tr(s1) + tr(s2) - 2 * tr(psd_sqrt(r1 @ s2 @ r1))
    return np.asarray(np.sqrt(np.clip(((m1 - m2) ** 2).sum(-1) + bures2, 0.0, None)))


def rmse(pred: Array, target: Array, mask: Array | None = None) -> Float[Array, ""]:
    """Root mean squared error, over the entries where `mask` is True if given."""
    if pred.shape != target.shape:
        raise ValueError(f"pred {pred.shape} and target {target.shape} differ")
    err = (pred - target) ** 2
    if mask is None:
        return jnp.sqrt(err.mean())
    w = jnp.broadcast_to(mask, err.shape).astype(err.dtype)
    return jnp.sqrt((err * w).sum() / jnp.maximum(w.sum(), 1))
