"""A small seeded pretraining through the runner must beat predicting the prior's mean rate by a clear margin."""

import numpy as np
import pytest

from sciml.runner import run

TINY = [
    "train.steps=400", "train.log_every=50", "optim.lr=3e-3", "optim.warmup=20",
    "task.width=48", "task.depth=1", "task.num_heads=2", "task.ff_width=64", "task.num_queries=2",
    "task.head_width=64", "task.num_processes=400", "task.paths_per_process=16", "task.grid_size=20",
    "task.dfr_grid_size=20", "task.min_states=2", "task.max_states=3", "task.batch_size=16",
    "task.min_paths=8", "task.max_paths=8", "task.eval_processes=80", "task.dfr_batches=1",
    "task.dfr_paths=16", "task.path_counts=[8,16]", "task.eval_mle=false", "task.cache=false",
]

#: Held-out RMSE must be below these fractions of the prior mean's, over all processes and per number of
#: states (issue 17: the original's tokens and heads reach 0.93 and 1.03 for n = 3 on this budget).
MARGIN, MARGIN_PER_STATES = 0.7, 0.8


@pytest.mark.slow
def test_small_pretraining_beats_prior_mean_clearly(tmp_path):
    r = run("experiments/fim/pretrain.yaml", TINY, runs_dir=tmp_path, progress=False)
    losses = [m["loss"] for m in r.metrics if "loss" in m and "grad_norm" in m]
    assert np.mean(losses[-2:]) < losses[0]
    f = r.final
    assert f["synthetic_rmse"] < MARGIN * f["synthetic_rmse_prior_mean"], f
    for n in (2, 3):
        assert f[f"synthetic_rmse_n{n}"] < MARGIN_PER_STATES * f[f"synthetic_rmse_prior_mean_n{n}"], (n, f)
