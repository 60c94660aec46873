"""Ceilings of the machine the benchmarks run on (benchmarks/calibration.yaml)."""

import jax
import jax.numpy as jnp


def matmul(m: int, k: int, n: int):
    """One jitted float32 [m, k] @ [k, n] product on the default device."""
    a = jax.random.normal(jax.random.PRNGKey(0), (m, k))
    b = jax.random.normal(jax.random.PRNGKey(1), (k, n))
    f = jax.jit(jnp.matmul)
    return (lambda: f(a, b)), {"examples": 1, "flops_per_step": 2.0 * m * k * n}
