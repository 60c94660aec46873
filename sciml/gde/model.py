"""The Generative Distribution Embedding: a distributionally invariant encoder E and a conditional
generator G trained jointly by G's own loss on the very set that E encoded.

    z = E(S),  loss = L_G(S | z),  one optimiser for both (Algorithm 1 of the paper).

A fixed affine normalisation (shift, scale) maps data coordinates to roughly unit scale before both
networks and back after sampling; it is a static constant of the data prior, not learned (the
original trains on raw coordinates). Written for one set; vmap over sets outside.

Reference: Fishman et al. 2025, "Generative Distribution Embeddings", Alg. 1 (training), Sec. 3
(chunked encoding: the mean of chunk embeddings, justified by a CLT) and Sec. 5 (latent interpolation).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from sciml.gde.encoders import check_set


class GDE(eqx.Module):
    """Encoder + conditional generator with a fixed data normalisation (x - shift) / scale."""

    encoder: eqx.Module
    generator: eqx.Module
    shift: float = eqx.field(static=True)
    scale: float = eqx.field(static=True)

    def __check_init__(self):
        if not self.scale > 0:
            raise ValueError(f"normalisation scale must be > 0, got {self.scale}")
        if self.encoder.dim != self.generator.dim:
            raise ValueError(f"encoder dim {self.encoder.dim} != generator dim {self.generator.dim}")

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def _normalise(self, x: Array) -> Array:
        return (x - self.shift) / self.scale

    def encode(self, x: Float[Array, "n d"]) -> Float[Array, " latent"]:
        """Latent of one set of points."""
        check_set(x, self.dim)
        return self.encoder(self._normalise(x))

    def encode_chunked(self, x: Float[Array, "n d"], chunk_size: int) -> Float[Array, " latent"]:
        """Latent of a large set as the size-weighted mean of the latents of its chunks.

        Memory is that of one chunk (chunks run in `lax.map`). A remainder of >= 2 points is encoded
        as one more chunk with weight equal to its size; a single leftover point is dropped, since one
        point is not a set the encoders accept.
        """
        check_set(x, self.dim)
        n = x.shape[0]
        if chunk_size < 2:
            raise ValueError(f"chunk_size must be >= 2, got {chunk_size}")
        if chunk_size >= n:
            return self.encode(x)
        full = n // chunk_size
        chunks = x[: full * chunk_size].reshape(full, chunk_size, -1)
        zs = jax.lax.map(self.encode, chunks)
        total, weight = zs.sum(0) * chunk_size, full * chunk_size
        rest = n - full * chunk_size
        if rest >= 2:
            total, weight = total + self.encode(x[full * chunk_size :]) * rest, weight + rest
        return total / weight

    def loss(self, x: Float[Array, "m d"], *, key: PRNGKeyArray) -> Float[Array, ""]:
        """The generator's own loss on the set, conditioned on the set's latent (gradients reach both)."""
        xn = self._normalise(x)
        return self.generator.loss(xn, self.encoder(xn), key=key)

    def sample(self, z: Float[Array, " latent"], num: int, *, key: PRNGKeyArray) -> Float[Array, "num d"]:
        """`num` points from the distribution that z describes, in data coordinates."""
        return self.generator.sample(z, num, key=key) * self.scale + self.shift

    def reconstruct(self, x: Float[Array, "n d"], num: int, *, key: PRNGKeyArray) -> Float[Array, "num d"]:
        """Encode a set and sample `num` points from its decoded distribution."""
        return self.sample(self.encode(x), num, key=key)


def interpolate_latents(
    z0: Float[Array, " latent"], z1: Float[Array, " latent"], ts: Float[Array, " T"]
) -> Float[Array, "T latent"]:
    """Straight-line latent interpolants z_t = (1 - t) z0 + t z1 (decode each with `GDE.sample`).

    Reference: Fishman et al. 2025, Sec. 5.1 (latent interpolation approximates the OT path).
    """
    ts = jnp.asarray(ts)[:, None]
    return (1 - ts) * z0[None] + ts * z1[None]
