"""Feature normalisers stored in the model (frozen arrays), as MeshGraphNets keeps them in the checkpoint.

MeshGraphNets and graph-physics accumulate running means and variances during the first 1e5 training
updates. Here the statistics are computed once, exactly, from the training set when the model is
built, then frozen (the task's `trainable` excludes them from the optimiser). Same normalisation,
no hidden state update inside a pure loss.
Reference: Pfaff et al. 2021, "Learning Mesh-Based Simulation with Graph Networks", `normalization.py`
(std floored at 1e-8).
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

#: MeshGraphNets' floor on the standard deviation (features that never vary map to 0).
STD_EPSILON = 1e-8


class Normaliser(eqx.Module):
    """x -> (x - mean) / max(std, 1e-8) per feature, and back."""

    mean: Float[Array, " d"]
    std: Float[Array, " d"]

    def __init__(self, mean, std):
        self.mean = jnp.asarray(mean, jnp.float32)
        self.std = jnp.maximum(jnp.asarray(std, jnp.float32), STD_EPSILON)

    def __check_init__(self):
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise ValueError(f"mean {self.mean.shape} and std {self.std.shape} must be equal 1-D shapes")

    @classmethod
    def from_data(cls, x: np.ndarray, mask: np.ndarray | None = None) -> "Normaliser":
        """Statistics of the rows of `x [..., d]` where `mask [...]` is True (float64 on the host)."""
        x = np.asarray(x, np.float64)
        flat = x.reshape(-1, x.shape[-1])
        if mask is not None:
            flat = flat[np.asarray(mask).reshape(-1)]
        if len(flat) == 0:
            raise ValueError("no rows to compute normalisation statistics from")
        return cls(flat.mean(0), flat.std(0))

    @property
    def size(self) -> int:
        return self.mean.shape[0]

    def __call__(self, x: Float[Array, "... d"]) -> Float[Array, "... d"]:
        if x.shape[-1] != self.size:
            raise ValueError(f"normaliser expects {self.size} features, got {x.shape[-1]}")
        return (x - self.mean) / self.std

    def inverse(self, x: Float[Array, "... d"]) -> Float[Array, "... d"]:
        if x.shape[-1] != self.size:
            raise ValueError(f"normaliser expects {self.size} features, got {x.shape[-1]}")
        return x * self.std + self.mean
