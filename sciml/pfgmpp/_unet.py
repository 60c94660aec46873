"""A small U-Net F(x_in, c_noise) for images (C, H, W): residual blocks, group norm, self-attention
at chosen resolutions (default: the lowest), and a Fourier noise-level embedding.

It follows the layout of EDM's SongUNet (DDPM++/NCSN++ family) at small size: per level `num_blocks`
residual blocks in the encoder and `num_blocks + 1` (with skip concatenation) in the decoder, a middle
pair of blocks with attention, noise embedding added per block. Deviations from the original, for
simplicity at digits scale: plain strided-conv down-sampling and nearest+conv up-sampling (no FIR
filters, no resampling residual blocks, no progressive input/output branches), and no dropout.
Reference: Song et al. 2021 (NCSN++), Karras et al. 2022 (EDM, `training/networks.py`, SongUNet).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray, ScalarLike

from sciml.nn import FourierFeatures, MultiHeadAttention

from ._mlp_denoiser import FOURIER_SCALE

#: EDM scales residual sums by sqrt(1/2) so activations keep their variance through depth.
SKIP_SCALE = 0.5**0.5


def _groups(channels: int) -> int:
    return max(1, min(32, channels // 4))


class SelfAttention2d(eqx.Module):
    """Group-normed multi-head self-attention over the H*W positions of a (C, H, W) map."""

    norm: eqx.nn.GroupNorm
    attn: MultiHeadAttention

    def __init__(self, channels: int, *, key: PRNGKeyArray, channels_per_head: int = 64):
        self.norm = eqx.nn.GroupNorm(_groups(channels), channels)
        self.attn = MultiHeadAttention(channels, max(1, channels // channels_per_head), key=key)

    def __call__(self, x: Float[Array, "c h w"]) -> Float[Array, "c h w"]:
        c, h, w = x.shape
        tokens = self.norm(x).reshape(c, h * w).T
        return self.attn(tokens).T.reshape(c, h, w)


class ResBlock(eqx.Module):
    """GN-SiLU-conv, + per-channel noise embedding, GN-SiLU-conv, 1x1 skip if channels change, attention."""

    norm1: eqx.nn.GroupNorm
    conv1: eqx.nn.Conv2d
    affine: eqx.nn.Linear
    norm2: eqx.nn.GroupNorm
    conv2: eqx.nn.Conv2d
    skip: eqx.nn.Conv2d | None
    attn: SelfAttention2d | None

    def __init__(self, c_in: int, c_out: int, emb_dim: int, *, attention: bool, key: PRNGKeyArray):
        k = jax.random.split(key, 5)
        self.norm1 = eqx.nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = eqx.nn.Conv2d(c_in, c_out, 3, padding=1, key=k[0])
        self.affine = eqx.nn.Linear(emb_dim, c_out, key=k[1])
        self.norm2 = eqx.nn.GroupNorm(_groups(c_out), c_out)
        self.conv2 = eqx.nn.Conv2d(c_out, c_out, 3, padding=1, key=k[2])
        self.skip = eqx.nn.Conv2d(c_in, c_out, 1, key=k[3]) if c_in != c_out else None
        self.attn = SelfAttention2d(c_out, key=k[4]) if attention else None

    def __call__(self, x: Float[Array, "ci h w"], emb: Float[Array, " e"]) -> Float[Array, "co h w"]:
        h = self.conv1(jax.nn.silu(self.norm1(x)))
        h = h + self.affine(emb)[:, None, None]
        h = self.conv2(jax.nn.silu(self.norm2(h)))
        x = (h + (x if self.skip is None else self.skip(x))) * SKIP_SCALE
        if self.attn is not None:
            x = (x + self.attn(x)) * SKIP_SCALE
        return x


class Downsample(eqx.Module):
    """3x3 convolution with stride 2 (halves H and W)."""

    conv: eqx.nn.Conv2d

    def __init__(self, channels: int, *, key: PRNGKeyArray):
        self.conv = eqx.nn.Conv2d(channels, channels, 3, stride=2, padding=1, key=key)

    def __call__(self, x: Float[Array, "c h w"], emb: Float[Array, " e"] | None = None) -> Float[Array, "c h2 w2"]:
        return self.conv(x)


class Upsample(eqx.Module):
    """Nearest-neighbour x2 then a 3x3 convolution."""

    conv: eqx.nn.Conv2d

    def __init__(self, channels: int, *, key: PRNGKeyArray):
        self.conv = eqx.nn.Conv2d(channels, channels, 3, padding=1, key=key)

    def __call__(self, x: Float[Array, "c h w"], emb: Float[Array, " e"] | None = None) -> Float[Array, "c h2 w2"]:
        return self.conv(jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2))


class UNet(eqx.Module):
    """U-Net denoiser for one (C, H, W) image and a scalar c_noise; H = W = `resolution`."""

    map_noise: FourierFeatures
    map_layer0: eqx.nn.Linear
    map_layer1: eqx.nn.Linear
    conv_in: eqx.nn.Conv2d
    enc: tuple[eqx.Module, ...]
    mid: tuple[ResBlock, ResBlock]
    dec: tuple[eqx.Module, ...]
    norm_out: eqx.nn.GroupNorm
    conv_out: eqx.nn.Conv2d
    resolution: int = eqx.field(static=True)

    def __init__(
        self,
        channels: int = 1,
        resolution: int = 8,
        model_channels: int = 32,
        channel_mult: tuple[int, ...] = (1, 2),
        num_blocks: int = 2,
        attn_resolutions: tuple[int, ...] = (),
        *,
        key: PRNGKeyArray,
    ):
        levels = len(channel_mult)
        if levels < 1 or num_blocks < 1:
            raise ValueError(f"need >= 1 level and >= 1 block, got {channel_mult}, {num_blocks}")
        if resolution % 2 ** (levels - 1):
            raise ValueError(f"resolution {resolution} is not divisible by 2^(levels-1) = {2 ** (levels - 1)}")
        lowest = resolution // 2 ** (levels - 1)
        attn_res = set(attn_resolutions) if attn_resolutions else {lowest}
        emb_dim = 4 * model_channels
        keys = iter(jax.random.split(key, 8 + 4 * levels * (2 * num_blocks + 2)))
        self.resolution = resolution
        self.map_noise = FourierFeatures(1, model_channels // 2, FOURIER_SCALE, key=next(keys))
        self.map_layer0 = eqx.nn.Linear(2 * (model_channels // 2), emb_dim, key=next(keys))
        self.map_layer1 = eqx.nn.Linear(emb_dim, emb_dim, key=next(keys))
        self.conv_in = eqx.nn.Conv2d(channels, model_channels, 3, padding=1, key=next(keys))

        enc, skip_ch = [], [model_channels]
        c, res = model_channels, resolution
        for level, mult in enumerate(channel_mult):
            for _ in range(num_blocks):
                enc.append(ResBlock(c, model_channels * mult, emb_dim, attention=res in attn_res, key=next(keys)))
                c = model_channels * mult
                skip_ch.append(c)
            if level < levels - 1:
                enc.append(Downsample(c, key=next(keys)))
                skip_ch.append(c)
                res //= 2
        self.enc = tuple(enc)
        self.mid = (
            ResBlock(c, c, emb_dim, attention=True, key=next(keys)),
            ResBlock(c, c, emb_dim, attention=False, key=next(keys)),
        )
        dec = []
        for level in reversed(range(levels)):
            out = model_channels * channel_mult[level]
            for _ in range(num_blocks + 1):
                dec.append(ResBlock(c + skip_ch.pop(), out, emb_dim, attention=res in attn_res, key=next(keys)))
                c = out
            if level > 0:
                dec.append(Upsample(c, key=next(keys)))
                res *= 2
        self.dec = tuple(dec)
        self.norm_out = eqx.nn.GroupNorm(_groups(c), c)
        conv_out = eqx.nn.Conv2d(c, channels, 3, padding=1, key=next(keys))
        # Zero output layer (as EDM's init_zero): the untrained denoiser is D = c_skip x.
        self.conv_out = eqx.tree_at(lambda m: (m.weight, m.bias), conv_out, replace_fn=jnp.zeros_like)

    def __call__(self, x: Float[Array, "c h w"], c_noise: ScalarLike) -> Float[Array, "c h w"]:
        emb = self.map_noise(jnp.reshape(c_noise, (1,)))
        emb = jax.nn.silu(self.map_layer1(jax.nn.silu(self.map_layer0(emb))))
        h = self.conv_in(x)
        skips = [h]
        for block in self.enc:
            h = block(h, emb)
            skips.append(h)
        for block in self.mid:
            h = block(h, emb)
        for block in self.dec:
            if isinstance(block, ResBlock):
                h = block(jnp.concatenate([h, skips.pop()]), emb)
            else:
                h = block(h, emb)
        return self.conv_out(jax.nn.silu(self.norm_out(h)))
