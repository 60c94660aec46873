"""SoftC baseline: the ANP trained with a PDE-residual penalty (a physics-informed soft constraint).

The penalty is mean_targets ( u_t - d/dx ( k(u) u_x ) )^2 evaluated on the ANP's predictive mean, with
the derivatives taken by JAX forward-mode autodiff with respect to the physical query (t, x).

Deviation: the original differentiates the summed mean of *all* targets with respect to each target
position while z is drawn from q(z | targets), so a target's derivative also picks up its effect on z
through the latent encoder. We hold z and the context encodings fixed and differentiate each query's
mean alone, which is the derivative of the predicted field u(t, x) that the PDE is about.

Reference: Hansen et al., ICML 2023, Sec. 4 ("SoftC-ANP", after Raissi et al. 2019); original
`softc.py::PINP` with lambda = 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml.data.gpme import conductivity
from sciml.probconserv.anp import ANP


def pde_residual(
    model: ANP,
    keys_values: tuple[Float[Array, "nc h"], Float[Array, "nc h"]],
    z: Float[Array, " h"],
    equation: str,
    param: Float[Array, ""],
    q: Float[Array, " 2"],
) -> Float[Array, ""]:
    """GPME residual u_t - (k(u) u_x)_x of the predictive mean at one query q = (t, x)."""
    e_t = jnp.array([1.0, 0.0], q.dtype)
    e_x = jnp.array([0.0, 1.0], q.dtype)

    def u(p):
        mean, _ = model.decode(keys_values, z, p[None, :])
        return mean[0, 0]

    def flux(p):
        value, u_x = jax.jvp(u, (p,), (e_x,))
        return conductivity(equation, value, param) * u_x

    _, u_t = jax.jvp(u, (q,), (e_t,))
    _, flux_x = jax.jvp(flux, (q,), (e_x,))
    return u_t - flux_x


def softc_penalty(
    model: ANP,
    keys_values: tuple[Float[Array, "nc h"], Float[Array, "nc h"]],
    z: Float[Array, " h"],
    equation: str,
    param: Float[Array, ""],
    xt: Float[Array, "nt 2"],
) -> Float[Array, ""]:
    """Mean squared GPME residual over the target points of one function."""
    res = jax.vmap(lambda q: pde_residual(model, keys_values, z, equation, param, q))(xt)
    return jnp.mean(res**2)
