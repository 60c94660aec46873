"""The `gde` task: config validation, batches, frozen features, evaluation outputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.gde import GDETask, KMEEncoder
from sciml.runner.task import registered_tasks


def test_task_is_registered_and_validates():
    assert registered_tasks()["gde"] is GDETask
    with pytest.raises(ValueError, match="dataset 'mnist' is unknown"):
        GDETask(data="mnist")
    with pytest.raises(ValueError, match="encoder 'gnn' is unknown"):
        GDETask(encoder="gnn")
    with pytest.raises(ValueError, match="latent must be even"):
        GDETask(encoder="kme", latent=7)
    with pytest.raises(ValueError, match="needs dim >= 2"):
        GDETask(dim=1)
    with pytest.raises(ValueError, match="at least 2 points"):
        GDETask(set_size=1)
    with pytest.raises(ValueError, match="sets_per_batch must be a positive integer"):
        GDETask(sets_per_batch=0)


@pytest.mark.parametrize("dataset", ["normal", "shared_mean", "gmm"])
def test_batches_are_pure_functions_of_seed_and_step(dataset):
    task = GDETask(data=dataset, dim=3, set_size=10, sets_per_batch=4)
    a, b, c = task.batch(5, seed=1), task.batch(5, seed=1), task.batch(6, seed=1)
    assert a["x"].shape == (4, 10, 3) and a["x"].dtype == np.float32
    np.testing.assert_array_equal(a["x"], b["x"])
    assert not np.allclose(a["x"], c["x"])
    params, sets = task.eval_data()
    assert sets.shape[1:] == (10, 3) and not np.allclose(sets[:4], a["x"])


def test_normalisation_matches_data_scale():
    task = GDETask(dim=2, set_size=20, sets_per_batch=4000)
    shift, scale = task.normalisation()
    x = task.batch(0, seed=0)["x"].reshape(-1, 2)
    np.testing.assert_allclose(x.mean(0), shift, atol=0.1)
    np.testing.assert_allclose(x.std(0), scale, rtol=0.1)


def test_raw_coordinates_reach_the_networks_when_normalise_is_off(key):
    """`normalise: false` (the original's raw coordinates): the model's shift and scale are the identity, and the
    generator is built with the schedule the config names."""
    task = GDETask(dim=2, set_size=8, sets_per_batch=2, width=16, latent=4, gen_width=16, gen_depth=2, ddpm_steps=10,
                   normalise=False, ddpm_schedule="original")
    model = task.init(key=key)
    assert (model.shift, model.scale) == (0.0, 1.0) and model.generator.schedule == "original"
    assert GDETask(dim=2).init(key=key).scale > 1.0  # normalised by default
    with pytest.raises(ValueError, match="ddpm_schedule 'cosine' is unknown"):
        GDETask(ddpm_schedule="cosine")


@pytest.mark.parametrize(
    "encoder,generator", [("deepsets", "ddpm"), ("resnet", "flow"), ("attention", "direct"), ("mean", "ddpm"),
                          ("kme", "flow")]
)
def test_loss_is_finite_for_every_encoder_and_generator(encoder, generator, key):
    task = GDETask(encoder=encoder, generator=generator, set_size=8, sets_per_batch=2, width=16, latent=4,
                   gen_width=16, gen_depth=2, ddpm_steps=10, flow_steps=2)
    model = task.init(key=key)
    loss, aux = task.loss(model, jax.tree_util.tree_map(jnp.asarray, task.batch(0, seed=0)), key=key)
    assert loss.shape == () and jnp.isfinite(loss)


def test_kme_frequencies_are_frozen(key):
    task = GDETask(encoder="kme", latent=8)
    model = task.init(key=key)
    spec = task.trainable(model)
    assert isinstance(model.encoder, KMEEncoder)
    assert spec.encoder.freqs is False and spec.encoder.log_bandwidth is True


def test_evaluate_reports_paper_metrics_and_figures(key, tmp_path):
    task = GDETask(set_size=16, width=16, latent=4, gen_width=16, gen_depth=2, ddpm_steps=5, eval_sets=4,
                   eval_samples=50, eval_sample_w2_points=20, spearman_sets=6, interp_pairs=1, interp_steps=3)
    out = task.evaluate(task.init(key=key), key=key, run_dir=tmp_path)
    for k in ("recon_w2", "recon_w2_floor", "recon_w2_plugin", "recon_w2_sample", "recon_w2_sample_floor",
              "spearman", "interp_w2_gde", "interp_w2_mixture", "encode_sets_per_s", "decode_points_per_s"):
        assert np.isfinite(out[k]), k
    assert -1 <= out["spearman"] <= 1
    for f in ("latent_vs_w2.png", "reconstructions.png", "interpolation.png"):
        assert (tmp_path / f).stat().st_size > 0
    gmm = GDETask(data="gmm", set_size=16, width=16, latent=4, gen_width=16, gen_depth=2, ddpm_steps=5,
                  eval_sets=2, eval_samples=20, eval_sample_w2_points=20, spearman_sets=4, figures=False)
    out = gmm.evaluate(gmm.init(key=key), key=key, run_dir=tmp_path)
    assert np.isfinite(out["recon_w2_sample"]) and "interp_w2_gde" not in out
    assert np.isfinite(out["recon_gmm_ot_loss"]) and np.isfinite(out["recon_gmm_ot_loss_floor"])


def test_a_variant_task_brings_its_own_generator_through_the_hooks(key):
    # A study subclasses the abstract GDETaskBase with another generator name; init must build it through
    # `make_generator` and validation must accept the names of `generator_names`.
    import dataclasses

    from sciml.gde import FlowMatching, GDETaskBase

    with pytest.raises(TypeError, match="abstract"):
        GDETaskBase()

    @dataclasses.dataclass(frozen=True)
    class Variant(GDETaskBase):
        generator: str = "mine"

        def generator_names(self):
            return ("mine",)

        def make_generator(self, *, key):
            return FlowMatching(self.dim, self.latent, 8, 1, num_steps=3, key=key)

    model = Variant(set_size=8, sets_per_batch=2, width=8, latent=4).init(key=key)
    assert isinstance(model.generator, FlowMatching) and model.generator.num_steps == 3
    with pytest.raises(ValueError, match="generator 'ddpm' is unknown"):
        Variant(generator="ddpm")
    assert GDETask(generator="flow", flow_steps=5, latent=4).init(key=key).generator.num_steps == 5


def test_mean_plus_bures2_is_the_original_notebooks_formula_not_w2_and_w2_splits_into_mean_and_bures():
    """`recon_mean_plus_bures2` must be ||dmu|| + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2), computed here
    with SciPy as the original's notebook does, and must differ from W2 (a distance plus a squared one)."""
    import scipy.linalg

    from sciml.gde.evaluation import reconstruction_metrics

    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 2, 2))
    params = {"means": rng.normal(size=(3, 2)), "covs": a @ a.transpose(0, 2, 1) + 0.1 * np.eye(2)}
    gen = rng.normal(size=(3, 50, 2)) * 0.7 + 0.3
    out = reconstruction_metrics(gen, gen, params, rng, sample_w2_points=0)
    expected = []
    for g, mu, cov in zip(gen, params["means"], params["covs"], strict=True):
        mu_g, cov_g = g.mean(0), np.cov(g.T)
        s = scipy.linalg.sqrtm(cov)
        bures2 = np.trace(cov + cov_g - 2 * scipy.linalg.sqrtm(s @ cov_g @ s)).real
        expected.append(np.linalg.norm(mu_g - mu) + bures2)
    np.testing.assert_allclose(out["recon_mean_plus_bures2"], np.mean(expected), rtol=1e-6)
    assert abs(out["recon_mean_plus_bures2"] - out["recon_w2"]) > 1e-3
    # W2's parts, ||dmu|| and the Bures distance of the covariances, from the same SciPy formulas.
    dmu = [np.linalg.norm(g.mean(0) - mu) for g, mu in zip(gen, params["means"], strict=True)]
    np.testing.assert_allclose(out["recon_mean_error"], np.mean(dmu), rtol=1e-6)
    bures = [np.sqrt(e - d) for e, d in zip(expected, dmu, strict=True)]
    np.testing.assert_allclose(out["recon_cov_bures"], np.mean(bures), rtol=1e-5)


def test_mixture_score_is_squared_mw2_of_an_em_fit_and_small_for_true_samples():
    """`em_mixture_ot_loss` (the original's `gmm_benchmark.ipynb` score): exact samples of well-separated
    mixtures score near 0, and the same samples shifted by a vector of length 2 score near 4 (every fitted
    component moves by it: a squared distance, not MW2 itself, which would be 2)."""
    from sciml.gde.evaluation import em_mixture_ot_loss

    rng = np.random.default_rng(0)
    means = np.array([[[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]], [[1.0, 1.0], [-5.0, 1.0], [1.0, 8.0]]])
    covs = np.broadcast_to(np.array([[1.0, 0.3], [0.3, 0.5]]), (2, 3, 2, 2))
    weights = np.array([[0.3, 0.3, 0.4], [0.5, 0.2, 0.3]])
    params = {"weights": weights, "means": means, "covs": covs}
    # exactly w_k N points per component: a sampled count would move mass between components 6 apart,
    # which MW2^2 charges 36 per unit of weight
    x = np.stack([np.concatenate([rng.multivariate_normal(m, c, int(w * 20000)) for w, m, c in zip(*mix)])
                  for mix in zip(weights, means, covs, strict=True)])
    exact = em_mixture_ot_loss(x, params)
    shifted = em_mixture_ot_loss(x + np.array([1.2, 1.6]), params)
    assert exact.shape == (2,) and (exact < 0.01).all(), exact
    np.testing.assert_allclose(shifted, 4.0, atol=0.1)
    with pytest.raises(ValueError, match="points"):
        em_mixture_ot_loss(x[:1], params)


def test_decode_timing_is_capped_at_large_evaluation_sizes(key, monkeypatch):
    """The decode throughput times at most TIMING_MAX_POINTS points per latent: at the original benchmark's
    10,000 points per set, timing the full size cost twice the evaluation's own decode."""
    from sciml.gde import evaluation

    task = GDETask(set_size=16, width=16, latent=4, gen_width=16, gen_depth=2, ddpm_steps=3)
    model = task.init(key=key)
    sizes = []
    real = evaluation.sample_sets

    def recording(m, z, num, *, key):
        sizes.append(num)
        return real(m, z, num, key=key)

    monkeypatch.setattr(evaluation, "sample_sets", recording)
    monkeypatch.setattr(evaluation, "TIMING_MAX_POINTS", 30)
    rate = evaluation.decode_points_per_s(model, np.zeros((2, 4), np.float32), 100, key=key)
    assert sizes == [30] * (1 + evaluation.TIMING_REPEATS) and rate > 0
