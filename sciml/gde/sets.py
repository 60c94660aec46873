"""Host-side entry points that check sets before they reach a jitted encoder or generator.

Shape errors (a set of one point, the wrong dimension) are caught statically inside the modules
too; NaN and inf can only be caught on values, so these functions check them here, on the host,
with a message that names the offending sets.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, PRNGKeyArray

from sciml.gde.model import GDE


def validate_sets(sets: ArrayLike, dim: int) -> np.ndarray:
    """Check a batch of sets [B, n, d] (or one set [n, d]); returns it as float32 [B, n, d]."""
    x = np.asarray(sets)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"sets must have shape [B, n, d] or [n, d], got shape {x.shape}")
    if x.shape[1] < 2:
        raise ValueError(f"each set must hold at least 2 points to describe a distribution, got {x.shape[1]}")
    if x.shape[2] != dim:
        raise ValueError(f"set points have dimension {x.shape[2]}, but the model expects {dim}")
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"sets must be numeric, got dtype {x.dtype}")
    bad = ~np.isfinite(x).all(axis=(1, 2))
    if bad.any():
        raise ValueError(f"sets {np.flatnonzero(bad)[:10].tolist()} contain NaN or inf")
    return x.astype(np.float32)


@eqx.filter_jit
def _encode(model: GDE, x, chunk_size: int):
    if chunk_size:
        return jax.vmap(lambda s: model.encode_chunked(s, chunk_size))(x)
    return jax.vmap(model.encode)(x)


@eqx.filter_jit
def _sample(model: GDE, z, num: int, key):
    keys = jax.random.split(key, z.shape[0])
    return jax.vmap(lambda zi, k: model.sample(zi, num, key=k))(z, keys)


def encode_sets(model: GDE, sets: ArrayLike, *, chunk_size: int = 0) -> np.ndarray:
    """Latents [B, latent] of sets [B, n, d] (chunked encoding when chunk_size >= 2)."""
    if chunk_size == 1 or chunk_size < 0:
        raise ValueError(f"chunk_size must be 0 (off) or >= 2, got {chunk_size}")
    x = validate_sets(sets, model.dim)
    return np.asarray(_encode(model, jnp.asarray(x), int(chunk_size)))


def sample_sets(model: GDE, z: ArrayLike, num: int, *, key: PRNGKeyArray) -> np.ndarray:
    """`num` points [B, num, d] from the distribution of each latent in z [B, latent]."""
    z = np.asarray(z, np.float32)
    if z.ndim != 2:
        raise ValueError(f"latents must have shape [B, latent], got {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("latents contain NaN or inf")
    if num < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    return np.asarray(_sample(model, jnp.asarray(z), int(num), key))
