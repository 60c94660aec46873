"""Learnable sine time encoding of observation times."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray, ScalarLike

from sciml.nn import Linear


class SineTimeEncoding(eqx.Module):
    """[w_0 t + b_0, sin(w_1 t + b_1), ..., sin(w_{d-1} t + b_{d-1})] with learnable w, b.

    Written for one scalar time; vmap outside. The FIM-MJP original uses d = 250 (plus a 6-way one-hot
    of the state, giving its model width 256). With `max_frequency` set, the frequencies start
    log-uniform in [1, max_frequency] (random signs) and the phases uniform in [0, 2 pi) (our deviation:
    the default init draws |w| <= 1, too smooth to tell apart neighbouring grid points in t / T_norm
    early in a short training); None keeps the default init, as the original.
    Reference: Shukla & Marlin 2021, "Multi-time attention networks for irregularly sampled time
    series", Eq. 2; used as `SineTimeEncoding` in FIM-MJP (docs/references.md FIM.1).
    """

    linear: Linear
    periodic: Linear

    def __init__(self, dim: int, *, max_frequency: float | None = None, key: PRNGKeyArray):
        if dim < 2:
            raise ValueError(f"time encoding dim must be >= 2, got {dim}")
        k1, k2, k3, k4, k5 = jax.random.split(key, 5)
        self.linear = Linear("scalar", "scalar", key=k1)
        periodic = Linear("scalar", dim - 1, key=k2)
        if max_frequency is not None:
            if max_frequency < 1:
                raise ValueError(f"max_frequency must be >= 1, got {max_frequency}")
            mag = jnp.exp(jax.random.uniform(k3, (dim - 1,), maxval=jnp.log(max_frequency)))
            sign = jnp.where(jax.random.bernoulli(k4, 0.5, (dim - 1,)), 1.0, -1.0)
            phase = jax.random.uniform(k5, (dim - 1,), maxval=2 * jnp.pi)
            periodic = eqx.tree_at(lambda m: (m.weight, m.bias), periodic, ((mag * sign)[:, None], phase))
        self.periodic = periodic

    def __call__(self, t: ScalarLike) -> Float[Array, " dim"]:
        t = jnp.asarray(t, jnp.float32)
        return jnp.concatenate([self.linear(t)[None], jnp.sin(self.periodic(t))])
