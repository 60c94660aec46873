"""The `pfgmpp` task: configuration errors, data, batches, loss, Fréchet distance, a seeded training."""

import math

import jax
import numpy as np
import pytest

from sciml.data.digits import load_digits, render_digits, split_indices
from sciml.data.two_gaussians import two_gaussians
from sciml.pfgmpp.frechet import frechet_distance
from sciml.pfgmpp.task import PFGMPPTask
from sciml.runner import load_config
from sciml.runner.config import ConfigError

TOY = dict(data="toy", model="mlp", toy_dim=16, toy_latent_dim=2, num_toy_points=1000, width=64, depth=2, batch_size=64)


def test_D_validation_in_task_and_config():
    with pytest.raises(ValueError, match="D must be >= 1"):
        PFGMPPTask(D=0.5)
    with pytest.raises(TypeError, match="D"):  # check_D's message, or the test-time type checker's
        PFGMPPTask(D="abc")
    assert math.isinf(PFGMPPTask(D=float("inf")).D)
    raw = {"experiment": "x", "name": "y", "task": {"name": "pfgmpp", "D": 128}}
    assert math.isinf(load_config(raw, ["task.D=inf"]).task.D)
    assert math.isinf(load_config(raw, ["task.D=.inf"]).task.D)
    with pytest.raises(ConfigError, match="D"):
        load_config(raw, ["task.D=abc"])
    with pytest.raises(ConfigError, match="D must be >= 1"):
        load_config(raw, ["task.D=0.5"])


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(data="mnist"), "data"),
        (dict(model="resnet"), "model"),
        (dict(data="toy", model="unet"), "toy"),
        (dict(image_size=32), "image_size"),
        (dict(beta_clip=0.7), "beta_clip"),
        (dict(sigma_max=0.001), "sigma_max"),
        (dict(robust_bits=(0,)), "bits"),
        (dict(digits_source="web"), "source"),
    ],
)
def test_config_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        PFGMPPTask(**kw)


def test_data():
    x, y, source = load_digits("rendered")
    assert x.shape == (1800, 1, 8, 8) and x.dtype == np.float32 and source == "rendered"
    assert x.min() == -1 and x.max() == 1 and set(np.unique(y)) == set(range(10))
    # UCI-style: pixel values are counts 0..16 of a 4x4 block.
    np.testing.assert_allclose(((x + 1) * 8) % 1, 0, atol=1e-5)
    a, _ = render_digits(per_class=2, seed=3)
    b, _ = render_digits(per_class=2, seed=3)
    np.testing.assert_array_equal(a, b)
    x16, _, _ = load_digits("rendered", 16)
    assert x16.shape == (1800, 1, 16, 16)
    tr, te = split_indices(100)
    assert len(te) == 20 and not set(tr) & set(te)
    t = two_gaussians(2000, 50, 10)
    assert t.shape == (2000, 50) and t.std() == pytest.approx(1, rel=1e-5)
    # Rank ~ 10: the data live near a 10-dim subspace.
    sv = np.linalg.svd(t - t.mean(0), compute_uv=False)
    assert sv[10] < 0.05 * sv[0]


def test_batches_are_pure_functions_of_seed_and_step():
    task = PFGMPPTask(**TOY)
    a, b, c = task.batch(3, seed=0), task.batch(3, seed=0), task.batch(4, seed=0)
    np.testing.assert_array_equal(a["y"], b["y"])
    assert a["y"].shape == (64, 16) and not np.array_equal(a["y"], c["y"])


def test_loss_and_trainable():
    task = PFGMPPTask(**TOY, D=4.0)
    model = task.init(key=jax.random.PRNGKey(0))
    loss, aux = task.loss(model, task.batch(0, seed=0), key=jax.random.PRNGKey(1))
    assert np.isfinite(float(loss)) and float(aux["loss_per_dim"]) == pytest.approx(float(loss) / 16)
    spec = task.trainable(model)
    assert spec.net.map_noise.B is False and spec.net.map_layer.weight is True


def test_frechet_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-8)
    b = a * 2 + 1  # N(1, 4 I): FD = 3 * 1 + 3 * (1 + 4 - 2 * 2) = 6
    assert frechet_distance(a, b) == pytest.approx(6, rel=0.05)
    assert math.isinf(frechet_distance(a, np.full((10, 3), np.nan)))


def test_fd_floor_resamples_the_training_set_and_falls_with_sample_size():
    """The floor is the FD of training digits drawn with replacement: above zero even with as many digits
    as the training set (a prefix or a permutation would score 0), and lower at 5,000 digits than at 100."""
    from sciml.pfgmpp.evaluation import resampled_fd_floor

    task = PFGMPPTask(data="digits", digits_source="rendered")
    ref = task.reference()
    n = len(ref.feats)
    full = resampled_fd_floor(ref, n, draws=3, seed=0)
    assert full.shape == (3,) and (full > 0.05).all()
    small, large = (resampled_fd_floor(ref, m, draws=3, seed=0).mean() for m in (100, 5000))
    assert large < 0.5 * small
    np.testing.assert_array_equal(full, resampled_fd_floor(ref, n, draws=3, seed=0))


def test_digits_reference_carries_the_classifiers_held_out_accuracy():
    """The digits reference carries the FD classifier's held-out accuracy, which `evaluate` reports as
    `classifier_acc` (the classifier is loaded once); a reference built without it would carry NaN."""
    from sciml.pfgmpp.frechet import load_classifier

    task = PFGMPPTask(data="digits", digits_source="rendered")
    _, accuracy = load_classifier("rendered", task.image_size)
    assert task.reference().classifier_acc == accuracy > 0.5


@pytest.mark.slow
def test_seeded_training_beats_untrained(tmp_path):
    """A short run on the toy lowers the loss and beats the untrained model's MMD and W2."""
    from sciml.runner import run

    overrides = [f"task.{k}={v}" for k, v in TOY.items()] + [
        "task.D=8", "task.eval_samples=300", "task.num_steps=10", "task.sigma_max=20.0",
        "train.steps=400", "train.log_every=50", "train.checkpoint_every=0",
    ]
    r = run("experiments/pfgmpp/toy.yaml", overrides, runs_dir=tmp_path, progress=False)
    losses = [m["loss"] for m in r.metrics if "loss" in m and "w2" not in m]
    assert losses[-1] < 0.7 * losses[0]
    task = r.task
    untrained = task.evaluate(task.init(key=jax.random.PRNGKey(0)), key=jax.random.PRNGKey(1), run_dir=tmp_path / "u")
    assert r.final["mmd"] < 0.5 * untrained["mmd"]
    assert r.final["w2"] < untrained["w2"]
    assert (r.dir / "samples.png").exists()
