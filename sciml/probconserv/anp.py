"""Attentive neural process (ANP): the probabilistic base model that ProbConserv corrects.

Written for one function (a context set and a query set); `jax.vmap` it over a batch of functions.
The architecture follows the original ProbConserv code, so at `hidden=128` the parameter count is the
original's 989,826:

- attention block: 4-head attention with bias-free query/key/value projections, then
  [query, attention] -> Linear(2h -> h) -> + query -> LayerNorm;
- latent path: Linear([x, y] -> h), 2 self-attention blocks, mean pool, ReLU-Linear(h -> h), then the
  mean and the *log-variance* of z (dimension h);
- deterministic path: Linear([x, y] -> h), 2 self-attention blocks over the contexts, then 2
  cross-attention blocks whose query is Linear(x_target) and key is Linear(x_context);
- decoder: [r, z, Linear(x_target)] -> 3 x (Linear(3h -> 3h) + ReLU) -> mean and std = softplus + 1e-3.

Deviations from the original: dropout is off by default (`dropout=0.0`; the original drops out the
attention weights and each attention block's output at 0.1, which only adds noise at our scale), and when
on, the SoftC penalty's decoder runs without it; the inputs (t, x) are mapped affinely to [0, 1]^2 inside
the model (`input_range`), because the Stefan time axis spans only [0, 0.1]; derivatives with respect to
the physical (t, x) (SoftC) are unaffected since the scaling is part of the differentiated function.

Reference: Kim et al., "Attentive Neural Processes", ICLR 2019 (Sec. 3, Fig. 2); Hansen et al., ICML 2023,
Sec. 3 (ANP as the unconstrained model of ProbConserv).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from sciml.nn.dropout import inverted_dropout

MIN_STD = 1e-3  # the decoder's floor on the predicted standard deviation (as in the original)


class AttentionBlock(eqx.Module):
    """Multi-head attention with separate key and value inputs, a concat-skip, residual and LayerNorm.

    Separate keys and values are needed by the ANP's cross-attention (keys = embedded context
    positions, values = context representations); `sciml.nn.MultiHeadAttention` shares one input.
    Reference: Kim et al. 2019, App. A (multihead attention of the ANP).
    """

    wq: eqx.nn.Linear
    wk: eqx.nn.Linear
    wv: eqx.nn.Linear
    out: eqx.nn.Linear
    norm: eqx.nn.LayerNorm
    num_heads: int = eqx.field(static=True)

    def __init__(self, dim: int, num_heads: int, *, key: PRNGKeyArray):
        if dim % num_heads:
            raise ValueError(f"hidden size {dim} is not divisible by num_heads {num_heads}")
        kq, kk, kv, ko = jax.random.split(key, 4)
        self.wq = eqx.nn.Linear(dim, dim, use_bias=False, key=kq)
        self.wk = eqx.nn.Linear(dim, dim, use_bias=False, key=kk)
        self.wv = eqx.nn.Linear(dim, dim, use_bias=False, key=kv)
        self.out = eqx.nn.Linear(2 * dim, dim, key=ko)
        self.norm = eqx.nn.LayerNorm(dim)
        self.num_heads = num_heads

    def __call__(
        self,
        query: Float[Array, "nq h"],
        keys: Float[Array, "nk h"],
        values: Float[Array, "nk h"],
        *,
        dropout: float = 0.0,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, "nq h"]:
        """`key` (training) drops out the attention weights and the block's output at rate `dropout`."""
        nh = self.num_heads
        k_att, k_out = (None, None) if key is None or dropout == 0 else jax.random.split(key)

        def heads(x, w):  # [n, h] -> [heads, n, h / heads]: head-major layout keeps the matmuls batched
            return (x @ w.T).reshape(x.shape[0], nh, -1).transpose(1, 0, 2)

        q, k, v = heads(query, self.wq.weight), heads(keys, self.wk.weight), heads(values, self.wv.weight)
        logits = (q @ k.transpose(0, 2, 1)) / jnp.sqrt(q.shape[-1])
        drop_weights = None if k_att is None else (lambda w: inverted_dropout(w, dropout, k_att))
        att = _softmax_matmul(logits, v, drop_weights).transpose(1, 0, 2).reshape(query.shape[0], -1)
        h = jnp.concatenate([query, att], axis=-1) @ self.out.weight.T + self.out.bias
        if k_out is not None:
            h = inverted_dropout(h, dropout, k_out)
        return jax.vmap(self.norm)(h + query)


def _softmax_matmul(
    logits: Float[Array, "h q k"], v: Float[Array, "h k d"], drop: Callable[[Array], Array] | None = None
) -> Float[Array, "h q d"]:
    """softmax(logits) @ v, normalising after the matmul; `drop(softmax(logits)) @ v` with an
    element-wise `drop` (dropout of the weights, which commutes with the row normalisation).

    Same values as jax.nn.softmax(logits) @ v, but its backward pass was 2-4x faster on CPU here
    (jax.nn.softmax's custom JVP and the division of the large [q, k] array dominated the step).
    Subtracting the gradient-stopped row max is exact because softmax is shift invariant.
    """
    e = jnp.exp(logits - jax.lax.stop_gradient(logits.max(-1, keepdims=True)))
    return ((e if drop is None else drop(e)) @ v) / e.sum(-1, keepdims=True)


def _dense(layer: eqx.nn.Linear, x: Float[Array, "n i"]) -> Float[Array, "n o"]:
    # one matmul for a set of points instead of vmapping a matrix-vector product
    return x @ layer.weight.T + layer.bias


class LatentEncoder(eqx.Module):
    """Set encoder to the Gaussian q(z | set): returns the mean and the log-variance of z."""

    embed: eqx.nn.Linear
    blocks: tuple[AttentionBlock, ...]
    hidden: eqx.nn.Linear
    mu: eqx.nn.Linear
    logvar: eqx.nn.Linear

    def __init__(self, dim_x: int, dim_y: int, dim: int, num_heads: int, *, key: PRNGKeyArray):
        k = jax.random.split(key, 6)
        self.embed = eqx.nn.Linear(dim_x + dim_y, dim, key=k[0])
        self.blocks = tuple(AttentionBlock(dim, num_heads, key=kk) for kk in k[1:3])
        self.hidden = eqx.nn.Linear(dim, dim, key=k[3])
        self.mu = eqx.nn.Linear(dim, dim, key=k[4])
        self.logvar = eqx.nn.Linear(dim, dim, key=k[5])

    def __call__(
        self, x: Float[Array, "n dx"], y: Float[Array, "n dy"], *, dropout: float = 0.0, key: PRNGKeyArray | None = None
    ) -> tuple[Float[Array, " h"], Float[Array, " h"]]:
        s = _dense(self.embed, jnp.concatenate([x, y], axis=-1))
        for block, k in zip(self.blocks, _split(key, len(self.blocks))):
            s = block(s, s, s, dropout=dropout, key=k)
        s = jax.nn.relu(self.hidden(s.mean(0)))
        return self.mu(s), self.logvar(s)


class DeterministicEncoder(eqx.Module):
    """Self-attention over the contexts, then cross-attention from each query position."""

    embed: eqx.nn.Linear
    self_blocks: tuple[AttentionBlock, ...]
    cross_blocks: tuple[AttentionBlock, ...]
    context_proj: eqx.nn.Linear
    target_proj: eqx.nn.Linear

    def __init__(self, dim_x: int, dim_y: int, dim: int, num_heads: int, *, key: PRNGKeyArray):
        k = jax.random.split(key, 7)
        self.embed = eqx.nn.Linear(dim_x + dim_y, dim, key=k[0])
        self.self_blocks = tuple(AttentionBlock(dim, num_heads, key=kk) for kk in k[1:3])
        self.cross_blocks = tuple(AttentionBlock(dim, num_heads, key=kk) for kk in k[3:5])
        self.context_proj = eqx.nn.Linear(dim_x, dim, key=k[5])
        self.target_proj = eqx.nn.Linear(dim_x, dim, key=k[6])

    def encode_context(
        self, xc: Float[Array, "nc dx"], yc: Float[Array, "nc dy"], *, dropout: float = 0.0,
        key: PRNGKeyArray | None = None,
    ) -> tuple[Float[Array, "nc h"], Float[Array, "nc h"]]:
        """Keys and values of the cross-attention; computed once and shared by all queries."""
        s = _dense(self.embed, jnp.concatenate([xc, yc], axis=-1))
        for block, k in zip(self.self_blocks, _split(key, len(self.self_blocks))):
            s = block(s, s, s, dropout=dropout, key=k)
        return _dense(self.context_proj, xc), s

    def query(
        self, keys: Float[Array, "nc h"], values: Float[Array, "nc h"], xq: Float[Array, "nq dx"], *,
        dropout: float = 0.0, key: PRNGKeyArray | None = None,
    ) -> Float[Array, "nq h"]:
        """The deterministic representation r(x_q); each query row is independent of the others."""
        q = _dense(self.target_proj, xq)
        for block, k in zip(self.cross_blocks, _split(key, len(self.cross_blocks))):
            q = block(q, keys, values, dropout=dropout, key=k)
        return q


def _split(key: PRNGKeyArray | None, n: int) -> list:
    """n keys, or n Nones without a key (no dropout)."""
    return [None] * n if key is None else list(jax.random.split(key, n))


class Decoder(eqx.Module):
    """[r, z, Linear(x)] -> 3 ReLU layers of width 3h -> Gaussian mean and standard deviation."""

    target_proj: eqx.nn.Linear
    layers: tuple[eqx.nn.Linear, ...]
    head: eqx.nn.Linear

    def __init__(self, dim_x: int, dim_y: int, dim: int, *, key: PRNGKeyArray):
        k = jax.random.split(key, 5)
        self.target_proj = eqx.nn.Linear(dim_x, dim, key=k[0])
        self.layers = tuple(eqx.nn.Linear(3 * dim, 3 * dim, key=kk) for kk in k[1:4])
        self.head = eqx.nn.Linear(3 * dim, 2 * dim_y, key=k[4])

    def __call__(
        self, r: Float[Array, "nq h"], z: Float[Array, " h"], xq: Float[Array, "nq dx"]
    ) -> tuple[Float[Array, "nq dy"], Float[Array, "nq dy"]]:
        zz = jnp.broadcast_to(z, (xq.shape[0], z.shape[0]))
        h = jnp.concatenate([r, zz, _dense(self.target_proj, xq)], axis=-1)
        for layer in self.layers:
            h = jax.nn.relu(_dense(layer, h))
        mean, raw = jnp.split(_dense(self.head, h), 2, axis=-1)
        return mean, jax.nn.softplus(raw) + MIN_STD


class ANP(eqx.Module):
    """Attentive neural process for y = u(t, x) given a context set (one function; vmap outside).

    `input_range` gives the (low, high) of each input coordinate; inputs are mapped to [0, 1] first.
    Reference: Kim et al., ICLR 2019, Fig. 2 (ANP) with the sizes of the ProbConserv code.
    """

    latent: LatentEncoder
    deterministic: DeterministicEncoder
    decoder: Decoder
    input_low: tuple[float, ...] = eqx.field(static=True)
    input_high: tuple[float, ...] = eqx.field(static=True)
    dropout: float = eqx.field(static=True)

    def __init__(
        self,
        *,
        hidden: int = 128,
        num_heads: int = 4,
        dim_x: int = 2,
        dim_y: int = 1,
        input_range: tuple[tuple[float, float], ...] | None = None,
        dropout: float = 0.0,
        key: PRNGKeyArray,
    ):
        if hidden < 1 or hidden % num_heads:
            raise ValueError(f"hidden ({hidden}) must be >= 1 and divisible by num_heads ({num_heads})")
        if input_range is None:
            input_range = ((0.0, 1.0),) * dim_x
        if len(input_range) != dim_x or any(hi <= lo for lo, hi in input_range):
            raise ValueError(f"input_range must hold {dim_x} (low, high) pairs with high > low, got {input_range}")
        kl, kd, kdec = jax.random.split(key, 3)
        self.latent = LatentEncoder(dim_x, dim_y, hidden, num_heads, key=kl)
        self.deterministic = DeterministicEncoder(dim_x, dim_y, hidden, num_heads, key=kd)
        self.decoder = Decoder(dim_x, dim_y, hidden, key=kdec)
        self.input_low = tuple(float(lo) for lo, _ in input_range)
        self.input_high = tuple(float(hi) for _, hi in input_range)
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.dropout = float(dropout)

    def normalise(self, x: Float[Array, "n dx"]) -> Float[Array, "n dx"]:
        lo, hi = jnp.asarray(self.input_low), jnp.asarray(self.input_high)
        return (x - lo) / (hi - lo)

    # `dropout_key` (training only): drop out at the model's `dropout` rate; None, as in inference: never.

    def latent_distribution(
        self, x: Float[Array, "n dx"], y: Float[Array, "n dy"], *, dropout_key: PRNGKeyArray | None = None
    ) -> tuple[Float[Array, " h"], Float[Array, " h"]]:
        """Mean and log-variance of q(z | {(x, y)})."""
        return self.latent(self.normalise(x), y, dropout=self.dropout, key=dropout_key)

    def encode(
        self, xc: Float[Array, "nc dx"], yc: Float[Array, "nc dy"], *, dropout_key: PRNGKeyArray | None = None
    ) -> tuple[Float[Array, "nc h"], Float[Array, "nc h"]]:
        """Cross-attention keys and values of the context set (shared by every query and z-sample)."""
        return self.deterministic.encode_context(self.normalise(xc), yc, dropout=self.dropout, key=dropout_key)

    def decode(
        self,
        keys_values: tuple[Float[Array, "nc h"], Float[Array, "nc h"]],
        z: Float[Array, " h"],
        xq: Float[Array, "nq dx"],
        *,
        dropout_key: PRNGKeyArray | None = None,
    ) -> tuple[Float[Array, "nq dy"], Float[Array, "nq dy"]]:
        """Predictive mean and standard deviation at the queries for one latent sample z."""
        xn = self.normalise(xq)
        r = self.deterministic.query(*keys_values, xn, dropout=self.dropout, key=dropout_key)
        return self.decoder(r, z, xn)

    def __call__(
        self,
        xc: Float[Array, "nc dx"],
        yc: Float[Array, "nc dy"],
        xq: Float[Array, "nq dx"],
        *,
        key: PRNGKeyArray,
    ) -> tuple[Float[Array, "nq dy"], Float[Array, "nq dy"]]:
        """One draw of z from q(z | context), then the Gaussian prediction at the queries."""
        mu, logvar = self.latent_distribution(xc, yc)
        z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(key, mu.shape)
        return self.decode(self.encode(xc, yc), z, xq)


def gaussian_kl(
    mu_q: Float[Array, " h"], logvar_q: Float[Array, " h"], mu_p: Float[Array, " h"], logvar_p: Float[Array, " h"]
) -> Float[Array, ""]:
    """KL( N(mu_q, e^logvar_q) || N(mu_p, e^logvar_p) ), summed over dimensions."""
    return 0.5 * jnp.sum(
        jnp.exp(logvar_q - logvar_p) + (mu_q - mu_p) ** 2 / jnp.exp(logvar_p) - 1.0 + logvar_p - logvar_q
    )


def gaussian_logpdf(y: Array, mean: Array, std: Array) -> Array:
    """Elementwise log N(y | mean, std^2)."""
    return -0.5 * ((y - mean) / std) ** 2 - jnp.log(std) - 0.5 * jnp.log(2.0 * jnp.pi)


def nll_floor(num_targets: int) -> float:
    """The lowest negative log-likelihood the decoder can reach on `num_targets` points: log N(y | mu, s^2)
    <= -log s - log(2 pi) / 2 and s >= MIN_STD, so -sum log N >= num_targets * (log MIN_STD + log(2 pi) / 2),
    reached only with every mean exact and every std at the floor. It bounds what longer training can gain."""
    if num_targets < 1:
        raise ValueError(f"num_targets must be >= 1, got {num_targets}")
    return num_targets * (math.log(MIN_STD) + 0.5 * math.log(2.0 * math.pi))


def anp_elbo_loss(
    model: ANP,
    xc: Float[Array, "nc dx"],
    yc: Float[Array, "nc dy"],
    xt: Float[Array, "nt dx"],
    yt: Float[Array, "nt dy"],
    *,
    key: PRNGKeyArray,
) -> tuple[Float[Array, ""], dict[str, Array], tuple]:
    """Negative ELBO of one function: -sum_t log N(y_t | decoder(z)) + KL(q(z|targets) || q(z|contexts)).

    z is drawn from q(z | targets) (reparameterised). As in the original, the targets are disjoint
    from the contexts and the latent posterior sees the targets only.
    Returns (loss, aux, (keys_values, z)) so that SoftC can reuse the encodings.
    Reference: Kim et al. 2019, Eq. 4 (ANP training objective); ProbConserv code `ANP.forward`.
    """
    # With dropout on, four more keys (one per pass below); without, `key` draws z as it always has.
    drop = [None] * 4
    if model.dropout > 0:
        key, *drop = jax.random.split(key, 5)
    mu_c, lv_c = model.latent_distribution(xc, yc, dropout_key=drop[0])
    mu_t, lv_t = model.latent_distribution(xt, yt, dropout_key=drop[1])
    z = mu_t + jnp.exp(0.5 * lv_t) * jax.random.normal(key, mu_t.shape)
    kv = model.encode(xc, yc, dropout_key=drop[2])
    mean, std = model.decode(kv, z, xt, dropout_key=drop[3])
    nll = -jnp.sum(gaussian_logpdf(yt, mean, std))
    kl = gaussian_kl(mu_t, lv_t, mu_c, lv_c)
    return nll + kl, {"nll": nll, "kl": kl}, (kv, z)


def predict_samples(
    model: ANP,
    xc: Float[Array, "nc dx"],
    yc: Float[Array, "nc dy"],
    xq: Float[Array, "nq dx"],
    *,
    key: PRNGKeyArray,
    num_samples: int,
) -> tuple[Float[Array, "s nq"], Float[Array, "s nq"]]:
    """Per-latent-sample predictive means and standard deviations [num_samples, nq].

    The context encodings are computed once and shared across samples (the original re-runs the whole
    network per sample; the result is the same).
    """
    mu, logvar = model.latent_distribution(xc, yc)
    zs = mu + jnp.exp(0.5 * logvar) * jax.random.normal(key, (num_samples, mu.shape[0]))
    kv = model.encode(xc, yc)
    r = model.deterministic.query(*kv, model.normalise(xq))

    def one(z):
        m, s = model.decoder(r, z, model.normalise(xq))
        return m[:, 0], s[:, 0]

    return jax.lax.map(one, zs)


def mixture_moments(
    means: Float[Array, "s n"], variances: Float[Array, "s n"]
) -> tuple[Float[Array, " n"], Float[Array, " n"]]:
    """Mean and variance of the equal-weight Gaussian mixture over latent samples (law of total variance).

    Uses the unbiased variance of the means across samples, as the original does.
    """
    mean = means.mean(0)
    spread = means.var(0, ddof=1) if means.shape[0] > 1 else jnp.zeros_like(mean)
    return mean, variances.mean(0) + spread
