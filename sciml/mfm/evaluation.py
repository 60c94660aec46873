"""Metrics of the MFM package: pure functions of a model and held-out samples (no task, no files).

- `toy_metrics`: the 2-D flow-matching task (`fm`): W2, W1 (exact, POT) and RBF MMD between pushed
  source samples and target samples, beside W2(source, target) and the two-sample floor.
- `population_problems`, `predict_populations`, `population_metrics`: the population tasks (`fm_pop`,
  `cgfm`, `mfm`): every evaluated source population is pushed through the learned flow (diffrax,
  adaptive Tsit5 or Heun steps) and compared with its target population by exact W1 and W2 (POT) and
  the RBF MMD of the original, averaged over populations; `identity_*` scores predicting the source.
- `inference_seconds`: wall time of one prediction of every population (`sciml.timing`).

Reference: Atanackovic et al. 2024, "Meta Flow Matching", Sec. 4-5 and their Tables 1-2 (metrics);
Lipman et al. 2023 (flow matching).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from sciml import metrics
from sciml.data.populations import Populations
from sciml.mfm.flow_matching import push_forward
from sciml.timing import median_seconds

#: Evaluation splits, in the order they are evaluated; a split's index is its stream of `eval_seed`.
SPLITS = ("train", "val", "test")
#: Timed repeats (after one warm-up call) of the inference time per population.
INFER_REPEATS = 3


@eqx.filter_jit
def push(model, x0, ts=None):
    """The 2-D field's samples at t = 1 [n, d], or its trajectories [k, n, d] at times `ts` (adaptive Tsit5)."""
    return push_forward(model, x0, ts=ts)


def toy_metrics(generated: np.ndarray, x0: np.ndarray, x1: np.ndarray, x1_again: np.ndarray) -> dict[str, float]:
    """Sample quality of generated target samples: W2, W1, MMD to `x1`, W2(source, target) and the floor
    (W2 between two independent target samples `x1_again`, `x1` of this size)."""
    return {
        "w2": metrics.w2(generated, x1),
        "w1": metrics.w1(generated, x1),
        "mmd": float(metrics.mmd_rbf(jnp.asarray(generated), jnp.asarray(x1))),
        "w2_source_target": metrics.w2(x0, x1),
        "w2_floor": metrics.w2(x1_again, x1),
    }


def population_problems(
    pops: Populations, num_train: int, rng: np.random.Generator, *, count: int, points: int, seen: bool
) -> dict[str, np.ndarray]:
    """The evaluated problems of one split: `count` targets spread evenly over it, `points`-point
    subsamples of each source and target (the same points when paired), CGFM weights and treatments.

    `seen`: the split holds the training populations (CGFM gets their one-hot); otherwise CGFM
    conditions on the average training one-hot, as the original does at an unseen population.
    """
    count = min(count, pops.num_targets)
    m = np.unique(np.linspace(0, pops.num_targets - 1, count).round().astype(int))
    n = pops.num_points
    idx0 = np.argsort(rng.random((len(m), n)), axis=1)[:, :points]
    idx1 = idx0 if pops.paired else np.argsort(rng.random((len(m), n)), axis=1)[:, :points]
    src = pops.source_of[m]
    if seen:
        weights = np.eye(num_train, dtype=np.float32)[src]
    else:
        weights = np.full((len(m), num_train), 1.0 / num_train, np.float32)
    return {
        "x0": pops.sources[src[:, None], idx0],
        "x1": pops.targets[m[:, None], idx1],
        "weights": weights,
        "treatment": pops.treatment[m].astype(np.int32),
        "names": np.array([pops.groups[s] + (f" {pops.treatments[t]}" if pops.treatments else "")
                           for s, t in zip(src, pops.treatment[m])]),
    }


@eqx.filter_jit
def _conditions(model, x0, weights, treatment):
    return jax.vmap(model.condition)(x0, weights, treatment)


@eqx.filter_jit
def _predict(model, x0, conds, rtol, steps):
    return jax.vmap(lambda s, c: model.predict(s, c, rtol=rtol, atol=rtol, steps=steps))(x0, conds)


def predict_populations(model, problems: dict, *, points: int, rtol: float, steps: int) -> np.ndarray:
    """Every problem's source pushed to t = 1 by a `PopulationFlow` [P, n, d].

    MFM embeds the first `points` source points, the population size it was trained on (the problems'
    subsamples are random permutations, so these are a uniform subsample): a kNN graph over a denser
    sample would have smaller neighbourhoods than in training. All points are then pushed.
    """
    weights = jnp.asarray(problems["weights"]) if model.num_populations else None
    embed_from = jnp.asarray(problems["x0"][:, :points])
    conds = _conditions(model, embed_from, weights, jnp.asarray(problems["treatment"]))
    return np.asarray(_predict(model, jnp.asarray(problems["x0"]), conds, rtol, steps))


@jax.jit
def _mmd(x, y):
    return jax.vmap(metrics.mmd_rbf)(x, y)


def population_scores(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """W1, W2 (exact, POT) and RBF MMD between each prediction and its target, averaged over populations."""
    w1 = [metrics.w1(p, t) for p, t in zip(pred, target)]
    w2 = [metrics.w2(p, t) for p, t in zip(pred, target)]
    mmd = np.asarray(_mmd(jnp.asarray(pred), jnp.asarray(target)))
    return {"w1": float(np.mean(w1)), "w2": float(np.mean(w2)), "mmd": float(np.mean(mmd))}


def population_metrics(
    model, problems: dict[str, dict | None], *, points: int, rtol: float, steps: int
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """(`{split}_{w1,w2,mmd}` and `identity_{split}_*` for every split in `SPLITS` with problems,
    the predictions of each split)."""
    out: dict[str, float] = {}
    preds: dict[str, np.ndarray] = {}
    for split in SPLITS:
        if problems.get(split) is None:
            continue
        preds[split] = predict_populations(model, problems[split], points=points, rtol=rtol, steps=steps)
        for name, x in (("", preds[split]), ("identity_", problems[split]["x0"])):
            scores = population_scores(x, problems[split]["x1"])
            out.update({f"{name}{split}_{k}": v for k, v in scores.items()})
    return out, preds


def inference_seconds(model, problems: dict, *, points: int, rtol: float, steps: int) -> float:
    """Median wall time of predicting every problem (embedding + ODE solve), `INFER_REPEATS` calls after
    one warm-up (`sciml.timing`)."""
    predict = lambda: predict_populations(model, problems, points=points, rtol=rtol, steps=steps)
    return median_seconds(predict, repeats=INFER_REPEATS, warmup=1)
