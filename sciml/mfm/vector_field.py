"""The flow-matching vector field v(t, x | c): an MLP on [time embedding, Fourier features of x, x, c].

With `cond_dim = 0` it is the unconditional FM field; MFM and CGFM pass a population embedding or a
one-hot as `c`. Written for one point; vmap outside.
Reference: Lipman et al. 2023 (flow matching); Atanackovic et al. 2024, Sec. 3 (MFM's field).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from sciml.nn import MLP, FourierFeatures, sinusoidal_embedding

#: Default factor on t in [0, 1] before the sinusoidal embedding (whose frequencies span 1e-4 .. 1).
#: 1000 resolves t finely, but makes the field oscillate in t (period ~ 0.006), so an adaptive ODE
#: solver must take many steps; the population tasks use a smaller `time_scale`.
TIME_SCALE = 1000.0


class VectorField(eqx.Module):
    mlp: MLP
    fourier: FourierFeatures | None
    time_dim: int = eqx.field(static=True)
    cond_dim: int = eqx.field(static=True)
    time_scale: float = eqx.field(static=True)

    def __init__(
        self,
        dim: int,
        *,
        width: int = 128,
        depth: int = 3,
        act: str = "selu",
        time_dim: int = 32,
        fourier_features: int = 0,
        fourier_scale: float = 1.0,
        cond_dim: int = 0,
        residual: bool = False,
        time_scale: float = TIME_SCALE,
        key: PRNGKeyArray,
    ):
        kf, km = jax.random.split(key)
        self.fourier = FourierFeatures(dim, fourier_features, fourier_scale, key=kf) if fourier_features else None
        in_size = time_dim + 2 * fourier_features + dim + cond_dim
        self.mlp = MLP(in_size, dim, width, depth, act=act, residual=residual, key=km)
        self.time_dim, self.cond_dim, self.time_scale = time_dim, cond_dim, time_scale

    def __call__(
        self, t: Float[ArrayLike, ""], x: Float[Array, " d"], cond: Float[Array, " c"] | None = None
    ) -> Float[Array, " d"]:
        # t lives in [0, 1]: scale it so the embedding's frequencies (1e-4 .. 1) resolve it.
        parts = [sinusoidal_embedding(self.time_scale * t, self.time_dim), x]
        if self.fourier is not None:
            parts.append(self.fourier(x))
        if self.cond_dim:
            if cond is None or cond.shape != (self.cond_dim,):
                raise ValueError(f"this field needs a condition of shape ({self.cond_dim},)")
            parts.append(cond)
        return self.mlp(jnp.concatenate(parts))
