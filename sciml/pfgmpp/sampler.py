"""EDM's deterministic sampler as used by PFGM++: rho-schedule, Heun steps, a final Euler step.

The ODE is dx/dsigma = (x - D(x, sigma)) / sigma for every D (equivalently dx/dr = E_x / E_r with
dr = sqrt(D) dsigma); only the prior depends on D. With n steps the schedule has n noise levels plus
sigma_n = 0; the first n - 1 steps are Heun (2 evaluations each) and the last is Euler, whose update
to sigma = 0 is exactly D(x, sigma_{n-1}), so NFE = 2n - 1 (35 for n = 18).

Robustness option of the paper (Fig. 5a): before every step, x += alpha sigma_i eps, eps ~ N(0, I).
Reference: EDM Alg. 1 and Eq. 5 (schedule); PFGM++ Sec. 5.3; original `generate.py`/`generate_alpha.py`.
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from sciml.ode import solve_on_grid
from sciml.pfgmpp.kernel import check_D, sample_prior

#: EDM's schedule constants (CIFAR-10 defaults, kept by PFGM++ for every D).
SIGMA_MIN = 0.002
SIGMA_MAX = 80.0
RHO = 7.0
NUM_STEPS = 18  # NFE 35


def edm_schedule(
    num_steps: int, sigma_min: float | int = SIGMA_MIN, sigma_max: float | int = SIGMA_MAX, rho: float | int = RHO
) -> np.ndarray:
    """sigma_i = (smax^(1/rho) + i/(n-1) (smin^(1/rho) - smax^(1/rho)))^rho, i < n, then sigma_n = 0.

    Computed in float64 on the host; one step (n = 1) is the single level sigma_max.
    Reference: EDM Eq. 5.
    """
    if not isinstance(num_steps, int | np.integer) or num_steps < 1:
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}")
    if not 0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    if num_steps == 1:
        return np.array([sigma_max, 0.0])
    i = np.arange(num_steps, dtype=np.float64)
    a, b = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    sig = (a + i / (num_steps - 1) * (b - a)) ** rho
    return np.concatenate([sig, [0.0]])


def num_function_evals(num_steps: int) -> int:
    """Denoiser evaluations of the Heun sampler with a final Euler step: 2n - 1."""
    return 2 * num_steps - 1


def heun_sample(
    denoiser: Callable[[Array, Array], Array],
    x_T: Float[Array, "..."],
    sigmas: Float[ArrayLike, " n1"],
    *,
    alpha: float | int | Array = 0.0,
    key: PRNGKeyArray | None = None,
    solver: str = "auto",
) -> Float[Array, "..."]:
    """Integrate one sample from sigmas[0] down to sigmas[-1] = 0 (Heun, then a final Euler step).

    `denoiser(x, sigma)` works on one example. `alpha` > 0 injects alpha sigma_i eps before every step
    (needs `key`). `solver`: "diffrax" uses `sciml.ode.solve_on_grid` (diffrax Heun on the grid) for
    the Heun part and needs alpha = 0; "scan" is a `lax.scan` of the same steps, which also injects
    noise; "auto" picks diffrax when alpha is the Python number 0 and scan otherwise. Both give the same
    result at alpha = 0 (tested).
    """
    sigmas = jnp.asarray(sigmas, dtype=x_T.dtype)
    if sigmas.ndim != 1 or sigmas.shape[0] < 2:
        raise ValueError(f"sigmas must be a 1-D schedule of >= 2 levels ending in 0, got {sigmas.shape}")
    no_noise = isinstance(alpha, int | float) and alpha == 0
    if solver == "auto":
        solver = "diffrax" if no_noise else "scan"
    if solver not in ("diffrax", "scan"):
        raise ValueError(f"solver must be 'auto', 'diffrax' or 'scan', got {solver!r}")
    if solver == "diffrax" and not no_noise:
        raise ValueError("the diffrax solver has no noise injection; use solver='scan' for alpha > 0")
    if not no_noise and key is None:
        raise ValueError("noise injection (alpha > 0) needs a key")
    n = sigmas.shape[0] - 1
    keys = jax.random.split(key, n) if key is not None else None

    def inject(x, s, k):
        if no_noise:
            return x
        return x + (alpha * s) * jax.random.normal(k, x.shape, x.dtype)

    def drift(s, x, args=None):
        return (x - denoiser(x, s)) / s

    x = x_T
    if n >= 2:
        if solver == "diffrax":
            x = solve_on_grid(drift, x, sigmas[:-1])
        else:

            def heun_step(x, inputs):
                s, s_next, k = inputs
                x = inject(x, s, k)
                d = drift(s, x)
                x_euler = x + (s_next - s) * d
                return x + (s_next - s) * 0.5 * (d + drift(s_next, x_euler)), None

            xs = (sigmas[:-2], sigmas[1:-1], keys[:-1] if keys is not None else jnp.zeros((n - 1, 2), jnp.uint32))
            x, _ = jax.lax.scan(heun_step, x, xs)
    # Final Euler step to sigma = 0: x + (0 - s)(x - D(x, s))/s = D(x, s).
    x = inject(x, sigmas[-2], keys[-1] if keys is not None else None)
    return denoiser(x, sigmas[-2])


@eqx.filter_jit
def _sample_batch(model, x_T, sigmas, alpha, keys, solver):
    return jax.vmap(lambda x, k: heun_sample(model, x, sigmas, alpha=alpha, key=k, solver=solver))(x_T, keys)


def generate(
    model: Callable[[Array, Array], Array],
    num: int,
    shape: tuple[int, ...],
    D: float | int,
    *,
    key: PRNGKeyArray,
    num_steps: int = NUM_STEPS,
    sigma_min: float | int = SIGMA_MIN,
    sigma_max: float | int = SIGMA_MAX,
    rho: float | int = RHO,
    alpha: float | int = 0.0,
    chunk: int = 1024,
) -> Float[Array, "num ..."]:
    """`num` samples of the given shape: prior at sigma_max for this D, then `heun_sample` (jitted).

    The same key gives the same prior draws for every D-independent knob (steps, alpha, weights), so
    robustness sweeps compare like with like. Samples are drawn in chunks of `chunk` to bound memory.
    """
    D = check_D(D)
    kp, kn = jax.random.split(key)
    x_T = jax.vmap(lambda k: sample_prior(shape, sigma_max, D, key=k))(jax.random.split(kp, num))
    noise_keys = jax.random.split(kn, num)
    sigmas = jnp.asarray(edm_schedule(num_steps, sigma_min, sigma_max, rho), dtype=x_T.dtype)
    if alpha == 0:
        solver, a = "diffrax", 0.0
    else:
        solver, a = "scan", jnp.asarray(alpha, x_T.dtype)
    out = []
    for start in range(0, num, chunk):
        stop = min(start + chunk, num)
        out.append(_sample_batch(model, x_T[start:stop], sigmas, a, noise_keys[start:stop], solver))
    return jnp.concatenate(out) if len(out) > 1 else out[0]

