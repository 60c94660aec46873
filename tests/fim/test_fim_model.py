"""FIM-MJP network: parameter count, invariances, padding, chunked inference, the loss, bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.data.mjp import make_dfr_dataset
from sciml.fim import FIMMJP, FIMOutput, fim_loss, infer_rate_matrix, offdiagonal, split_chunks

SMALL = dict(d_model=24, num_layers=1, num_heads=2, ff_dim=32, num_queries=3, head_width=16, dropout=0.0)


@pytest.fixture(scope="module")
def model():
    return FIMMJP(**SMALL, key=jax.random.PRNGKey(0))


@pytest.fixture(scope="module", params=["state_tokens", "transition_tokens", "count_features"])
def any_model(request):
    if request.param == "transition_tokens":
        return FIMMJP(**SMALL | dict(d_model=48, time_max_frequency=20.0), transition_tokens=True,
                      key=jax.random.PRNGKey(0))
    return FIMMJP(**SMALL, count_features=request.param == "count_features", key=jax.random.PRNGKey(0))


@pytest.fixture(scope="module")
def paths():
    rng = np.random.default_rng(0)
    P, L = 7, 12
    times = np.sort(rng.random((P, L)), axis=1).astype(np.float32)
    states = rng.integers(0, 6, (P, L)).astype(np.int32)
    lengths = rng.integers(3, L + 1, P).astype(np.int32)
    return times, states, lengths


@eqx.filter_jit
def _forward(model, times, states, lengths, mask):
    return model(times, states, lengths, mask)


def _call(model, times, states, lengths, mask=None):
    mask = np.ones(len(times), bool) if mask is None else mask
    return _forward(model, jnp.asarray(times), jnp.asarray(states), jnp.asarray(lengths), jnp.asarray(mask))


def test_original_parameter_count():
    """With the original's sizes the network has exactly the original's 3,467,830 parameters."""
    big = eqx.filter_eval_shape(FIMMJP, key=jax.random.PRNGKey(0))
    assert sum(x.size for x in jax.tree.leaves(big) if hasattr(x, "shape")) == 3_467_830


def test_permutation_invariance_across_paths(any_model, paths):
    model = any_model
    times, states, lengths = paths
    a = _call(model, times, states, lengths)
    perm = np.random.default_rng(1).permutation(len(times))
    b = _call(model, times[perm], states[perm], lengths[perm])
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(x, y, atol=1e-5)


def test_padding_is_ignored(any_model, paths):
    model = any_model
    times, states, lengths = paths
    a = _call(model, times, states, lengths)
    # garbage in padded observations and in masked-out extra paths changes nothing
    rng = np.random.default_rng(2)
    t2, s2 = times.copy(), states.copy()
    pad = np.arange(times.shape[1]) >= lengths[:, None]
    t2[pad], s2[pad] = rng.random(pad.sum()), rng.integers(0, 6, pad.sum())
    t3 = np.concatenate([t2, rng.random((3, times.shape[1])).astype(np.float32)])
    s3 = np.concatenate([s2, rng.integers(0, 6, (3, times.shape[1]))]).astype(np.int32)
    l3 = np.concatenate([lengths, [5, 5, 5]]).astype(np.int32)
    b = _call(model, t3, s3, l3, np.r_[np.ones(7, bool), np.zeros(3, bool)])
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(x, y, atol=1e-5)
    # the number of paths is an input (P / 100), so a different count changes the answer
    c = _call(model, times[:3], states[:3], lengths[:3])
    assert not np.allclose(a.log_mean, c.log_mean)


def test_three_state_process_gives_three_by_three(model):
    rng = np.random.default_rng(0)
    times = np.tile(np.linspace(0, 5, 10, dtype=np.float32), (20, 1))
    states = rng.integers(0, 3, (20, 10))
    est = infer_rate_matrix(model, times, states, n_states=3, chunk_size=8)
    assert est.Q.shape == (3, 3) and est.std.shape == (3, 3) and est.p0.shape == (3,)
    np.testing.assert_allclose(est.Q.sum(1), 0, atol=1e-5)
    assert np.all(est.Q[~np.eye(3, dtype=bool)] > 0) and np.isclose(est.p0.sum(), 1)
    assert list(est.chunk_sizes) == [7, 7, 6] and est.Q_chunks.shape == (3, 3, 3)
    np.testing.assert_allclose(est.Q, est.Q_chunks.mean(0), rtol=1e-6)


def test_rates_scale_with_time_units(model):
    """Stretching time by 2 halves every rate (the network only sees t / T_norm)."""
    d = make_dfr_dataset(0, 16, grid_size=10)
    a = infer_rate_matrix(model, d["times"], d["states"], chunk_size=None)
    b = infer_rate_matrix(model, 2 * d["times"], d["states"], chunk_size=None)
    np.testing.assert_allclose(b.Q, a.Q / 2, rtol=1e-5)


def test_split_chunks():
    sizes = [len(c) for c in split_chunks(300, 32)]
    assert sum(sizes) == 300 and max(sizes) <= 32 and max(sizes) - min(sizes) <= 1 and len(sizes) == 10
    assert len(split_chunks(5, None)) == 1


def test_bad_inference_input(model):
    t = np.tile(np.linspace(0, 1, 5, dtype=np.float32), (2, 1))
    with pytest.raises(ValueError, match="states must lie"):
        infer_rate_matrix(model, t, np.array([[0, 1, 2, 3, 0], [0, 0, 0, 0, 0]]), n_states=3)
    with pytest.raises(ValueError, match="non-decreasing"):
        infer_rate_matrix(model, t[:, ::-1], np.zeros((2, 5), int))
    with pytest.raises(ValueError, match="lengths"):
        infer_rate_matrix(model, t, np.zeros((2, 5), int), np.array([0, 5]))
    with pytest.raises(ValueError, match="n_states"):
        infer_rate_matrix(model, t, np.zeros((2, 5), int), n_states=7)


def test_loss_matches_numpy():
    rng = np.random.default_rng(0)
    B, n = 3, 6
    out = FIMOutput(
        log_mean=jnp.asarray(rng.normal(size=(B, 30)), jnp.float32),
        log_std=jnp.asarray(rng.normal(size=(B, 30)) - 1, jnp.float32),
        init_logits=jnp.asarray(rng.normal(size=(B, n)), jnp.float32),
    )
    A = (rng.random((B, n, n)) < 0.6) & ~np.eye(n, dtype=bool)
    F = rng.random((B, n, n)) * A
    Q = F - np.eye(n) * F.sum(-1, keepdims=True)
    p0 = rng.dirichlet(np.ones(n), B)
    tn = np.array([10.0, 2.5, 4.0])
    loss, aux = fim_loss(out, jnp.asarray(Q), jnp.asarray(A, jnp.float32), jnp.asarray(p0), jnp.asarray(tn))
    # independent NumPy evaluation of the original's formula
    f = np.exp(np.asarray(out.log_mean)) / tn[:, None]
    s2 = np.maximum((np.exp(np.asarray(out.log_std)) / tn[:, None]) ** 2, 1e-6)
    tgt, a = np.asarray(offdiagonal(Q)), np.asarray(offdiagonal(A.astype(float)))
    nll = 0.5 * (np.log(2 * np.pi) + np.log(s2) + (f - tgt) ** 2 / s2)
    gauss = (a * nll).sum() / a.sum()
    missing = (tn[:, None] * (1 - a) * (f**2 + s2)).sum() / (1 - a).sum()
    logits = np.asarray(out.init_logits)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    ce = -logp[np.arange(B), p0.argmax(1)].mean()
    np.testing.assert_allclose(float(loss), gauss + missing + ce, rtol=1e-5)
    np.testing.assert_allclose(float(aux["loss_missing"]), missing, rtol=1e-5)


def test_encoder_layer_drops_attention_weights_as_torch():
    """The original's per-path encoder is torch's TransformerEncoderLayer, whose self-attention drops out its
    attention weights at the layer's rate: in training the layer hands the attention a dropout of rate p
    (about a fraction p of the weights zeroed, the rest scaled by 1 / (1 - p)); in inference none."""
    from sciml.fim.transformer import EncoderLayer
    from sciml.nn import MultiHeadAttention

    seen = []

    class Spy(eqx.Module):
        inner: MultiHeadAttention

        def __call__(self, x, mask=None, weights_dropout=None):
            seen.append(weights_dropout)
            return self.inner(x, mask=mask, weights_dropout=weights_dropout)

    layer = EncoderLayer(16, 2, 32, dropout=0.5, key=jax.random.PRNGKey(0))
    layer = eqx.tree_at(lambda m: m.attention, layer, Spy(layer.attention))
    x, mask = jax.random.normal(jax.random.PRNGKey(1), (6, 16)), jnp.ones(6, bool)
    layer(x, mask, key=jax.random.PRNGKey(2))
    w = jnp.ones((2, 64, 64))
    dropped = np.asarray(seen[-1](w))
    assert set(np.unique(dropped)) == {0.0, 2.0}
    assert 0.4 < (dropped == 0).mean() < 0.6
    layer(x, mask)  # inference: no key
    assert seen[-1] is None or np.array_equal(np.asarray(seen[-1](w)), np.asarray(w))
