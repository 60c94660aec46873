"""The two-Gaussian toy of the PFGM++ authors: a two-mode mixture on a random low-dimensional subspace.

Reference: PFGM++ repository, `pfgmpp_toy.ipynb` ("Create the two Gaussians dataset").
"""

import numpy as np


def two_gaussians(num: int, dim: int = 1000, latent_dim: int = 10, seed: int = 0) -> np.ndarray:
    """The authors' toy: 0.5 N(+1, 0.2² I) + 0.5 N(-1, 0.2² I) in R^latent_dim, embedded by a random
    Gaussian matrix into R^dim, plus 0.01 noise, scaled to unit overall std. float32 [num, dim].

    The embedding matrix depends on `seed` alone, so two calls with different `num` share the subspace
    only through the seed (use one call and split it for train/test).
    Reference: PFGM++ repository, `pfgmpp_toy.ipynb` ("Create the two Gaussians dataset").
    """
    if latent_dim > dim:
        raise ValueError(f"latent_dim {latent_dim} exceeds dim {dim}")
    rng = np.random.default_rng(seed)
    sign = np.where(rng.random(num) < 0.5, 1.0, -1.0)[:, None]
    z = sign + 0.2 * rng.standard_normal((num, latent_dim))
    W = rng.standard_normal((latent_dim, dim))
    x = z @ W + 0.01 * rng.standard_normal((num, dim))
    return (x / x.std()).astype(np.float32)
