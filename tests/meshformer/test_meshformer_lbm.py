"""The D2Q9 lattice Boltzmann solver: moments, mass conservation, Poiseuille flow, open channel, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.sim import lbm


def test_equilibrium_has_the_prescribed_moments():
    rng = np.random.default_rng(0)
    rho = jnp.asarray(1 + 0.1 * rng.random((5, 4)), jnp.float32)
    u = jnp.asarray(0.1 * rng.standard_normal((2, 5, 4)), jnp.float32)
    f = lbm.equilibrium(rho, u)
    r, v = lbm.moments(f)
    np.testing.assert_allclose(r, rho, rtol=1e-6)
    np.testing.assert_allclose(v, u, atol=1e-6)
    # Second moment: sum e_a e_b f = rho (cs2 delta_ab + u_a u_b).
    e = lbm.E.astype(np.float32)
    pxy = np.einsum("q,qxy->xy", e[:, 0] * e[:, 1], np.asarray(f))
    np.testing.assert_allclose(pxy, np.asarray(rho * u[0] * u[1]), atol=1e-6)
    assert lbm.OPP[lbm.OPP].tolist() == list(range(9))
    np.testing.assert_array_equal(lbm.E[lbm.OPP], -lbm.E)


@pytest.mark.parametrize("collision", ["trt", "regularized"])
def test_mass_is_conserved_with_bounce_back_walls_and_obstacle(collision):
    """Periodic box with walls and a disc: halfway bounce-back and collisions conserve mass exactly."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        nx, ny = 40, 20
        x, y = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
        solid = ((x - 12) ** 2 + (y - 9) ** 2 < 16) | (y == 0) | (y == ny - 1)
        rho0 = np.where(solid, 1.0, 1 + 0.01 * rng.standard_normal((nx, ny)))
        u0 = np.where(solid[None], 0.0, 0.05 * rng.standard_normal((2, nx, ny)))
        f0 = lbm.equilibrium(jnp.asarray(rho0), jnp.asarray(u0))
        f = lbm.advance(lbm.Lattice(collision=collision), f0, 1.7, jnp.asarray(solid), steps=300)
        mass = lambda g: float(jnp.where(solid, 0.0, g.sum(0)).sum())  # noqa: E731
        assert f.dtype == jnp.float64
        assert abs(mass(f) - mass(f0)) < 1e-10 * mass(f0)
        assert float(jnp.abs(lbm.moments(f)[1]).max()) < 0.1  # stayed a low-Mach flow


@pytest.mark.parametrize("tau, magic, tol", [(1.0, lbm.MAGIC_EXACT_WALL, 2e-4), (0.8, lbm.MAGIC_STABLE, 3e-3)])
def test_body_force_poiseuille_matches_the_parabola(tau, magic, tol):
    """Steady force-driven channel: u(y) = F y (H - y) / (2 nu) with walls halfway between nodes.

    TRT with Lambda = 3/16 makes the parabola an exact steady state of the scheme (only round-off
    and the residual transient remain); Lambda = 1/4 has a small wall-slip error.
    """
    with jax.enable_x64(True):
        ny, force = 16, 1e-5
        solid = np.zeros((3, ny + 2), bool)
        solid[:, 0] = solid[:, -1] = True
        nu = (tau - 0.5) / 3
        f0 = lbm.equilibrium(jnp.ones(solid.shape), jnp.zeros((2,) + solid.shape))
        force_v = jnp.array([force, 0.0])
        f = lbm.advance(lbm.Lattice(magic=magic), f0, 1 / tau, jnp.asarray(solid), steps=4000, force=force_v)
        _, u = lbm.moments(f, force_v)
        yc = np.arange(ny) + 0.5
        exact = force / (2 * nu) * yc * (ny - yc)
        got = np.asarray(u[0, 1, 1:-1])
        assert np.abs(got - exact).max() < tol * exact.max()
        assert np.abs(np.asarray(u[1])).max() < 1e-12


def test_open_channel_keeps_the_inflow_parabola():
    """No cylinder: velocity inflow + pressure outflow give the fully developed Poiseuille flow:
    the inflow parabola downstream, and the pressure gradient dp/dx = -12 nu U / H^2."""
    setup = lbm.ChannelSetup(ny=12, length=0.8, frame_dt=0.05, viscosity=0.01)
    mean_speed = 0.5  # Re = U H / nu ~ 20
    x, y = setup.grid()
    solid = np.zeros((setup.nx, len(y)), bool)
    solid[:, 0] = solid[:, -1] = True
    scale = setup.speed_scale(1.5 * mean_speed)
    inflow = jnp.asarray(setup.inflow_profile(mean_speed) * scale)
    # A slightly wrong start (80% of the parabola) that the boundaries must correct.
    u0 = 0.8 * jnp.broadcast_to(inflow[:, None, :], (2,) + solid.shape)
    f0 = lbm.equilibrium(jnp.ones(solid.shape), u0)
    spf = setup.steps_per_frame(1.5 * mean_speed)
    _, rho, u = lbm.run(setup.lattice, f0, setup.omega(1.5 * mean_speed), jnp.asarray(solid),
                        steps_per_frame=spf, frames=200, inflow=inflow)
    want = np.asarray(setup.inflow_profile(mean_speed))[0, 1:-1]
    for column in (setup.nx // 2, setup.nx - 2):
        profile = np.asarray(u[-1, 0, column, 1:-1]) / scale
        assert np.abs(profile - want).max() < 0.03 * want.max()
    assert float(jnp.abs(u[-1] - u[-2]).max()) / scale < 1e-3 * want.max()  # steady
    p = (np.asarray(rho[-1, :, setup.ny // 2]) - 1) * lbm.CS2 / scale**2  # kinematic pressure
    a, b = 1, setup.nx - 2
    gradient = (p[b] - p[a]) / (x[b] - x[a])
    exact = -12 * setup.viscosity * mean_speed / setup.height**2
    assert abs(gradient / exact - 1) < 0.05


def test_bad_configurations_raise():
    with pytest.raises(ValueError, match="collision"):
        lbm.Lattice(collision="mrt")
    with pytest.raises(ValueError, match="ny"):
        lbm.ChannelSetup(ny=4)
    with pytest.raises(ValueError, match="viscosity"):
        lbm.omega_from_viscosity(0.0)
    solid = jnp.zeros((4, 4), bool)
    f0 = lbm.equilibrium(jnp.ones((4, 4)), jnp.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="inflow"):
        lbm.advance(lbm.Lattice(open_boundaries=True), f0, 1.0, solid, steps=1)
    with pytest.raises(ValueError, match="body force"):
        lbm.advance(lbm.Lattice(collision="regularized"), f0, 1.0, solid, steps=1, force=jnp.zeros(2))
