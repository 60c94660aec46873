"""Conditional DDPM generator: epsilon-prediction MLP on [x, z, t/T], ancestral sampling.

Reference: Ho et al. 2020, "Denoising Diffusion Probabilistic Models", Eq. 14 (loss) and Alg. 2
(sampling, sigma_t^2 = beta_t); Fishman et al. 2025 (GDE) use it as the conditional generator
(noise network MLP([x, z, t/T]) with SELU, 4 hidden layers, linear betas 1e-4..0.02, T = 400).
Two noise schedules (`SCHEDULES`): `scaled` (ours, the default: ends at noise for every T) and
`original` (the GDE original's betas, 1e-4..0.02 whatever T).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from sciml.nn import MLP

#: Ho et al.'s linear schedule (beta 1e-4 .. 0.02 at T = 1000) as rates integrated over unit time:
#: beta(s) from 0.1 to 20, s in [0, 1] (the variance-preserving SDE of Song et al. 2021).
BETA_MIN, BETA_MAX = 0.1, 20.0


def linear_betas(num_steps: int) -> Float[Array, " T"]:
    """Ho et al.'s linear schedule for any T: beta_i = 1 - exp(-beta(s_i) / T), beta(s) linear from
    0.1 to 20. At T = 1000 this is 1e-4 .. 0.0198 (Ho et al.); for every T, alpha_bar_T = exp(-10.05).

    Deviation: the GDE original keeps 1e-4..0.02 at T = 400, where alpha_bar_T = exp(-4) and
    sqrt(alpha_bar_T) = 0.14, so x_T still remembers the data (means up to 5 in U[0, 5]^d) while the
    sampler starts from N(0, I). Our schedule ends at noise for every T, and stays valid (beta < 1)
    for small T, where simply rescaling beta by 1000 / T would exceed 1.
    Reference: Ho et al. 2020, Sec. 4; Song et al. 2021, "Score-based generative modeling through
    SDEs", App. B (discretisation of the VP SDE).
    """
    if num_steps < 2:
        raise ValueError(f"DDPM needs at least 2 steps, got {num_steps}")
    rates = jnp.linspace(BETA_MIN, BETA_MAX, num_steps, dtype=jnp.float32)
    return -jnp.expm1(-rates / num_steps)


#: `scaled`: `linear_betas`; `original`: `original_schedule`.
SCHEDULES = ("scaled", "original")


def original_schedule(num_steps: int) -> tuple[Float[Array, " T"], Float[Array, " T"]]:
    """(betas, alpha_bars) for steps 1..T exactly as the GDE original's `generator/ddpm.py` computes them:
    beta_i = 1e-4 + (0.02 - 1e-4) i / T for i = 0..T, and alpha_bar_t = prod_{i=0..t} (1 - beta_i). Its
    product starts at i = 0, so alpha_bar_t carries one extra factor (1 - 1e-4) that beta_t does not; kept,
    as it is what the original's networks were trained with. At T = 400, alpha_bar_T = exp(-4.06): x_T
    still holds 0.13 x the data, while sampling starts from N(0, I) (see `linear_betas`).
    """
    if num_steps < 2:
        raise ValueError(f"DDPM needs at least 2 steps, got {num_steps}")
    betas = 1e-4 + (0.02 - 1e-4) * jnp.arange(num_steps + 1, dtype=jnp.float32) / num_steps
    return betas[1:], jnp.cumprod(1.0 - betas)[1:]


def ddpm_schedule(num_steps: int, kind: str = "scaled") -> tuple[Float[Array, " T"], Float[Array, " T"]]:
    """(betas, alpha_bars) for steps 1..T of the schedule `kind` (one of `SCHEDULES`)."""
    if kind == "scaled":
        betas = linear_betas(num_steps)
        return betas, jnp.cumprod(1.0 - betas)
    if kind == "original":
        return original_schedule(num_steps)
    raise ValueError(f"DDPM schedule {kind!r} is unknown; valid: {list(SCHEDULES)}")


def gaussian_eps_loss(alpha_bar: ArrayLike, var: ArrayLike, model_var: ArrayLike) -> np.ndarray | np.float64:
    """The expected loss E (eps - eps_hat)^2 along one direction at noise level alpha_bar, for data of variance
    `var` about a known mean, of the best denoiser for data of variance `model_var` (a Gaussian's posterior mean
    of eps given x_t). With model_var = var it is the lowest loss any denoiser reaches, a var / (a var + 1 - a)
    for a = alpha_bar; closed forms for analysing what the loss (`DDPM.loss`) rewards. Broadcasts."""
    a, var, model_var = (np.asarray(v, np.float64) for v in (alpha_bar, var, model_var))
    gain = np.sqrt(1 - a) / (a * model_var + 1 - a)  # eps_hat = gain * (x_t - sqrt(a) mean)
    return (1 - gain * np.sqrt(1 - a)) ** 2 + gain**2 * a * var


class DDPM(eqx.Module):
    """eps_theta(x_t, z, t/T): predicts the noise in x_t = sqrt(abar_t) x + sqrt(1 - abar_t) eps."""

    net: MLP
    dim: int = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)
    schedule: str = eqx.field(static=True)

    def __init__(self, dim: int, latent: int, width: int = 64, depth: int = 4, num_steps: int = 100,
                 schedule: str = "scaled", *, key):
        ddpm_schedule(num_steps, schedule)  # validate early
        self.net = MLP(dim + latent + 1, dim, width, depth, act="selu", key=key)
        self.dim, self.num_steps, self.schedule = dim, num_steps, schedule

    def eps(self, x: Float[Array, " d"], z: Float[Array, " l"], t: Array) -> Float[Array, " d"]:
        """Noise prediction at integer step t in 1..T (the network sees t/T)."""
        tt = jnp.asarray(t, x.dtype)[None] / self.num_steps
        return self.net(jnp.concatenate([x, z, tt]))

    def loss(self, x: Float[Array, "m d"], z: Float[Array, " l"], *, key: PRNGKeyArray) -> Float[Array, ""]:
        """Mean over the set of ||eps - eps_theta(x_t, z, t)||^2 / d, one t ~ U{1..T} per point."""
        _, abar = ddpm_schedule(self.num_steps, self.schedule)
        kt, ke = jax.random.split(key)
        t = jax.random.randint(kt, (x.shape[0],), 1, self.num_steps + 1)
        eps = jax.random.normal(ke, x.shape, x.dtype)
        a = abar[t - 1][:, None]
        xt = jnp.sqrt(a) * x + jnp.sqrt(1.0 - a) * eps
        pred = jax.vmap(self.eps, in_axes=(0, None, 0))(xt, z, t)
        return jnp.mean((pred - eps) ** 2)

    def sample(self, z: Float[Array, " l"], num: int, *, key: PRNGKeyArray) -> Float[Array, "num d"]:
        """Ancestral sampling (Ho et al. Alg. 2) of `num` points given the latent z."""
        betas, abar = ddpm_schedule(self.num_steps, self.schedule)
        alphas = 1.0 - betas
        k0, kloop = jax.random.split(key)
        x = jax.random.normal(k0, (num, self.dim))
        eps_fn = jax.vmap(self.eps, in_axes=(0, None, None))

        def step(x, inputs):
            t, k = inputs
            i = t - 1
            e = eps_fn(x, z, t)
            mean = (x - betas[i] / jnp.sqrt(1.0 - abar[i]) * e) / jnp.sqrt(alphas[i])
            noise = jnp.where(t > 1, jnp.sqrt(betas[i]), 0.0) * jax.random.normal(k, x.shape, x.dtype)
            return mean + noise, None

        ts = jnp.arange(self.num_steps, 0, -1)
        x, _ = jax.lax.scan(step, x, (ts, jax.random.split(kloop, self.num_steps)))
        return x
