"""Direct (push-forward) generator: x = G([z, eps]) with eps ~ N(0, I), trained by the squared sliced
2-Wasserstein distance between a generated set and the input set.

Reference: Fishman et al. 2025 (GDE), App. (direct generators with sliced-W2, MMD or Sinkhorn
losses); Deshpande et al. 2018, "Generative modeling using the sliced Wasserstein distance".
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from sciml.metrics import sliced_w2
from sciml.nn import MLP


class DirectGenerator(eqx.Module):
    """G([z, eps]) -> x with `noise_dim` Gaussian noise inputs per point."""

    net: MLP
    dim: int = eqx.field(static=True)
    noise_dim: int = eqx.field(static=True)
    num_projections: int = eqx.field(static=True)

    def __init__(
        self,
        dim: int,
        latent: int,
        width: int = 64,
        depth: int = 4,
        noise_dim: int = 8,
        num_projections: int = 100,
        *,
        key: PRNGKeyArray,
    ):
        if noise_dim < dim:
            # A push-forward of fewer noise dimensions than data dimensions is degenerate.
            raise ValueError(f"noise_dim must be >= the data dimension {dim}, got {noise_dim}")
        self.net = MLP(latent + noise_dim, dim, width, depth, act="selu", key=key)
        self.dim, self.noise_dim, self.num_projections = dim, noise_dim, num_projections

    def sample(self, z: Float[Array, " l"], num: int, *, key: PRNGKeyArray) -> Float[Array, "num d"]:
        eps = jax.random.normal(key, (num, self.noise_dim))
        return jax.vmap(lambda e: self.net(jnp.concatenate([z, e])))(eps)

    def loss(self, x: Float[Array, "m d"], z: Float[Array, " l"], *, key: PRNGKeyArray) -> Float[Array, ""]:
        """Squared sliced W2 between `m` generated points and the set (squared: smooth at zero)."""
        kg, kp = jax.random.split(key)
        y = self.sample(z, x.shape[0], key=kg)
        return sliced_w2(y, x, key=kp, num_projections=self.num_projections) ** 2
