"""EDM preconditioning around any denoiser network, its loss weight and the log-normal sigma law.

With the alignment r = sigma sqrt(D), PFGM++ keeps all of EDM's training recipe: only the noise law
changes. The network sees c_in x and c_noise and is combined as D(x, sigma) = c_skip x + c_out F.
Reference: Karras et al. 2022 ("EDM"), Table 1 and Eq. 7-8; PFGM++ Sec. 4 (hyperparameter transfer).
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, ScalarLike

#: EDM's data standard deviation (images scaled to [-1, 1]).
SIGMA_DATA = 0.5
#: EDM's log-normal training noise: ln sigma ~ N(P_MEAN, P_STD²).
P_MEAN = -1.2
P_STD = 1.2


def edm_scalings(sigma: ArrayLike, sigma_data: float | int = SIGMA_DATA) -> tuple[Array, Array, Array, Array]:
    """(c_skip, c_out, c_in, c_noise) = (sd²/(s²+sd²), s sd/sqrt(s²+sd²), 1/sqrt(s²+sd²), ln(s)/4).

    Reference: EDM Table 1 ("Ours" column).
    """
    sigma = jnp.asarray(sigma)
    s2 = sigma**2 + sigma_data**2
    c_skip = sigma_data**2 / s2
    c_out = sigma * sigma_data / jnp.sqrt(s2)
    c_in = 1 / jnp.sqrt(s2)
    c_noise = jnp.log(sigma) / 4
    return c_skip, c_out, c_in, c_noise


def loss_weight(sigma: ArrayLike, sigma_data: float | int = SIGMA_DATA) -> Float[Array, "..."]:
    """lambda(sigma) = (sigma² + sd²) / (sigma sd)², which makes the effective target of F unit-variance.

    Reference: EDM Table 1, loss weighting; equals 1 / c_out².
    """
    sigma = jnp.asarray(sigma)
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


def sample_sigma(
    *, key: PRNGKeyArray, P_mean: float | int = P_MEAN, P_std: float | int = P_STD, shape: tuple[int, ...] = ()
) -> Float[Array, "..."]:
    """Training noise levels with ln sigma ~ N(P_mean, P_std²). Reference: EDM Table 1, p_train."""
    return jnp.exp(P_mean + P_std * jax.random.normal(key, shape))


class EDMPrecond(eqx.Module):
    """D(x, sigma) = c_skip x + c_out F(c_in x, c_noise) for one example, around any network F.

    `net(x_in, c_noise)` takes an input of the data's shape and a scalar and returns the data's shape.
    The network is conditioned on the nominal sigma, not on the realised ||n|| (as in the original).
    Reference: EDM Eq. 7; original `training/networks.py`, `EDMPrecond`.
    """

    net: Callable
    sigma_data: float | int = eqx.field(static=True, default=SIGMA_DATA)

    def __check_init__(self):
        if not self.sigma_data > 0:
            raise ValueError(f"sigma_data must be > 0, got {self.sigma_data}")

    def __call__(self, x: Float[Array, "..."], sigma: ScalarLike, *, key: PRNGKeyArray | None = None
                 ) -> Float[Array, "..."]:
        """`key` (training only) goes to networks with dropout; None means evaluation mode."""
        c_skip, c_out, c_in, c_noise = edm_scalings(sigma, self.sigma_data)
        x_in, c_noise = (c_in * x).astype(x.dtype), c_noise.astype(x.dtype)
        F = self.net(x_in, c_noise) if key is None else self.net(x_in, c_noise, key=key)
        return (c_skip * x + c_out * F).astype(x.dtype)
