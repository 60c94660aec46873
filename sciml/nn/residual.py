"""`materialise_gradient`: an identity whose gradient XLA:CPU computes once, into a buffer of its own.

Why: in a stack of residual blocks unrolled in Python, x_{k+1} = x_k + f_k(x_k), the gradient of the stream is a
chain of additions, dx_k = dx_{k+1} + (what block k adds). XLA:CPU's fusion copies cheap element-wise producers
into each of their consumers, so the backward fusions of every block add up again the contributions of all the
blocks after it: work quadratic in depth (MeshGraphNet's 15 blocks compiled to fusions with up to 53 inputs, about
14% of its training step). `jax.lax.optimization_barrier` does not prevent it, as XLA:CPU removes barriers before
fusion; a scatter does, because XLA:CPU computes a scatter into its own buffer and never copies it into consumers.
So on CPU the gradient passes through an identity scatter (every row summed into itself, 0 + g: the same values);
on other platforms (not measured there) it is the identity both ways.
Measured in benchmarks/README.md ("The residual stream's gradient").
"""

import jax
import jax.numpy as jnp
from jaxtyping import PyTree


@jax.custom_vjp
def materialise_gradient(x: PyTree) -> PyTree:
    """`x` unchanged; on CPU its gradient is computed into a buffer of its own (see the module docstring)."""
    return x


def _forward(x):
    return x, None


def _backward(_, cotangent):
    return (jax.tree_util.tree_map(_own_buffer, cotangent),)


def _own_buffer(g):
    if jnp.ndim(g) == 0 or not jnp.issubdtype(g.dtype, jnp.inexact):  # scalars; integer inputs' float0 zeros
        return g
    rows = g.shape[0]
    scatter = lambda g: jax.ops.segment_sum(g, jnp.arange(rows), rows)  # noqa: E731  (each row into itself)
    return jax.lax.platform_dependent(g, cpu=scatter, default=lambda g: g)


materialise_gradient.defvjp(_forward, _backward)
