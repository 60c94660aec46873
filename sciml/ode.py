"""ODE solves with diffrax: adaptive (Tsit5) or on a given time grid (Heun + StepTo), either direction.

`f(t, y, args)` is the vector field; `y` may be any pytree. Both solvers run inside `jit` and `vmap`.
"""

from collections.abc import Callable
from typing import Any

import diffrax
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, PyTree


def solve(
    f: Callable[[Array, PyTree, Any], PyTree],
    y0: PyTree,
    t0: float,
    t1: float,
    *,
    args: Any = None,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    ts: ArrayLike | None = None,
    dt0: float | None = None,
    max_steps: int = 4096,
) -> PyTree:
    """Adaptive Tsit5 solve from t0 to t1 (t1 < t0 integrates backwards).

    Returns y(t1), or the states at `ts` (stacked on a leading axis) if `ts` is given.
    """
    saveat = diffrax.SaveAt(t1=True) if ts is None else diffrax.SaveAt(ts=jnp.asarray(ts))
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(f),
        diffrax.Tsit5(),
        t0=t0,
        t1=t1,
        dt0=(t1 - t0) / 100 if dt0 is None else dt0,
        y0=y0,
        args=args,
        saveat=saveat,
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
    )
    if ts is None:
        return _last(sol.ys)
    return sol.ys


def solve_on_grid(
    f: Callable[[Array, PyTree, Any], PyTree],
    y0: PyTree,
    ts: ArrayLike,
    *,
    args: Any = None,
    save_all: bool = False,
    solver: diffrax.AbstractSolver | None = None,
) -> PyTree:
    """Fixed-grid solve stepping exactly to each time in `ts` (Heun by default: 2 evaluations a step).

    `ts` must be strictly monotone (decreasing integrates backwards). Returns y(ts[-1]), or the states
    at every grid time (ts[0] included) if `save_all`.
    """
    ts = jnp.asarray(ts)
    if ts.ndim != 1 or ts.shape[0] < 2:
        raise ValueError(f"ts must be a 1-D grid of at least two times, got shape {ts.shape}")
    saveat = diffrax.SaveAt(t0=True, steps=True) if save_all else diffrax.SaveAt(t1=True)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(f),
        diffrax.Heun() if solver is None else solver,
        t0=ts[0],
        t1=ts[-1],
        dt0=None,
        y0=y0,
        args=args,
        saveat=saveat,
        stepsize_controller=diffrax.StepTo(ts=ts),
        max_steps=ts.shape[0] - 1,
    )
    return sol.ys if save_all else _last(sol.ys)


def _last(ys: PyTree) -> PyTree:
    return jax.tree_util.tree_map(lambda y: y[-1], ys)
