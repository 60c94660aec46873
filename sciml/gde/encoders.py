"""Distributionally invariant set encoders: a set of points [n, d] -> a latent vector [latent].

An encoder of a *distribution* must give the same latent for any set that describes the same
empirical measure: it must be invariant to permuting the points and to duplicating every point. So
every set-level interaction here is a mean (or a softmax attention, whose weights renormalise over
duplicates), never a sum or a max.

- `DeepSetsEncoder`: per-point MLP, then `MeanPooledBlock`s (an MLP on [h_i, mean_j h_j]), then a
  mean pool, a linear layer and SELU (the original's `DistributionEncoderGNN`; it is not a graph net).
- `ResNetEncoder`: the same blocks with residual connections, skip projections of the raw input into
  every block and LayerNorm (the original's `DistributionEncoderResNet`).
- `AttentionEncoder`: self-attention blocks (residual + LayerNorm), then attention pooling with one
  learnable query (PMA), a linear layer and SELU.
- Baselines: `MeanEncoder` (a linear map of the sample mean) and `KMEEncoder` (kernel mean embedding
  with random Fourier features: fixed frequencies, learnable bandwidth).

Reference: Fishman et al. 2025, "Generative Distribution Embeddings", Sec. 3 (distributional
invariance) and App. (encoder architectures); Zaheer et al. 2017 (Deep Sets); Lee et al. 2019 (Set
Transformer, PMA); Rahimi & Recht 2007 (random Fourier features).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from sciml.nn import MLP, AttentionPool, MultiHeadAttention, mean_pool

#: Names accepted by `make_encoder`.
ENCODERS = ("deepsets", "resnet", "attention", "mean", "kme")


def check_set(x: Array, dim: int) -> None:
    """Static checks of one set [n, d]: a distribution needs >= 2 points and the encoder's dimension."""
    if x.ndim != 2:
        raise ValueError(f"a set must have shape [n, d], got shape {x.shape}")
    if x.shape[0] < 2:
        raise ValueError(f"a set must hold at least 2 points to describe a distribution, got {x.shape[0]}")
    if x.shape[1] != dim:
        raise ValueError(f"set points have dimension {x.shape[1]}, but the encoder expects {dim}")


class MeanPooledBlock(eqx.Module):
    """h_i -> MLP([h_i, mean_j h_j]): each point sees the set's mean feature (permutation-equivariant,
    duplication-equivariant)."""

    mlp: MLP

    def __init__(self, width: int, depth: int, *, key: PRNGKeyArray):
        self.mlp = MLP(2 * width, width, width, depth, act="selu", key=key)

    def __call__(self, h: Float[Array, "n w"]) -> Float[Array, "n w"]:
        # The first layer split by input block, W [h_i; m] = W_h h_i + W_m m: the pooled block is the
        # same for every point, so it is multiplied once per set, not once per point (same parameters
        # and, up to float rounding, the same result as the concatenated form).
        first = self.mlp.layers[0]
        w = h.shape[-1]
        pre = h @ first.weight[:, :w].T + (mean_pool(h) @ first.weight[:, w:].T + first.bias)
        return jax.vmap(self.mlp.after_first_layer)(pre)


class DeepSetsEncoder(eqx.Module):
    """Per-point MLP, `layers` mean-pooled blocks, mean pool, Linear, SELU."""

    embed: MLP
    blocks: tuple[MeanPooledBlock, ...]
    head: eqx.nn.Linear
    dim: int = eqx.field(static=True)

    def __init__(self, dim: int, latent: int, hidden: int, layers: int = 2, fc_layers: int = 2, *, key):
        keys = jax.random.split(key, layers + 2)
        self.embed = MLP(dim, hidden, hidden, fc_layers, act="selu", key=keys[0])
        self.blocks = tuple(MeanPooledBlock(hidden, fc_layers, key=k) for k in keys[1:-1])
        self.head = eqx.nn.Linear(hidden, latent, key=keys[-1])
        self.dim = dim

    def __call__(self, x: Float[Array, "n d"]) -> Float[Array, " latent"]:
        check_set(x, self.dim)
        h = jax.vmap(self.embed)(x)
        for block in self.blocks:
            h = block(h)
        return jax.nn.selu(self.head(mean_pool(h)))


class ResNetEncoder(eqx.Module):
    """Mean-pooled blocks with residuals, raw-input skip projections and LayerNorm, then mean pool,
    Linear, SELU."""

    embed: MLP
    blocks: tuple[MeanPooledBlock, ...]
    skips: tuple[eqx.nn.Linear, ...]
    norms: tuple[eqx.nn.LayerNorm, ...]
    head: eqx.nn.Linear
    dim: int = eqx.field(static=True)

    def __init__(self, dim: int, latent: int, hidden: int, layers: int = 2, fc_layers: int = 2, *, key):
        keys = jax.random.split(key, 2 * layers + 3)
        self.embed = MLP(dim, hidden, hidden, fc_layers, act="selu", key=keys[0])
        self.blocks = tuple(MeanPooledBlock(hidden, fc_layers, key=k) for k in keys[1 : layers + 1])
        # One skip projection of the raw points for the input layer and one per block keeps the
        # coordinates themselves visible to every block.
        self.skips = tuple(eqx.nn.Linear(dim, hidden, key=k) for k in keys[layers + 1 : 2 * layers + 2])
        self.norms = tuple(eqx.nn.LayerNorm(hidden) for _ in range(layers + 1))
        self.head = eqx.nn.Linear(hidden, latent, key=keys[-1])
        self.dim = dim

    def __call__(self, x: Float[Array, "n d"]) -> Float[Array, " latent"]:
        check_set(x, self.dim)
        ln = lambda norm, h: jax.vmap(norm)(h)
        h = ln(self.norms[0], jax.vmap(self.embed)(x) + jax.vmap(self.skips[0])(x))
        for block, skip, norm in zip(self.blocks, self.skips[1:], self.norms[1:], strict=True):
            h = ln(norm, block(h) + h + jax.vmap(skip)(x))
        return jax.nn.selu(self.head(mean_pool(h)))


class AttentionEncoder(eqx.Module):
    """Linear + SELU embedding, `layers` self-attention blocks (residual + LayerNorm), attention
    pooling with one query, Linear, SELU. Softmax weights renormalise over duplicated points, so the
    encoder is distributionally invariant."""

    embed: eqx.nn.Linear
    attn: tuple[MultiHeadAttention, ...]
    norms: tuple[eqx.nn.LayerNorm, ...]
    pool: AttentionPool
    head: eqx.nn.Linear
    dim: int = eqx.field(static=True)

    def __init__(self, dim: int, latent: int, hidden: int, layers: int = 2, heads: int = 4, *, key):
        keys = jax.random.split(key, layers + 3)
        self.embed = eqx.nn.Linear(dim, hidden, key=keys[0])
        self.attn = tuple(MultiHeadAttention(hidden, heads, key=k) for k in keys[1 : layers + 1])
        self.norms = tuple(eqx.nn.LayerNorm(hidden) for _ in range(layers))
        self.pool = AttentionPool(hidden, heads, 1, key=keys[-2])
        self.head = eqx.nn.Linear(hidden, latent, key=keys[-1])
        self.dim = dim

    def __call__(self, x: Float[Array, "n d"]) -> Float[Array, " latent"]:
        check_set(x, self.dim)
        h = jax.nn.selu(jax.vmap(self.embed)(x))
        for attn, norm in zip(self.attn, self.norms, strict=True):
            h = jax.vmap(norm)(h + attn(h))
        return jax.nn.selu(self.head(self.pool(h)[0]))


class MeanEncoder(eqx.Module):
    """Baseline: a linear map of the sample mean. It cannot see the covariance."""

    proj: eqx.nn.Linear
    dim: int = eqx.field(static=True)

    def __init__(self, dim: int, latent: int, *, key: PRNGKeyArray):
        self.proj = eqx.nn.Linear(dim, latent, key=key)
        self.dim = dim

    def __call__(self, x: Float[Array, "n d"]) -> Float[Array, " latent"]:
        check_set(x, self.dim)
        return self.proj(mean_pool(x))


class KMEEncoder(eqx.Module):
    """Baseline: kernel mean embedding, mean_i [cos(x_i W / s), sin(x_i W / s)] with W ~ N(0, I) fixed
    and a learnable bandwidth s (the latent is `latent` = 2 x number of frequencies).

    Unlike the original (which redraws W on every call unless seeded), W is a stored, frozen array.
    """

    freqs: Float[Array, "d m"]
    log_bandwidth: Float[Array, ""]
    dim: int = eqx.field(static=True)

    def __init__(self, dim: int, latent: int, bandwidth: float = 1.0, *, key: PRNGKeyArray):
        if latent % 2:
            raise ValueError(f"the KME latent holds cos and sin features, so it must be even, got {latent}")
        if bandwidth <= 0:
            raise ValueError(f"KME bandwidth must be > 0, got {bandwidth}")
        self.freqs = jax.random.normal(key, (dim, latent // 2))
        self.log_bandwidth = jnp.log(jnp.asarray(bandwidth, jnp.float32))
        self.dim = dim

    def __call__(self, x: Float[Array, "n d"]) -> Float[Array, " latent"]:
        check_set(x, self.dim)
        proj = x @ jax.lax.stop_gradient(self.freqs) / jnp.exp(self.log_bandwidth)
        return mean_pool(jnp.concatenate([jnp.cos(proj), jnp.sin(proj)], axis=-1))


def make_encoder(
    name: str,
    dim: int,
    latent: int,
    hidden: int = 64,
    layers: int = 2,
    fc_layers: int = 2,
    heads: int = 4,
    bandwidth: float = 1.0,
    *,
    key: PRNGKeyArray,
) -> eqx.Module:
    """Build an encoder by name (one of `ENCODERS`)."""
    if name == "deepsets":
        return DeepSetsEncoder(dim, latent, hidden, layers, fc_layers, key=key)
    if name == "resnet":
        return ResNetEncoder(dim, latent, hidden, layers, fc_layers, key=key)
    if name == "attention":
        return AttentionEncoder(dim, latent, hidden, layers, heads, key=key)
    if name == "mean":
        return MeanEncoder(dim, latent, key=key)
    if name == "kme":
        return KMEEncoder(dim, latent, bandwidth, key=key)
    raise ValueError(f"unknown encoder {name!r}; valid: {list(ENCODERS)}")
