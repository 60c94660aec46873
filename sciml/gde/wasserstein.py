"""Closed-form Wasserstein geometry of Gaussians and Gaussian mixtures (host-side NumPy).

- `bures_w2`: W2 between Gaussians, batched; it is `sciml.metrics.gaussian_w2` under GDE's name.
- `mixture_w2`: the mixture Wasserstein distance MW2 between Gaussian mixtures (optimal transport
  between the components with Bures costs), as POT's `ot.gmm.gmm_ot_loss`; MW2 >= W2.
- `mccann_interpolant`: the W2 geodesic between two Gaussians (displacement interpolation).
- `fit_gaussian`: sample mean and covariance.

Note: the GDE original's dataset and notebook W2 helpers return ||dmu|| + Bures^2 (a distance plus a
squared distance). We return sqrt(||dmu||^2 + Bures^2), the 2-Wasserstein distance.

Reference: Dowson & Landau 1982 (Gaussian W2); McCann 1997 (displacement interpolation);
Delon & Desolneux 2020, "A Wasserstein-type distance in the space of Gaussian mixture models" (MW2).
"""

import numpy as np
import ot
from jaxtyping import ArrayLike

from sciml.metrics import check_gaussians as _check_gaussians
from sciml.metrics import gaussian_w2 as bures_w2
from sciml.metrics import psd_sqrt as _spd_sqrt


def pairwise_bures_w2(means: ArrayLike, covs: ArrayLike) -> np.ndarray:
    """[n, n] matrix of W2 between n Gaussians (means [n, d], covariances [n, d, d])."""
    means, covs = np.asarray(means, np.float64), np.asarray(covs, np.float64)
    return bures_w2(means[:, None], covs[:, None], means[None, :], covs[None, :])


def mixture_w2(
    weights1: ArrayLike,
    means1: ArrayLike,
    covs1: ArrayLike,
    weights2: ArrayLike,
    means2: ArrayLike,
    covs2: ArrayLike,
) -> float:
    """MW2 between two Gaussian mixtures: sqrt(min over couplings of the weights of sum pi_kl W2_kl^2).

    Restricting W2's couplings to mixtures of Gaussian couplings gives an upper bound on W2, tight
    when components are far apart. Weights [K], means [K, d], covariances [K, d, d].
    Reference: Delon & Desolneux 2020, Eq. 4.2 (the cost of POT's `ot.gmm.gmm_ot_loss`).
    """
    w1, w2 = np.asarray(weights1, np.float64), np.asarray(weights2, np.float64)
    m1, s1 = np.asarray(means1, np.float64), np.asarray(covs1, np.float64)
    m2, s2 = np.asarray(means2, np.float64), np.asarray(covs2, np.float64)
    for name, w, m in (("first", w1, m1), ("second", w2, m2)):
        if w.ndim != 1 or m.ndim != 2 or w.shape[0] != m.shape[0]:
            raise ValueError(
                f"{name} mixture: weights [K] and means [K, d] expected, got {w.shape}, {m.shape}"
            )
        if (w < 0).any() or not np.isclose(w.sum(), 1.0, atol=1e-6):
            raise ValueError(f"{name} mixture: weights must be >= 0 and sum to 1, got {w}")
    cost = bures_w2(m1[:, None], s1[:, None], m2[None, :], s2[None, :]) ** 2
    return float(np.sqrt(max(ot.emd2(w1 / w1.sum(), w2 / w2.sum(), cost), 0.0)))


def pairwise_mixture_w2(weights: ArrayLike, means: ArrayLike, covs: ArrayLike) -> np.ndarray:
    """[n, n] matrix of MW2 between n mixtures (weights [n, K], means [n, K, d], covs [n, K, d, d])."""
    w, m, s = (np.asarray(a, np.float64) for a in (weights, means, covs))
    n = w.shape[0]
    out = np.zeros((n, n))
    for i in range(n - 1):
        # Component-pair costs of mixture i against all later mixtures: [n - i - 1, K, K].
        cost = bures_w2(m[i, None, :, None], s[i, None, :, None], m[i + 1 :, None], s[i + 1 :, None]) ** 2
        for j, c in enumerate(cost, start=i + 1):
            out[i, j] = out[j, i] = np.sqrt(max(ot.emd2(w[i], w[j], c), 0.0))
    return out


def mccann_interpolant(
    mean0: ArrayLike, cov0: ArrayLike, mean1: ArrayLike, cov1: ArrayLike, t: float
) -> tuple[np.ndarray, np.ndarray]:
    """The Gaussian at time t on the W2 geodesic from N(m0, S0) to N(m1, S1).

    m_t = (1 - t) m0 + t m1 and S_t = ((1 - t) I + t T) S0 ((1 - t) I + t T), where
    T = S0^-1/2 (S0^1/2 S1 S0^1/2)^1/2 S0^-1/2 is the optimal (Monge) map's linear part.
    Reference: McCann 1997; Takatsu 2011, Sec. 2.
    """
    m0, s0 = np.asarray(mean0, np.float64), np.asarray(cov0, np.float64)
    m1, s1 = np.asarray(mean1, np.float64), np.asarray(cov1, np.float64)
    _check_gaussians(m0, s0, "start")
    _check_gaussians(m1, s1, "end")
    r0 = _spd_sqrt(s0)
    r0_inv = np.linalg.inv(r0)
    monge = r0_inv @ _spd_sqrt(r0 @ s1 @ r0) @ r0_inv
    a = (1 - t) * np.eye(m0.shape[-1]) + t * monge
    return (1 - t) * m0 + t * m1, a @ s0 @ a.T


def mixture_path_moments(
    mean0: ArrayLike, cov0: ArrayLike, mean1: ArrayLike, cov1: ArrayLike, t: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the linear mixture (1 - t) P0 + t P1 (the non-OT interpolation)."""
    m0, s0 = np.asarray(mean0, np.float64), np.asarray(cov0, np.float64)
    m1, s1 = np.asarray(mean1, np.float64), np.asarray(cov1, np.float64)
    dm = m1 - m0
    return (1 - t) * m0 + t * m1, (1 - t) * s0 + t * s1 + t * (1 - t) * np.outer(dm, dm)


def fit_gaussian(x: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Sample mean [..., d] and unbiased covariance [..., d, d] of points [..., n, d] (n >= 2)."""
    x = np.asarray(x, np.float64)
    if x.ndim < 2 or x.shape[-2] < 2:
        raise ValueError(f"fitting a Gaussian needs points of shape [..., n >= 2, d], got {x.shape}")
    mu = x.mean(-2)
    c = x - mu[..., None, :]
    return mu, np.einsum("...ni,...nj->...ij", c, c) / (x.shape[-2] - 1)
