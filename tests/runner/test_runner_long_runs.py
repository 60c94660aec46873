"""Runner features for long runs: gradient accumulation, bf16 compute, validation and model selection,
early stopping, TensorBoard, re-evaluation, extending a finished run, CLI sweeps, dry runs."""

import csv
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import toy_task  # noqa: F401  (registers toy_regression)
import yaml
from tensorboardX.proto import event_pb2

from sciml.data.tfrecord import read_tfrecord
from sciml.runner import ConfigError, load, load_config, run
from sciml.runner.checkpoint import Checkpoints
from sciml.runner.cli import main
from sciml.runner.devices import shard_local_batch
from sciml.runner.train import Trainer, _Selector

TOY = {
    "experiment": "toy",
    "name": "reg",
    "task": {"name": "toy_regression", "batch_size": 16},
    "train": {"steps": 40, "log_every": 10, "checkpoint_every": 10, "keep": 10},
    "optim": {"lr": 1e-2},
}


def _with(**sections) -> dict:
    cfg = json.loads(json.dumps(TOY))
    for section, values in sections.items():
        cfg[section] = {**cfg.get(section, {}), **values} if isinstance(values, dict) else values
    return cfg


def _leaves(model):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array))]


def _write_config(tmp_path, cfg) -> str:
    import yaml

    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


# ------------------------------------------------------------------------ gradient accumulation


def test_accumulating_k_micro_batches_equals_one_k_times_larger_batch():
    """Plain SGD (the update is the gradient itself): 2 steps of K=2 micro-batches of 8 examples must
    equal 2 steps on the concatenated 16-example batches (a sum instead of a mean, or a dropped
    micro-batch, would not)."""
    optim = {"name": "sgd", "lr": 0.05, "b1": 0.0}
    big = Trainer(load_config(_with(optim=optim)))
    small = Trainer(load_config(_with(optim=optim, task={"batch_size": 8}, train={"accumulate": 2})))
    assert small.batch_size() == big.batch_size() == 16
    state_big, state_small = big.place(big.init_state()), small.place(small.init_state())
    for s in range(2):
        stacked = small.local_batch(s)  # [8, 2, ...]: micro-batches of task steps 2s and 2s + 1
        assert stacked["x"].shape == (8, 2, 3)
        concat = jax.tree_util.tree_map(lambda x: np.concatenate([x[:, 0], x[:, 1]]), stacked)
        state_small, m_small = small.step(jnp.asarray(s), state_small, shard_local_batch(stacked, small.mesh))
        state_big, m_big = big.step(jnp.asarray(s), state_big, shard_local_batch(concat, big.mesh))
        np.testing.assert_allclose(float(m_small["loss"]), float(m_big["loss"]), rtol=1e-5)
    for a, b in zip(_leaves(state_small.model), _leaves(state_big.model)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------ mixed precision


def test_bfloat16_compute_follows_the_float32_loss_curve_and_keeps_float32_weights(tmp_path):
    f32 = run(_with(name="f32", train={"steps": 100, "log_every": 10}), runs_dir=tmp_path, progress=False)
    bf16 = run(_with(name="bf16", train={"steps": 100, "log_every": 10, "precision": "bfloat16"}),
               runs_dir=tmp_path, progress=False)
    _, loss32 = f32.history("loss")
    _, loss16 = bf16.history("loss")
    # Stated tolerance: bf16 keeps 8 bits of mantissa; the logged means stay within 10% of float32's.
    np.testing.assert_allclose(loss16, loss32, rtol=0.1)
    assert not np.array_equal(loss16, loss32)  # the compute really was in bf16
    assert {x.dtype for x in _leaves(bf16.model)} == {np.dtype("float32")}


def test_dropout_masks_setting_reaches_its_own_trainers_step_only():
    """train.dropout_masks=hash must change the step's masks (so its loss), and only that trainer's: default
    trainers built before it and run after it must still draw threefry masks, bit for bit."""
    cfg = lambda masks=None: load_config(_with(task={"dropout": 0.5},  # noqa: E731
                                               train={} if masks is None else {"dropout_masks": masks}))
    default, threefry, hashed = Trainer(cfg()), Trainer(cfg("threefry")), Trainer(cfg("hash"))

    def first_loss(trainer):
        state = trainer.place(trainer.init_state())
        _, m = trainer.step(jnp.asarray(0), state, trainer.device_batch(0))
        return float(m["loss"])

    losses = [first_loss(t) for t in (default, threefry, hashed)]
    assert losses[0] == losses[1] and losses[2] != losses[1]
    with pytest.raises(ConfigError, match="dropout_masks"):
        cfg("philox")


# ------------------------------------------------------------------------ validation, selection, early stopping


def test_selector_keeps_the_best_and_counts_patience(tmp_path):
    class Best(Checkpoints):
        saved = []

        def save(self, step, state, meta):
            self.saved.append(step)

    train = load_config(_with(train={"validate_every": 1, "select": "val/loss", "patience": 2})).train
    sel = _Selector(train, Best(tmp_path))
    # An improvement resets the count: it stops at the second selection without one after step 3.
    values = [(1, 3.0), (2, 3.5), (3, 2.0), (4, 2.5), (5, 2.0)]
    assert [sel.update(s, v, None) for s, v in values] == [False] * 4 + [True]
    assert Best.saved == [1, 3] and sel.best_step == 3 and sel.best_value == 2.0


def test_validation_logs_and_the_best_checkpoint_is_loadable(tmp_path):
    r = run(_with(train={"validate_every": 10, "select": "val/loss"}), runs_dir=tmp_path, progress=False)
    steps, val = r.history("val/loss")
    assert list(steps) == [10, 20, 30, 40] and val[-1] < val[0]
    best_step = int(steps[np.argmin(val)])
    assert r.final["best_step"] == best_step and r.final["best_val/loss"] == pytest.approx(val.min())
    best = load(r.dir, which="best")
    at_step = load(r.dir, step=best_step)
    for a, b in zip(_leaves(best.model), _leaves(at_step.model)):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_stops_after_patience_selections_without_improvement(tmp_path):
    # The validation loss falls, so with select_mode=max only the first selection is ever "best".
    cfg = _with(train={"steps": 100, "validate_every": 10, "select": "val/loss", "select_mode": "max", "patience": 2})
    r = run(cfg, runs_dir=tmp_path, progress=False)
    assert r.final["stopped_early_at"] == 30 and r.final["steps_executed"] == 30 and r.final["best_step"] == 10


def test_validation_needs_the_task_hook_and_select_needs_its_metric():
    with pytest.raises(ConfigError, match="train.select=val/loss needs train.validate_every"):
        load_config(_with(train={"select": "val/loss"}))
    with pytest.raises(ConfigError, match="train.patience needs train.select"):
        load_config(_with(train={"patience": 3}))


# ------------------------------------------------------------------------ tracking


def _events(run_dir):
    events = []
    for path in sorted((run_dir / "tensorboard").rglob("events.out.tfevents.*")):
        for record in read_tfrecord(path):
            e = event_pb2.Event()
            e.ParseFromString(record)
            events.append(e)
    return events


def test_tensorboard_event_files_hold_scalars_hparams_and_figures(tmp_path):
    r = run(_with(task={"figure": True}), runs_dir=tmp_path, progress=False)
    events = _events(r.dir)
    tags = {v.tag for e in events for v in e.summary.value}
    assert {"loss", "grad_norm", "eval/test_mse", "fit"} <= tags
    losses = {e.step: v.simple_value for e in events for v in e.summary.value if v.tag == "loss"}
    steps, logged = r.history("loss")
    np.testing.assert_allclose([losses[s] for s in steps], logged, rtol=1e-6)
    assert any(v.tag == "_hparams_/experiment" for e in events for v in e.summary.value)
    versions = json.loads((r.dir / "versions.json").read_text())
    assert versions["jax"] == jax.__version__ and versions["equinox"] == eqx.__version__


def test_wandb_without_the_package_is_a_clear_error(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_wandb(name, *args, **kwargs):
        if name == "wandb":
            raise ImportError("No module named 'wandb'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wandb)
    with pytest.raises(ConfigError, match="train.wandb=proj needs the wandb package"):
        run(_with(train={"wandb": "proj"}), runs_dir=tmp_path, progress=False)


# ------------------------------------------------------------------------ re-evaluation


def test_eval_cli_takes_task_overrides_a_step_or_the_best(tmp_path, capsys):
    r = run(_with(train={"validate_every": 10, "select": "val/loss"}), runs_dir=tmp_path, progress=False)
    out = tmp_path / "ev"
    assert main(["eval", str(r.dir), "--step", "20", "--out", str(out)]) == 0
    at20 = json.loads((out / "eval.json").read_text())["test_mse"]
    assert at20 == pytest.approx(load(r.dir, step=20).evaluate(out_dir=tmp_path / "x")["test_mse"], rel=1e-6)
    assert at20 != pytest.approx(r.final["test_mse"], rel=1e-3)
    assert main(["eval", str(r.dir), "task.eval_size=32", "--out", str(out)]) == 0
    assert json.loads((out / "eval.json").read_text())["test_mse"] != pytest.approx(r.final["test_mse"], rel=1e-6)
    assert yaml.safe_load((out / "eval_config.yaml").read_text())["task"]["eval_size"] == 32  # what was evaluated
    assert main(["eval", str(r.dir), "--best", "--out", str(out)]) == 0
    assert json.loads((out / "eval.json").read_text())["test_mse"] == pytest.approx(r.final["test_mse"], rel=1e-6)
    assert main(["eval", str(r.dir), "optim.lr=1"]) == 2
    assert "only task.* settings can change" in capsys.readouterr().err
    assert main(["eval", str(r.dir), "--step", "7"]) == 2
    assert "no checkpoint of step 7" in capsys.readouterr().err


# ------------------------------------------------------------------------ extending a run


def test_raising_train_steps_extends_a_finished_run_to_the_uninterrupted_result(tmp_path):
    short = run(TOY, runs_dir=tmp_path / "a", progress=False).final
    longer = run(_with(train={"steps": 60}), runs_dir=tmp_path / "a", progress=False)
    assert longer.final["resumed_from"] == 40 and longer.final["steps_executed"] == 20
    assert json.loads((longer.dir / "final_40.json").read_text()) == short
    straight = run(_with(train={"steps": 60}), runs_dir=tmp_path / "b", progress=False)
    for a, b in zip(_leaves(longer.model), _leaves(straight.model)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match="differs in .*train.steps.*only train.steps may grow"):
        run(_with(train={"steps": 50}), runs_dir=tmp_path / "a", progress=False)


def test_extending_a_cosine_run_needs_decay_steps_so_the_schedule_stays(tmp_path):
    cosine = {"schedule": "cosine"}
    run(_with(optim=cosine), runs_dir=tmp_path, progress=False)
    with pytest.raises(ConfigError, match=r"cosine schedule .* add optim.decay_steps=40"):
        run(_with(optim=cosine, train={"steps": 60}), runs_dir=tmp_path, progress=False)
    r = run(_with(optim={**cosine, "decay_steps": 40}, train={"steps": 60}), runs_dir=tmp_path, progress=False)
    assert r.final["resumed_from"] == 40


# ------------------------------------------------------------------------ sweeps from the command line


def test_multirun_sweep_writes_seed_mean_and_spread(tmp_path):
    cfg = _write_config(tmp_path, _with(train={"steps": 20, "checkpoint_every": 0}))
    runs = tmp_path / "runs"
    assert main(["--import", "toy_task", "sweep", cfg, "--runs-dir", str(runs), "--no-progress",
                 "-m", "train.seed=0,1,2", "task.width=4,8"]) == 0
    with open(runs / "toy" / "reg" / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    points = [r for r in rows if r["train.seed"] in ("0", "1", "2")]
    assert len(points) == 6
    for width in ("4", "8"):
        mses = [float(r["test_mse"]) for r in points if r["task.width"] == width]
        (mean,) = [r for r in rows if r["task.width"] == width and r["train.seed"] == "mean"]
        (std,) = [r for r in rows if r["task.width"] == width and r["train.seed"] == "std"]
        assert float(mean["test_mse"]) == pytest.approx(np.mean(mses), rel=1e-9)
        assert float(std["test_mse"]) == pytest.approx(np.std(mses, ddof=1), rel=1e-9)


# ------------------------------------------------------------------------ dry run


def test_dry_run_reports_parameters_flops_and_memory_without_training(tmp_path, capsys):
    cfg = _write_config(tmp_path, _with(task={"width": 4}))
    runs = tmp_path / "runs"
    assert main(["--import", "toy_task", "run", cfg, "--runs-dir", str(runs), "--dry-run", "task.width=8"]) == 0
    out = capsys.readouterr().out
    params = (3 * 8 + 8) + (8 * 2 + 2)  # MLP(3 -> 8 -> 2)
    model = load_config(_with(task={"width": 8})).task.init(key=jax.random.PRNGKey(0))
    assert sum(x.size for x in _leaves(model)) == params
    assert f"parameters:        {params:,} trainable" in out
    assert "FLOPs per step:" in out and "memory per device:" in out and "examples per step: 16" in out
    assert not runs.exists()


# ------------------------------------------------------------------------ the originals' optimisers


def test_exponential_schedule_decays_towards_end_lr_by_decay_rate_per_decay_steps():
    """MeshGraphNets' and GNS's schedule: end_lr + (lr - end_lr) * 0.1 ** (step / 5e6)."""
    from sciml.runner.optim import schedule

    cfg = load_config(_with(optim={"schedule": "exponential", "lr": 1.01e-4, "end_lr": 1e-6,
                                   "decay_steps": 1000, "decay_rate": 0.1})).optim
    lr = schedule(cfg, 10)
    np.testing.assert_allclose([lr(0), lr(1000), lr(2500)], [1.01e-4, 1.1e-5, 1e-6 + 1e-4 * 0.1**2.5], rtol=1e-6)
    warm = schedule(load_config(_with(optim={**cfg.__dict__, "warmup": 100})).optim, 10)
    np.testing.assert_allclose([warm(50), warm(100 + 1000)], [0.5 * 1.01e-4, 1.1e-5], rtol=1e-6)
    with pytest.raises(ConfigError, match="exponential needs optim.decay_steps"):
        load_config(_with(optim={"schedule": "exponential"}))


def test_adamax_adds_weight_decay_to_the_gradient_like_torch():
    import optax

    from sciml.runner.optim import base_optimiser

    cfg = load_config(_with(optim={"name": "adamax", "lr": 0.1, "weight_decay": 0.5})).optim
    params, grads = jnp.array([2.0, -1.0]), jnp.array([0.3, 0.0])
    ours = base_optimiser(cfg, 10)
    updates, _ = ours.update(grads, ours.init(params), params)
    ref = optax.adamax(0.1)
    expected, _ = ref.update(grads + 0.5 * params, ref.init(params), params)
    np.testing.assert_allclose(updates, expected, rtol=1e-6)
