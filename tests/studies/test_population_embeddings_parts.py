"""The pieces of the population-embeddings study: the GDE encoder as MFM's embedding, the geometry statistics
against independent computations, and the task's validation, baseline and trainable masks."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from sciml import metrics
from sciml.gde import DDPM, GDE, make_encoder
from sciml.mfm import MetaFlowMatching
from sciml.studies.population_embeddings import (
    NormalisedEncoder,
    cross_w2,
    error_geometry,
    latent_geometry,
    pairwise_w2,
    population_normalisation,
)
from sciml.studies.population_embeddings.task import MFMWithEncoder

SMALL = dict(data="patients", num_patients=6, num_test_patients=2, num_cells=64, points=16, eval_points=32,
             populations_per_batch=2, width=8, depth=1, time_dim=4, k=3, gcn_depth=1, embed_width=4, latent=4,
             enc_width=8, enc_depth=1, fc_depth=1, coupling="ot")


def test_normalised_encoder_of_a_gde_is_its_encode(key):
    enc = make_encoder("resnet", 3, 6, 8, 1, 1, key=key)
    gde = GDE(enc, DDPM(3, 6, 8, 1, 4, key=key), 2.0, 3.0)
    x = jax.random.normal(jax.random.PRNGKey(1), (20, 3)) * 3.0 + 2.0
    phi = NormalisedEncoder.from_gde(gde)
    np.testing.assert_allclose(np.asarray(phi(x)), np.asarray(gde.encode(x)), rtol=1e-6)
    assert phi.dim == 3
    # the normalisation matters: the raw encoder on raw points is another vector
    assert not np.allclose(np.asarray(phi(x)), np.asarray(enc(x)), atol=1e-3)


def test_population_normalisation_is_the_pooled_mean_and_std():
    x = np.random.default_rng(0).normal(3.0, 2.0, (5, 40, 2))
    shift, scale = population_normalisation(x)
    np.testing.assert_allclose([shift, scale], [x.mean(), x.std()])
    with pytest.raises(ValueError, match="zero spread"):
        population_normalisation(np.ones((2, 4, 2)))
    with pytest.raises(ValueError, match=r"\[S, n, d\]"):
        population_normalisation(np.ones((4, 2)))


def test_w2_between_translated_clouds_is_the_shift():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(30, 2))
    shifts = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [2.0, 2.0]])
    pops = base[None] + shifts[:, None]
    w2 = pairwise_w2(pops)
    true = np.linalg.norm(shifts[:, None] - shifts[None], axis=-1)  # W2 of a translate is the shift's length
    np.testing.assert_allclose(w2, true, atol=1e-6)
    np.testing.assert_allclose(cross_w2(pops[:2], pops), w2[:2], atol=1e-6)


def test_latent_geometry_ranks_all_pairs_like_scipy():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(7, 3))
    w2 = pairwise_w2(rng.normal(size=(7, 12, 2)) + rng.normal(size=(7, 1, 2)))
    rho, lat, true = latent_geometry(z, w2)
    pairs = [(i, j) for i in range(7) for j in range(i + 1, 7)]
    lat_loop = [np.linalg.norm(z[i] - z[j]) for i, j in pairs]
    np.testing.assert_allclose(lat, lat_loop, rtol=1e-12)
    np.testing.assert_allclose(rho, scipy.stats.spearmanr(lat_loop, [w2[i, j] for i, j in pairs]).statistic)
    # latents that are an isometry of the populations' positions rank exactly like W2
    shifts = rng.normal(size=(7, 2)) * 3
    pops = rng.normal(size=(1, 12, 2)) + shifts[:, None]
    assert latent_geometry(shifts @ np.array([[0.0, 1.0], [-1.0, 0.0]]), pairwise_w2(pops))[0] == pytest.approx(1.0)


def test_error_geometry_takes_the_nearest_training_population():
    z_train = np.array([[0.0, 0.0], [10.0, 0.0]])
    z_unseen = np.array([[1.0, 0.0], [7.0, 0.0], [0.0, 4.0], [10.0, 0.5]])
    w2 = np.array([[5.0, 1.0], [2.0, 9.0], [3.0, 3.5], [0.1, 7.0]])
    errors = np.array([1.0, 3.0, 4.0, 0.5])
    out = error_geometry(z_unseen, z_train, w2, errors)
    np.testing.assert_allclose(out["nearest_latent"], [1.0, 3.0, 4.0, 0.5])
    np.testing.assert_allclose(out["nearest_w2"], [1.0, 2.0, 3.0, 0.1])
    assert out["spearman_latent"] == pytest.approx(1.0)
    assert out["spearman_w2"] == pytest.approx(scipy.stats.spearmanr([1.0, 2.0, 3.0, 0.1], errors).statistic)
    with pytest.raises(ValueError, match="errors"):
        error_geometry(z_unseen, z_train, w2, errors[:3])


def test_gcn_baseline_is_mfms_model_and_loss(key):
    ours = MFMWithEncoder(**SMALL)
    mfm = MetaFlowMatching(**{f.name: SMALL[f.name] for f in dataclasses.fields(MetaFlowMatching) if f.name in SMALL})
    a, b = ours.init(key=key), mfm.init(key=key)
    leaves = lambda m: jax.tree_util.tree_leaves(eqx.filter(m, eqx.is_array))  # noqa: E731
    for x, y in zip(leaves(a), leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    batch = jax.tree_util.tree_map(jnp.asarray, ours.batch(0, seed=0))
    np.testing.assert_allclose(float(ours.loss(a, batch, key=key)[0]), float(mfm.loss(b, batch, key=key)[0]), rtol=1e-6)


def _any(mask):
    return any(bool(x) for x in jax.tree_util.tree_leaves(mask))


def test_frozen_mode_freezes_the_whole_encoder_and_kme_keeps_its_frequencies(key):
    frozen = dataclasses.replace(MFMWithEncoder(**SMALL, encoder="resnet"), mode="frozen", pretrained="x")
    model = MFMWithEncoder(**SMALL, encoder="resnet").init(key=key)
    mask = frozen.trainable(model)
    assert not _any(mask.embedding) and _any(mask.field)
    scratch = MFMWithEncoder(**SMALL, encoder="resnet")
    assert all(jax.tree_util.tree_leaves(scratch.trainable(model).embedding))
    kme = MFMWithEncoder(**SMALL, encoder="kme")
    m = kme.init(key=key)
    mask = kme.trainable(m)
    assert mask.embedding.encoder.freqs is False and mask.embedding.encoder.log_bandwidth is True


def test_bad_settings_give_clear_errors():
    with pytest.raises(ValueError, match="pretrained must be empty"):
        MFMWithEncoder(**SMALL, encoder="resnet", pretrained="runs/x")
    with pytest.raises(ValueError, match="needs pretrained"):
        MFMWithEncoder(**SMALL, encoder="resnet", mode="frozen")
    with pytest.raises(ValueError, match="GCN is MFM's own encoder"):
        MFMWithEncoder(**SMALL, encoder="gcn", mode="finetune", pretrained="runs/x")
    with pytest.raises(ValueError, match="encoder"):
        MFMWithEncoder(**SMALL, encoder="deepsets")
    with pytest.raises(ValueError, match="latent must be even"):
        MFMWithEncoder(**{**SMALL, "latent": 5}, encoder="kme")


def test_geometry_w2_matches_the_metric(key):
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 15, 2))
    assert pairwise_w2(np.stack([a, b]))[0, 1] == pytest.approx(metrics.w2(a, b))
