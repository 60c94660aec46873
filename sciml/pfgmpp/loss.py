"""The PFGM++ training objective for one example: EDM's weighted denoising loss under the D-kernel.

Reference: PFGM++ Sec. 3.3, Eq. 8 (perturbation-based objective) with the alignment of Sec. 4; the
x-part of the normalised field target (x - y) / (r / sqrt(D)) = (x - y) / sigma is EDM's (x - D) / sigma,
so regressing D(x, sigma) onto y is the same objective. Original: `training/loss.py`, `EDMLoss`.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from sciml.pfgmpp.kernel import sample_perturbation
from sciml.pfgmpp.precond import P_MEAN, P_STD, EDMPrecond, loss_weight, sample_sigma


def pfgmpp_loss(
    model: EDMPrecond,
    y: Float[Array, "..."],
    D: float | int,
    *,
    key: PRNGKeyArray,
    P_mean: float | int = P_MEAN,
    P_std: float | int = P_STD,
    clip: float | None = None,
    dropout: bool = False,
) -> Float[Array, ""]:
    """lambda(sigma) ||D(y + n, sigma) - y||², summed over the data's entries, for one example.

    sigma is log-normal, n ~ p_r(· | 0) with r = sigma sqrt(D) (clipped Beta if `clip`), and lambda the
    EDM weight. Average over a batch outside (the original sums pixels and averages examples).
    `dropout=True` passes the network a key of its own (folded from `key`, so the sigma and noise
    draws are the same with and without it) to switch its dropout on.
    """
    ks, kn = jax.random.split(key)
    sigma = sample_sigma(key=ks, P_mean=P_mean, P_std=P_std).astype(y.dtype)
    n = sample_perturbation(y.shape, sigma, D, key=kn, clip=clip, dtype=y.dtype)
    denoised = model(y + n, sigma, key=jax.random.fold_in(key, 2)) if dropout else model(y + n, sigma)
    return loss_weight(sigma, model.sigma_data) * jnp.sum((denoised - y) ** 2)
