"""The PFGM++ perturbation kernel p_r(x | y) and the prior at sigma_max, for any augmented dimension D.

The kernel is p_r(x | y) ∝ (||x - y||² + r²)^(-(N + D) / 2) with r = sigma * sqrt(D). Its radial part
gives R²/r² ~ BetaPrime(N/2, D/2) = G_{N/2} / G_{D/2} (two independent unit-scale Gamma variables), so
the perturbation is n = R u with u uniform on the sphere. Equivalently n = sigma z / sqrt(chi²_D / D),
z ~ N(0, I_N): a multivariate Student-t with D degrees of freedom and one chi² draw per sample.
D = inf is the Gaussian kernel of EDM (n = sigma z), handled as its own exact branch.

Reference: Xu et al. 2023, "PFGM++", Sec. 3 (Eq. 5 the kernel, Sec. 4 the alignment r = sigma sqrt(D)).
"""

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, ScalarLike

#: The original clips B = R²/(R² + r²) ~ Beta(N/2, D/2) to [BETA_CLIP, 1 - BETA_CLIP] at training time.
BETA_CLIP = 1e-3


def check_D(D: object) -> float:
    """`D` as a float, validated: a number >= 1 or +inf (the EDM/Gaussian limit).

    Accepts ints, floats, NumPy scalars and the strings "inf"/"infinity". Anything else is a TypeError,
    and D < 1 or NaN is a ValueError, both naming the bad value.
    """
    if isinstance(D, str) and D.strip().lower() in ("inf", "+inf", "infinity", "+infinity"):
        return math.inf
    if isinstance(D, bool) or not isinstance(D, numbers.Real):
        raise TypeError(f"D must be a real number >= 1 or inf, got {D!r} ({type(D).__name__})")
    D = float(D)
    if math.isnan(D) or D < 1:
        raise ValueError(f"D must be >= 1 (or inf for the Gaussian/EDM limit), got {D}")
    return D


def log_radius_ratio(
    N: int, D: float | int, *, key: PRNGKeyArray, clip: float | None = None, dtype=jnp.float32
) -> Float[Array, ""]:
    """One draw of log(R² / r²) = log G_{N/2} - log G_{D/2} (finite D only).

    Computed from log-Gamma draws, so nothing is subtracted from 1: the original's B / (1 - B) in float32
    loses all precision when D << N (B close to 1), and tiny Gamma draws for small D cannot underflow here.
    `clip` reproduces the original's clip of B to [clip, 1 - clip], i.e. of the log-ratio to
    [logit(clip), logit(1 - clip)], since B / (1 - B) = exp(log-ratio).
    """
    D = check_D(D)
    if math.isinf(D):
        raise ValueError("log_radius_ratio is defined for finite D only; D = inf is the Gaussian kernel")
    kn, kd = jax.random.split(key)
    lr = jax.random.loggamma(kn, N / 2, dtype=dtype) - jax.random.loggamma(kd, D / 2, dtype=dtype)
    if clip is not None:
        if not 0.0 < clip < 0.5:
            raise ValueError(f"clip must be in (0, 0.5), got {clip}")
        bound = math.log(clip / (1.0 - clip))
        lr = jnp.clip(lr, bound, -bound)
    return lr


def sample_perturbation(
    shape: tuple[int, ...],
    sigma: ScalarLike,
    D: float | int,
    *,
    key: PRNGKeyArray,
    clip: float | None = None,
    dtype=jnp.float32,
) -> Float[Array, "..."]:
    """One perturbation n ~ p_r(· | 0) of the given shape at noise level sigma, so that x = y + n.

    N = prod(shape). For finite D: R = sigma sqrt(D) exp(log_radius_ratio / 2) and n = R z / ||z||;
    for D = inf: n = sigma z. `clip` (e.g. `BETA_CLIP`) applies the original's training-time clip of
    the Beta variable; it is ignored for D = inf, where B = 0 and the clip would be meaningless (with
    finite but huge D it floors R at sigma sqrt(D clip / (1 - clip)), as in the original).
    Reference: PFGM++ Eq. 5 and Alg. 1 (training); original `training/loss.py`.
    """
    D = check_D(D)
    if not isinstance(sigma, jax.core.Tracer):  # concrete input: check it here (traced values are the caller's)
        s = np.asarray(sigma, dtype=np.float64)
        if not (np.isfinite(s).all() and (s >= 0).all()):
            raise ValueError(f"sample_perturbation: sigma must be finite and >= 0, got {sigma}")
    N = math.prod(shape)
    kz, kr = jax.random.split(key)
    z = jax.random.normal(kz, shape, dtype=dtype)
    sigma = jnp.asarray(sigma, dtype=dtype)
    if math.isinf(D):
        return sigma * z
    lr = log_radius_ratio(N, D, key=kr, clip=clip, dtype=dtype)
    # log R = log sigma + (log D + lr) / 2, exponentiated once so huge radii (small D) stay finite.
    radius = sigma * jnp.exp(0.5 * (math.log(D) + lr))
    return radius * z / jnp.linalg.norm(z)


def sample_prior(
    shape: tuple[int, ...], sigma_max: float | int, D: float | int, *, key: PRNGKeyArray, dtype=jnp.float32
) -> Float[Array, "..."]:
    """A starting point x ~ p_{r_max}(x) at sigma_max (data are negligible there): the unclipped kernel.

    The original draws the prior from the *unclipped* Beta (unlike its training noise); we do the same.
    Reference: PFGM++ Sec. 3.2; original `generate.py`, `rand_beta_prime`.
    """
    return sample_perturbation(shape, sigma_max, D, key=key, clip=None, dtype=dtype)


def radius_moments(N: int, D: float | int, sigma: float | int = 1.0) -> dict[str, float]:
    """Closed forms for ||n||: E||n||², Var||n||², E||n|| and the mode (inf where they do not exist).

    Reference: R²/sigma² = D F(N, D) with F the Fisher distribution (see module docstring).
    """
    D = check_D(D)
    if math.isinf(D):
        m2, var2 = N * sigma**2, 2 * N * sigma**4
        m1 = sigma * math.sqrt(2) * math.exp(math.lgamma((N + 1) / 2) - math.lgamma(N / 2))
        mode = sigma * math.sqrt(N - 1)
    else:
        m2 = N * sigma**2 * D / (D - 2) if D > 2 else math.inf
        var2 = 2 * sigma**4 * N * D**2 * (N + D - 2) / ((D - 2) ** 2 * (D - 4)) if D > 4 else math.inf
        m1 = (
            sigma
            * math.sqrt(D)
            * math.exp(
                math.lgamma((N + 1) / 2) + math.lgamma((D - 1) / 2) - math.lgamma(N / 2) - math.lgamma(D / 2)
            )
            if D > 1
            else math.inf
        )
        mode = sigma * math.sqrt(D * (N - 1) / (D + 1))
    return {"mean_sq": m2, "var_sq": var2, "mean": m1, "mode": mode}
