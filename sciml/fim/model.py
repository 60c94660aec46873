"""FIM-MJP: a network that maps observed paths of a Markov jump process to its rate matrix.

Per observation: [sine time encoding(t / T_norm), one-hot(state)] -> per-path transformer (ψ1) ->
masked mean over observations -> learnable-query attention across paths (Ω1) -> [summary, P / 100] ->
two SELU MLPs: log-mean and log-std of the n(n-1) off-diagonal rates (φ1), initial-state logits (φ2).
All outputs are in normalised time (t / T_norm); `sciml.fim.inference` converts to data units.

Deviations from the original (`src/fim/models/mjp.py` of FIM4Science/OpenFIM), all for clarity:
- The path summary is the masked mean over the path's observations; the original masks the first
  token and reads the output at position 1.
- The across-path aggregator averages all learnable queries (see `LearnableQueryAttention`).
- No dropout in the two heads (the original uses 0.1 there); the transformer keeps its dropout.
- Optional, off by default: `transition_tokens=True` appends to every token the one-hot of the pair
  (previous observed state, current state) and the time since the previous observation. The original
  network must discover transitions by attending to neighbouring time encodings, which takes far more
  training than a CPU budget allows; with these features the per-path mean pool already holds the
  transition frequencies (a sufficient statistic for the rates on a regular grid). The CPU experiment
  uses it; the notebook reports the original tokens beside it.
- Optional, off by default: `count_features=True` appends to the heads' input the pooled transition
  statistics of the process's paths (`sciml.fim.statistics.count_statistics`: log of counts over time
  at risk, empirical jump probabilities, occupation, first states). The linear probe of
  `sciml.fim.evaluation.summary_probe` showed that a small encoder trained for minutes carries the
  transition counts, which the MLE uses, only partly into its summary (docs in notebooks/07_fim.py).
- Optional: `time_max_frequency` spreads the time encoding's initial frequencies (see
  `SineTimeEncoding`).
- Optional, off by default, needs `count_features`: `rate_residual=True` makes the rate head predict a
  correction to the crude log-rate log((N_ij + 1/2) / (T_i + dt)) of the pooled counts instead of the
  log-rate itself, so an untrained head already starts from a count-based estimate and the network
  learns where to shrink it (few counts, missed jumps on coarse grids) rather than how to reproduce it.
With d_model = 256, 4 layers, 4 heads, ff 1024, 16 queries and [128, 128] heads the parameter count
is exactly the original's 3,467,830.
Reference: Berghaus et al. 2024, "Foundation Inference Models for Markov Jump Processes", Sec. 3.2;
docs/references.md FIM.1.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from sciml.fim.attention import LearnableQueryAttention
from sciml.fim.encoding import SineTimeEncoding
from sciml.fim.statistics import count_feature_size, count_statistics
from sciml.fim.transformer import TransformerEncoder
from sciml.nn import MLP

#: The original appends the number of paths divided by this constant to the summary.
PATH_COUNT_SCALE = 100.0


class FIMOutput(eqx.Module):
    """Model outputs for one process (or a batch: leading axes), in normalised time units."""

    log_mean: Float[Array, "*b m"]  # log of the n(n-1) off-diagonal rates, row-major
    log_std: Float[Array, "*b m"]  # log of their standard deviations
    init_logits: Float[Array, "*b n"]  # logits of the initial distribution


class FIMMJP(eqx.Module):
    """The FIM-MJP recognition network for one process (vmap outside over processes).

    Call with normalised times [P, L], integer states [P, L], lengths [P] (observed points are at the
    front of each row) and a path mask [P] (False = padding path).
    Reference: Berghaus et al. 2024, Sec. 3.2, Fig. 2.
    """

    time_encoding: SineTimeEncoding
    encoder: TransformerEncoder
    path_attention: LearnableQueryAttention
    rate_head: MLP
    init_head: MLP
    num_states: int = eqx.field(static=True)
    transition_tokens: bool = eqx.field(static=True)
    count_features: bool = eqx.field(static=True)
    rate_residual: bool = eqx.field(static=True)

    def __init__(
        self,
        *,
        num_states: int = 6,
        d_model: int = 256,
        num_layers: int = 4,
        num_heads: int = 4,
        ff_dim: int = 1024,
        num_queries: int = 16,
        head_width: int = 128,
        head_depth: int = 2,
        dropout: float = 0.1,
        transition_tokens: bool = False,
        count_features: bool = False,
        rate_residual: bool = False,
        time_max_frequency: float | None = None,
        key: PRNGKeyArray,
    ):
        if d_model <= num_states + 1:
            raise ValueError(f"d_model must exceed num_states + 1 = {num_states + 1}, got {d_model}")
        if rate_residual and not count_features:
            raise ValueError("rate_residual needs count_features (the crude log-rates come from the counts)")
        kt, ke, ka, kr, ki = jax.random.split(key, 5)
        self.num_states = num_states
        self.transition_tokens = transition_tokens
        self.count_features = count_features
        self.rate_residual = rate_residual
        # like the original, the time encoding fills the model width left over by the token features
        extra = num_states + (num_states**2 + 1 if transition_tokens else 0)
        if d_model <= extra + 1:
            raise ValueError(f"d_model must exceed {extra + 1} with these token features, got {d_model}")
        self.time_encoding = SineTimeEncoding(d_model - extra, max_frequency=time_max_frequency, key=kt)
        self.encoder = TransformerEncoder(d_model, num_layers, num_heads, ff_dim, dropout, key=ke)
        self.path_attention = LearnableQueryAttention(d_model, num_heads, num_queries, key=ka)
        m = num_states * (num_states - 1)
        head_in = d_model + 1 + (count_feature_size(num_states) if count_features else 0)
        self.rate_head = MLP(head_in, 2 * m, head_width, head_depth, act="selu", key=kr)
        self.init_head = MLP(head_in, num_states, head_width, head_depth, act="selu", key=ki)

    def encode_path(
        self, times: Float[Array, " L"], states: Int[Array, " L"], length: Int[Array, ""], *, key=None
    ) -> Float[Array, " d"]:
        """ψ1: one path's summary vector (masked mean of the transformer outputs)."""
        mask = jnp.arange(times.shape[0]) < length
        feats = [jax.vmap(self.time_encoding)(times), jax.nn.one_hot(states, self.num_states)]
        if self.transition_tokens:
            # the previous observation's state and the time since it (zeros for the first observation)
            first = jnp.arange(times.shape[0]) == 0
            prev = jnp.where(first[:, None], 0.0, jax.nn.one_hot(jnp.roll(states, 1), self.num_states))
            pair = (prev[:, :, None] * feats[1][:, None, :]).reshape(times.shape[0], -1)
            gap = jnp.where(first, 0.0, times - jnp.roll(times, 1))
            feats += [pair, gap[:, None]]
        tokens = jnp.concatenate(feats, axis=-1)
        h = self.encoder(tokens, mask, key=key)
        return h.sum(0) / jnp.maximum(mask.sum(), 1)

    def __call__(
        self,
        times: Float[Array, "P L"],
        states: Int[Array, "P L"],
        lengths: Int[Array, " P"],
        path_mask: Bool[Array, " P"],
        *,
        key: PRNGKeyArray | None = None,
    ) -> FIMOutput:
        keys = None if key is None else jax.random.split(key, times.shape[0])
        if keys is None:
            h = jax.vmap(lambda t, s, n: self.encode_path(t, s, n))(times, states, lengths)
        else:
            h = jax.vmap(lambda t, s, n, k: self.encode_path(t, s, n, key=k))(times, states, lengths, keys)
        summary = self.path_attention(h, path_mask)
        count = path_mask.sum().astype(summary.dtype) / PATH_COUNT_SCALE
        z = jnp.concatenate([summary, count[None]])
        if self.count_features:
            stats = count_statistics(times, states, lengths, path_mask, self.num_states)
            z = jnp.concatenate([z, stats])
        log_mean, log_std = jnp.split(self.rate_head(z), 2)
        if self.rate_residual:
            # the statistics open with the crude log-rates, off-diagonal and row-major like log_mean
            log_mean = log_mean + stats[: log_mean.shape[0]]
        return FIMOutput(log_mean=log_mean, log_std=log_std, init_logits=self.init_head(z))
