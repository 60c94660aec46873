"""Training noise, acceleration targets and the semi-implicit Euler rollout of a learned simulator.

A model maps a window of C + 1 positions to a normalised acceleration per particle. With dt = 1 (the
GNS convention) the next state is v' = v + a, x' = x + v' (semi-implicit Euler). Training adds a
random walk to the input window (noise on each velocity, std sigma / sqrt(C), accumulated), and the
target position is moved with the last noise step, so the model learns to undo its own drift.
Reference: Sanchez-Gonzalez et al. 2020 (GNS), Sec. 2 and Sec. 4.2 (random-walk noise);
`learning_to_simulate/noise_utils.py`; GIOROM's `utils/utils.py::rollout` (same integrator).
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from sciml.giorom.features import ParticleSetup


def random_walk_noise(shape: tuple[int, ...], noise_std: float, *, key: PRNGKeyArray) -> Array:
    """Position noise [C + 1, n, d] whose velocities are a random walk ending with std `noise_std`.

    The first position gets no noise; velocity noise has std noise_std / sqrt(C) per step.
    """
    c = shape[0] - 1
    vel_noise = jax.random.normal(key, (c,) + shape[1:]) * (noise_std / jnp.sqrt(c))
    vel_noise = jnp.cumsum(vel_noise, axis=0)
    return jnp.concatenate([jnp.zeros((1,) + shape[1:]), jnp.cumsum(vel_noise, axis=0)], 0)


def noisy_inputs_and_target(
    positions: Float[Array, "c2 n 2"], setup: ParticleSetup, *, key: PRNGKeyArray | None
) -> tuple[Float[Array, "c1 n 2"], Float[Array, "n 2"]]:
    """(noisy input window [C + 1, n, 2], normalised acceleration target [n, 2]) from C + 2 positions.

    Target: a = (x_{t+1} + noise_t) - 2 x~_t + x~_{t-1}, i.e. the next position moves with the last
    noise so that the model corrects the noisy velocity (GNS's `next_position_adjusted`).
    """
    window, nxt = positions[:-1], positions[-1]
    if key is not None and setup.noise_std > 0:
        noise = random_walk_noise(window.shape, setup.noise_std, key=key)
        window, nxt = window + noise, nxt + noise[-1]
    acc = nxt - 2 * window[-1] + window[-2]
    return window, setup.normalise_acc(acc)


def next_position(window: Float[Array, "c1 n 2"], acc_norm: Float[Array, "n 2"], setup: ParticleSetup) -> Array:
    """Semi-implicit Euler with dt = 1: v' = (x_t - x_{t-1}) + a, x' = x_t + v'."""
    return window[-1] + (window[-1] - window[-2]) + setup.denormalise_acc(acc_norm)


def rollout(
    model: Callable[[Array, Array], Array],
    window: Float[Array, "c1 n 2"],
    ptype: Int[Array, " n"],
    n_steps: int,
    setup: ParticleSetup,
    limits: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> Float[Array, "t n 2"]:
    """Autoregressive positions for `n_steps` steps after the initial window (lax.scan).

    `model(window, ptype)` returns normalised accelerations. With `limits` ((x0, x1), (y0, y1)) every
    new position is projected into that box (the walls are known geometry); the projected position
    also sets the next velocity, so a particle that would cross a wall stops there. GNS and GIOROM
    roll out without such a projection; it is our option, off by default here.
    """
    lo = None if limits is None else jnp.array([a for a, _ in limits], jnp.float32)
    hi = None if limits is None else jnp.array([b for _, b in limits], jnp.float32)

    def step(w, _):
        x = next_position(w, model(w, ptype), setup)
        if limits is not None:
            x = jnp.clip(x, lo, hi)
        return jnp.concatenate([w[1:], x[None]], 0), x

    _, xs = jax.lax.scan(step, window, None, length=n_steps)
    return xs
