"""Errors of particle rollouts: position MSE, relative L2 of displacements and the Chamfer distance.

- `position_mse`: mean over steps and particles of sum_d (x_hat - x)^2 (GNS and GIOROM's rollout MSE).
- `displacement_rel_l2`: ||x_hat - x|| / ||x - x_0|| over all steps and particles; unlike a relative
  error of absolute positions it is not flattered by the large |x| (docs/references.md GIOROM.5).
- `chamfer_distance`: mean_a min_b |a - b|^2 + mean_b min_a |a - b|^2 (squared, symmetric), which
  compares two point clouds without a correspondence, as GIOROM's online evaluation does per frame.
Reference: Sanchez-Gonzalez et al. 2020, Sec. 4 (rollout MSE); Fan et al. 2017 (Chamfer distance).
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float


def position_mse(pred: Float[ArrayLike, "t n d"], true: Float[ArrayLike, "t n d"]) -> Float[Array, ""]:
    """Mean over steps and particles of the squared position error summed over dimensions."""
    pred, true = jnp.asarray(pred), jnp.asarray(true)
    return jnp.mean(jnp.sum((pred - true) ** 2, -1))


def displacement_rel_l2(pred: Float[ArrayLike, "t n d"], true: Float[ArrayLike, "t n d"],
                        ref: Float[ArrayLike, "n d"]) -> Float[Array, ""]:
    """||pred - true|| / ||true - ref|| over all steps and particles."""
    pred, true, ref = jnp.asarray(pred), jnp.asarray(true), jnp.asarray(ref)
    return jnp.linalg.norm(pred - true) / jnp.maximum(jnp.linalg.norm(true - ref), 1e-12)


def chamfer_distance(a: Float[ArrayLike, "n d"], b: Float[ArrayLike, "m d"]) -> Float[Array, ""]:
    """Symmetric squared Chamfer distance between two point clouds (dense O(n m))."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    d2 = jnp.sum((a[:, None, :] - b[None, :, :]) ** 2, -1)
    return d2.min(1).mean() + d2.min(0).mean()


def mean_chamfer(pred: Float[ArrayLike, "t n d"], true: Float[ArrayLike, "t m d"]) -> Float[Array, ""]:
    """Chamfer distance averaged over frames (one frame at a time, to bound memory)."""
    return jnp.mean(jax.lax.map(lambda ab: chamfer_distance(*ab), (jnp.asarray(pred), jnp.asarray(true))))
