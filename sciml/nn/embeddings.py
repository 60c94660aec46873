"""Embeddings of scalars (time, noise level) and of coordinates."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray, ScalarLike


def sinusoidal_embedding(t: ScalarLike, dim: int, *, max_period: float = 10_000.0) -> Float[Array, " dim"]:
    """Transformer-style sinusoidal embedding of a scalar: [cos(t w_k), sin(t w_k)].

    Frequencies w_k = max_period^(-k / (dim/2)), k = 0..dim/2-1.
    Reference: Vaswani et al. 2017, Sec. 3.5; used for time in flow matching and diffusion models.
    """
    if dim % 2:
        raise ValueError(f"sinusoidal embedding dim must be even, got {dim}")
    half = dim // 2
    freqs = jnp.exp(-jnp.log(max_period) * jnp.arange(half) / half)
    angles = jnp.asarray(t, dtype=freqs.dtype) * freqs
    return jnp.concatenate([jnp.cos(angles), jnp.sin(angles)])


class FourierFeatures(eqx.Module):
    """Random Fourier features [cos(2 pi x B), sin(2 pi x B)] with a frozen matrix B ~ N(0, scale^2).

    B is stored in the module (so it is checkpointed, unlike the MFM original's) and its gradient is
    stopped, so the optimiser never changes it.
    Reference: Tancik et al. 2020, "Fourier features let networks learn high frequency functions".
    """

    B: Float[Array, "d m"]

    def __init__(self, in_size: int, num_features: int, scale: float, *, key: PRNGKeyArray):
        self.B = scale * jax.random.normal(key, (in_size, num_features))

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " two_m"]:
        proj = 2 * jnp.pi * x @ jax.lax.stop_gradient(self.B)
        return jnp.concatenate([jnp.cos(proj), jnp.sin(proj)])
