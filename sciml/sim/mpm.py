"""Two-dimensional MLS-MPM (moving least squares material point method) for water, sand and jelly.

Particles carry position x, velocity v, the APIC affine matrix C and the deformation gradient F. One
substep scatters mass and momentum to a regular grid with quadratic B-spline weights (P2G), adds
gravity on the grid, applies slip walls `bound` cells thick on all four sides of the unit box, and
gathers velocity and C back to the particles (G2P). Everything is vectorised over particles (no
Python loop over particles); P2G is one scatter-add, frames are a `lax.scan` over `lax.fori_loop`s of
substeps, and `simulate` is jitted and vmappable over scenes.

Materials (one integer id per particle):
- WATER, weakly compressible: Kirchhoff pressure K J (J - 1) with bulk modulus K; F is reset to
  sqrt(J) I every substep so only the volume ratio J is remembered (Hu et al. 2018's `mpm99`).
- SAND, Drucker-Prager elastoplasticity: St. Venant-Kirchhoff with Hencky strain, and the return
  mapping of Klar et al. 2016 in log-singular-value space (cohesionless, constant friction angle: we
  leave out Klar's hardening of the friction angle).
- ELASTIC, a fixed-corotated hyperelastic solid ("jelly") with a little Kelvin-Voigt damping.

Units: the box is [0, 1]^2, density 1, gravity 9.8 along -y; frames are `frame_dt` apart and each
frame is `substeps` MPM steps. The stiffnesses are far softer than real materials so a 48^2 grid runs
at thousands of substeps per second per scene on a CPU core. Water and jelly carry a small viscosity
(viscous stress mu J (C + C^T), with the APIC matrix C as the velocity gradient): without it a
coarse weakly compressible fluid throws single particles up the walls at several times the impact
speed, and the jelly rings at about the frame rate, which no learned simulator can follow.

Reference: Hu et al. 2018, "A moving least squares material point method with displacement
discontinuity and two-way rigid body coupling", SIGGRAPH (MLS-MPM, Eq. 17-29); Klar et al. 2016,
"Drucker-Prager elastoplasticity for sand animation", SIGGRAPH (Sec. 4-5); Stomakhin et al. 2013
(fixed-corotated energy).
"""

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

#: Material ids (per particle). These are also the particle types of the datasets in `sciml.data.particles`.
WATER, SAND, ELASTIC = 0, 1, 2
MATERIALS = {"water": WATER, "sand": SAND, "elastic": ELASTIC}

#: Quadratic B-spline stencil offsets (3 x 3 grid nodes around each particle).
_OFFSETS = np.array([(i, j) for i in range(3) for j in range(3)], np.int32)


@dataclasses.dataclass(frozen=True)
class MPMConfig:
    """Grid, time step and material constants of the simulator (hashable: a static jit argument)."""

    n_grid: int = 48
    substeps: int = 15  # MPM steps per output frame (dt = 1 / 3000 s)
    frame_dt: float = 0.005  # 200 frames per second: impacts span a few frames
    gravity: float = 9.8
    bound: int = 3  # wall thickness in grid cells; particles live in [bound dx, 1 - bound dx]^2
    rho: float = 1.0
    water_bulk: float = 400.0  # K: sound speed sqrt(K / rho) = 20, several times the impact speeds
    water_viscosity: float = 0.05  # dynamic viscosity; damps the impact jets of a coarse weakly compressible fluid
    elastic_E: float = 100.0
    elastic_nu: float = 0.3
    elastic_damping: float = 0.05  # Kelvin-Voigt viscosity: jelly vibrations decay within ~10 frames
    sand_E: float = 200.0
    sand_nu: float = 0.3
    sand_friction_deg: float = 35.0

    def __post_init__(self):
        if self.n_grid < 2 * self.bound + 4:
            raise ValueError(f"n_grid must be >= 2 * bound + 4, got n_grid={self.n_grid}, bound={self.bound}")
        if self.substeps < 1 or self.frame_dt <= 0:
            raise ValueError(f"need substeps >= 1 and frame_dt > 0, got {self.substeps}, {self.frame_dt}")
        if self.bound < 1:
            raise ValueError(f"bound must be >= 1 cell, got {self.bound}")

    @property
    def dx(self) -> float:
        return 1.0 / self.n_grid

    @property
    def dt(self) -> float:
        return self.frame_dt / self.substeps

    @property
    def bounds(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The box the walls enclose, per dimension ((lo, hi), (lo, hi))."""
        lo, hi = self.bound * self.dx, 1.0 - self.bound * self.dx
        return ((lo, hi), (lo, hi))


#: The configuration our particle datasets use.
DEFAULT_CONFIG = MPMConfig()


def _lame(E: float, nu: float) -> tuple[float, float]:
    return E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))


def svd2x2(F: Float[Array, "... 2 2"]) -> tuple[Array, Array, Array]:
    """Closed-form SVD F = U diag(s) V^T of 2x2 matrices with rotations U, V (det +1).

    The smaller singular value carries the sign of det F (the "signed" SVD used by MPM codes), so U
    and V stay rotations. Much faster than a batched LAPACK call for thousands of 2x2 matrices on CPU.
    """
    a, b, c, d = F[..., 0, 0], F[..., 0, 1], F[..., 1, 0], F[..., 1, 1]
    # F = R(theta) diag(s1, s2) R(phi)^T, from E = (a+d)/2, G = (c-b)/2, H = (a-d)/2, K = (c+b)/2
    E, G, H, K = (a + d) / 2, (c - b) / 2, (a - d) / 2, (c + b) / 2
    Q, Rr = jnp.hypot(E, G), jnp.hypot(H, K)
    s1, s2 = Q + Rr, Q - Rr
    a1, a2 = jnp.arctan2(G, E), jnp.arctan2(K, H)
    theta, phi = (a2 + a1) / 2, (a2 - a1) / 2

    def rot(t):
        ct, st = jnp.cos(t), jnp.sin(t)
        return jnp.stack([jnp.stack([ct, -st], -1), jnp.stack([st, ct], -1)], -2)

    return rot(theta), jnp.stack([s1, s2], -1), rot(phi)


def _kirchhoff_stress(F: Array, C: Array, material: Array, cfg: MPMConfig) -> tuple[Array, Array]:
    """Kirchhoff stress tau = P F^T per particle and the plastically projected F (sand only changes)."""
    eye = jnp.eye(2, dtype=F.dtype)
    U, sig, V = svd2x2(F)
    J = sig[..., 0] * sig[..., 1]
    # water: tau = K J (J - 1) I + mu J (grad v + grad v^T), with the APIC matrix C as grad v
    strain_rate = C + jnp.swapaxes(C, -1, -2)
    tau_water = (cfg.water_bulk * J * (J - 1))[..., None, None] * eye
    tau_water = tau_water + cfg.water_viscosity * J[..., None, None] * strain_rate
    # fixed corotated: tau = 2 mu (F - R) F^T + lambda (J - 1) J I
    mu_e, la_e = _lame(cfg.elastic_E, cfg.elastic_nu)
    R = U @ jnp.swapaxes(V, -1, -2)
    tau_el = 2 * mu_e * (F - R) @ jnp.swapaxes(F, -1, -2) + (la_e * (J - 1) * J)[..., None, None] * eye
    tau_el = tau_el + cfg.elastic_damping * J[..., None, None] * strain_rate
    # sand: project log singular values onto the Drucker-Prager cone (Klar et al. 2016, Alg. 2), then
    # St. Venant-Kirchhoff in Hencky strain: tau = U (2 mu eps + lambda tr(eps) I) U^T
    mu_s, la_s = _lame(cfg.sand_E, cfg.sand_nu)
    sphi = np.sin(np.deg2rad(cfg.sand_friction_deg))
    alpha = np.sqrt(2 / 3) * 2 * sphi / (3 - sphi)
    eps = jnp.log(jnp.maximum(sig, 1e-6))
    tr = eps.sum(-1, keepdims=True)
    dev = eps - tr / 2
    dev_norm = jnp.linalg.norm(dev, axis=-1, keepdims=True)
    dgamma = dev_norm + (2 * la_s + 2 * mu_s) / (2 * mu_s) * tr * alpha
    projected = eps - dgamma * dev / jnp.maximum(dev_norm, 1e-12)
    eps_new = jnp.where(tr >= 0, 0.0, jnp.where(dgamma <= 0, eps, projected))  # tip | inside | to the cone
    sig_new = jnp.exp(eps_new)
    F_sand = U @ (sig_new[..., :, None] * jnp.swapaxes(V, -1, -2))
    tr_new = eps_new.sum(-1)
    tau_diag = 2 * mu_s * eps_new + la_s * tr_new[..., None]
    tau_sand = U @ (tau_diag[..., :, None] * jnp.swapaxes(U, -1, -2))

    m = material[..., None, None]
    tau = jnp.where(m == WATER, tau_water, jnp.where(m == SAND, tau_sand, tau_el))
    F_out = jnp.where(m == SAND, F_sand, F)
    return tau, F_out


def _stencil(x: Array, cfg: MPMConfig) -> tuple[Array, Array, Array]:
    """Grid node indices [N, 9], quadratic B-spline weights [N, 9] and offsets x_i - x_p [N, 9, 2]."""
    inv_dx = cfg.n_grid
    base = jnp.floor(x * inv_dx - 0.5).astype(jnp.int32)
    fx = x * inv_dx - base
    w = jnp.stack([0.5 * (1.5 - fx) ** 2, 0.75 - (fx - 1) ** 2, 0.5 * (fx - 0.5) ** 2], 1)  # [N, 3, 2]
    off = jnp.asarray(_OFFSETS)
    weight = w[:, off[:, 0], 0] * w[:, off[:, 1], 1]
    node = base[:, None, :] + off[None]
    dpos = (off[None].astype(x.dtype) - fx[:, None, :]) * cfg.dx
    return node[..., 0] * cfg.n_grid + node[..., 1], weight, dpos


def p2g(
    x: Float[Array, "n 2"], v: Float[Array, "n 2"], C: Float[Array, "n 2 2"], affine_stress: Float[Array, "n 2 2"],
    mass: Float[Array, " n"], cfg: MPMConfig,
) -> tuple[Float[Array, " g"], Float[Array, "g 2"]]:
    """Scatter mass and APIC momentum m v + (affine_stress + m C)(x_i - x_p) to the flattened grid."""
    idx, w, dpos = _stencil(x, cfg)
    affine = affine_stress + mass[:, None, None] * C
    mom = mass[:, None, None] * v[:, None, :] + jnp.einsum("nij,nkj->nki", affine, dpos)
    g = cfg.n_grid**2
    grid_m = jnp.zeros(g, x.dtype).at[idx.ravel()].add((w * mass[:, None]).ravel())
    grid_p = jnp.zeros((g, 2), x.dtype).at[idx.ravel()].add((w[..., None] * mom).reshape(-1, 2))
    return grid_m, grid_p


def _grid_update(grid_m: Array, grid_p: Array, cfg: MPMConfig) -> Array:
    gv = jnp.where(grid_m[:, None] > 0, grid_p / jnp.where(grid_m > 0, grid_m, 1)[:, None], 0.0)
    gv = gv.at[:, 1].add(-cfg.dt * cfg.gravity)
    i = jnp.arange(cfg.n_grid**2) // cfg.n_grid
    j = jnp.arange(cfg.n_grid**2) % cfg.n_grid
    lo, hi = cfg.bound, cfg.n_grid - 1 - cfg.bound
    # slip walls: remove the velocity component that points into a wall
    vx = jnp.where(((i < lo) & (gv[:, 0] < 0)) | ((i > hi) & (gv[:, 0] > 0)), 0.0, gv[:, 0])
    vy = jnp.where(((j < lo) & (gv[:, 1] < 0)) | ((j > hi) & (gv[:, 1] > 0)), 0.0, gv[:, 1])
    return jnp.where(grid_m[:, None] > 0, jnp.stack([vx, vy], -1), 0.0)


def substep(state: dict, material: Int[Array, " n"], mass: Float[Array, " n"], vol: Float[Array, " n"],
            cfg: MPMConfig) -> dict:
    """One MLS-MPM step: stress, P2G, grid update with gravity and walls, G2P, advection, F update."""
    x, v, C, F = state["x"], state["v"], state["C"], state["F"]
    tau, F = _kirchhoff_stress(F, C, material, cfg)
    affine_stress = (-cfg.dt * 4 * cfg.n_grid**2) * vol[:, None, None] * tau
    grid_m, grid_p = p2g(x, v, C, affine_stress, mass, cfg)
    gv = _grid_update(grid_m, grid_p, cfg)
    idx, w, dpos = _stencil(x, cfg)
    g = gv[idx]  # [N, 9, 2]
    v_new = jnp.einsum("nk,nkd->nd", w, g)
    C_new = 4 * cfg.n_grid**2 * jnp.einsum("nk,nki,nkj->nij", w, g, dpos)
    x_new = x + cfg.dt * v_new
    F_new = (jnp.eye(2, dtype=x.dtype) + cfg.dt * C_new) @ F
    J = jnp.linalg.det(F_new)
    F_water = jnp.sqrt(jnp.maximum(J, 1e-6))[:, None, None] * jnp.eye(2, dtype=x.dtype)
    F_new = jnp.where((material == WATER)[:, None, None], F_water, F_new)
    return {"x": x_new, "v": v_new, "C": C_new, "F": F_new}


def initial_state(x0: Float[ArrayLike, "n 2"], v0: Float[ArrayLike, "n 2"]) -> dict:
    """Undeformed particles (F = I, C = 0) at x0 moving with v0."""
    x0 = jnp.asarray(x0, jnp.float32)
    n = x0.shape[0]
    return {"x": x0, "v": jnp.asarray(v0, jnp.float32), "C": jnp.zeros((n, 2, 2), jnp.float32),
            "F": jnp.tile(jnp.eye(2, dtype=jnp.float32), (n, 1, 1))}


@partial(jax.jit, static_argnames=("cfg", "n_frames", "return_state"))
def simulate(
    x0: Float[ArrayLike, "n 2"],
    v0: Float[ArrayLike, "n 2"],
    material: Int[ArrayLike, " n"],
    vol: Float[ArrayLike, " n"],
    *,
    cfg: MPMConfig = DEFAULT_CONFIG,
    n_frames: int,
    return_state: bool = False,
) -> Float[Array, "t n 2"] | tuple[Float[Array, "t n 2"], dict]:
    """Positions at `n_frames` frames, the first being x0: [n_frames, N, 2] (and the final state).

    `vol` is each particle's initial volume (area); its mass is rho * vol. Particles must start
    inside `cfg.bounds`. Jitted; vmap it over scenes with equal particle counts.
    Reference: Hu et al. 2018 (MLS-MPM).
    """
    material = jnp.asarray(material, jnp.int32)
    vol = jnp.asarray(vol, jnp.float32)
    mass = cfg.rho * vol

    def frame(state, _):
        state = jax.lax.fori_loop(0, cfg.substeps, lambda _, s: substep(s, material, mass, vol, cfg), state)
        return state, state["x"]

    state = initial_state(x0, v0)
    last, xs = jax.lax.scan(frame, state, None, length=n_frames - 1)
    positions = jnp.concatenate([state["x"][None], xs], 0)
    return (positions, last) if return_state else positions


def grid_mass(x: Float[Array, "n 2"], mass: Float[Array, " n"], cfg: MPMConfig = DEFAULT_CONFIG) -> Float[Array, ""]:
    """Total mass that P2G puts on the grid (equals sum(mass) while every stencil lies on the grid)."""
    n = x.shape[0]
    zeros = jnp.zeros((n, 2, 2), x.dtype)
    grid_m, _ = p2g(x, jnp.zeros_like(x), zeros, zeros, mass, cfg)
    return grid_m.sum()
