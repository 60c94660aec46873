"""Post-norm transformer encoder over one padded sequence (PyTorch `TransformerEncoderLayer` layout)."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from sciml.nn import Linear, MultiHeadAttention
from sciml.nn.dropout import dropout


class EncoderLayer(eqx.Module):
    """x <- LN(x + Drop(SelfAttn(x))); x <- LN(x + Drop(W2 Drop(ReLU(W1 x)))) (post-norm, as torch's default).

    As torch's `TransformerEncoderLayer` (the original's per-path encoder), the attention weights are
    dropped out too, at the same rate, inside SelfAttn.

    Reference: Vaswani et al. 2017, Sec. 3.1; FIM-MJP's per-path encoder ψ1 is 4 such layers
    (docs/references.md FIM.1).
    """

    attention: MultiHeadAttention
    norm1: eqx.nn.LayerNorm
    norm2: eqx.nn.LayerNorm
    ff1: Linear
    ff2: Linear
    dropout: eqx.nn.Dropout

    def __init__(self, dim: int, num_heads: int, ff_dim: int, dropout: float = 0.0, *, key: PRNGKeyArray):
        ka, k1, k2 = jax.random.split(key, 3)
        self.attention = MultiHeadAttention(dim, num_heads, key=ka)
        self.norm1, self.norm2 = eqx.nn.LayerNorm(dim), eqx.nn.LayerNorm(dim)
        self.ff1 = Linear(dim, ff_dim, key=k1)
        self.ff2 = Linear(ff_dim, dim, key=k2)
        self.dropout = eqx.nn.Dropout(dropout)

    def __call__(
        self, x: Float[Array, "L d"], mask: Bool[Array, " L"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, "L d"]:
        keys = [None] * 4 if key is None else list(jax.random.split(key, 4))
        inference = key is None
        drop = lambda y, k: dropout(self.dropout, y, key=k, inference=inference)  # = self.dropout(y, ...)
        attn = self.attention(x, mask=mask[None, :] & mask[:, None], weights_dropout=lambda w: drop(w, keys[3]))
        x = jax.vmap(self.norm1)(x + drop(attn, keys[0]))
        h = jax.nn.relu(self.ff1(x))
        h = self.ff2(drop(h, keys[1]))
        return jax.vmap(self.norm2)(x + drop(h, keys[2]))


class TransformerEncoder(eqx.Module):
    """A stack of post-norm encoder layers over one sequence with a padding mask (True = real token)."""

    layers: tuple[EncoderLayer, ...]

    def __init__(
        self, dim: int, num_layers: int, num_heads: int, ff_dim: int, dropout: float = 0.0, *, key: PRNGKeyArray
    ):
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        keys = jax.random.split(key, num_layers)
        self.layers = tuple(EncoderLayer(dim, num_heads, ff_dim, dropout, key=k) for k in keys)

    def __call__(
        self, x: Float[Array, "L d"], mask: Bool[Array, " L"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, "L d"]:
        keys = [None] * len(self.layers) if key is None else jax.random.split(key, len(self.layers))
        for layer, k in zip(self.layers, keys):
            x = layer(x, mask, key=k)
        # padded tokens attend to nothing and only carry bias terms; zero them for clean pooling
        return jnp.where(mask[:, None], x, 0.0)
