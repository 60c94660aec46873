"""EDM's SongUNet in its NCSN++ configuration, F(x_in, c_noise) for one (C, H, W) image.

The layout is the original's (`training/networks.py`, SongUNet with `embedding_type="fourier"`,
`encoder_type="residual"`, `decoder_type="standard"`, `resample_filter=[1, 3, 3, 1]`, as its `--arch=ncsnpp`
sets them): a Fourier noise embedding of 2 x `model_channels` features and a 2-layer SiLU map to
4 x `model_channels`; per level `num_blocks` residual blocks in the encoder, a down-sampling block
between levels (FIR [1, 3, 3, 1] resampling, 1x1 resampling skip) plus the input image's residual
branch; at the lowest level two blocks (the first with attention); per level `num_blocks + 1` decoder
blocks on skip concatenations (attention in the last block of a level listed in `attn_resolutions`)
after an up-sampling block; group norm (eps 1e-6), single-head attention, residual sums scaled by
sqrt(1/2), xavier-uniform initialisation with the original's gains (zero-like 1e-5 for the last
convolution of each block and for the output, sqrt(0.2) for q/k/v). Dropout before each block's
second convolution is active when a `key` is given. With `channels=32, channel_mult=(1, 2, 2),
num_blocks=2, attn_resolutions=(8,)` on 16x16 images it has the original's 1,775,905 trainable
parameters (+ 32 frozen Fourier frequencies).

Activations are kept channels-last (H, W, C) inside the network: XLA:CPU's convolutions want NHWC, so
an NCHW network pays a transpose around every convolution (about a fifth of the step; see
benchmarks/README.md). Input and output stay (C, H, W).
Reference: Song et al. 2021 (NCSN++, App. H), Karras et al. 2022 (EDM, App. F.2 and `SongUNet`).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray, ScalarLike

from sciml.nn import FourierFeatures, Linear
from sciml.nn.dropout import inverted_dropout
from sciml.pfgmpp.mlp_denoiser import FOURIER_SCALE

#: EDM scales residual sums by sqrt(1/2) so activations keep their variance through depth.
SKIP_SCALE = 0.5**0.5
#: NCSN++'s resampling filter (outer product with itself, normalised to sum 1).
RESAMPLE_FILTER = (1.0, 3.0, 3.0, 1.0)
#: Initial-weight gains of the original: block outputs start near zero, attention projections small.
ZERO_GAIN, ATTN_GAIN = 1e-5, math.sqrt(0.2)
GROUPNORM_EPS = 1e-6


def _groups(channels: int) -> int:
    return max(1, min(32, channels // 4))


def _xavier(key, shape, fan_in, fan_out, gain):
    bound = gain * math.sqrt(6 / (fan_in + fan_out))
    return jax.random.uniform(key, shape, minval=-bound, maxval=bound)


def _fir_down_axis(x: Array, axis: int, pad: int) -> Array:
    """out[m] = (x[2m-p] + 3 x[2m+1-p] + 3 x[2m+2-p] + x[2m+3-p]) / 8 along `axis`, zero outside."""
    widths = [(0, 0)] * x.ndim
    widths[axis] = (pad, pad)
    xp = jnp.pad(x, widths)
    n = (xp.shape[axis] - 4) // 2 + 1
    taps = [jax.lax.slice_in_dim(xp, k, k + 2 * n - 1, 2, axis) for k in range(4)]
    f = [t / sum(RESAMPLE_FILTER) for t in RESAMPLE_FILTER]
    return sum(w * t for w, t in zip(f, taps))


def _fir_up_axis(x: Array, axis: int) -> Array:
    """Transposed FIR at stride 2, gain 2: out[2m] = (x[m-1] + 3 x[m]) / 4, out[2m+1] = (3 x[m] + x[m+1]) / 4."""
    n = x.shape[axis]
    zero = jnp.zeros_like(jax.lax.slice_in_dim(x, 0, 1, axis=axis))
    prev = jnp.concatenate([zero, jax.lax.slice_in_dim(x, 0, n - 1, axis=axis)], axis)
    nxt = jnp.concatenate([jax.lax.slice_in_dim(x, 1, n, axis=axis), zero], axis)
    a, b = RESAMPLE_FILTER[0] / 4, RESAMPLE_FILTER[1] / 4
    out = jnp.stack([b * x + a * prev, b * x + a * nxt], axis=axis + 1)
    return out.reshape(x.shape[:axis] + (2 * n,) + x.shape[axis + 1 :])


def downsample(x: Float[Array, "h w c"], padding: int = 1) -> Float[Array, "h2 w2 c"]:
    """FIR [1,3,3,1] low-pass and stride 2 (the original's `down=True` resampling, a depthwise 4x4
    convolution there). The filter is separable and fixed, so it is written as strided slices: as
    grouped convolutions, XLA:CPU spent more on it and its gradient than on the rest of the step."""
    return _fir_down_axis(_fir_down_axis(x, 0, padding), 1, padding)


def upsample(x: Float[Array, "h w c"]) -> Float[Array, "h2 w2 c"]:
    """Stride-2 transposed FIR [1,3,3,1] x4 (the original's `up=True` resampling), as interleaved sums."""
    return _fir_up_axis(_fir_up_axis(x, 0), 1)


class Conv2d(eqx.Module):
    """A k x k convolution of one (H, W, C) map, 'same' padding, HWIO weights, xavier-uniform init."""

    weight: Float[Array, "k k i o"]
    bias: Float[Array, " o"]

    def __init__(self, c_in: int, c_out: int, kernel: int, *, gain: float = 1.0, key: PRNGKeyArray):
        fan_in, fan_out = c_in * kernel * kernel, c_out * kernel * kernel
        self.weight = _xavier(key, (kernel, kernel, c_in, c_out), fan_in, fan_out, gain)
        self.bias = jnp.zeros(c_out)

    def __call__(self, x: Float[Array, "h w i"], *, padding: int | None = None) -> Float[Array, "h2 w2 o"]:
        p = self.weight.shape[0] // 2 if padding is None else padding
        y = jax.lax.conv_general_dilated(x[None], self.weight.astype(x.dtype), (1, 1), ((p, p), (p, p)),
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))[0]
        return y + self.bias.astype(x.dtype)


def conv_downsample(conv: "Conv2d", x: Float[Array, "h w i"]) -> Float[Array, "h2 w2 o"]:
    """The original's fused down-sampling convolution: the conv padded by k // 2 + 1, then the FIR at
    stride 2 without padding (not the same as 'same' conv then `downsample` at the border).

    The extra ring of zeros is padded explicitly and the conv itself pads 'same': with a padding wider
    than k // 2, XLA:CPU computes the weight gradient as a slow generic convolution (about an eighth of
    the U-Net step on 16x16 images; benchmarks/README.md, "U-Net")."""
    x = jnp.pad(x, ((1, 1), (1, 1), (0, 0)))
    return downsample(conv(x), padding=0)


class GroupNorm(eqx.Module):
    """Group normalisation of one (H, W, C) map with a learned per-channel scale and shift."""

    weight: Float[Array, " c"]
    bias: Float[Array, " c"]
    groups: int = eqx.field(static=True)

    def __init__(self, channels: int):
        self.weight, self.bias = jnp.ones(channels), jnp.zeros(channels)
        self.groups = _groups(channels)

    def __call__(self, x: Float[Array, "h w c"]) -> Float[Array, "h w c"]:
        h, w, c = x.shape
        # Sums over the map per channel, then per group by a product with the channels-to-groups
        # indicator: XLA:CPU ran the grouped reduction over (h w, c / g) as YNNPACK reductions and
        # transposes that cost more than the convolutions (benchmarks/README.md, "U-Net").
        member = jnp.repeat(jnp.eye(self.groups, dtype=x.dtype), c // self.groups, axis=0)  # [c, g]
        n = h * w * (c // self.groups)
        group_mean = lambda v: (v.sum(axis=(0, 1)) @ member) / n  # noqa: E731  [g]
        mean = member @ group_mean(x)  # back to channels [c]
        centred = x - mean
        var = member @ group_mean(jnp.square(centred))
        return centred * jax.lax.rsqrt(var + GROUPNORM_EPS) * self.weight + self.bias


def _linear(c_in: int, c_out: int, key: PRNGKeyArray) -> Linear:
    k_layer, k_weight = jax.random.split(key)
    layer = Linear(c_in, c_out, key=k_layer)
    weight = _xavier(k_weight, (c_out, c_in), c_in, c_out, 1.0)
    return eqx.tree_at(lambda m: (m.weight, m.bias), layer, (weight, jnp.zeros(c_out)))


class SelfAttention(eqx.Module):
    """Single-head self-attention over the H*W positions (the original's num_heads=1), with its own norm."""

    norm: GroupNorm
    qkv: Conv2d
    proj: Conv2d

    def __init__(self, channels: int, *, key: PRNGKeyArray):
        kq, kp = jax.random.split(key)
        self.norm = GroupNorm(channels)
        self.qkv = Conv2d(channels, 3 * channels, 1, gain=ATTN_GAIN, key=kq)
        self.proj = Conv2d(channels, channels, 1, gain=ZERO_GAIN, key=kp)

    def __call__(self, x: Float[Array, "h w c"]) -> Float[Array, "h w c"]:
        hh, ww, c = x.shape
        q, k, v = jnp.moveaxis(self.qkv(self.norm(x)).reshape(hh * ww, c, 3), -1, 0)
        w = jax.nn.softmax((q @ k.T) / math.sqrt(c), axis=-1)
        return self.proj((w @ v).reshape(hh, ww, c))


class UNetBlock(eqx.Module):
    """GN-SiLU-conv (optionally resampling), + noise embedding, GN-SiLU-dropout-conv, skip, attention."""

    norm0: GroupNorm
    conv0: Conv2d
    affine: Linear
    norm1: GroupNorm
    conv1: Conv2d
    skip: Conv2d | None
    attn: SelfAttention | None
    resample: str = eqx.field(static=True)  # "", "up" or "down"
    dropout: float = eqx.field(static=True)

    def __init__(self, c_in: int, c_out: int, emb_dim: int, *, attention: bool = False, resample: str = "",
                 dropout: float = 0.0, key: PRNGKeyArray):
        k = jax.random.split(key, 5)
        self.norm0 = GroupNorm(c_in)
        self.conv0 = Conv2d(c_in, c_out, 3, key=k[0])
        self.affine = _linear(emb_dim, c_out, k[1])
        self.norm1 = GroupNorm(c_out)
        self.conv1 = Conv2d(c_out, c_out, 3, gain=ZERO_GAIN, key=k[2])
        self.skip = Conv2d(c_in, c_out, 1, key=k[3]) if c_in != c_out or resample else None
        self.attn = SelfAttention(c_out, key=k[4]) if attention else None
        self.resample, self.dropout = resample, dropout

    def _resample(self, x):
        return downsample(x) if self.resample == "down" else upsample(x) if self.resample == "up" else x

    def __call__(self, x: Float[Array, "h w ci"], emb: Float[Array, " e"], *, key: PRNGKeyArray | None = None):
        h = self.conv0(self._resample(jax.nn.silu(self.norm0(x))))
        h = jax.nn.silu(self.norm1(h + self.affine(emb).astype(h.dtype)))
        if key is not None and self.dropout > 0:
            h = inverted_dropout(h, self.dropout, key)  # jax.random.bernoulli's mask, drawn faster on CPU
        h = self.conv1(h)
        x = (h + (self._resample(x) if self.skip is None else self.skip(self._resample(x)))) * SKIP_SCALE
        if self.attn is not None:
            x = (self.attn(x) + x) * SKIP_SCALE
        return x


class UNet(eqx.Module):
    """SongUNet (NCSN++ configuration) for one (C, H, W) image and a scalar c_noise; H = W = `resolution`."""

    map_noise: FourierFeatures
    map_layer0: Linear
    map_layer1: Linear
    conv_in: Conv2d
    enc: tuple[UNetBlock, ...]
    enc_aux: tuple[Conv2d, ...]
    mid: tuple[UNetBlock, UNetBlock]
    dec: tuple[UNetBlock, ...]
    norm_out: GroupNorm
    conv_out: Conv2d
    resolution: int = eqx.field(static=True)

    def __init__(
        self,
        channels: int = 1,
        resolution: int = 8,
        model_channels: int = 32,
        channel_mult: tuple[int, ...] = (1, 2),
        num_blocks: int = 2,
        attn_resolutions: tuple[int, ...] = (),
        dropout: float = 0.0,
        *,
        key: PRNGKeyArray,
    ):
        levels = len(channel_mult)
        if levels < 1 or num_blocks < 1:
            raise ValueError(f"need >= 1 level and >= 1 block, got {channel_mult}, {num_blocks}")
        if resolution % 2 ** (levels - 1):
            raise ValueError(f"resolution {resolution} is not divisible by 2^(levels-1) = {2 ** (levels - 1)}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        lowest = resolution // 2 ** (levels - 1)
        attn_res = set(attn_resolutions) if attn_resolutions else {lowest}
        emb_dim, noise_dim = 4 * model_channels, 2 * model_channels
        keys = iter(jax.random.split(key, 8 + 4 * levels * (2 * num_blocks + 4)))
        block = dict(emb_dim=emb_dim, dropout=dropout)
        self.resolution = resolution
        self.map_noise = FourierFeatures(1, noise_dim // 2, FOURIER_SCALE, key=next(keys))
        self.map_layer0 = _linear(noise_dim, emb_dim, next(keys))
        self.map_layer1 = _linear(emb_dim, emb_dim, next(keys))
        self.conv_in = Conv2d(channels, model_channels, 3, key=next(keys))

        enc, aux, skip_ch = [], [], [model_channels]
        c, c_aux, res = model_channels, channels, resolution
        for level, mult in enumerate(channel_mult):
            if level > 0:
                res //= 2
                enc.append(UNetBlock(c, c, resample="down", key=next(keys), **block))
                aux.append(Conv2d(c_aux, c, 3, key=next(keys)))  # the input's residual branch, fused down
                c_aux = c
                skip_ch.append(c)
            for _ in range(num_blocks):
                enc.append(UNetBlock(c, model_channels * mult, attention=res in attn_res, key=next(keys), **block))
                c = model_channels * mult
                skip_ch.append(c)
        self.enc, self.enc_aux = tuple(enc), tuple(aux)
        self.mid = (UNetBlock(c, c, attention=True, key=next(keys), **block), UNetBlock(c, c, key=next(keys), **block))
        dec = []
        for level in reversed(range(levels)):
            if level < levels - 1:
                res *= 2
                dec.append(UNetBlock(c, c, resample="up", key=next(keys), **block))
            out = model_channels * channel_mult[level]
            for i in range(num_blocks + 1):
                attention = i == num_blocks and res in attn_res
                dec.append(UNetBlock(c + skip_ch.pop(), out, attention=attention, key=next(keys), **block))
                c = out
        self.dec = tuple(dec)
        self.norm_out = GroupNorm(c)
        self.conv_out = Conv2d(c, channels, 3, gain=ZERO_GAIN, key=next(keys))

    def __call__(self, x: Float[Array, "c h w"], c_noise: ScalarLike, *, key: PRNGKeyArray | None = None
                 ) -> Float[Array, "c h w"]:
        blocks = len(self.enc) + len(self.mid) + len(self.dec)
        keys = iter(jax.random.split(key, blocks)) if key is not None else iter([None] * blocks)
        emb = self.map_noise(jnp.reshape(c_noise, (1,)))
        emb = jax.nn.silu(self.map_layer1(jax.nn.silu(self.map_layer0(emb.astype(x.dtype)))))
        x = jnp.moveaxis(x, 0, -1)
        aux = x
        h = self.conv_in(x)
        skips, downs = [h], iter(self.enc_aux)
        for blk in self.enc:
            h = blk(h, emb, key=next(keys))
            if blk.resample == "down":
                # NCSN++'s residual encoder: x = aux = (x + conv_down(aux)) / sqrt(2).
                aux = h = (h + conv_downsample(next(downs), aux)) * SKIP_SCALE
            skips.append(h)
        for blk in self.mid:
            h = blk(h, emb, key=next(keys))
        for blk in self.dec:
            if blk.resample != "up":
                h = jnp.concatenate([h, skips.pop()], axis=-1)
            h = blk(h, emb, key=next(keys))
        return jnp.moveaxis(self.conv_out(jax.nn.silu(self.norm_out(h))), -1, 0)
