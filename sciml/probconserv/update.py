"""The ProbConserv update: condition a Gaussian prediction on a linear conservation constraint G u = b.

Given the base model's prediction u ~ N(mu, Sigma) on a grid and the constraint  b = G u + eps,
eps ~ N(0, sigma_G^2 I), the conditioned Gaussian is

    mu~    = mu    - Sigma G^T (sigma_G^2 I + G Sigma G^T)^{-1} (G mu - b)
    Sigma~ = Sigma - Sigma G^T (sigma_G^2 I + G Sigma G^T)^{-1} G Sigma .

sigma_G = 0 is the hard limit (the paper's ProbConserv-ANP): G mu~ = b exactly. The diagonal path takes
Sigma = diag(var) (the ANP's output) and returns diag(Sigma~) in O(n m^2); the dense path takes any
covariance. Both are pure JAX; the public functions check their inputs and, on concrete inputs,
compute in float64 and return NumPy float64 arrays (with float32 the hard limit leaves G mu~ - b at
about 1e-7 rather than 1e-15); under `jit` they compute in the caller's dtype and return JAX arrays.

HardC (the baseline) is the unweighted projection of the mean, mu - G^T (G G^T)^{-1} (G mu - b), with the
variance left unchanged.

For a space-time grid the constraint has one row per time (trapezoid weights over x); because the rows
act on disjoint points, the update of a [nt, nx] grid is `nt` independent one-row updates: use
`update_grid`, or build the block matrix with `grid_constraint` and call the general functions.

Reference: Hansen et al., ICML 2023, Sec. 3, Eq. 6 (mean) and Eq. 7 (covariance); the limit sigma_G -> 0
in Sec. 3.2; HardC in Sec. 4 ("HardC-ANP").
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Float, PRNGKeyArray

MIN_VARIANCE = 1e-8  # floor on the conditioned variance before it is used as a predictive sd (original)


# ----------------------------------------------------------------------------------------------------
# Constraint matrices.


def trapezoid_weights(x: Float[ArrayLike, " n"]) -> Float[np.ndarray, " n"]:
    """Trapezoid-rule weights g on sorted nodes x, so that g . u approximates int u dx.

    g = ((x1 - x0)/2, (x2 - x0)/2, ..., (x_{n-1} - x_{n-3})/2, (x_{n-1} - x_{n-2})/2).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.shape[0] < 2:
        raise ValueError(f"trapezoid weights need a 1-D grid of >= 2 nodes, got shape {x.shape}")
    dx = np.diff(x)
    if np.any(dx < 0):
        raise ValueError("trapezoid weights need sorted nodes (x increasing)")
    w = np.zeros_like(x)
    w[:-1] += 0.5 * dx
    w[1:] += 0.5 * dx
    return w  # NumPy float64: a float32 G would limit how exactly G mu~ = b can hold


def grid_constraint(num_times: int, x: Float[ArrayLike, " nx"]) -> Float[np.ndarray, "nt nt_nx"]:
    """Block matrix G [nt, nt * nx] with one trapezoid row per time for a flattened (t-major) grid."""
    return np.kron(np.eye(num_times), trapezoid_weights(x)[None, :])


# ----------------------------------------------------------------------------------------------------
# Input checks (shape errors always; value errors when the inputs are concrete, i.e. not under jit).


def _array(a):
    """Keep JAX arrays and tracers as they are; anything else becomes NumPy (float64 survives)."""
    return a if isinstance(a, jax.Array | jax.core.Tracer) else np.asarray(a)


def _concrete(*xs) -> bool:
    return not any(isinstance(x, jax.core.Tracer) for x in xs)


def _check(mu, G, b, sigma_g, var=None, cov=None) -> None:
    if mu.ndim != 1:
        raise ValueError(f"the prediction mean must be a vector [n], got shape {mu.shape}")
    n = mu.shape[0]
    if G.ndim != 2:
        raise ValueError(f"G must be a matrix [m, n], got shape {G.shape}")
    if G.shape[1] != n:
        raise ValueError(f"G has width {G.shape[1]} but the prediction has {n} points")
    if b.shape != (G.shape[0],):
        raise ValueError(f"b must have shape ({G.shape[0]},) (one value per row of G), got {b.shape}")
    if jnp.ndim(sigma_g) not in (0, 1) or (jnp.ndim(sigma_g) == 1 and jnp.shape(sigma_g) != (G.shape[0],)):
        raise ValueError(f"sigma_g must be a scalar or have one entry per row of G, got shape {jnp.shape(sigma_g)}")
    if var is not None and var.shape != (n,):
        raise ValueError(f"the variance must have shape ({n},) like the mean, got {var.shape}")
    if cov is not None and cov.shape != (n, n):
        raise ValueError(f"the covariance must have shape ({n}, {n}), got {cov.shape}")
    if not _concrete(mu, G, b, sigma_g, var, cov):
        return
    if np.any(np.asarray(sigma_g) < 0):
        raise ValueError(f"sigma_g must be >= 0, got {np.asarray(sigma_g)}")
    for name, a in (("mean", mu), ("variance", var), ("covariance", cov), ("G", G), ("b", b)):
        if a is not None and not np.all(np.isfinite(np.asarray(a))):
            raise ValueError(f"the {name} holds non-finite values (nan or inf)")
    if var is not None and np.any(np.asarray(var) < 0):
        raise ValueError("the variance must be >= 0")
    if cov is not None and np.any(np.diag(np.asarray(cov)) < 0):
        raise ValueError("the covariance has negative diagonal entries")
    if np.all(np.asarray(sigma_g) == 0) and (var is not None or cov is not None):
        # the hard limit needs G Sigma G^T invertible; a zero row of it means no freedom to move
        d = np.asarray(var) if var is not None else np.diag(np.asarray(cov))
        if np.any((np.asarray(G) ** 2) @ d <= 0):
            raise ValueError("sigma_g = 0 needs G Sigma G^T positive definite; a row of G sees zero variance")


@contextlib.contextmanager
def _float64_if_concrete(*xs):
    """Run in float64 when the inputs are concrete (host call); under jit keep the caller's dtype."""
    if _concrete(*xs) and not jax.config.jax_enable_x64:
        with jax.enable_x64(True):
            yield jnp.float64
    elif _concrete(*xs):
        yield jnp.float64
    else:
        yield None


def _cast(dtype, *xs):
    return tuple(None if x is None else (jnp.asarray(x) if dtype is None else jnp.asarray(x, dtype)) for x in xs)


def _host(dtype, out):
    """Concrete float64 results go back as NumPy arrays: a JAX float64 array would silently drop to
    float32 in the next jnp operation outside the x64 context."""
    if dtype is None:
        return out
    return jax.tree_util.tree_map(np.asarray, out)


# ----------------------------------------------------------------------------------------------------
# Core computations (pure, jittable, any float dtype).


def _noise(sigma_g, m, dtype):
    return jnp.broadcast_to(jnp.asarray(sigma_g, dtype) ** 2, (m,))


@jax.jit
def _diag_core(mu, var, G, b, sigma_g):
    A = G @ (var[:, None] * G.T) + jnp.diag(_noise(sigma_g, G.shape[0], mu.dtype))
    cho = jax.scipy.linalg.cho_factor(A, lower=True)
    gain_t = jax.scipy.linalg.cho_solve(cho, G * var[None, :])  # [m, n] = A^-1 G Sigma
    new_mu = mu - gain_t.T @ (G @ mu - b)
    new_var = var - var * jnp.sum(G * gain_t, axis=0)  # diag(Sigma G^T A^-1 G Sigma)
    return new_mu, new_var


@jax.jit
def _dense_core(mu, cov, G, b, sigma_g):
    sg = cov @ G.T  # [n, m] = Sigma G^T
    A = G @ sg + jnp.diag(_noise(sigma_g, G.shape[0], mu.dtype))
    cho = jax.scipy.linalg.cho_factor(A, lower=True)
    gain_t = jax.scipy.linalg.cho_solve(cho, sg.T)  # [m, n]
    new_mu = mu - gain_t.T @ (G @ mu - b)
    new_cov = cov - sg @ gain_t
    return new_mu, 0.5 * (new_cov + new_cov.T)  # symmetric up to round-off


@jax.jit
def _hardc_core(mu, G, b):
    cho = jax.scipy.linalg.cho_factor(G @ G.T, lower=True)
    return mu - G.T @ jax.scipy.linalg.cho_solve(cho, G @ mu - b)


# ----------------------------------------------------------------------------------------------------
# Public API.


def probconserv_update(
    mean: Float[ArrayLike, " n"],
    var: Float[ArrayLike, " n"],
    G: Float[ArrayLike, "m n"],
    b: Float[ArrayLike, " m"],
    sigma_g: float | Float[ArrayLike, " m"] = 0.0,
) -> tuple[Float[ArrayLike, " n"], Float[ArrayLike, " n"]]:
    """Diagonal fast path: condition N(mean, diag(var)) on G u = b + N(0, sigma_g^2); returns (mean~, var~).

    var~ is the diagonal of Sigma~ (the off-diagonal part is not formed); it never exceeds var.
    sigma_g = 0 is the hard limit (G mean~ = b). Computed in float64 on concrete inputs.
    Reference: Hansen et al., ICML 2023, Eqs. 6-7 with Sigma diagonal (the ANP's output).
    """
    mean, var, G, b = (_array(a) for a in (mean, var, G, b))
    _check(mean, G, b, sigma_g, var=var)
    with _float64_if_concrete(mean, var, G, b, sigma_g) as dt:
        return _host(dt, _diag_core(*_cast(dt, mean, var, G, b, sigma_g)))


def probconserv_update_dense(
    mean: Float[ArrayLike, " n"],
    cov: Float[ArrayLike, "n n"],
    G: Float[ArrayLike, "m n"],
    b: Float[ArrayLike, " m"],
    sigma_g: float | Float[ArrayLike, " m"] = 0.0,
) -> tuple[Float[ArrayLike, " n"], Float[ArrayLike, "n n"]]:
    """General path: condition N(mean, cov) on G u = b + N(0, sigma_g^2 I); returns (mean~, cov~).

    Reference: Hansen et al., ICML 2023, Eqs. 6-7.
    """
    mean, cov, G, b = (_array(a) for a in (mean, cov, G, b))
    _check(mean, G, b, sigma_g, cov=cov)
    with _float64_if_concrete(mean, cov, G, b, sigma_g) as dt:
        return _host(dt, _dense_core(*_cast(dt, mean, cov, G, b, sigma_g)))


def hardc_projection(
    mean: Float[ArrayLike, " n"], G: Float[ArrayLike, "m n"], b: Float[ArrayLike, " m"]
) -> Float[ArrayLike, " n"]:
    """HardC baseline: the Euclidean projection of the mean onto {u : G u = b} (variance unchanged).

    Reference: Hansen et al., ICML 2023, Sec. 4 (HardC-ANP, after Negiar et al. 2023).
    """
    mean, G, b = (_array(a) for a in (mean, G, b))
    _check(mean, G, b, 0.0)
    if _concrete(mean, G, b) and not np.all(np.isfinite(np.asarray(mean))):
        raise ValueError("the mean holds non-finite values (nan or inf)")
    with _float64_if_concrete(mean, G, b) as dt:
        return _host(dt, _hardc_core(*_cast(dt, mean, G, b)))


def update_grid(
    mean: Float[ArrayLike, "nt nx"],
    var: Float[ArrayLike, "nt nx"],
    x: Float[ArrayLike, " nx"],
    mass: Float[ArrayLike, " nt"],
    sigma_g: float = 0.0,
    *,
    dense: bool = False,
) -> tuple[Float[ArrayLike, "nt nx"], Float[ArrayLike, "nt nx"] | Float[ArrayLike, "nt nx nx"]]:
    """ProbConserv on a space-time grid: one trapezoid-rule mass constraint per time.

    The rows of G act on disjoint points, so the update is `nt` independent one-row updates (vmapped).
    `dense=False` returns the conditioned variances [nt, nx]; `dense=True` forms each time's full
    conditioned covariance and returns [nt, nx, nx] (needed to sample the posterior).
    """
    mean, var, mass = (_array(a) for a in (mean, var, mass))
    if mean.ndim != 2 or var.shape != mean.shape:
        raise ValueError(f"mean and var must both be [nt, nx], got {mean.shape} and {var.shape}")
    g = trapezoid_weights(x)
    if g.shape[0] != mean.shape[1]:
        raise ValueError(f"the grid has {g.shape[0]} x-nodes but the prediction has {mean.shape[1]} per time")
    if mass.shape != (mean.shape[0],):
        raise ValueError(f"mass must have one value per time ({mean.shape[0]},), got {mass.shape}")
    G1 = g[None, :]
    if jnp.ndim(sigma_g) != 0:
        raise ValueError(f"update_grid takes one scalar sigma_g, got shape {jnp.shape(sigma_g)}")
    if _concrete(mean, var, mass, sigma_g):
        if float(sigma_g) < 0:
            raise ValueError(f"sigma_g must be >= 0, got {float(sigma_g)}")
        if not all(np.all(np.isfinite(np.asarray(a))) for a in (mean, var, mass)):
            raise ValueError("the prediction or the mass holds non-finite values (nan or inf)")
        if np.any(np.asarray(var) < 0):
            raise ValueError("the variance must be >= 0")
        if float(sigma_g) == 0 and np.any(np.asarray(var) @ (np.asarray(g) ** 2) <= 0):
            raise ValueError("sigma_g = 0 needs G Sigma G^T positive definite; a time row has zero variance")
    with _float64_if_concrete(mean, var, mass, sigma_g) as dt:
        mean, var, G1, mass, sg = _cast(dt, mean, var, G1, mass, sigma_g)
        if dense:
            covs = jax.vmap(jnp.diag)(var)
            out = jax.vmap(_dense_core, in_axes=(0, 0, None, 0, None))(mean, covs, G1, mass[:, None], sg)
        else:
            out = jax.vmap(_diag_core, in_axes=(0, 0, None, 0, None))(mean, var, G1, mass[:, None], sg)
        return _host(dt, out)


def sample_conditioned(
    mean: Float[ArrayLike, "*batch n"],
    var: Float[ArrayLike, "*batch n"],
    G: Float[ArrayLike, "m n"],
    b: Float[ArrayLike, " m"],
    sigma_g: float = 0.0,
    *,
    key: PRNGKeyArray,
    num_samples: int,
) -> Float[ArrayLike, "*batch s n"]:
    """Exact samples of N(mean~, Sigma~) for a diagonal prior, without a Cholesky factor of Sigma~.

    Matheron's rule: draw u ~ N(mean, diag var) and eps ~ N(0, sigma_g^2), then move the draw by the
    same gain as the mean: u - Sigma G^T A^-1 (G u + eps - b). The result has exactly the conditioned
    law, and it works at sigma_g = 0 where Sigma~ is singular (the original adds 1e-8 jitter and
    factorises Sigma~ instead). Leading batch axes of `mean`/`var` are independent predictions.
    Reference: Hansen et al., ICML 2023, Sec. 4.3 (shock position from posterior samples); Wilson et
    al. 2020, "Efficiently sampling functions from Gaussian process posteriors", Eq. 9 (Matheron's rule).
    """
    mean, var, G, b = (_array(a) for a in (mean, var, G, b))
    if mean.shape != var.shape or mean.ndim < 1:
        raise ValueError(f"mean and var must have the same shape [..., n], got {mean.shape} and {var.shape}")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    batch, n = mean.shape[:-1], mean.shape[-1]
    mean2, var2 = mean.reshape(-1, n), var.reshape(-1, n)
    for i in range(mean2.shape[0] if _concrete(mean2, var2) else 1):
        _check(mean2[i], G, b, sigma_g, var=var2[i])
    keys = jax.random.split(key, mean2.shape[0])
    with _float64_if_concrete(mean, var, G, b, sigma_g) as dt:
        mean2, var2, G, b, sg = _cast(dt, mean2, var2, G, b, sigma_g)
        out = jax.vmap(_matheron, in_axes=(0, 0, None, None, None, 0, None))(mean2, var2, G, b, sg, keys,
                                                                              num_samples)
        return _host(dt, out.reshape(*batch, num_samples, n))


@jax.jit(static_argnums=6)
def _matheron(mean, var, G, b, sigma_g, key, num_samples):
    ku, ke = jax.random.split(key)
    dtype = mean.dtype
    noise = _noise(sigma_g, G.shape[0], dtype)
    u = mean + jnp.sqrt(var) * jax.random.normal(ku, (num_samples, mean.shape[0]), dtype)
    eps = jnp.sqrt(noise) * jax.random.normal(ke, (num_samples, G.shape[0]), dtype)
    A = G @ (var[:, None] * G.T) + jnp.diag(noise)
    gain_t = jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(A, lower=True), G * var[None, :])
    return u - (u @ G.T + eps - b) @ gain_t


def hardc_grid(
    mean: Float[ArrayLike, "nt nx"], x: Float[ArrayLike, " nx"], mass: Float[ArrayLike, " nt"]
) -> Float[ArrayLike, "nt nx"]:
    """HardC on a space-time grid: project each time's mean onto its trapezoid mass constraint."""
    mean, mass = _array(mean), _array(mass)
    g = trapezoid_weights(x)
    if mean.ndim != 2 or mean.shape[1] != g.shape[0] or mass.shape != (mean.shape[0],):
        raise ValueError(f"need mean [nt, {g.shape[0]}] and mass [nt], got {mean.shape} and {mass.shape}")
    if _concrete(mean, mass) and not np.all(np.isfinite(np.asarray(mean))):
        raise ValueError("the mean holds non-finite values (nan or inf)")
    with _float64_if_concrete(mean, mass) as dt:
        mean, G1, mass = _cast(dt, mean, g[None, :], mass)
        return _host(dt, jax.vmap(_hardc_core, in_axes=(0, None, 0))(mean, G1, mass[:, None]))
