"""GNS and GIOROM: invariances, the integrator and noise, FNO, reconstruction, Chamfer, bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.giorom import (
    GIOROM,
    GNS,
    LatentGrid,
    ParticleSetup,
    Reconstructor,
    SpectralConv2d,
    chamfer_distance,
    next_position,
    noisy_inputs_and_target,
    random_walk_noise,
)

SETUP = ParticleSetup(radius=0.06, bounds=((0.0625, 0.9375), (0.0625, 0.9375)), window=3,
                      vel_mean=(0.0, -0.001), vel_std=(0.01, 0.01), acc_mean=(0.0, -0.001), acc_std=(0.002, 0.003),
                      noise_std=3e-4, max_neighbors=24)
call = eqx.filter_jit(lambda m, w, t: m(w, t))


def _window(n=40, seed=0, lo=0.35, hi=0.6):
    rng = np.random.default_rng(seed)
    x = rng.uniform(lo, hi, (n, 2)).astype(np.float32)
    v = rng.normal(scale=0.004, size=(SETUP.window + 1, n, 2)).astype(np.float32)
    return jnp.asarray(x[None] + np.cumsum(v, 0)), jnp.asarray(rng.integers(0, 3, n).astype(np.int32))


@pytest.fixture(scope="module")
def models():
    gns = GNS(SETUP, width=32, message_passing=2, key=jax.random.PRNGKey(0))
    recon = Reconstructor(LatentGrid(32, SETUP.domain()), sigma=0.04, key=jax.random.PRNGKey(1))
    giorom = GIOROM(SETUP, recon, width=32, in_layers=1, out_layers=1, grid=16, gno_channels=8, fno_width=8,
                    fno_modes=4, fno_layers=1, key=jax.random.PRNGKey(2))
    return gns, giorom


def test_permutation_equivariance(models):
    w, t = _window()
    perm = np.random.default_rng(1).permutation(w.shape[1])
    for m in models:
        np.testing.assert_allclose(call(m, w[:, perm], t[perm]), call(m, w, t)[perm], atol=2e-5)


def test_translation_invariance_away_from_walls(models):
    gns, giorom = models
    w, t = _window()  # all particles more than one radius from the walls
    np.testing.assert_allclose(call(gns, w + jnp.array([0.07, -0.11]), t), call(gns, w, t), atol=2e-5)
    # GIOROM's latent grid is only shift-equivariant by whole grid cells
    h = giorom.gno_in.grid.spacing
    shift = jnp.asarray(np.array([2, -3]) * h)
    np.testing.assert_allclose(call(giorom, w + shift, t), call(giorom, w, t), atol=1e-4)


def test_integrator_and_noise_targets():
    rng = np.random.default_rng(2)
    pos = jnp.asarray(np.cumsum(rng.normal(scale=0.01, size=(SETUP.window + 2, 10, 2)), 0).astype(np.float32))
    window, target = noisy_inputs_and_target(pos, SETUP, key=None)
    np.testing.assert_allclose(next_position(window, target, SETUP), pos[-1], atol=1e-6)
    # with noise the target moves the true next position by the last noise step
    window, target = noisy_inputs_and_target(pos, SETUP, key=jax.random.PRNGKey(0))
    noise_last = window[-1] - pos[-2]
    np.testing.assert_allclose(next_position(window, target, SETUP), pos[-1] + noise_last, atol=1e-6)
    np.testing.assert_allclose(window[0], pos[0])  # the first position is never perturbed
    noise = random_walk_noise((SETUP.window + 1, 4000, 2), 0.01, key=jax.random.PRNGKey(1))
    last_velocity = noise[-1] - noise[-2]
    np.testing.assert_allclose(np.std(np.asarray(last_velocity)), 0.01, rtol=0.05)


def test_spectral_conv_is_shift_equivariant_and_checks_modes():
    conv = SpectralConv2d(3, 4, 5, key=jax.random.PRNGKey(0))
    v = jnp.asarray(np.random.default_rng(3).normal(size=(16, 16, 3)).astype(np.float32))
    shifted = jnp.roll(v, (3, -5), axis=(0, 1))
    np.testing.assert_allclose(conv(shifted), jnp.roll(conv(v), (3, -5), axis=(0, 1)), atol=1e-5)
    with pytest.raises(ValueError, match="modes"):
        conv(v[:8, :8])


def test_reconstruction_exact_for_rigid_translations(models):
    _, giorom = models
    rng = np.random.default_rng(4)
    ref = jnp.asarray(rng.uniform(0.3, 0.6, (30, 2)).astype(np.float32))
    queries = jnp.asarray(rng.uniform(0.32, 0.58, (500, 2)).astype(np.float32))
    rec = eqx.filter_jit(lambda m, a, b, c: m.reconstruct(a, b, c))
    for c in ([0.05, -0.12], [0.0, 0.0], [-0.2, 0.3]):
        out = rec(giorom, ref, ref + jnp.asarray(c, jnp.float32), queries)
        np.testing.assert_allclose(out, queries + jnp.asarray(c), atol=2e-6)
    # discretisation-agnostic: any number of queries, and a query on a sparse particle follows it: under a
    # non-rigid motion the reconstruction at the sparse particles lies closer to where they moved than to
    # where they were (mean error under half the mean displacement)
    cur = ref + 0.01 * ref[:, ::-1]
    out = rec(giorom, ref, cur, ref)
    assert out.shape == ref.shape
    err = float(jnp.linalg.norm(out - cur, axis=1).mean())
    assert err < 0.5 * float(jnp.linalg.norm(cur - ref, axis=1).mean()), err


def test_bad_inputs(models):
    _, giorom = models
    ref = jnp.asarray(np.random.default_rng(5).uniform(0.3, 0.6, (10, 2)).astype(np.float32))
    with pytest.raises(Exception, match="outside the reconstruction domain"):
        jax.block_until_ready(giorom.reconstruct(ref, ref, jnp.array([[0.5, 0.5], [1.5, 0.5]])))
    with pytest.raises(ValueError, match="non-empty sparse set"):
        giorom.reconstruct(ref[:0], ref[:0], ref)
    with pytest.raises(ValueError, match="radius"):
        ParticleSetup(radius=0.0, bounds=((0.0, 1.0), (0.0, 1.0)), window=2, vel_mean=(0.0, 0.0),
                      vel_std=(1.0, 1.0), acc_mean=(0.0, 0.0), acc_std=(1.0, 1.0))


def test_chamfer_distance():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(50, 2)).astype(np.float32), rng.normal(size=(70, 2)).astype(np.float32)
    d2 = ((a[:, None] - b[None]) ** 2).sum(-1)
    a, b = jnp.asarray(a), jnp.asarray(b)
    np.testing.assert_allclose(chamfer_distance(a, b), d2.min(1).mean() + d2.min(0).mean(), rtol=1e-5)
    np.testing.assert_allclose(chamfer_distance(a, a[::-1]), 0.0, atol=1e-7)
    np.testing.assert_allclose(chamfer_distance(a, b), chamfer_distance(b, a), rtol=1e-6)


def test_constant_velocity_baseline_is_exact_for_uniform_motion_and_stops_at_walls():
    from sciml.giorom import constant_velocity_rollout

    x0 = np.random.default_rng(7).uniform(0.4, 0.5, (20, 2)).astype(np.float32)
    v = np.float32([0.01, -0.02])
    window = np.stack([x0 + k * v for k in range(4)])
    out = constant_velocity_rollout(window, 5, None)
    np.testing.assert_allclose(out, np.stack([x0 + (4 + k) * v for k in range(5)]), atol=1e-6)
    walled = constant_velocity_rollout(window, 50, ((0.0, 1.0), (0.3, 1.0)))
    assert walled[:, :, 1].min() >= 0.3 and np.allclose(walled[-1, :, 1], 0.3)
