"""Exact GPME solutions: each satisfies its PDE (finite differences), its mass formula (quadrature) and
the paper's constants."""

import numpy as np
import pytest
from scipy.integrate import quad

from sciml.data import gpme


def fd_residual(equation, param, t, x, h=1e-4):
    """u_t - (k(u) u_x)_x by central differences (flux form, so k(u) is evaluated at half points)."""
    u = lambda tt, xx: gpme.solution(equation, tt, xx, param)  # noqa: E731
    u_t = (u(t + h, x) - u(t - h, x)) / (2 * h)

    def flux(xx):
        ux = (u(t, xx + h / 2) - u(t, xx - h / 2)) / h
        return gpme.conductivity(equation, u(t, xx), param) * ux

    return u_t - (flux(x + h / 2) - flux(x - h / 2)) / h


@pytest.mark.parametrize("k", [1.0, 3.3, 5.0])
def test_heat_satisfies_pde(k):
    t, x = np.meshgrid(np.linspace(0.05, 0.95, 7), np.linspace(0.1, 2 * np.pi - 0.1, 11), indexing="ij")
    assert np.abs(fd_residual("heat", k, t, x)).max() < 1e-5


@pytest.mark.parametrize("m", [1.0, 2.5, 6.0])
def test_pme_satisfies_pde_away_from_front(m):
    t, x = np.meshgrid(np.linspace(0.2, 0.9, 8), np.linspace(0.0, 1.0, 41)[1:-1], indexing="ij")
    behind = x < t - 0.05  # the front x = t is a weak (derivative) singularity
    ahead = x > t + 0.01
    r = fd_residual("pme", m, t, x, h=1e-4)
    scale = np.abs(gpme.pme_solution(t, x, m)).max()
    assert np.abs(r[behind]).max() < 2e-3 * max(scale, 1.0)
    assert np.abs(r[ahead]).max() == 0.0


@pytest.mark.parametrize("u_star", [0.5, 0.6, 0.7])
def test_stefan_satisfies_pde_away_from_front(u_star):
    t, x = np.meshgrid(np.linspace(0.02, 0.1, 6), np.linspace(0.0, 1.0, 51)[1:-1], indexing="ij")
    front = gpme.stefan_front(t, u_star)
    r = fd_residual("stefan", u_star, t, x, h=1e-5)
    behind, ahead = x < front - 0.02, x > front + 0.02
    assert behind.sum() > 20 and ahead.sum() > 20
    assert np.abs(r[behind]).max() < 1e-3
    assert np.abs(r[ahead]).max() == 0.0


@pytest.mark.parametrize("u_star", [0.5, 0.55, 0.6, 0.7])
def test_stefan_front_and_boundary_conditions(u_star):
    z1 = gpme.stefan_z1(u_star)
    lhs = u_star * __import__("math").erf(z1) * z1 * np.exp(z1**2)
    assert lhs == pytest.approx((1 - u_star) / np.sqrt(np.pi), rel=1e-12)
    t = 0.05
    front = float(gpme.stefan_front(t, u_star))
    # u = 1 at the inflow boundary, u -> u* just behind the front, u = 0 ahead of it
    assert gpme.stefan_solution(t, 0.0, u_star) == pytest.approx(1.0)
    assert gpme.stefan_solution(t, front * (1 - 1e-9), u_star) == pytest.approx(u_star, abs=1e-7)
    assert gpme.stefan_solution(t, front * (1 + 1e-9), u_star) == 0.0
    # the Stefan condition: the front speed dx*/dt equals the flux -u_x into the front / u*
    h = 1e-7
    u_x = (gpme.stefan_solution(t, front - h, u_star) - gpme.stefan_solution(t, front - 2 * h, u_star)) / h
    speed = z1 / np.sqrt(t)
    assert -u_x == pytest.approx(u_star * speed, rel=1e-4)


def test_stefan_reference_constants():
    # independently computed values of the Stefan similarity solution: z1(0.6) = 0.5257, front 0.235, U = 0.18595
    assert gpme.stefan_z1(0.6) == pytest.approx(0.5257, abs=1e-4)
    assert gpme.stefan_z1(0.5) == pytest.approx(0.6201, abs=1e-4)
    assert float(gpme.stefan_front(0.05, 0.6)) == pytest.approx(0.235, abs=5e-4)
    assert float(gpme.total_mass("stefan", 0.05, 0.6)) == pytest.approx(0.18595, abs=1e-5)


@pytest.mark.parametrize(
    "equation,param", [("heat", 1.0), ("heat", 5.0), ("pme", 1.0), ("pme", 3.0), ("pme", 6.0), ("stefan", 0.5),
                       ("stefan", 0.6), ("stefan", 0.7)]
)
def test_total_mass_matches_quadrature(equation, param):
    case = gpme.get_case(equation)
    (x0, x1), (t0, t1) = case.x_range, case.t_range
    for t in np.linspace(t0, t1, 5)[1:]:
        kinks = [t] if equation == "pme" else ([float(gpme.stefan_front(t, param))] if equation == "stefan" else None)
        kinks = [k for k in (kinks or []) if x0 < k < x1] or None
        value, _ = quad(lambda x, t=t: float(gpme.solution(equation, t, x, param)), x0, x1, points=kinks,
                        limit=200, epsabs=1e-13)
        assert float(gpme.total_mass(equation, t, param)) == pytest.approx(value, abs=1e-9)


def test_sampling_shapes_strata_and_determinism():
    rng = np.random.default_rng(0)
    pts = gpme.sample_points("stefan", 10, 7, rng, stratified_t=True)
    assert pts.shape == (70, 2)
    t = pts[:, 0].reshape(10, 7)[:, 0]
    assert np.all(np.floor(t / 0.01).astype(int) == np.arange(10))  # one time per stratum of [0, 0.1]
    x = pts[:7, 1]
    assert np.all(np.diff(x) >= 0) and x.min() >= 0 and x.max() <= 1
    a = gpme.sample_batch("pme", np.array([1.5, 2.0]), np.random.default_rng(3))
    b = gpme.sample_batch("pme", np.array([1.5, 2.0]), np.random.default_rng(3))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert a["xc"].shape == (2, 100, 2) and a["yt"].shape == (2, 100) and a["param"].shape == (2,)
    np.testing.assert_allclose(a["yt"], gpme.pme_solution(a["xt"][..., 0], a["xt"][..., 1], a["param"][:, None]),
                               rtol=1e-5, atol=1e-6)
    params = gpme.sample_params("stefan", 500, np.random.default_rng(1))
    assert params.min() >= 0.55 and params.max() <= 0.7


def test_parameter_ranges_match_the_paper():
    assert gpme.CASES["heat"].train_range == (1.0, 5.0) and gpme.CASES["heat"].test_values == (1.0, 5.0)
    assert gpme.CASES["pme"].train_range == (1.0, 6.0) and gpme.CASES["pme"].test_values == (1.0, 3.0, 6.0)
    st = gpme.CASES["stefan"]
    assert st.train_range == (0.55, 0.7) and st.test_values == (0.6,) and st.ood_values == (0.5,)
    assert st.eval_time == 0.05 and st.t_range == (0.0, 0.1)


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown GPME equation"):
        gpme.solution("burgers", 0.1, 0.1, 1.0)
    with pytest.raises(ValueError, match=r"u\* must lie in \(0, 1\)"):
        gpme.stefan_z1(1.2)
    with pytest.raises(ValueError, match="nx >= 2"):
        gpme.eval_grid("heat", 1, [0.5])
    with pytest.raises(ValueError, match="n_t >= 1"):
        gpme.sample_points("heat", 0, 5, np.random.default_rng(0), stratified_t=False)


@pytest.mark.parametrize("m", [1.0, 1.5, 3.0])
def test_pme_conductivity_has_finite_derivatives_at_zero(m):
    """SoftC differentiates k(u) = relu(u)^m twice; at u <= 0 every derivative must be 0, not NaN."""
    import jax
    import jax.numpy as jnp

    k = lambda u: gpme.conductivity("pme", u, jnp.asarray(m))  # noqa: E731
    for u in (0.0, -0.3):
        assert float(k(jnp.asarray(u))) == 0.0
        assert float(jax.grad(k)(u)) == 0.0 and float(jax.grad(jax.grad(k))(u)) == 0.0
    assert float(jax.grad(k)(0.5)) == pytest.approx(m * 0.5 ** (m - 1), rel=1e-6)
    np.testing.assert_allclose(gpme.conductivity("pme", np.array([-1.0, 0.0, 0.25]), m), [0.0, 0.0, 0.25**m])
