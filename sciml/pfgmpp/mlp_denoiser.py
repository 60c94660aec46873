"""An MLP denoiser F(x_in, c_noise) for vector data, to be wrapped by `EDMPrecond`.

Reference: PFGM++ toy notebook (`pfgmpp_toy.ipynb`: an MLP with an embedding of ln(sigma)/4); the noise
embedding here is NCSN++'s random Fourier features of c_noise (scale 16) followed by a linear map.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray, ScalarLike

from sciml.nn import MLP, FourierFeatures

#: NCSN++'s Fourier embedding scale for the noise level.
FOURIER_SCALE = 16.0


class MLPDenoiser(eqx.Module):
    """[x, silu(W fourier(c_noise))] -> residual SiLU MLP -> x's shape. One example; vmap outside."""

    map_noise: FourierFeatures
    map_layer: eqx.nn.Linear
    mlp: MLP
    shape: tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self, shape: tuple[int, ...], width: int = 256, depth: int = 3, emb_dim: int = 64, *, key: PRNGKeyArray
    ):
        if emb_dim % 2:
            raise ValueError(f"emb_dim must be even, got {emb_dim}")
        k1, k2, k3 = jax.random.split(key, 3)
        n = 1
        for s in shape:
            n *= s
        self.shape = tuple(shape)
        self.map_noise = FourierFeatures(1, emb_dim // 2, FOURIER_SCALE, key=k1)
        self.map_layer = eqx.nn.Linear(emb_dim, width, key=k2)
        self.mlp = MLP(n + width, n, width, depth, act="silu", residual=True, key=k3)

    def __call__(self, x: Float[Array, "..."], c_noise: ScalarLike) -> Float[Array, "..."]:
        emb = jax.nn.silu(self.map_layer(self.map_noise(jnp.reshape(c_noise, (1,)))))
        return self.mlp(jnp.concatenate([x.reshape(-1), emb])).reshape(x.shape)
