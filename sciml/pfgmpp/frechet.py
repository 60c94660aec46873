"""Fréchet distance on the features of a small digits classifier: our stand-in for FID at digits scale.

FID compares Gaussian fits of Inception features; here the features are the 64-unit penultimate layer of
an MLP classifier trained once on the digits training split (fixed seed, full-batch Adam, light input
noise so generated digits are not out of distribution) and cached in the data cache's pfgmpp/ folder
(`sciml.data.cache.data_dir`). The distance is ||mu_a - mu_b||² + tr(S_a + S_b - 2 (S_a S_b)^1/2), i.e.
the squared Gaussian W2 (`sciml.metrics.gaussian_w2` squared).
Its values are not comparable with CIFAR FIDs; only orderings between our runs are.
Reference: Heusel et al. 2017 (FID); PFGM++ reports FID on CIFAR-10/FFHQ.
"""

import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from sciml import metrics
from sciml.data.cache import data_dir
from sciml.data.digits import load_digits, split_indices

FEATURE_DIM = 64
CLASSIFIER_STEPS = 1500


class DigitsClassifier(eqx.Module):
    """Flattened image -> 256 -> 64 (features) -> 10 logits, ReLU."""

    layers: tuple[eqx.nn.Linear, eqx.nn.Linear]
    head: eqx.nn.Linear

    def __init__(self, num_pixels: int, *, key: PRNGKeyArray):
        k1, k2, k3 = jax.random.split(key, 3)
        self.layers = (eqx.nn.Linear(num_pixels, 256, key=k1), eqx.nn.Linear(256, FEATURE_DIM, key=k2))
        self.head = eqx.nn.Linear(FEATURE_DIM, 10, key=k3)

    def features(self, x: Float[Array, "..."]) -> Float[Array, " f"]:
        h = x.reshape(-1)
        for layer in self.layers:
            h = jax.nn.relu(layer(h))
        return h

    def __call__(self, x: Float[Array, "..."]) -> Float[Array, " 10"]:
        return self.head(self.features(x))


def train_classifier(
    images: Float[ArrayLike, "n ..."], labels: Int[ArrayLike, " n"], *, seed: int = 0, steps: int = CLASSIFIER_STEPS
) -> DigitsClassifier:
    """Full-batch Adam on cross-entropy with Gaussian input noise (std 0.1) and weight decay."""
    images, labels = jnp.asarray(images), jnp.asarray(labels)
    key = jax.random.PRNGKey(seed)
    model = DigitsClassifier(int(np.prod(images.shape[1:])), key=key)
    opt = optax.adamw(1e-3, weight_decay=1e-4)
    state = opt.init(eqx.filter(model, eqx.is_array))

    @eqx.filter_jit
    def step(model, state, key):
        def loss_fn(m):
            x = images + 0.1 * jax.random.normal(key, images.shape)
            logits = jax.vmap(m)(x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        grads = eqx.filter_grad(loss_fn)(model)
        updates, state = opt.update(grads, state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), state

    for k in jax.random.split(jax.random.PRNGKey(seed + 1), steps):
        model, state = step(model, state, k)
    return model


def accuracy(model: DigitsClassifier, images: ArrayLike, labels: ArrayLike) -> float:
    """Fraction of images classified correctly."""
    pred = jnp.argmax(jax.vmap(model)(jnp.asarray(images)), axis=-1)
    return float(jnp.mean(pred == jnp.asarray(labels)))


def load_classifier(source: str = "auto", size: int = 8) -> tuple[DigitsClassifier, float]:
    """The cached classifier for these digits (trained on the fixed training split on first use) and
    its test accuracy."""
    images, labels, source = load_digits(source, size)
    train, test = split_indices(len(images))
    path = data_dir("pfgmpp") / f"digits_classifier_{source}_{size}.eqx"
    skeleton = DigitsClassifier(size * size, key=jax.random.PRNGKey(0))
    if path.exists():
        model = eqx.tree_deserialise_leaves(path, skeleton)
    else:
        model = train_classifier(images[train], labels[train])
        # Through a process-unique temporary file and a rename, as `sciml.data.cache` writes its entries.
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        try:
            eqx.tree_serialise_leaves(tmp, model)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return model, accuracy(model, images[test], labels[test])


def classifier_features(model: DigitsClassifier, images: ArrayLike, chunk: int = 4096) -> np.ndarray:
    """Penultimate-layer features [n, 64] as float64 NumPy."""
    images = jnp.asarray(images)
    f = jax.jit(jax.vmap(model.features))
    return np.concatenate([np.asarray(f(images[i : i + chunk]), np.float64) for i in range(0, len(images), chunk)])


def frechet_distance(feats_a: ArrayLike, feats_b: ArrayLike) -> float:
    """||mu_a - mu_b||² + tr(S_a + S_b - 2 (S_a S_b)^1/2) between Gaussian fits of two feature sets."""
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(f"need two feature sets [n >= 2, f] of one width, got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("inf")
    # ReLU features have dead units, so the covariances are singular: gaussian_w2 uses eigensolvers.
    return float(metrics.gaussian_w2(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)) ** 2)



