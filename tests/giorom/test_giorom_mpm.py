"""MLS-MPM: SVD, constitutive models, conservation in P2G, free fall, walls."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.data.particles import sample_scene
from sciml.sim.mpm import ELASTIC, SAND, WATER, MPMConfig, _kirchhoff_stress, grid_mass, p2g, simulate, svd2x2

SMALL = MPMConfig(n_grid=32, substeps=20, frame_dt=0.01)
stress = jax.jit(_kirchhoff_stress, static_argnums=3)


def test_svd2x2_matches_numpy():
    F = np.random.default_rng(0).normal(size=(500, 2, 2)).astype(np.float32)
    U, s, V = jax.jit(svd2x2)(jnp.asarray(F))
    np.testing.assert_allclose(U @ (s[..., :, None] * np.swapaxes(V, -1, -2)), F, atol=2e-5)
    np.testing.assert_allclose(np.linalg.det(U), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.det(V), 1, atol=1e-5)
    np.testing.assert_allclose(np.abs(s), np.linalg.svd(F, compute_uv=False), atol=2e-5)
    assert np.all(np.sign(s[:, 1]) == np.sign(np.linalg.det(F)))


def test_stress_free_states():
    cfg = MPMConfig()
    theta = 0.7
    R = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]], np.float32)
    F = jnp.asarray(np.stack([np.eye(2, dtype=np.float32), R, R]))
    C = jnp.zeros((3, 2, 2))
    tau, _ = stress(F, C, jnp.array([WATER, ELASTIC, SAND]), cfg)
    np.testing.assert_allclose(tau, 0, atol=1e-4)  # rest water, rotated jelly and rotated sand
    # sand cannot take tension: a stretched grain state is projected back to the stress-free tip
    stretch = jnp.asarray(np.diag([1.2, 1.1]).astype(np.float32))[None]
    tau, F_new = stress(stretch, C[:1], jnp.array([SAND]), cfg)
    np.testing.assert_allclose(F_new[0], np.eye(2), atol=1e-5)
    np.testing.assert_allclose(tau, 0, atol=1e-4)
    # a compressed jelly pushes outwards (negative pressure sign convention: tau = -p J I with p > 0)
    tau, _ = stress(jnp.asarray(0.9 * np.eye(2, dtype=np.float32))[None], C[:1], jnp.array([ELASTIC]), cfg)
    assert float(jnp.trace(tau[0])) < 0


def test_p2g_conserves_mass_and_momentum():
    rng = np.random.default_rng(1)
    n = 200
    x = jnp.asarray(rng.uniform(0.2, 0.8, (n, 2)), jnp.float32)
    v = jnp.asarray(rng.normal(size=(n, 2)), jnp.float32)
    C = jnp.asarray(rng.normal(size=(n, 2, 2)), jnp.float32)
    tau = jnp.asarray(rng.normal(size=(n, 2, 2)), jnp.float32)
    mass = jnp.asarray(rng.uniform(0.5, 1.5, n), jnp.float32)
    gm, gp = jax.jit(p2g, static_argnums=5)(x, v, C, tau, mass, SMALL)
    np.testing.assert_allclose(gm.sum(), mass.sum(), rtol=1e-5)
    # the APIC and stress terms sum to zero over the stencil: sum_i w_ip (x_i - x_p) = 0
    np.testing.assert_allclose(gp.sum(0), (mass[:, None] * v).sum(0), rtol=1e-4, atol=1e-3)


def test_free_fall_matches_closed_form_before_contact():
    cfg = SMALL
    n = 64
    x0 = np.random.default_rng(2).uniform([0.4, 0.6], [0.5, 0.7], (n, 2)).astype(np.float32)
    v0 = np.tile(np.float32([0.3, 0.2]), (n, 1))
    frames = 12
    pos = np.asarray(simulate(x0, v0, np.full(n, ELASTIC), np.full(n, 0.01 / n), cfg=cfg, n_frames=frames))
    k = np.arange(frames) * cfg.substeps  # substeps taken at each frame
    dt = cfg.dt
    # symplectic Euler on the grid: y_k = y_0 + v0 k dt - g dt^2 k (k + 1) / 2, i.e. g t^2 / 2 + O(dt)
    want_y = x0[:, 1].mean() + 0.2 * k * dt - cfg.gravity * dt**2 * k * (k + 1) / 2
    want_x = x0[:, 0].mean() + 0.3 * k * dt
    np.testing.assert_allclose(pos[:, :, 1].mean(1), want_y, atol=2e-5)
    np.testing.assert_allclose(pos[:, :, 0].mean(1), want_x, atol=2e-5)
    t = k * dt
    np.testing.assert_allclose(pos[:, :, 1].mean(1), x0[:, 1].mean() + 0.2 * t - cfg.gravity * t**2 / 2,
                               atol=cfg.gravity * t[-1] * dt)
    # a rigid fall: no deformation, every particle moves the same
    np.testing.assert_allclose(pos[-1] - pos[0], np.broadcast_to((pos[-1] - pos[0]).mean(0), (n, 2)), atol=1e-5)


@pytest.mark.parametrize("material", ["water", "sand", "elastic"])
def test_particles_stay_in_box_and_p2g_weights_stay_a_partition_of_unity(material):
    """Every particle keeps its whole quadratic stencil on the grid, so P2G deposits all of its mass (the
    B-spline weights sum to one). Conservation of momentum is tested in free flight below."""
    cfg = SMALL
    rng = np.random.default_rng(3)
    s = sample_scene(rng, 96, material, cfg, area=0.04)
    s["v0"] = np.tile(np.float32([2.5, -1.0]), (96, 1))  # thrown at the right wall and the floor
    pos = np.asarray(simulate(s["x0"], s["v0"], s["material"], s["vol"], cfg=cfg, n_frames=40))
    assert np.all(np.isfinite(pos))
    dx = cfg.dx
    # the quadratic stencil of every particle stays on the grid, so P2G never drops mass
    assert pos.min() >= dx and pos.max() <= 1 - dx
    (lo, hi), _ = cfg.bounds
    assert pos.min() > lo - 2 * dx and pos.max() < hi + 2 * dx  # at most 2 cells into the wall layer
    mass = jnp.asarray(s["vol"] * cfg.rho)
    masses = jax.vmap(lambda x: grid_mass(x, mass, cfg))(jnp.asarray(pos[::10]))
    np.testing.assert_allclose(masses, mass.sum(), rtol=1e-5)
    assert pos[-1, :, 1].mean() < pos[0, :, 1].mean() - 0.1  # it fell


@pytest.mark.parametrize("material", [WATER, ELASTIC, SAND])
def test_momentum_changes_by_gravity_impulse_in_free_flight(material):
    """Away from the walls only gravity acts on the body as a whole: stresses and the APIC transfers move
    momentum between particles but not in total, so sum_p m_p v_p changes by exactly -M g t along y. The
    initial velocities spin, stretch and perturb the blob, so internal forces are not zero."""
    cfg = SMALL
    rng = np.random.default_rng(7)
    n = 150
    r = 0.06 * np.sqrt(rng.uniform(size=n))
    a = rng.uniform(0, 2 * np.pi, n)
    rel = np.stack([r * np.cos(a), r * np.sin(a)], 1)
    x0 = (np.array([0.5, 0.45]) + rel).astype(np.float32)
    v0 = (np.array([0.3, 1.0]) + 3.0 * rel[:, ::-1] * [-1, 1] + 2.0 * rel + 0.2 * rng.normal(size=(n, 2)))
    vol = rng.uniform(0.5, 1.5, n) * 0.01 / n
    frames = 10
    pos, last = simulate(x0, v0.astype(np.float32), np.full(n, material), vol, cfg=cfg, n_frames=frames,
                         return_state=True)
    pos = np.asarray(pos)
    lo, hi = (cfg.bound + 2) * cfg.dx, 1 - (cfg.bound + 2) * cfg.dx
    assert pos.min() > lo and pos.max() < hi  # free flight: no stencil reaches a wall node
    mass = cfg.rho * vol
    t = (frames - 1) * cfg.substeps * cfg.dt
    dp = (mass[:, None] * np.asarray(last["v"], np.float64)).sum(0) - (mass[:, None] * v0).sum(0)
    np.testing.assert_allclose(dp, [0.0, -mass.sum() * cfg.gravity * t], atol=2e-4 * mass.sum() * cfg.gravity * t)
    assert np.abs(np.asarray(last["v"]) - np.asarray(last["v"]).mean(0)).max() > 0.1  # not a rigid motion


def test_config_validation():
    with pytest.raises(ValueError, match="n_grid"):
        MPMConfig(n_grid=6)
    with pytest.raises(ValueError, match="substeps"):
        MPMConfig(substeps=0)
    with pytest.raises(ValueError, match="unknown material"):
        sample_scene(np.random.default_rng(0), 10, "honey")
