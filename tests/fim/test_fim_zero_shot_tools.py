"""Issue 17 tools: the rate head's count residual, the synthetic validation batch and the FIM-vs-MLE table."""

import dataclasses
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.data.mjp import MJPPrior, make_mjp_dataset, path_batch
from sciml.fim import FIMMJP
from sciml.fim.evaluation import fim_vs_mle
from sciml.fim.inference import rate_rmse
from sciml.fim.mle import mle_rate_matrix
from sciml.fim.statistics import count_statistics
from sciml.fim.task import FIMMJPTask
from sciml.runner.config import load_config

SMALL = dict(d_model=24, num_layers=1, num_heads=2, ff_dim=32, num_queries=3, head_width=16, dropout=0.0)


def _zero_rate_head(model: FIMMJP) -> FIMMJP:
    last = model.rate_head.layers[-1]
    return eqx.tree_at(lambda m: (m.rate_head.layers[-1].weight, m.rate_head.layers[-1].bias), model,
                       (jnp.zeros_like(last.weight), jnp.zeros_like(last.bias)))


def test_rate_residual_starts_from_the_counts_crude_log_rates():
    """With a rate head that outputs zero, `rate_residual` predicts exactly the pooled counts' log-rates
    (the first n(n-1) count statistics, in log_mean's row-major order); without it, zero."""
    rng = np.random.default_rng(0)
    P, L = 5, 15
    times = jnp.asarray(np.sort(rng.random((P, L)), axis=1).astype(np.float32))
    states = jnp.asarray(rng.integers(0, 6, (P, L)).astype(np.int32))
    lengths = jnp.full(P, L, jnp.int32)
    mask = jnp.ones(P, bool)
    stats = count_statistics(times, states, lengths, mask, 6)
    for residual in (True, False):
        model = _zero_rate_head(FIMMJP(**SMALL, count_features=True, rate_residual=residual,
                                       key=jax.random.PRNGKey(0)))
        out = model(times, states, lengths, mask)
        expected = stats[:30] if residual else jnp.zeros(30)
        np.testing.assert_allclose(out.log_mean, expected, rtol=1e-5, atol=1e-6)


def test_rate_residual_without_count_features_is_refused():
    with pytest.raises(ValueError, match="rate_residual needs count_features"):
        FIMMJP(**SMALL, rate_residual=True, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="rate_residual needs count_features"):
        FIMMJPTask(rate_residual=True)


TASK = FIMMJPTask(num_processes=40, paths_per_process=8, grid_size=20, eval_processes=30, max_paths=8,
                  min_paths=2, validation_processes=12, cache=False)


def test_validation_batch_is_held_out_and_the_same_for_every_training_seed():
    """Checkpoint selection must not see the final evaluation's held-out processes (nor the training set)
    and must score every training seed on the same processes."""
    v0, v1 = TASK.validation_batch(seed=0), TASK.validation_batch(seed=1)
    for k in v0:
        np.testing.assert_array_equal(v0[k], v1[k])
    assert v0["Q"].shape[0] == 12 and v0["times"].shape[1] == TASK.max_paths
    n_paths = v0["path_mask"].sum(1)
    assert n_paths.min() >= TASK.min_paths and n_paths.max() <= TASK.max_paths
    for other in (TASK.heldout()["Q"], TASK.dataset()["Q"]):
        assert not any(np.allclose(q, o) for q in v0["Q"] for o in other)
    assert dataclasses.replace(TASK, validation_processes=0).validation_batch(seed=0) is None


def test_fim_vs_mle_scores_both_on_the_same_first_paths(monkeypatch):
    """The fraction counts the processes where FIM's RMSE is strictly below the MLE's, per n and P, and both
    see the first P paths of each process (the MLE's RMSE falls with P). FIM's inference is replaced by an
    estimate 10% above the truth, so the expected fraction is computed independently."""
    data = make_mjp_dataset(3, 6, 40, grid_size=30, p_regular=1.0, prior=MJPPrior(min_states=3, max_states=3))
    truth = {i: data["Q"][i, :3, :3] for i in range(6)}
    calls = []

    def fake_infer(model, times, states, lengths, *, n_states, t_norm, chunk_size):
        calls.append(times.shape[0])
        i = next(j for j in range(6) if np.array_equal(states, fake_infer.batch["states"][j, : times.shape[0]]))
        return type("E", (), {"Q": 1.1 * truth[i]})()

    fake_infer.batch = path_batch(data, np.arange(6), np.broadcast_to(np.arange(40), (6, 40)), np.full(6, 40))
    monkeypatch.setattr("sciml.fim.evaluation.infer_rate_matrix", fake_infer)
    out = fim_vs_mle(FIMMJP(**SMALL, key=jax.random.PRNGKey(0)), data, path_counts=(1, 40), chunk_size=8)
    assert out["processes_n3"] == 6 and sorted(set(calls)) == [1, 40]
    for P in (1, 40):
        b = fake_infer.batch
        mle = [rate_rmse(mle_rate_matrix(b["times"][i, :P] * 10.0, b["states"][i, :P], b["lengths"][i, :P],
                                         n_states=3, max_iter=200), truth[i]) for i in range(6)]
        fim = [rate_rmse(1.1 * truth[i], truth[i]) for i in range(6)]
        assert out[f"beats_mle_n3_paths{P}"] == pytest.approx(np.mean(np.array(fim) < np.array(mle)))
        assert out[f"rmse_mle_n3_paths{P}"] == pytest.approx(np.mean(mle))
    assert out["rmse_mle_n3_paths40"] < out["rmse_mle_n3_paths1"]
    with pytest.raises(ValueError, match="paths per process"):
        fim_vs_mle(FIMMJP(**SMALL, key=jax.random.PRNGKey(0)), data, path_counts=(41,), chunk_size=8)


RESULTS = Path(__file__).resolve().parents[2] / "results" / "fim"


@pytest.mark.parametrize("config", sorted(RESULTS.glob("*/config.yaml")), ids=lambda p: p.parent.name)
def test_recorded_configs_still_load_and_match_their_experiment(config):
    """A recorded run's config must load with the current task (a renamed or removed field breaks
    `sciml eval` of the record) and keep the network switches of the experiment it names."""
    c = load_config(config)
    assert isinstance(c.task, FIMMJPTask)
    experiment = Path("experiments/fim") / f"{c.name.rsplit('_seed', 1)[0].split('_processes')[0]}.yaml"
    e = load_config(Path(__file__).resolve().parents[2] / experiment)
    for field in ("transition_tokens", "count_features", "rate_residual", "width", "depth", "max_paths"):
        assert getattr(c.task, field) == getattr(e.task, field), (field, config)
