"""Sets of samples from random Gaussians and Gaussian mixtures (the GDE synthetic benchmarks).

Every set comes with the parameters of the distribution it was drawn from, so that exact
Wasserstein distances between the underlying distributions are known. All samplers are NumPy and
take a `np.random.Generator`, so a batch is a pure function of its seed.

Priors (as in the Generative Distribution Embeddings code, `MultivariateNormalDistributionDataset`):
mean ~ U[low, high]^d and covariance Sigma = inverse of a Wishart(df, I) draw with df = 10 (d - 1),
so E[Sigma] = I / (df - d - 1) (I/7 for d = 2, I/34 for d = 5). Our `cov_scale` multiplies Sigma
directly (the original's `prior_cov_scale` scales the Wishart matrix instead, i.e. divides Sigma).

Reference: Fishman et al. 2025, "Generative Distribution Embeddings", Sec. 5.1 and App. (synthetic).
"""

import dataclasses

import numpy as np

#: Prior of the set means in the GDE Gaussian benchmark: U[0, 5]^d.
MEAN_RANGE = (0.0, 5.0)
#: Wishart degrees of freedom per extra dimension: df = 10 (d - 1).
DF_PER_DIM = 10


@dataclasses.dataclass(frozen=True)
class GaussianSets:
    """A batch of sets drawn from Gaussians: points [B, m, d], means [B, d], covariances [B, d, d]."""

    points: np.ndarray
    means: np.ndarray
    covs: np.ndarray


@dataclasses.dataclass(frozen=True)
class MixtureSets:
    """A batch of sets drawn from K-component mixtures: points [B, m, d], weights [B, K],
    component means [B, K, d] and covariances [B, K, d, d]."""

    points: np.ndarray
    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray


def default_df(dim: int) -> int:
    """The original's Wishart degrees of freedom, 10 (d - 1); needs d >= 2."""
    if dim < 2:
        raise ValueError(f"the inverse-Wishart prior df = 10 (d - 1) needs dim >= 2, got {dim}")
    return DF_PER_DIM * (dim - 1)


def inverse_wishart(rng: np.random.Generator, n: int, dim: int, df: int, scale: float = 1.0) -> np.ndarray:
    """n draws of scale * W^{-1}, W ~ Wishart(df, I_dim) (integer df: W = G^T G, G [df, dim] ~ N(0, 1)).

    E[scale * W^{-1}] = scale * I / (df - dim - 1) when df > dim + 1.
    """
    if df < dim:
        raise ValueError(f"Wishart df must be >= dim so that W is invertible, got df={df}, dim={dim}")
    if scale <= 0:
        raise ValueError(f"covariance scale must be > 0, got {scale}")
    g = rng.standard_normal((n, df, dim))
    w = np.einsum("nki,nkj->nij", g, g)
    cov = scale * np.linalg.inv(w)
    return 0.5 * (cov + np.swapaxes(cov, 1, 2))  # exact symmetry for Cholesky and sqrtm later


def gaussian_params(
    rng: np.random.Generator,
    n: int,
    dim: int,
    *,
    mean_range: tuple[float, float] = MEAN_RANGE,
    df: int | None = None,
    cov_scale: float = 1.0,
    shared_mean: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Means [n, d] ~ U[mean_range]^d (or all equal to the centre of the range if `shared_mean`)
    and covariances [n, d, d] ~ cov_scale * inverse-Wishart(df, I) (df defaults to 10 (d - 1))."""
    _check_counts(n=n, dim=dim)
    df = default_df(dim) if df is None else df
    lo, hi = mean_range
    if not hi >= lo:
        raise ValueError(f"mean_range must be (low, high) with high >= low, got {mean_range}")
    if shared_mean:
        means = np.full((n, dim), 0.5 * (lo + hi))
    else:
        means = rng.uniform(lo, hi, (n, dim))
    return means, inverse_wishart(rng, n, dim, df, cov_scale)


def sample_gaussians(rng: np.random.Generator, means: np.ndarray, covs: np.ndarray, m: int) -> np.ndarray:
    """m points from each Gaussian: [n, m, d]."""
    _check_counts(m=m)
    chol = np.linalg.cholesky(covs)
    eps = rng.standard_normal((means.shape[0], m, means.shape[1]))
    return means[:, None, :] + np.einsum("nij,nmj->nmi", chol, eps)


def gaussian_sets(
    rng: np.random.Generator,
    n: int,
    m: int,
    dim: int,
    *,
    mean_range: tuple[float, float] = MEAN_RANGE,
    df: int | None = None,
    cov_scale: float = 1.0,
    shared_mean: bool = False,
) -> GaussianSets:
    """n sets of m points, each from its own random Gaussian (see `gaussian_params`).

    `shared_mean=True` gives the varying-covariance benchmark: every set has the same mean, so only
    the covariance tells sets apart and an encoder of the mean alone carries no information.
    """
    means, covs = gaussian_params(
        rng, n, dim, mean_range=mean_range, df=df, cov_scale=cov_scale, shared_mean=shared_mean
    )
    return GaussianSets(sample_gaussians(rng, means, covs, m).astype(np.float32), means, covs)


def mixture_params(
    rng: np.random.Generator,
    n: int,
    dim: int,
    components: int = 3,
    *,
    alpha: float = 1.0,
    mean_range: tuple[float, float] = MEAN_RANGE,
    df: int | None = None,
    cov_scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights [n, K] ~ Dirichlet(alpha), component means [n, K, d] and covariances [n, K, d, d] from
    the Gaussian prior of `gaussian_params`."""
    _check_counts(n=n, dim=dim, components=components)
    if alpha <= 0:
        raise ValueError(f"Dirichlet alpha must be > 0, got {alpha}")
    weights = rng.dirichlet(np.full(components, alpha), size=n)
    means, covs = gaussian_params(rng, n * components, dim, mean_range=mean_range, df=df, cov_scale=cov_scale)
    return weights, means.reshape(n, components, dim), covs.reshape(n, components, dim, dim)


def sample_mixtures(
    rng: np.random.Generator, weights: np.ndarray, means: np.ndarray, covs: np.ndarray, m: int
) -> np.ndarray:
    """m points from each mixture: [n, m, d] (component labels by inverse-CDF of the weights)."""
    _check_counts(m=m)
    n, k, d = means.shape
    cdf = np.cumsum(weights, axis=1)
    u = rng.random((n, m, 1))
    labels = np.minimum((u > cdf[:, None, :-1]).sum(-1), k - 1)  # [n, m]
    mu = np.take_along_axis(means, labels[..., None], axis=1)  # [n, m, d]
    chol = np.linalg.cholesky(covs)  # [n, k, d, d]
    lab_chol = np.take_along_axis(chol, labels[..., None, None], axis=1)  # [n, m, d, d]
    eps = rng.standard_normal((n, m, d))
    return mu + np.einsum("nmij,nmj->nmi", lab_chol, eps)


def mixture_sets(
    rng: np.random.Generator,
    n: int,
    m: int,
    dim: int,
    components: int = 3,
    *,
    alpha: float = 1.0,
    mean_range: tuple[float, float] = MEAN_RANGE,
    df: int | None = None,
    cov_scale: float = 1.0,
) -> MixtureSets:
    """n sets of m points, each from a random K-component Gaussian mixture with Dirichlet weights.

    The original builds GMM sets by mixing K random Gaussian sets of a batch with Dirichlet(alpha)
    proportions, resampling their points with replacement; we draw the K Gaussians from the same
    prior and sample fresh points, which is the same distribution of sets without the duplicates.
    """
    w, mu, cov = mixture_params(
        rng, n, dim, components, alpha=alpha, mean_range=mean_range, df=df, cov_scale=cov_scale
    )
    return MixtureSets(sample_mixtures(rng, w, mu, cov, m).astype(np.float32), w, mu, cov)


def _check_counts(**counts: int) -> None:
    for name, v in counts.items():
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v}")


#: The set distributions of the GDE task: random Gaussians, Gaussians sharing the mean, random mixtures.
SET_DATA = ("normal", "shared_mean", "gmm")


def set_distributions(
    rng: np.random.Generator,
    n: int,
    data: str,
    dim: int,
    *,
    df: int,
    cov_scale: float = 1.0,
    components: int = 3,
    alpha: float = 1.0,
) -> dict[str, np.ndarray]:
    """Parameters of n random distributions of kind `data` (one of `SET_DATA`): {"means", "covs"}, plus
    "weights" for mixtures (`mixture_params`, else `gaussian_params`)."""
    if data == "gmm":
        w, mu, cov = mixture_params(rng, n, dim, components, alpha=alpha, df=df, cov_scale=cov_scale)
        return {"weights": w, "means": mu, "covs": cov}
    mu, cov = gaussian_params(rng, n, dim, df=df, cov_scale=cov_scale, shared_mean=data == "shared_mean")
    return {"means": mu, "covs": cov}


def sample_distributions(rng: np.random.Generator, params: dict[str, np.ndarray], m: int) -> np.ndarray:
    """m points from each distribution of `set_distributions` [n, m, d] (a mixture when it has weights)."""
    if "weights" in params:
        return sample_mixtures(rng, params["weights"], params["means"], params["covs"], m)
    return sample_gaussians(rng, params["means"], params["covs"], m)


def prior_normalisation(data: str, dim: int, *, df: int, cov_scale: float = 1.0) -> tuple[float, float]:
    """(shift, scale): the centre of the mean prior and the marginal per-coordinate std of the points.

    E[Sigma_ii] = cov_scale / (df - d - 1) under the inverse-Wishart prior (infinite when df <= d + 1;
    then the scale itself stands in).
    """
    lo, hi = MEAN_RANGE
    denom = df - dim - 1
    expected_cov = cov_scale / denom if denom > 0 else cov_scale
    mean_var = 0.0 if data == "shared_mean" else (hi - lo) ** 2 / 12
    return 0.5 * (lo + hi), float(np.sqrt(mean_var + expected_cov))
