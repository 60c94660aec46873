"""Metrics of the study: GDE's reconstruction W2 against the number of sampler steps, and the
seed summaries of the study's table. Pure functions (no task, no files).

- `nfe_sweep`: decode the same latents with the same prior draws at each number of Heun levels n
  (NFE = 2n - 1) and score each with GDE's `reconstruction_metrics` against the same exact samples.
- `summarise`: mean and spread (sample std, ddof = 1) over seeds of each metric, per row.

Reference: Xu et al. 2023, "PFGM++", Sec. 5.3 / Fig. 5b (robustness to fewer steps); Fishman et al.
2025, "Generative Distribution Embeddings", Table 2 (reconstruction W2).
"""

from collections.abc import Iterable, Mapping, Sequence

import jax
import numpy as np

from sciml.gde import GDE, reconstruction_metrics, sample_sets
from sciml.studies.pfgm_generator.generator import PFGMGenerator


def nfe_key(num_steps: int) -> str:
    """The final.json key of the reconstruction W2 sampled with `num_steps` Heun levels."""
    return f"recon_w2_nfe{2 * num_steps - 1}"


def nfe_sweep(
    model: GDE,
    z: np.ndarray,
    sets: np.ndarray,
    params: Mapping[str, np.ndarray],
    steps: Sequence[int],
    num: int,
    *,
    key,
    ref_seed: Sequence[int],
    sample_w2_points: int = 0,
) -> dict[int, dict[str, float]]:
    """{num_steps: reconstruction metrics} of the latents z [n, latent] of `sets` (true distributions
    `params`, n of them) decoded with `num` points each at every sampler length in `steps`.

    Every length uses the same `key` (so the same prior draws) and a fresh `np.random.default_rng(ref_seed)`
    (so the same exact reference samples): the lengths differ by the sampler alone.
    """
    if not isinstance(model.generator, PFGMGenerator):
        raise TypeError(f"the NFE sweep needs a PFGMGenerator, got {type(model.generator).__name__}")
    if not steps or any(int(n) < 1 for n in steps):
        raise ValueError(f"steps must be a non-empty list of integers >= 1, got {list(steps)}")
    out = {}
    for n in steps:
        m = GDE(model.encoder, model.generator.with_num_steps(int(n)), model.shift, model.scale)
        gen = sample_sets(m, z, num, key=key)
        out[int(n)] = reconstruction_metrics(gen, sets, dict(params), np.random.default_rng(list(ref_seed)),
                                             sample_w2_points=sample_w2_points)
    return out


def summarise(rows: Mapping[str, Iterable[Mapping[str, float]]], keys: Sequence[str]) -> dict[str, dict]:
    """{row: {metric: (mean, std, seeds)}} over the per-seed results of each row (std with ddof = 1;
    NaN for one seed); a metric missing from some seed's result is an error."""
    out = {}
    for row, results in rows.items():
        results = list(results)
        if not results:
            raise ValueError(f"row {row!r} has no results")
        out[row] = {}
        for k in keys:
            missing = [i for i, r in enumerate(results) if k not in r]
            if missing:
                raise KeyError(f"row {row!r}: results {missing} lack {k!r}")
            v = np.asarray([r[k] for r in results], dtype=np.float64)
            out[row][k] = (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), len(v))
    return out


def seed_from_key(key) -> list[int]:
    """Four 31-bit words from a JAX key, for a NumPy generator of exact reference samples."""
    return np.asarray(jax.random.randint(key, (4,), 0, 2**31 - 1)).tolist()
