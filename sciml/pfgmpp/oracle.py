"""The exact minimiser of the PFGM++ objective for a finite training set: the posterior mean E[y | x].

For data {y_i} and x = y + n with n ~ p_r, the posterior weights are
w_i ∝ (||x - y_i||² + r²)^(-(N + D) / 2), r = sigma sqrt(D); for D = inf they are the Gaussian softmax
of -||x - y_i||² / (2 sigma²). Used as an oracle: the sampler driven by it lands on training points.
Reference: PFGM++ Sec. 3.3 (optimum of Eq. 8); original `training/loss.py`, `pfgmpp_target`/`stf_scores`.
"""

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, ScalarLike

from sciml.pfgmpp.kernel import check_D


def posterior_log_weights(
    x: Float[Array, " N"], data: Float[Array, "m N"], sigma: ScalarLike, D: float | int
) -> Float[Array, " m"]:
    """Unnormalised log w_i for one flattened x against flattened data (constants in i dropped).

    log(d_i + r²) = log r² + log1p(d_i / r²): the constant is dropped and log1p keeps the tiny
    differences between the d_i / r² that decide the weights when D is huge (float32 would lose them
    in log(d_i + r²)).
    """
    D = check_D(D)
    d2 = jnp.sum((data - x) ** 2, axis=-1)
    if math.isinf(D):
        return -d2 / (2 * sigma**2)
    N = x.shape[-1]
    return -(N + D) / 2 * jnp.log1p(d2 / (sigma**2 * D))


def posterior_mean_denoiser(data: Float[Array, "m ..."], D: float | int) -> Callable[[Array, Array], Array]:
    """D*(x, sigma) = sum_i softmax(log w)_i y_i for one example x of the data's per-example shape."""
    D = check_D(D)
    flat = data.reshape(data.shape[0], -1)

    def denoise(x: Array, sigma: Array) -> Array:
        w = jax.nn.softmax(posterior_log_weights(x.reshape(-1), flat, sigma, D))
        return (w @ flat).reshape(x.shape).astype(x.dtype)

    return denoise
