import json
import os
import signal
import subprocess
import sys
import time

import equinox as eqx
import jax
import numpy as np
import pytest
import toy_task  # noqa: F401  (registers toy_regression)

from sciml.runner import ConfigError, load, run

TOY = {
    "experiment": "toy",
    "name": "reg",
    "task": {"name": "toy_regression"},
    "train": {"steps": 60, "log_every": 10, "checkpoint_every": 20},
    "optim": {"lr": 1e-2},
}


def _params(model):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array))]


def test_run_learns_logs_and_reopens(tmp_path):
    r = run(TOY, runs_dir=tmp_path, progress=False)
    steps, loss = r.history("loss")
    assert list(steps) == [10, 20, 30, 40, 50, 60]
    assert loss[-1] < 0.2 * loss[0]
    assert r.final["test_mse"] < 0.5 and r.final["step"] == 60
    assert (r.dir / "config.yaml").exists() and (r.dir / "metrics.jsonl").exists()
    again = run(TOY, runs_dir=tmp_path, progress=False)
    assert again.reopened and again.final == r.final
    loaded = load(r.dir)
    assert all(np.array_equal(a, b) for a, b in zip(_params(loaded.model), _params(r.model)))
    with pytest.raises(ConfigError, match="different config .*optim.lr"):
        run(TOY, ["optim.lr=0.5"], runs_dir=tmp_path, progress=False)


def test_resume_from_checkpoint_equals_uninterrupted(tmp_path):
    full = run(TOY, runs_dir=tmp_path / "a", progress=False)
    # Simulate an interruption: run 40 of 60 steps, then drop the final marker and later steps.
    partial = run(TOY, ["train.steps=40"], runs_dir=tmp_path / "b", progress=False)
    cfg_file = partial.dir / "config.yaml"
    cfg_file.write_text(cfg_file.read_text().replace("steps: 40", "steps: 60"))
    (partial.dir / "final.json").unlink()
    resumed = run(TOY, runs_dir=tmp_path / "b", progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(_params(full.model), _params(resumed.model)))
    assert [m["loss"] for m in resumed.metrics if "loss" in m] == [m["loss"] for m in full.metrics if "loss" in m]
    # A rerun that silently restarted from step 0 would end identical too (batches and keys are pure
    # functions of (seed, step)); the run's own record proves it started at the checkpoint.
    assert resumed.final["resumed_from"] == 40 and resumed.final["steps_executed"] == 20
    assert [m["resumed_from"] for m in resumed.metrics if "resumed_from" in m] == [0, 40]
    assert full.final["resumed_from"] == 0 and full.final["steps_executed"] == 60


def test_ema_model_lags_the_raw_model(tmp_path):
    r = run(TOY, ["train.ema=0.9", "name=ema"], runs_dir=tmp_path, progress=False)
    state = r.state
    assert state.ema is not None
    assert not all(np.array_equal(a, b) for a, b in zip(_params(state.model), _params(state.ema)))
    assert r.model is state.ema


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 46; .*last good checkpoint \(step 40\)"):
        run(TOY, ["task.nan_at_step=45", "train.log_every=1", "name=nan"], runs_dir=tmp_path, progress=False)
    ckpts = sorted(int(p.name) for p in (tmp_path / "toy" / "nan" / "checkpoints").iterdir() if p.name.isdigit())
    assert ckpts[-1] == 40
    assert not (tmp_path / "toy" / "nan" / "final.json").exists()


def test_batch_not_divisible_by_devices_is_an_error():
    from sciml.runner.devices import check_batch

    with pytest.raises(ValueError, match="batch size 10 is not divisible by the number of devices \\(4\\)"):
        check_batch({"x": np.zeros((10, 2))}, 4)
    with pytest.raises(ValueError, match="disagree"):
        check_batch({"x": np.zeros((8, 2)), "y": np.zeros((4,))}, 4)


@pytest.mark.slow
def test_sigkill_after_checkpoint_then_resume_matches(tmp_path, repo):
    args = ["train.steps=600", "train.checkpoint_every=100", "train.log_every=50", "task.batch_size=64",
            "task.coupling=independent", "task.eval_samples=200"]
    cmd = [sys.executable, "-m", "sciml.runner.cli", "run", "experiments/quickstart/flow_matching_2d.yaml",
           *args, "--no-progress"]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    ckdir = tmp_path / "killed" / "quickstart" / "flow_matching_2d" / "checkpoints"
    proc = subprocess.Popen([*cmd, "--runs-dir", str(tmp_path / "killed")], cwd=repo, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not (ckdir.exists() and any(p.name.isdigit() for p in ckdir.iterdir())):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    steps = sorted(int(p.name) for p in ckdir.iterdir() if p.name.isdigit() and (p / "_CHECKPOINT_METADATA").exists())
    assert steps and steps[-1] < 600, "the run must have been killed mid-way after a checkpoint"
    subprocess.run([*cmd, "--runs-dir", str(tmp_path / "killed")], cwd=repo, env=env, check=True,
                   capture_output=True)
    subprocess.run([*cmd, "--runs-dir", str(tmp_path / "clean")], cwd=repo, env=env, check=True,
                   capture_output=True)
    a = load(tmp_path / "killed" / "quickstart" / "flow_matching_2d")
    b = load(tmp_path / "clean" / "quickstart" / "flow_matching_2d")
    assert all(np.array_equal(x, y) for x, y in zip(_params(a.model), _params(b.model)))
    assert json.loads((a.dir / "final.json").read_text())["loss"] == pytest.approx(b.final["loss"], rel=1e-6)
    # The rerun started at the last checkpoint and executed only the remaining steps.
    assert a.final["resumed_from"] == steps[-1] > 0 and a.final["steps_executed"] == 600 - steps[-1]
    assert b.final["resumed_from"] == 0 and b.final["steps_executed"] == 600


def test_alternating_groups_update_on_their_own_steps(tmp_path):
    from sciml.runner import Trainer, load_config

    cfg = load_config(TOY, ["train.alternate=[first, rest]"])
    trainer = Trainer(cfg)
    state = trainer.place(trainer.init_state())
    snap = lambda s: ([np.asarray(x) for x in jax.tree_util.tree_leaves(s.model.layers[0])],
                      [np.asarray(x) for x in jax.tree_util.tree_leaves(s.model.layers[1:])])
    first0, rest0 = snap(state)
    state, _ = trainer.step(jax.numpy.asarray(0), state, trainer.device_batch(0))
    first1, rest1 = snap(state)
    assert not all(np.array_equal(a, b) for a, b in zip(first0, first1))
    assert all(np.array_equal(a, b) for a, b in zip(rest0, rest1))
    state, _ = trainer.step(jax.numpy.asarray(1), state, trainer.device_batch(1))
    first2, rest2 = snap(state)
    assert all(np.array_equal(a, b) for a, b in zip(first1, first2))
    assert not all(np.array_equal(a, b) for a, b in zip(rest1, rest2))
    r = run(TOY, ["train.alternate=[first, rest]", "name=alt"], runs_dir=tmp_path, progress=False)
    _, loss = r.history("loss")
    assert loss[-1] < 0.5 * loss[0]
    with pytest.raises(ValueError, match=r"groups \['first'\] not in train.alternate \['rest', 'other'\]"):
        Trainer(load_config(TOY, ["train.alternate=[rest, other]"])).init_state()
