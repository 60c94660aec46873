"""A PFGM++ conditional generator for GDE: the D-kernel's denoising loss and the Heun sampler, given z.

GDE's generator interface (`dim`, `loss(x, z, *, key)`, `sample(z, num, *, key)`) on top of PFGM++'s
public pieces: `pfgmpp_loss` (EDM's weighted denoising loss under the perturbation kernel
p_r(x | y) with r = sigma sqrt(D)), `EDMPrecond`, `sample_prior` at sigma_max and `heun_sample` on
EDM's rho-schedule. D = inf is EDM (Gaussian kernel). Each point of a set is one example, so the
kernel's N is the data dimension d (not the pixels of an image): D is large or small against d.

Deviations: the network is GDE's DDPM noise network (MLP of [x_in, z, c_noise], SELU) rather than the
U-Net, so DDPM and PFGM differ only in noising, loss and sampler; `sigma_data` defaults to 1, the
marginal std of GDE's normalised data (EDM's 0.5 is that of images in [-1, 1]); the Beta clip of the
training noise is off by default (with N = 5 it floors R for a large share of draws at D = 2048, which
would make large D differ from D = inf for a reason unrelated to the kernel).
Reference: Xu et al. 2023, "PFGM++", Sec. 3-4 (Eq. 5 kernel, Eq. 8 objective, alignment r = sigma
sqrt(D)) and Sec. 5.3 (robustness to the number of steps); Karras et al. 2022 (EDM), Alg. 1, Table 1;
Fishman et al. 2025 (GDE), Alg. 1 (any conditional generator).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray, ScalarLike

from sciml.nn import MLP
from sciml.pfgmpp import (
    NUM_STEPS,
    P_MEAN,
    P_STD,
    RHO,
    SIGMA_MAX,
    SIGMA_MIN,
    EDMPrecond,
    check_D,
    edm_schedule,
    heun_sample,
    num_function_evals,
    pfgmpp_loss,
    sample_prior,
)

#: The std of GDE's normalised data (its normalisation divides by the marginal per-coordinate std).
SIGMA_DATA = 1.0


class ConditionedNet(eqx.Module):
    """F(x_in, c_noise) = net([x_in, z, c_noise]) with the latent z bound: the network `EDMPrecond` wraps."""

    net: eqx.Module
    z: Float[Array, " l"]

    def __call__(self, x_in: Float[Array, " d"], c_noise: ScalarLike) -> Float[Array, " d"]:
        return self.net(jnp.concatenate([x_in, self.z, jnp.reshape(c_noise, (1,)).astype(x_in.dtype)]))


class PFGMGenerator(eqx.Module):
    """Conditional PFGM++ generator: D(x, sigma | z) = EDMPrecond(net([c_in x, z, c_noise])).

    `net` maps [x_in (dim), z (latent), c_noise (1)] to dim. Build the default MLP with
    `pfgm_generator`; `with_num_steps` gives the same weights with another sampler length
    (NFE = 2 num_steps - 1, Heun with a final Euler step).
    """

    net: eqx.Module
    dim: int = eqx.field(static=True)
    D: float = eqx.field(static=True, converter=check_D)
    num_steps: int = eqx.field(static=True, default=NUM_STEPS)
    sigma_min: float = eqx.field(static=True, default=SIGMA_MIN)
    sigma_max: float = eqx.field(static=True, default=SIGMA_MAX)
    rho: float = eqx.field(static=True, default=RHO)
    sigma_data: float = eqx.field(static=True, default=SIGMA_DATA)
    P_mean: float = eqx.field(static=True, default=P_MEAN)
    P_std: float = eqx.field(static=True, default=P_STD)
    clip: float | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if not isinstance(self.num_steps, int) or self.num_steps < 1:
            raise ValueError(f"num_steps must be an integer >= 1, got {self.num_steps!r}")
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {self.sigma_min}, {self.sigma_max}")
        if not (self.sigma_data > 0 and self.P_std > 0 and self.rho > 0):
            raise ValueError(f"sigma_data, P_std and rho must be > 0, got {self.sigma_data}, {self.P_std}, {self.rho}")
        if self.clip is not None and not 0 < self.clip < 0.5:
            raise ValueError(f"clip must be None (off) or in (0, 0.5), got {self.clip}")

    @property
    def nfe(self) -> int:
        """Denoiser evaluations per sample."""
        return num_function_evals(self.num_steps)

    def with_num_steps(self, num_steps: int) -> "PFGMGenerator":
        """The same generator sampled with `num_steps` Heun levels (the robustness-to-steps knob)."""
        return PFGMGenerator(self.net, self.dim, self.D, num_steps, self.sigma_min, self.sigma_max, self.rho,
                             self.sigma_data, self.P_mean, self.P_std, self.clip)

    def denoiser(self, z: Float[Array, " l"]) -> EDMPrecond:
        """D(x, sigma) for one point given the latent z."""
        return EDMPrecond(ConditionedNet(self.net, z), self.sigma_data)

    def loss(self, x: Float[Array, "m d"], z: Float[Array, " l"], *, key: PRNGKeyArray) -> Float[Array, ""]:
        """Mean over the set of the PFGM++ loss of each point (own sigma and kernel draw), divided by d."""
        precond = self.denoiser(z)
        keys = jax.random.split(key, x.shape[0])
        per_point = jax.vmap(
            lambda y, k: pfgmpp_loss(precond, y, self.D, key=k, P_mean=self.P_mean, P_std=self.P_std, clip=self.clip)
        )(x, keys)
        return per_point.mean() / self.dim

    def prior(self, num: int, *, key: PRNGKeyArray) -> Float[Array, "num d"]:
        """`num` starting points from the D-kernel at sigma_max (heavy-tailed for small D)."""
        return jax.vmap(lambda k: sample_prior((self.dim,), self.sigma_max, self.D, key=k))(jax.random.split(key, num))

    def sample(self, z: Float[Array, " l"], num: int, *, key: PRNGKeyArray) -> Float[Array, "num d"]:
        """`num` points given z: prior at sigma_max, then the deterministic Heun sampler to sigma = 0."""
        precond = self.denoiser(z)
        x_T = self.prior(num, key=key)
        sigmas = jnp.asarray(edm_schedule(self.num_steps, self.sigma_min, self.sigma_max, self.rho), x_T.dtype)
        # lax.scan form of the sampler: identical to its diffrax form at alpha = 0 (tested in pfgmpp) and
        # lighter to compile under the two vmaps (points, sets).
        return jax.vmap(lambda x: heun_sample(precond, x, sigmas, solver="scan"))(x_T)


def pfgm_generator(
    dim: int, latent: int, width: int = 64, depth: int = 4, *, D: float | int | str, key: PRNGKeyArray, **options
) -> PFGMGenerator:
    """A `PFGMGenerator` around GDE's DDPM-sized network MLP([x_in, z, c_noise]) (SELU); `options` are the
    generator's sampler and loss settings (num_steps, sigma_min, sigma_max, rho, sigma_data, P_mean, P_std,
    clip)."""
    net = MLP(dim + latent + 1, dim, width, depth, act="selu", key=key)
    return PFGMGenerator(net, dim, D, **options)
