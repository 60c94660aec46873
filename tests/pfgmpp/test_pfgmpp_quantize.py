"""Post-training weight quantisation: error bound, levels, round trip, which leaves are touched."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.pfgmpp import EDMPrecond, UNet, host_init, quantise_array, quantise_weights, quantised_names


@pytest.mark.parametrize("bits", [2, 4, 5, 8])
def test_error_bound_and_levels(bits):
    w = jax.random.normal(jax.random.PRNGKey(bits), (64, 33)) * 0.2
    q = quantise_array(w, bits)
    lo, hi = float(w.min()), float(w.max())
    step = (hi - lo) / (2**bits - 1)
    assert float(jnp.abs(q - w).max()) <= step / 2 * (1 + 1e-4) + 1e-7
    assert len(np.unique(np.asarray(q))) <= 2**bits
    assert float(q.min()) == pytest.approx(lo, abs=1e-6) and float(q.max()) == pytest.approx(hi, abs=1e-6)
    # Quantising again changes nothing (up to float rounding of the grid).
    np.testing.assert_allclose(quantise_array(q, bits), q, atol=1e-6)


def test_high_bits_round_trip_and_low_bits_change():
    w = jax.random.uniform(jax.random.PRNGKey(0), (1000,), minval=-1, maxval=1)
    np.testing.assert_allclose(quantise_array(w, 20), w, atol=2e-6)
    # Values already on a b-bit grid come back unchanged.
    grid = -1 + 2 * jnp.arange(16.0) / 15
    np.testing.assert_allclose(quantise_array(grid, 4), grid, atol=1e-6)
    assert float(jnp.abs(quantise_array(w, 3) - w).mean()) > 0.02
    const = jnp.full((5,), 0.3)
    np.testing.assert_array_equal(quantise_array(const, 4), const)
    for bad in (0, -2):
        with pytest.raises(ValueError, match="bits"):
            quantise_array(w, bad)


def test_quantise_weights_touches_only_weights():
    model = EDMPrecond(host_init(lambda k: UNet(1, 8, 16, (1, 2), 1, key=k), key=jax.random.PRNGKey(0)))
    names = quantised_names(model)
    assert names and all(n.endswith("weight") for n in names)
    assert not any("norm" in n or "map" in n or "affine" in n for n in names)
    assert any("attn" in n for n in names) and any("conv_in" in n for n in names)
    assert quantise_weights(model, None) is model
    q = quantise_weights(model, 4)
    before = {jax.tree_util.keystr(p): v for p, v in jax.tree_util.tree_leaves_with_path(model)}
    after = {jax.tree_util.keystr(p): v for p, v in jax.tree_util.tree_leaves_with_path(q)}
    changed = {k for k in before if not np.array_equal(np.asarray(before[k]), np.asarray(after[k]))}
    assert changed and all(k.endswith(".weight") for k in changed)
    assert all("norm" not in k and "map" not in k for k in changed)
    x = jnp.ones((1, 8, 8))
    assert eqx.filter_jit(lambda m, x: m(x, 1.0))(q, x).shape == (1, 8, 8)
