"""A seeded small GIOROM training through the runner beats the constant-velocity baseline."""

import json

import numpy as np
import pytest

from sciml.runner import run

TINY = ["task.num_particles=96", "task.num_frames=40", "task.num_train=2", "task.num_test=1",
        "task.materials=[elastic]", "task.cache=false", "task.width=32", "task.batch_size=4", "task.eval_steps=12",
        "task.timing_steps=2",
        "task.timing_repeats=1", "task.figures=false", "task.eval_sparsities=[0.25]", "task.grid=16",
        "task.fno_modes=4", "task.fno_width=16", "task.gno_channels=16", "task.recon_grid=32",
        "train.log_every=50", "train.checkpoint_every=1000", "optim.lr=3e-3", "optim.warmup=20"]


@pytest.mark.slow
def test_giorom_one_step_error_beats_constant_velocity(tmp_path):
    r = run("experiments/giorom/giorom.yaml", TINY + ["task.sparsity=0.25", "train.steps=200", "name=tiny"],
            runs_dir=tmp_path, progress=False)
    f = r.final
    assert f["n_sparse"] == 24
    assert f["one_step_mse"] < 0.3 * f["one_step_mse_constant_velocity"], f
    assert np.isfinite(f["dense_mse"]) and f["recon_only_mse"] < f["dense_mse"] + 1e-9
    assert f["ms_per_step_with_recon"] > 0
    assert json.loads((r.dir / "final.json").read_text())["one_step_mse"] == pytest.approx(f["one_step_mse"])
    assert (r.dir / "rollouts.npz").exists()


def test_task_validation():
    from sciml.giorom.task import GIOROMTask, GNSTask

    with pytest.raises(ValueError, match="sparsity"):
        GIOROMTask(sparsity=0.0)
    with pytest.raises(ValueError, match="sampling"):
        GIOROMTask(sampling="grid")
    with pytest.raises(ValueError, match="unknown materials"):
        GNSTask(materials=("lava",))
    with pytest.raises(ValueError, match="fno_modes"):
        GIOROMTask(grid=16, fno_modes=12)
    with pytest.raises(ValueError, match="num_frames"):
        GNSTask(num_frames=4)
