"""Any population encoder in place of MFM's GCN (`PopulationFlow(embedding=...)`, `embedding_width`)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.mfm import PopulationEmbedding, PopulationFlow, embedding_width, flow_matching_loss


class MomentEncoder(eqx.Module):
    """A population [n, d] -> Linear([mean, std]) [k]: not a GCN, no `width` attribute."""

    proj: eqx.nn.Linear

    def __init__(self, dim, k, *, key):
        self.proj = eqx.nn.Linear(2 * dim, k, key=key)

    def __call__(self, x):
        return self.proj(jnp.concatenate([x.mean(0), x.std(0)]))


class PerPointEncoder(eqx.Module):
    """Wrong: returns one row per point instead of one vector per population."""

    def __call__(self, x):
        return x


def test_width_is_read_from_the_output_of_any_encoder(key):
    assert embedding_width(PopulationEmbedding(3, width=8, num_layers=2, k=4, key=key), 3) == 8
    assert embedding_width(MomentEncoder(3, 5, key=key), 3) == 5
    with pytest.raises(ValueError, match=r"to one vector \[k\], got \(128, 3\)"):
        embedding_width(PerPointEncoder(), 3)
    with pytest.raises(ValueError, match="more than 4 points, got 3"):  # the probe size must suit the GCN
        embedding_width(PopulationEmbedding(3, width=8, num_layers=2, k=4, key=key), 3, points=3)


def test_flow_conditions_on_a_foreign_encoder_and_trains_it(key):
    enc = MomentEncoder(2, 5, key=key)
    model = PopulationFlow(2, embedding=enc, num_treatments=3, width=16, depth=2, time_dim=8, key=key)
    assert model.cond_dim == 5 + 3
    source = jax.random.normal(jax.random.PRNGKey(1), (32, 2)) * 2.0 + 1.0
    c = model.condition(source, None, 2)
    np.testing.assert_allclose(np.asarray(c[:5]), np.asarray(enc(source)), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(c[5:]), [0.0, 0.0, 1.0])

    target = source + 1.0

    def loss(m):
        cond = m.condition(source, None, 2)
        return flow_matching_loss(lambda t, x: m(t, x, cond), source, target, key=jax.random.PRNGKey(2))

    grads = eqx.filter_grad(loss)(model)
    assert float(jnp.abs(grads.embedding.proj.weight).sum()) > 0  # the encoder is trained through the flow


def test_default_gcn_flow_is_unchanged(key):
    emb = PopulationEmbedding(2, width=8, num_layers=2, k=4, key=key)
    model = PopulationFlow(2, embedding=emb, num_treatments=2, width=16, depth=2, time_dim=8, key=key)
    assert model.cond_dim == 8 + 2 and model.embedding is emb
    with pytest.raises(ValueError, match="expects 3-d points, the field 2-d"):
        PopulationFlow(2, embedding=PopulationEmbedding(3, k=4, key=key), key=key)
