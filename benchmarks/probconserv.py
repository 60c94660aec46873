"""ProbConserv benchmark functions (see run.py for the `call` protocol): the conservation update."""

import jax
import numpy as np

from sciml.probconserv import update_grid


def update(nt: int = 201, nx: int = 201, dense: bool = False, sigma_g: float = 0.0):
    """`update_grid` on an nt x nx grid of ANP means and variances (diagonal or dense covariance path)."""
    rng = np.random.default_rng(0)
    x = np.linspace(0.0, 1.0, nx)
    mean = jax.numpy.asarray(rng.random((nt, nx)), jax.numpy.float32)
    var = jax.numpy.asarray(0.01 + 0.1 * rng.random((nt, nx)), jax.numpy.float32)
    mass = jax.numpy.asarray(np.linspace(0.2, 0.6, nt), jax.numpy.float32)
    step = lambda: update_grid(mean, var, x, mass, sigma_g, dense=dense)
    return step, {"examples": nt}
