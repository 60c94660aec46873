"""The SongUNet (NCSN++) port: exact parameter parity, resampling and convolutions against independent
formulations (XLA's grouped and transposed convolutions), dropout only with a key."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.pfgmpp import UNet
from sciml.pfgmpp.unet import RESAMPLE_FILTER, Conv2d, GroupNorm, conv_downsample, downsample, upsample


def _fir2d(channels, gain):
    f = np.asarray(RESAMPLE_FILTER, np.float32)
    f = np.outer(f, f) / f.sum() ** 2 * gain
    return jnp.asarray(np.tile(f[:, :, None, None], (1, 1, 1, channels)))


def _grouped(x, filt, **kw):
    return jax.lax.conv_general_dilated(x[None], filt, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                        feature_group_count=x.shape[-1], **kw)[0]


def test_unet_has_exactly_the_original_songunet_parameter_count():
    # EDM's SongUNet, ncsnpp arch, 16x16x1, 32 channels, mult [1,2,2], 2 blocks, attention at 8x8:
    # 1,775,905 parameters (counted by torch on the original); our Fourier frequencies are a frozen
    # array of the model (a buffer there), hence + 32.
    net = eqx.filter_eval_shape(lambda: UNet(1, 16, 32, (1, 2, 2), 2, (8,), key=jax.random.PRNGKey(0)))
    total = sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(net) if hasattr(x, "shape"))
    assert total - net.map_noise.B.size == 1_775_905
    assert net.map_noise.B.size == 32
    # Attention where the original has it: both encoder blocks at 8x8, the first lowest-level block,
    # and the last decoder block at 8x8.
    assert [b.attn is not None for b in net.enc] == [False, False, False, True, True, False, False, False]
    assert net.mid[0].attn is not None and net.mid[1].attn is None
    assert sum(b.attn is not None for b in net.dec) == 1


def test_downsample_equals_the_strided_grouped_fir_convolution():
    x = jax.random.normal(jax.random.PRNGKey(0), (16, 16, 5))
    ref = _grouped(x, _fir2d(5, 1.0), window_strides=(2, 2), padding=((1, 1), (1, 1)))
    np.testing.assert_allclose(downsample(x), ref, atol=1e-6)
    ref0 = _grouped(x, _fir2d(5, 1.0), window_strides=(2, 2), padding=((0, 0), (0, 0)))
    np.testing.assert_allclose(downsample(x, padding=0), ref0, atol=1e-6)


def test_residual_branch_is_the_fused_pad2_conv_then_unpadded_fir():
    # The original's fused_resample down path: conv2d(x, w, padding=w_pad + f_pad) then the FIR at stride 2.
    conv = Conv2d(3, 4, 3, key=jax.random.PRNGKey(4))
    x = jax.random.normal(jax.random.PRNGKey(5), (16, 16, 3)) + 1.0
    full = jax.lax.conv_general_dilated(x[None], conv.weight, (1, 1), ((2, 2), (2, 2)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))[0] + conv.bias
    ref = _grouped(full, _fir2d(4, 1.0), window_strides=(2, 2), padding=((0, 0), (0, 0)))
    np.testing.assert_allclose(conv_downsample(conv, x), ref, rtol=1e-5, atol=1e-5)


def test_upsample_equals_the_transposed_fir_convolution():
    # torch's conv_transpose2d(stride 2, padding 1) with the 4x4 filter = a convolution of the
    # zero-stuffed input padded by 4 - 1 - 1 = 2 (the filter is symmetric, so no flip is needed).
    x = jax.random.normal(jax.random.PRNGKey(1), (8, 8, 3))
    ref = _grouped(x, _fir2d(3, 4.0), window_strides=(1, 1), padding=((2, 2), (2, 2)), lhs_dilation=(2, 2))
    np.testing.assert_allclose(upsample(x), ref, atol=1e-6)
    assert upsample(x).shape == (16, 16, 3)


def test_conv_and_groupnorm_match_reference_formulas():
    key = jax.random.PRNGKey(2)
    conv = Conv2d(4, 6, 3, key=key)
    conv = eqx.tree_at(lambda c: c.bias, conv, jnp.arange(6.0))
    x = jax.random.normal(key, (5, 7, 4))
    xp = np.pad(np.asarray(x), ((1, 1), (1, 1), (0, 0)))
    w = np.asarray(conv.weight)
    ref = sum(xp[i : i + 5, j : j + 7] @ w[i, j] for i in range(3) for j in range(3)) + np.arange(6.0)
    np.testing.assert_allclose(conv(x), ref, rtol=1e-5, atol=1e-5)
    gn = GroupNorm(8)
    y = jax.random.normal(key, (4, 4, 8)) * 3 + 1
    g = np.asarray(y).reshape(16, 2, 4)
    ref = (g - g.mean((0, 2), keepdims=True)) / np.sqrt(g.var((0, 2), keepdims=True) + 1e-6)
    np.testing.assert_allclose(gn(y), ref.reshape(4, 4, 8), atol=1e-5)


def test_dropout_only_with_a_key_and_changes_the_output():
    # Shift every weight so that the near-zero initial block outputs do not hide the dropout.
    def shifted(p):
        net = UNet(1, 8, 8, (1, 2), 1, (), p, key=jax.random.PRNGKey(0))
        return jax.tree_util.tree_map(lambda a: a + 0.05 if eqx.is_inexact_array(a) else a, net)

    net, plain = shifted(0.5), shifted(0.0)
    x = jax.random.normal(jax.random.PRNGKey(3), (1, 8, 8))
    np.testing.assert_array_equal(net(x, 0.3), net(x, 0.3))  # evaluation: deterministic
    a, b = net(x, 0.3, key=jax.random.PRNGKey(1)), net(x, 0.3, key=jax.random.PRNGKey(2))
    assert float(jnp.abs(a - b).max()) > 1e-3
    np.testing.assert_array_equal(plain(x, 0.3, key=jax.random.PRNGKey(1)), plain(x, 0.3))
    with pytest.raises(ValueError, match="dropout"):
        UNet(1, 8, 8, (1, 2), 1, (), 1.0, key=jax.random.PRNGKey(0))


def test_group_norm_by_channel_sums_matches_the_grouped_formula_with_its_gradients():
    gn = GroupNorm(32)  # 8 groups of 4 channels
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(5), 3)
    gn = eqx.tree_at(lambda m: (m.weight, m.bias), gn, (jax.random.normal(k1, (32,)), jax.random.normal(k2, (32,))))
    x = jax.random.normal(k3, (6, 5, 32)) * 2 + 0.5

    def grouped(x):
        g = x.reshape(30, 8, 4)
        mean = g.mean((0, 2), keepdims=True)
        var = jnp.mean(jnp.square(g - mean), (0, 2), keepdims=True)
        return ((g - mean) / jnp.sqrt(var + 1e-6)).reshape(6, 5, 32) * gn.weight + gn.bias

    np.testing.assert_allclose(gn(x), grouped(x), rtol=1e-5, atol=1e-5)
    loss = lambda f: jax.grad(lambda x: jnp.sum(jnp.sin(f(x))))(x)  # noqa: E731
    np.testing.assert_allclose(loss(gn), loss(grouped), rtol=1e-4, atol=1e-5)
