"""The training loop: one jitted SPMD step, checkpoints that resume exactly, logs and evaluation.

The batch of step s and the step's random key are pure functions of (seed, s), so a killed run that
restarts from its latest checkpoint ends exactly where an uninterrupted run ends, and every process
computes the same global batch and places only its own slice.
"""

import dataclasses
import json
import signal
import sys
import threading
import time
from functools import cached_property
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import yaml
from jaxtyping import PyTree
from tqdm.auto import tqdm

from sciml.files import dumps, read_jsonl, write_atomic, write_json
from sciml.runner.checkpoint import Checkpoints
from sciml.runner.compile_cache import enable_compile_cache
from sciml.runner.config import ConfigError, RunConfig, load_config
from sciml.runner.devices import check_batch, data_mesh, replicate, shard_local_batch
from sciml.runner.lock import RunLock
from sciml.runner.optim import make_optimiser

#: Keys of the run's random streams, folded into the seed.
_TRAIN_STREAM, _INIT_STREAM, _EVAL_STREAM = 0, 1, 2


class TrainState(eqx.Module):
    """Everything a checkpoint must hold: the model, the optimiser state and the EMA model."""

    model: eqx.Module
    opt_state: PyTree
    ema: eqx.Module | None


class Trainer:
    """Builds the state and the jitted step of a configured run on a ("data",) mesh."""

    def __init__(self, config: RunConfig, mesh: jax.sharding.Mesh | None = None):
        enable_compile_cache()
        self.config = config
        self.task = config.task
        self.mesh = data_mesh() if mesh is None else mesh
        self.optimiser = make_optimiser(
            config.optim,
            config.train.steps,
            alternate=config.train.alternate,
            labels=self.task.param_labels,
        )
        self.seed_key = jax.random.PRNGKey(config.train.seed)
        self.step = self._make_step()

    def key(self, stream: int, index: int = 0) -> jax.Array:
        return jax.random.fold_in(jax.random.fold_in(self.seed_key, stream), index)

    def init_state(self) -> TrainState:
        """The initial state on the host (identical on every process)."""
        model = self.task.init(key=self.key(_INIT_STREAM))
        params = eqx.filter(model, self.task.trainable(model))
        ema = model if self.config.train.ema > 0 else None
        return TrainState(model, self.optimiser.init(params), ema)

    def place(self, state: TrainState) -> TrainState:
        """Replicate a host state on every device."""
        return replicate(state, self.mesh)

    def local_batch(self, step: int) -> PyTree:
        """This process's share of step `step`'s batch (the task's `process_batch` hook)."""
        process = (jax.process_index(), jax.process_count())
        return self.task.process_batch(step, seed=self.config.train.seed, process=process, num_devices=self.mesh.size)

    def device_batch(self, step: int) -> PyTree:
        return shard_local_batch(self.local_batch(step), self.mesh)

    def batch_size(self) -> int:
        """The global batch size."""
        return check_batch(self.local_batch(0), 1) * jax.process_count()

    def _make_step(self):
        task, optimiser, decay, seed_key = self.task, self.optimiser, self.config.train.ema, self.seed_key

        @eqx.filter_jit(donate="all-except-first")
        def step(step_index, state: TrainState, batch):
            key = jax.random.fold_in(jax.random.fold_in(seed_key, _TRAIN_STREAM), step_index)
            params, static = eqx.partition(state.model, task.trainable(state.model))

            def loss_fn(p):
                return task.loss(eqx.combine(p, static), batch, key=key)

            (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
            updates, opt_state = optimiser.update(grads, state.opt_state, params)
            model = eqx.combine(optax.apply_updates(params, updates), static)
            ema = state.ema
            if ema is not None:
                ema = jax.tree_util.tree_map(
                    lambda e, p: decay * e + (1 - decay) * p if eqx.is_inexact_array(p) else p,
                    ema,
                    model,
                )
            metrics = {"loss": loss, **aux, "grad_norm": optax.tree.norm(grads)}
            return TrainState(model, opt_state, ema), metrics

        return step


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped the run; a checkpoint of the interrupted step was saved (when there was one to save)."""

    def __init__(self, step: int):
        super().__init__(f"interrupted at step {step}; rerun to resume")
        self.step = step


@dataclasses.dataclass
class Run:
    """A run directory and what it holds: config, metrics, final evaluation and the trained model."""

    dir: Path
    config: RunConfig
    reopened: bool = False  # True when `run` found the run already finished and trained nothing

    @property
    def task(self) -> Any:
        return self.config.task

    @property
    def metrics(self) -> list[dict]:
        return read_jsonl(self.dir / "metrics.jsonl")

    @property
    def final(self) -> dict:
        path = self.dir / "final.json"
        return _read_json(path) if path.exists() else {}

    @property
    def finished(self) -> bool:
        return (self.dir / "final.json").exists()

    @cached_property
    def state(self) -> TrainState:
        """The latest intact checkpointed train state, on the host (the run directory is not changed)."""
        trainer = Trainer(self.config, mesh=_local_mesh())
        ckpt = Checkpoints(self.dir / "checkpoints", keep=self.config.train.keep, read_only=True)
        state, _ = ckpt.restore(trainer.init_state())
        return jax.tree_util.tree_map(jnp.asarray, state)

    @property
    def model(self) -> eqx.Module:
        """The trained model (the EMA model when EMA is on)."""
        return self.state.ema if self.state.ema is not None else self.state.model

    def evaluate(self, *, step: int | None = None, out_dir: str | Path | None = None) -> dict:
        """Run the task's evaluation on the latest model again; figures go to `out_dir` (default
        `<run>/eval/`), so the run itself is never changed."""
        out_dir = Path(out_dir) if out_dir is not None else self.dir / "eval"
        out_dir.mkdir(parents=True, exist_ok=True)
        return _evaluate(self.config, self.model, out_dir, step or 0)

    def history(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one logged metric, e.g. `run.history("loss")`."""
        rows = [m for m in self.metrics if key in m]
        return np.array([m["step"] for m in rows]), np.array([m[key] for m in rows])


def _local_mesh():
    return jax.make_mesh((1,), ("data",), axis_types=(jax.sharding.AxisType.Auto,), devices=jax.local_devices()[:1])


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None


def _evaluate(config: RunConfig, model, run_dir: Path, step: int) -> dict:
    key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(config.train.seed), _EVAL_STREAM), step)
    out = config.task.evaluate(model, key=key, run_dir=run_dir)
    return {k: float(v) for k, v in out.items()}


def run_dir_of(config: RunConfig, runs_dir: str | Path) -> Path:
    return Path(runs_dir) / config.experiment / config.name


def load(run_dir: str | Path) -> Run:
    """Open a run directory written by `run`."""
    run_dir = Path(run_dir)
    path = run_dir / "config.yaml"
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no such directory)")
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.yaml)")
    return Run(run_dir, load_config(path))


def _previous_config(path: Path) -> dict | None:
    """The config a run directory holds; None when the file is empty or unreadable."""
    try:
        previous = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError):
        return None
    return previous if isinstance(previous, dict) else None


def _has_progress(run_dir: Path) -> bool:
    """Whether the run has anything to lose: a checkpoint or a final result."""
    if (run_dir / "final.json").exists():
        return True
    ck = run_dir / "checkpoints"
    return ck.is_dir() and any(p.name.isdigit() for p in ck.iterdir())


def run(
    config: "str | Path | dict | RunConfig",
    overrides: list[str] | tuple[str, ...] = (),
    *,
    runs_dir: str | Path = "runs",
    progress: bool = True,
) -> Run:
    """Train (or resume, or reopen if finished) the configured experiment; returns the `Run`.

    The run lives in `runs_dir/<experiment>/<name>/`. Re-running the same config resumes from the
    latest intact checkpoint; a finished run is returned as it is. A run directory holding a different
    config is an error (choose another `name`) unless it has neither a checkpoint nor a final result.
    A second process on the same run directory stops with "run already in progress (pid N)". Ctrl-C
    saves a checkpoint of the interrupted step and raises `Interrupted`.
    """
    config = load_config(config, overrides)
    run_dir = run_dir_of(config, runs_dir)
    primary = jax.process_index() == 0
    lock = RunLock(run_dir)
    if primary:
        run_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    try:
        reopened = _prepare_dir(config, run_dir, primary)
        if reopened is not None:
            return reopened
        _train(config, run_dir, primary, progress)
    finally:
        lock.release()
    return Run(run_dir, config)


def _prepare_dir(config: RunConfig, run_dir: Path, primary: bool) -> Run | None:
    """Check (or write) the run's config.yaml; the finished Run when there is nothing left to do."""
    resolved = config.to_dict()
    resolved.pop("sweep", None)
    cfg_path = run_dir / "config.yaml"
    if cfg_path.exists():
        previous = _previous_config(cfg_path)
        if previous != resolved:
            if _has_progress(run_dir):
                if previous is None:
                    raise ConfigError(f"{cfg_path} is empty or unreadable but the run has checkpoints; "
                                      "restore that file or delete the run directory")
                diff = sorted(_diff_keys(previous, resolved))
                raise ConfigError(
                    f"{run_dir} already holds a run with a different config (differs in {diff}); "
                    "use another name= or delete that directory"
                )
            if primary:  # nothing trained yet under the old config: take the new one
                write_atomic(cfg_path, yaml.safe_dump(resolved, sort_keys=False))
        elif (run_dir / "final.json").exists():
            return Run(run_dir, config, reopened=True)
    elif primary:
        write_atomic(cfg_path, yaml.safe_dump(resolved, sort_keys=False))
    return None


class _InterruptFlag:
    """While active, Ctrl-C sets a flag that the loop checks after each step (a second Ctrl-C aborts)."""

    def __init__(self):
        self.hit = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread() and jax.process_count() == 1:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.hit:
            raise KeyboardInterrupt
        self.hit = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _train(config: RunConfig, run_dir: Path, primary: bool, progress: bool) -> None:
    trainer = Trainer(config)
    train = config.train
    ckpt = Checkpoints(run_dir / "checkpoints", keep=train.keep, tidy=primary)
    state = trainer.init_state()
    start, last_loss = 0, float("nan")
    if ckpt.steps():
        state, meta = ckpt.restore(state)
        start = int(meta["step"])
        last_loss = meta.get("loss", last_loss)
        last_loss = float("nan") if last_loss is None else float(last_loss)
    _truncate_metrics(run_dir / "metrics.jsonl", start, primary)
    if start and not np.isfinite(last_loss):  # a checkpoint written before the loss was kept in its meta
        losses = [r["loss"] for r in read_jsonl(run_dir / "metrics.jsonl") if r.get("loss") is not None]
        last_loss = float(losses[-1]) if losses else last_loss
    state = trainer.place(state)
    log = _Log(run_dir / "metrics.jsonl", primary)
    ran = {"resumed_from": start, "device_count": trainer.mesh.size, "process_count": jax.process_count()}
    log.write({"step": start, **ran})

    bar = tqdm(
        total=train.steps, initial=start, disable=not (progress and primary), desc=config.name,
        mininterval=0.5 if sys.stderr.isatty() else 30.0,
    )
    pending: list[tuple[int, dict]] = []
    t_last, s_last = time.perf_counter(), start
    done = saved = start

    def save(step):
        nonlocal saved
        ckpt.save(step, state, {"step": step, "seed": train.seed, "loss": last_loss})
        saved = step

    try:
        with _InterruptFlag() as interrupt:
            for s in range(start, train.steps):
                state, metrics = trainer.step(jnp.asarray(s, jnp.int32), state, trainer.device_batch(s))
                pending.append((s + 1, metrics))
                done = s + 1
                at_log = train.log_every and done % train.log_every == 0
                at_ckpt = train.checkpoint_every and done % train.checkpoint_every == 0
                at_eval = train.eval_every and done % train.eval_every == 0 and done < train.steps
                if at_log or at_ckpt or at_eval or done == train.steps or interrupt.hit:
                    row = _flush(pending, ckpt)
                    pending = []
                    now = time.perf_counter()
                    row["steps_per_s"] = (done - s_last) / max(now - t_last, 1e-9)
                    t_last, s_last = now, done
                    last_loss = row["loss"]
                    log.write({"step": done, **row})
                    bar.set_postfix(loss=f"{row['loss']:.4g}", it_s=f"{row['steps_per_s']:.1f}")
                if at_ckpt or done == train.steps or interrupt.hit:
                    save(done)
                if interrupt.hit:
                    raise Interrupted(done)
                if at_eval and primary:
                    log.write({"step": done, **_prefixed(_evaluate(config, _host_model(state), run_dir, done))})
                bar.update(1)
        ckpt.wait()
    finally:
        bar.close()
        ckpt.close()

    if primary:
        final = {"step": train.steps, "loss": last_loss}
        final.update(_evaluate(config, _host_model(state), run_dir, train.steps))
        final.update(ran, steps_executed=train.steps - start)
        log.write({"step": train.steps, **_prefixed(final)})
        write_json(run_dir / "final.json", final)


def _host_model(state: TrainState) -> eqx.Module:
    model = state.ema if state.ema is not None else state.model
    return jax.tree_util.tree_map(lambda x: jnp.asarray(np.asarray(x)) if eqx.is_array(x) else x, model)


def _flush(pending: list[tuple[int, dict]], ckpt: Checkpoints) -> dict:
    """Mean of the pending steps' metrics; stops the run on a non-finite loss (last checkpoint kept)."""
    host = jax.device_get([m for _, m in pending])
    for (step, _), m in zip(pending, host):
        if not np.isfinite(m["loss"]):
            kept = (
                f"The last good checkpoint (step {ckpt.last_good}) is kept in {ckpt.directory}"
                if ckpt.last_good is not None
                else "No checkpoint had been saved yet"
            )
            raise FloatingPointError(f"loss is {m['loss']} at step {step}; stopping. {kept}")
    return {k: float(np.mean([m[k] for m in host])) for k in host[0]}


def _prefixed(d: dict) -> dict:
    return {(k if k in ("step",) else f"eval/{k}"): v for k, v in d.items()}


def _truncate_metrics(path: Path, step: int, primary: bool) -> None:
    """Drop log lines beyond the checkpoint a resumed run restarts from (and a half-written last line)."""
    if primary and path.exists():
        rows = [r for r in read_jsonl(path) if r["step"] <= step]
        write_atomic(path, "".join(dumps(r) + "\n" for r in rows))


def _diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in set(a) | set(b):
            out += _diff_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


class _Log:
    def __init__(self, path: Path, primary: bool):
        self.path, self.primary = path, primary

    def write(self, row: dict) -> None:
        if self.primary:
            with open(self.path, "a") as f:
                f.write(dumps(row) + "\n")
