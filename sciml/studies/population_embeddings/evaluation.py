"""Metrics of the study: pure functions (no task, no files).

- `embed_populations`: a population encoder applied to many populations [P, n, d] -> [P, k].
- `cross_w2`, `pairwise_w2`: exact (POT) W2 between point clouds, `sciml.metrics.w2`.
- `latent_geometry`: GDE's geometry statistic, the Spearman rank correlation of latent L2 distance with W2
  over all pairs of populations. GDE (`sciml.gde.latent_geometry`) ranks against the closed-form W2 of
  known Gaussians / mixtures; these populations (letters, synthetic patients) have no closed form in
  common, so the true W2 here is the exact W2 between `geometry_points`-point samples (a deviation).
- `error_geometry`: does the latent geometry predict MFM's error on a new population? For every unseen
  problem, the latent distance of its source population to the nearest training source population
  against MFM's W2 error on it (Spearman), beside the same with the exact W2 to the nearest training
  source in place of the latent distance (what a perfect W2 geometry would give).

Reference: Fishman et al. 2025, "Generative Distribution Embeddings", Sec. 5.1 / Fig. 3 (latent distance
vs W2); Atanackovic et al. 2024, "Meta Flow Matching", Sec. 4-5 (W1 / W2 / MMD on unseen populations).
"""

import equinox as eqx
import jax
import numpy as np
import scipy.stats

from sciml import metrics
from sciml.studies.population_embeddings.encoders import latent_distances


@eqx.filter_jit
def _embed(embedding, x):
    return jax.vmap(embedding)(x)


def embed_populations(embedding: eqx.Module, populations: np.ndarray) -> np.ndarray:
    """Embeddings [P, k] of populations [P, n, d] (one jitted, vmapped call)."""
    x = np.asarray(populations, np.float32)
    if x.ndim != 3:
        raise ValueError(f"populations must have shape [P, n, d], got {x.shape}")
    return np.asarray(_embed(embedding, x))


def cross_w2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact W2 [A, B] between every population of a [A, n, d] and of b [B, m, d] (POT, on the host)."""
    return np.array([[metrics.w2(x, y) for y in b] for x in a])


def pairwise_w2(pops: np.ndarray) -> np.ndarray:
    """Exact W2 [P, P] between all pairs of populations [P, n, d] (each pair solved once; zero diagonal)."""
    n = len(pops)
    out = np.zeros((n, n))
    for i, j in zip(*np.triu_indices(n, 1), strict=True):
        out[i, j] = out[j, i] = metrics.w2(pops[i], pops[j])
    return out


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of two equal-length samples (NaN when either is constant or n < 3)."""
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"spearman needs samples of equal length, got {x.shape} and {y.shape}")
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(scipy.stats.spearmanr(x, y).statistic)


def latent_geometry(z: np.ndarray, w2: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(Spearman of latent distance vs W2, latent distances, W2) over all pairs i < j of the populations
    whose latents are z [P, k] and whose pairwise W2 is w2 [P, P]."""
    if w2.shape != (len(z), len(z)):
        raise ValueError(f"w2 must be [{len(z)}, {len(z)}] for {len(z)} latents, got {w2.shape}")
    iu = np.triu_indices(len(z), 1)
    lat = latent_distances(z, z)[iu]
    return spearman(lat, w2[iu]), lat, w2[iu]


def error_geometry(
    z_unseen: np.ndarray, z_train: np.ndarray, w2_unseen_train: np.ndarray, errors: np.ndarray
) -> dict[str, np.ndarray | float]:
    """How well distance to the training populations predicts the error on unseen ones.

    z_unseen [U, k], z_train [S, k]: latents of the unseen problems' sources and of the training sources;
    w2_unseen_train [U, S]: their exact W2; errors [U]: MFM's W2 error on each unseen problem.
    Returns the per-problem nearest distances and `spearman_latent` (nearest latent distance vs error),
    `spearman_w2` (nearest W2 vs error).
    """
    u = len(z_unseen)
    if w2_unseen_train.shape != (u, len(z_train)) or np.shape(errors) != (u,):
        raise ValueError(f"need w2_unseen_train [{u}, {len(z_train)}] and errors [{u}], got "
                         f"{w2_unseen_train.shape} and {np.shape(errors)}")
    nearest_latent = latent_distances(z_unseen, z_train).min(1)
    nearest_w2 = w2_unseen_train.min(1)
    return {
        "nearest_latent": nearest_latent,
        "nearest_w2": nearest_w2,
        "errors": np.asarray(errors, float),
        "spearman_latent": spearman(nearest_latent, errors),
        "spearman_w2": spearman(nearest_w2, errors),
    }
