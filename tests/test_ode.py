import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.ode import solve, solve_on_grid

decay = lambda t, y, k: -k * y


def test_adaptive_matches_closed_form_both_directions():
    y1 = solve(decay, jnp.array([1.0, 2.0]), 0.0, 2.0, args=0.7, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(y1, np.exp(-1.4) * np.array([1.0, 2.0]), rtol=1e-5)
    back = solve(decay, y1, 2.0, 0.0, args=0.7, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(back, [1.0, 2.0], rtol=1e-5)
    ts = jnp.linspace(0, 1, 5)
    ys = solve(decay, jnp.ones(1), 0.0, 1.0, args=1.0, ts=ts)
    np.testing.assert_allclose(ys[:, 0], np.exp(-np.asarray(ts)), rtol=1e-4)


def test_grid_heun_second_order_and_reverse():
    errs = []
    for n in (10, 20):
        y = solve_on_grid(decay, jnp.ones(()), jnp.linspace(0, 1, n + 1), args=1.0)
        errs.append(abs(float(y) - np.exp(-1)))
    assert 3.5 < errs[0] / errs[1] < 4.5  # Heun is second order
    y = solve_on_grid(decay, jnp.asarray(np.exp(-1.0)), jnp.linspace(1, 0, 101), args=1.0)
    np.testing.assert_allclose(y, 1.0, rtol=1e-4)
    path = solve_on_grid(decay, jnp.ones(()), jnp.linspace(0, 1, 6), args=1.0, save_all=True)
    assert path.shape == (6,) and float(path[0]) == 1.0


def test_grid_pytree_state_and_jit_vmap():
    f = lambda t, y, _: {"a": y["b"], "b": -y["a"]}  # harmonic oscillator
    y0 = {"a": jnp.ones(3), "b": jnp.zeros(3)}
    out = jax.jit(lambda y: solve_on_grid(f, y, jnp.linspace(0, jnp.pi, 400)))(y0)
    np.testing.assert_allclose(out["a"], -1.0, atol=1e-4)
    many = jax.vmap(lambda y: solve(decay, y, 0.0, 1.0, args=1.0))(jnp.arange(4.0))
    np.testing.assert_allclose(many, np.arange(4.0) * np.exp(-1), rtol=1e-4)


def test_grid_errors():
    with pytest.raises(ValueError, match="at least two"):
        solve_on_grid(decay, jnp.ones(()), jnp.array([0.0]), args=1.0)
