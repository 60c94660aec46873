"""Exact solutions of the Generalized Porous Medium Equation (GPME) family used by ProbConserv.

The GPME is the conservation law  u_t = d/dx ( k(u) u_x ).  Three members have closed-form
solutions, so no numerical solver is needed:

| name   | k(u)          | domain                          | u(t, x)                                       |
|--------|---------------|---------------------------------|-----------------------------------------------|
| heat   | k (constant)  | x in [0, 2 pi] periodic, t<=1   | exp(-k t) sin x                               |
| pme    | u^m           | x, t in [0, 1]                  | (m (t - x)_+)^(1/m)                           |
| stefan | 1[u >= u*]    | x in [0, 1], t in [0, 0.1]      | 1 - c1 erf(x / 2 sqrt t) behind the front     |
|        |               |                                 | x* = 2 z1 sqrt t, and 0 ahead of it           |

with c1 = (1 - u*) / erf(z1) and z1 the root of  u* erf(z1) z1 exp(z1^2) = (1 - u*) / sqrt(pi).
The total mass U(t) = int u(t, x) dx is 0 (heat), m^(1+1/m) t^(1+1/m) / (m + 1) (PME, front x = t)
and 2 c1 sqrt(t / pi) (Stefan: the inflow -u_x(t, 0) = c1 / sqrt(pi t) integrated in time).

Everything here is host-side NumPy in float64, except `conductivity`, which also accepts JAX arrays
(SoftC differentiates through it).

Sampling follows the original: the context set is a tensor grid of `n_t` stratified times (one uniform
draw per equal sub-interval) and `n_x` sorted uniform positions; the target set is `n_t` sorted uniform
times and `n_x` sorted uniform positions. Deviation: the original draws these points once per stored
training function; we draw fresh points every time (the functions are exact, so this is free).

Reference: Hansen et al., "Learning Physical Models that Can Respect Conservation Laws", ICML 2023,
Sec. 4 and App. C (GPME, Eqs. 8-10; Stefan solution, App. C.3).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import brentq
from scipy.special import erf

EQUATIONS = ("heat", "pme", "stefan")


@dataclasses.dataclass(frozen=True)
class GPMECase:
    """The fixed facts of one GPME member: domain, parameter name and ranges, evaluation time."""

    name: str
    param_name: str
    t_range: tuple[float, float]
    x_range: tuple[float, float]
    train_range: tuple[float, float]  # parameter ~ U[train_range] for training functions
    test_values: tuple[float, ...]  # the paper's in-distribution test parameters
    ood_values: tuple[float, ...]  # out-of-distribution test parameters
    eval_time: float  # the time at which the paper's tables are evaluated


# The paper's settings (conf/experiments/*.yaml of the original code): heat k ~ U[1, 5], test {1, 5};
# PME m ~ U[1, 6], test {1, 3, 6}; Stefan u* ~ U[0.55, 0.7], test 0.6 and out-of-distribution 0.5.
CASES: dict[str, GPMECase] = {
    "heat": GPMECase("heat", "k", (0.0, 1.0), (0.0, 2.0 * math.pi), (1.0, 5.0), (1.0, 5.0), (), 0.5),
    "pme": GPMECase("pme", "m", (0.0, 1.0), (0.0, 1.0), (1.0, 6.0), (1.0, 3.0, 6.0), (), 0.5),
    "stefan": GPMECase("stefan", "u*", (0.0, 0.1), (0.0, 1.0), (0.55, 0.7), (0.6,), (0.5,), 0.05),
}


def get_case(name: str) -> GPMECase:
    """The `GPMECase` called `name`; unknown names list the valid ones."""
    try:
        return CASES[name]
    except KeyError:
        raise ValueError(f"unknown GPME equation {name!r}; valid: {list(CASES)}") from None


# ----------------------------------------------------------------------------------------------------
# Stefan problem: the front constant z1 (a scalar root solve) and derived quantities.


@functools.lru_cache(maxsize=4096)
def stefan_z1(u_star: float) -> float:
    """Root z1 > 0 of  u* erf(z) z exp(z^2) = (1 - u*) / sqrt(pi)  (the Stefan front constant).

    The left side increases from 0 to infinity on z > 0, so the root is unique for 0 < u* < 1.
    """
    u_star = float(u_star)
    if not 0.0 < u_star < 1.0:
        raise ValueError(f"Stefan u* must lie in (0, 1), got {u_star}")
    rhs = (1.0 - u_star) / math.sqrt(math.pi)

    def f(z: float) -> float:
        return u_star * math.erf(z) * z * math.exp(z * z) - rhs

    hi = 1.0
    while f(hi) < 0.0:  # expand the bracket; z exp(z^2) grows fast, so this ends in a few steps
        hi *= 2.0
    return brentq(f, 1e-12, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200)


def stefan_c1(u_star: float) -> float:
    """c1 = (1 - u*) / erf(z1): the Stefan solution is 1 - c1 erf(x / 2 sqrt t) behind the front."""
    return (1.0 - u_star) / math.erf(stefan_z1(u_star))


def stefan_front(t, u_star: float) -> np.ndarray:
    """Front position x*(t) = 2 z1 sqrt(t) of the Stefan problem."""
    return np.asarray(2.0 * stefan_z1(u_star) * np.sqrt(np.asarray(t, dtype=np.float64)))


# ----------------------------------------------------------------------------------------------------
# Exact solutions, conductivities and masses.


def _broadcast(t, x) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(t, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    return np.broadcast_arrays(t, x)


def heat_solution(t, x, k: float | np.ndarray) -> np.ndarray:
    """u = exp(-k t) sin x, the heat equation u_t = k u_xx on the periodic domain [0, 2 pi]."""
    t, x = _broadcast(t, x)
    return np.asarray(np.exp(-k * t) * np.sin(x))


def pme_solution(t, x, m: float | np.ndarray) -> np.ndarray:
    """u = (m (t - x)_+)^(1/m), the porous medium equation u_t = (u^m u_x)_x; the front is x = t."""
    t, x = _broadcast(t, x)
    return np.asarray(np.power(m * np.maximum(t - x, 0.0), 1.0 / m))


def stefan_solution(t, x, u_star: float) -> np.ndarray:
    """Stefan problem u_t = (1[u >= u*] u_x)_x: 1 - c1 erf(x / 2 sqrt t) for x <= 2 z1 sqrt t, else 0.

    At t = 0 the solution is the step u = 1[x <= 0]; the boundary value is u(t, 0) = 1.
    """
    t, x = _broadcast(t, x)
    z1 = stefan_z1(u_star)
    c1 = (1.0 - u_star) / math.erf(z1)
    safe_t = np.where(t > 0.0, t, 1.0)  # avoid 0/0 at t = 0; those entries are set below
    behind = x <= 2.0 * z1 * np.sqrt(np.maximum(t, 0.0))
    u = np.where(behind, 1.0 - c1 * erf(x / (2.0 * np.sqrt(safe_t))), 0.0)
    return np.asarray(np.where(t > 0.0, u, np.where(x <= 0.0, 1.0, 0.0)))


def solution(equation: str, t, x, param: float | np.ndarray) -> np.ndarray:
    """The exact solution u(t, x) of `equation` with parameter `param` (k, m or u*)."""
    get_case(equation)
    fn = {"heat": heat_solution, "pme": pme_solution, "stefan": stefan_solution}[equation]
    return fn(t, x, param)


def conductivity(equation: str, u, param):
    """k(u) of the GPME: the constant k (heat), relu(u)^m (PME) or the step 1[u >= u*] (Stefan).

    Works on NumPy and JAX arrays alike (`param` may be an array broadcastable to `u`); the Stefan step
    has derivative 0 almost everywhere, as in the original SoftC. For the PME the power is evaluated
    only where u > 0 (the "double where"), so derivatives of every order are 0, not NaN, at u <= 0:
    the second derivative m (m - 1) u^(m - 2) of u^m is infinite at u = 0 for m < 2, and SoftC's
    gradient needs it.
    """
    get_case(equation)
    if equation == "heat":
        return param * (u * 0.0 + 1.0)
    if equation == "pme":
        xp = jnp if isinstance(u, jax.Array) or isinstance(param, jax.Array) else np
        positive = u > 0
        base = xp.where(positive, u, 1.0)
        return xp.where(positive, base**param, 0.0)
    return (u >= param) * 1.0


def total_mass(equation: str, t, param: float) -> np.ndarray:
    """U(t) = int u(t, x) dx over the domain, in closed form."""
    get_case(equation)
    t = np.asarray(t, dtype=np.float64)
    if equation == "heat":
        return np.zeros_like(t)
    if equation == "pme":
        m = float(param)
        a = 1.0 + 1.0 / m
        return np.asarray(m**a * np.power(t, a) / (m + 1.0))
    return np.asarray(2.0 * stefan_c1(float(param)) * np.sqrt(t / math.pi))


# ----------------------------------------------------------------------------------------------------
# Sampling of parameters and of context / target points.


def sample_params(equation: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` training parameters drawn uniformly from the case's training range."""
    lo, hi = get_case(equation).train_range
    return rng.uniform(lo, hi, size=n)


def sample_points(
    equation: str, n_t: int, n_x: int, rng: np.random.Generator, *, stratified_t: bool
) -> np.ndarray:
    """A tensor grid of `n_t` times x `n_x` sorted positions, flattened to [n_t * n_x, 2] as (t, x).

    `stratified_t=True` (contexts) draws one time per equal sub-interval of the time range; otherwise
    (targets) the times are sorted uniform draws. Positions are sorted uniform draws in both cases.
    """
    if n_t < 1 or n_x < 1:
        raise ValueError(f"need n_t >= 1 and n_x >= 1, got n_t={n_t}, n_x={n_x}")
    case = get_case(equation)
    (t0, t1), (x0, x1) = case.t_range, case.x_range
    if stratified_t:
        s = (np.arange(n_t) + rng.uniform(size=n_t)) / n_t
    else:
        s = np.sort(rng.uniform(size=n_t))
    # t = 0 is a degenerate initial step for Stefan; keep times strictly inside the range
    t = t0 + np.clip(s, 1e-6, 1.0) * (t1 - t0)
    x = x0 + np.sort(rng.uniform(size=n_x)) * (x1 - x0)
    tt, xx = np.meshgrid(t, x, indexing="ij")
    return np.stack([tt.ravel(), xx.ravel()], axis=-1)


def sample_function(
    equation: str,
    param: float,
    rng: np.random.Generator,
    *,
    n_context: tuple[int, int] = (10, 10),
    n_target: tuple[int, int] = (10, 10),
) -> dict[str, np.ndarray]:
    """Context and target sets of one function: inputs [N, 2] = (t, x) and outputs [N] = u."""
    xc = sample_points(equation, *n_context, rng, stratified_t=True)
    xt = sample_points(equation, *n_target, rng, stratified_t=False)
    return {
        "xc": xc,
        "yc": solution(equation, xc[:, 0], xc[:, 1], param),
        "xt": xt,
        "yt": solution(equation, xt[:, 0], xt[:, 1], param),
        "param": np.float64(param),
    }


def sample_batch(
    equation: str,
    params: np.ndarray,
    rng: np.random.Generator,
    *,
    n_context: tuple[int, int] = (10, 10),
    n_target: tuple[int, int] = (10, 10),
) -> dict[str, np.ndarray]:
    """`sample_function` for each parameter, stacked along a leading batch axis (float32)."""
    fns = [sample_function(equation, p, rng, n_context=n_context, n_target=n_target) for p in params]
    return {k: np.stack([f[k] for f in fns]).astype(np.float32) for k in fns[0]}


def eval_grid(equation: str, nx: int, times) -> tuple[np.ndarray, np.ndarray]:
    """The evaluation grid: `nx` evenly spaced positions including both ends, and the given times.

    Returns (x [nx], inputs [len(times), nx, 2]).
    """
    if nx < 2:
        raise ValueError(f"the evaluation grid needs nx >= 2 points, got {nx}")
    x0, x1 = get_case(equation).x_range
    x = np.linspace(x0, x1, nx)
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    tt, xx = np.meshgrid(times, x, indexing="ij")
    return x, np.stack([tt, xx], axis=-1)
