"""The training loop: one jitted SPMD step, checkpoints that resume exactly, logs and evaluation.

The batch of step s and the step's random key are pure functions of (seed, s), so a killed run that
restarts from its latest checkpoint ends exactly where an uninterrupted run ends, and every process
computes the same global batch and places only its own slice.
"""

import dataclasses
import hashlib
import json
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterable
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
from sciml.nn.dropout import dropout_masks
from sciml.params import count_params
from sciml.runner import provenance
from sciml.runner.checkpoint import Checkpoints
from sciml.runner.compile_cache import enable_compile_cache
from sciml.runner.compile_child import load_step_compiled_in_child
from sciml.runner.compiled_step import CompiledStep
from sciml.runner.config import ConfigError, RunConfig, load_config
from sciml.runner.devices import check_batch, data_mesh, process_slice, replicate, shard_local_batch
from sciml.runner.lock import RunLock
from sciml.runner.optim import make_optimiser

#: Keys of the run's random streams, folded into the seed.
_TRAIN_STREAM, _INIT_STREAM, _EVAL_STREAM, _VAL_STREAM = 0, 1, 2, 3


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
        """This process's share of the batch of optimiser step `step`.

        With `train.accumulate = K` it holds the task's batches K*step ... K*step + K-1 stacked on
        axis 1 ([B, K, ...]), so the batch axis stays first and shards like any other batch.
        """
        process = (jax.process_index(), jax.process_count())
        seed, k = self.config.train.seed, self.config.train.accumulate

        def share(s):
            return self.task.process_batch(s, seed=seed, process=process, num_devices=self.mesh.size)

        if k == 1:
            return share(step)
        micro = [share(step * k + i) for i in range(k)]
        return jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs], axis=1), *micro)

    def device_batch(self, step: int) -> PyTree:
        return shard_local_batch(self.local_batch(step), self.mesh)

    def batch_size(self) -> int:
        """Examples per optimiser step (the global batch times `train.accumulate`)."""
        return check_batch(self.local_batch(0), 1) * jax.process_count() * self.config.train.accumulate

    def validation_batch(self) -> PyTree | None:
        """The task's held-out batch, sharded like a training batch; None when validation is off."""
        if not self.config.train.validate_every:
            return None
        batch = self.task.validation_batch(seed=self.config.train.seed)
        if batch is None:
            raise ConfigError(f"train.validate_every is set but task {type(self.task).__name__} has no "
                              "validation data (its validation_batch hook returns None)")
        index, count = jax.process_index(), jax.process_count()
        return shard_local_batch(process_slice(batch, self.mesh.size, index, count), self.mesh)

    def _loss(self, model, batch, key):
        """The task's loss in the configured compute precision and dropout masks; loss and aux come back in
        float32."""
        dtype = _COMPUTE_DTYPES[self.config.train.precision]
        if dtype != jnp.float32:
            model, batch = _cast_floats(model, dtype), _cast_floats(batch, dtype)
        with dropout_masks(self.config.train.dropout_masks):  # read while the step is traced
            loss, aux = self.task.loss(model, batch, key=key)
        return loss.astype(jnp.float32), _cast_floats(aux, jnp.float32)

    def _make_step(self):
        task, optimiser, decay, seed_key = self.task, self.optimiser, self.config.train.ema, self.seed_key
        accumulate = self.config.train.accumulate

        def loss_and_grads(params, static, batch, key):
            return jax.value_and_grad(lambda p: self._loss(eqx.combine(p, static), batch, key), has_aux=True)(params)

        def step(step_index, state: TrainState, batch):
            key = jax.random.fold_in(jax.random.fold_in(seed_key, _TRAIN_STREAM), step_index)
            params, static = eqx.partition(state.model, task.trainable(state.model))
            if accumulate == 1:
                (loss, aux), grads = loss_and_grads(params, static, batch, key)
            else:  # mean over K micro-batches (axis 1), one at a time: the memory of one micro-batch
                micro = jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, 1, 0), batch)

                def add(total, xs):
                    i, mb = xs
                    out = loss_and_grads(params, static, mb, jax.random.fold_in(key, i))
                    return jax.tree_util.tree_map(jnp.add, total, out), None

                zero = jax.tree_util.tree_map(
                    jnp.zeros_like, jax.eval_shape(loss_and_grads, params, static,
                                                   jax.tree_util.tree_map(lambda x: x[0], micro), key)
                )
                total, _ = jax.lax.scan(add, zero, (jnp.arange(accumulate), micro))
                (loss, aux), grads = jax.tree_util.tree_map(lambda x: x / accumulate, total)
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

        return CompiledStep(step, compiler_options=task.compiler_options())

    def make_validate(self):
        """Jitted `(model, batch) -> {"loss": ..., **aux}` on a fixed key (comparable across steps)."""
        key = self.key(_VAL_STREAM)

        @eqx.filter_jit
        def validate(model, batch):
            loss, aux = self._loss(model, batch, key)
            return {"loss": loss, **aux}

        return validate


_COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _cast_floats(tree: PyTree, dtype) -> PyTree:
    """Every floating-point array of `tree` cast to `dtype` (integers, keys and non-arrays unchanged)."""
    return jax.tree_util.tree_map(
        lambda x: x.astype(dtype) if eqx.is_array(x) and jnp.issubdtype(x.dtype, jnp.floating) else x, tree
    )


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped the run; a checkpoint of the interrupted step was saved (when there was one to save)."""

    def __init__(self, step: int):
        super().__init__(f"interrupted at step {step}; rerun to resume")
        self.step = step


@dataclasses.dataclass
class Run:
    """A run directory and what it holds: config, metrics, final evaluation and the trained model.

    `which="latest"` (default) opens the newest intact checkpoint, `"best"` the one kept by
    `train.select`; `step=N` a particular kept checkpoint.
    """

    dir: Path
    config: RunConfig
    reopened: bool = False  # True when `run` found the run already finished and trained nothing
    which: str = "latest"
    step: int | None = None

    def __post_init__(self):
        if self.which not in ("latest", "best"):
            raise ValueError(f"which must be 'latest' or 'best', got {self.which!r}")

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
        """The chosen checkpointed train state, on the host (the run directory is not changed)."""
        trainer = Trainer(self.config, mesh=_local_mesh())
        folder = self.dir / ("best" if self.which == "best" else "checkpoints")
        ckpt = Checkpoints(folder, keep=self.config.train.keep, read_only=True)
        if self.which == "best" and not ckpt.steps():
            raise FileNotFoundError(f"{self.dir} has no best checkpoint (the run did not set train.select)")
        if self.step is not None and self.step not in ckpt.steps():
            raise FileNotFoundError(f"{folder} has no checkpoint of step {self.step}; kept: {ckpt.steps()}")
        state, _ = ckpt.restore(trainer.init_state(), step=self.step)
        return jax.tree_util.tree_map(jnp.asarray, state)

    @property
    def model(self) -> eqx.Module:
        """The trained model (the EMA model when EMA is on)."""
        return _model_of(self.state)

    def evaluate(self, *, step: int | None = None, out_dir: str | Path | None = None) -> dict:
        """Run the task's evaluation on this run's model again; figures go to `out_dir` (default
        `<run>/eval/`), so the run itself is never changed."""
        out_dir = Path(out_dir) if out_dir is not None else self.dir / "eval"
        out_dir.mkdir(parents=True, exist_ok=True)
        return _evaluate(self.config, self.model, out_dir, step or self.step or 0)

    def history(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one logged metric, e.g. `run.history("loss")`."""
        rows = [m for m in self.metrics if key in m]
        return np.array([m["step"] for m in rows]), np.array([m[key] for m in rows])

    def training_hours(self) -> tuple[float, float]:
        """(typical, wall): the hours the training loop took, from the step rates in metrics.jsonl.

        `wall` adds up every logged interval, so pauses, a crowded machine and each start's first step
        count; `typical` is the steps trained over the median logged rate, which such stretches barely
        move. Steps an interruption lost (after the last checkpoint) are not in the log, so not counted.
        """
        prev, steps, seconds, rates = 0, 0, 0.0, []
        for m in self.metrics:  # a resume truncates the log to its checkpoint, so the rows' steps only grow
            if "steps_per_s" in m:
                steps, seconds = steps + m["step"] - prev, seconds + (m["step"] - prev) / m["steps_per_s"]
                rates.append(m["steps_per_s"])
                prev = m["step"]
        return (steps / float(np.median(rates)) / 3600 if rates else 0.0), seconds / 3600


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


def dry_run(config: "str | Path | dict | RunConfig", overrides: Iterable[str] = ()) -> dict:
    """What a run would cost, without training or writing anything: parameter counts, examples per step,
    XLA's FLOPs per step and its memory estimate for one device (arguments + outputs + temporaries -
    donated aliases) of the compiled step on the current backend."""
    config = load_config(config, overrides)
    trainer = Trainer(config)
    host = trainer.init_state()
    trainable = eqx.filter(host.model, trainer.task.trainable(host.model))
    state = trainer.place(host)
    with warnings.catch_warnings():  # nothing runs, so buffers that could not be donated do not matter
        warnings.filterwarnings("ignore", "Some donated buffers were not usable")
        lowered = trainer.step.lower(jnp.asarray(0, jnp.int32), state, trainer.device_batch(0))
        compiled = lowered.compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list | tuple) else cost
    mem = compiled.memory_analysis()
    out = {
        "params_trainable": count_params(trainable),
        "params_total": count_params(host.model),
        "examples_per_step": trainer.batch_size(),
        "devices": trainer.mesh.size,
        "backend": jax.default_backend(),
        "flops_per_step": float(cost["flops"]) if cost and "flops" in cost else None,
    }
    if mem is not None:
        sizes = {k: int(getattr(mem, f"{k}_size_in_bytes", 0)) for k in ("argument", "output", "temp", "alias")}
        out["memory_bytes_per_device"] = sizes["argument"] + sizes["output"] + sizes["temp"] - sizes["alias"]
        out.update({f"memory_{k}_bytes": v for k, v in sizes.items()})
    return out


def run_dir_of(config: RunConfig, runs_dir: str | Path) -> Path:
    return Path(runs_dir) / config.experiment / config.name


def load(
    run_dir: str | Path, *, which: str = "latest", step: int | None = None, overrides: Iterable[str] = ()
) -> Run:
    """Open a run directory written by `run`: its latest model, the `which="best"` one, or the checkpoint
    of `step`. `overrides` (`task.eval_samples=...`) change how it is evaluated, not what was trained."""
    run_dir = Path(run_dir)
    path = run_dir / "config.yaml"
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no such directory)")
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.yaml)")
    overrides = list(overrides)
    bad = [o for o in overrides if not o.startswith("task.")]
    if bad:
        raise ConfigError(f"only task.* settings can change when re-evaluating a run, got {bad}")
    return Run(run_dir, load_config(path, overrides), which=which, step=step)


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
    command: str | None = None,
) -> Run:
    """Train (or resume, or reopen if finished) the configured experiment; returns the `Run`.

    The run lives in `runs_dir/<experiment>/<name>/`. Re-running the same config resumes from the
    latest intact checkpoint; a finished run is returned as it is. A run directory holding a different
    config is an error (choose another `name`) unless it has neither a checkpoint nor a final result.
    A second process on the same run directory stops with "run already in progress (pid N)". Ctrl-C
    saves a checkpoint of the interrupted step and raises `Interrupted`. Each start is logged to
    `provenance.jsonl` with `command` (by default the `sciml run` line equivalent to this call).
    """
    command = command or provenance.run_command(config, overrides)
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
        _train(config, run_dir, primary, progress, command)
    finally:
        lock.release()
    return Run(run_dir, config)


def _prepare_dir(config: RunConfig, run_dir: Path, primary: bool) -> Run | None:
    """Check (or write) the run's config.yaml; the finished Run when there is nothing left to do.

    A finished run whose config differs only by a larger `train.steps` is extended: its final.json is
    kept as `final_<old steps>.json` and training continues from the last checkpoint.
    """
    resolved = config.to_dict()
    resolved.pop("sweep", None)
    cfg_path = run_dir / "config.yaml"
    if cfg_path.exists():
        previous = _normalised(_previous_config(cfg_path))
        if previous != resolved:
            if _has_progress(run_dir):
                if previous is None:
                    raise ConfigError(f"{cfg_path} is empty or unreadable but the run has checkpoints; "
                                      "restore that file or delete the run directory")
                _check_extension(previous, resolved, run_dir)
                if primary and (run_dir / "final.json").exists():
                    os.replace(run_dir / "final.json", run_dir / f"final_{previous['train']['steps']}.json")
            if primary:
                write_atomic(cfg_path, yaml.safe_dump(resolved, sort_keys=False))
        elif (run_dir / "final.json").exists():
            return Run(run_dir, config, reopened=True)
    elif primary:
        write_atomic(cfg_path, yaml.safe_dump(resolved, sort_keys=False))
    return None


def _normalised(previous: dict | None) -> dict | None:
    """A stored config with today's defaults filled in (so a new optional field is not a difference)."""
    if previous is None:
        return None
    try:
        out = load_config(previous).to_dict()
    except (ConfigError, KeyError, TypeError, ValueError):
        return previous
    out.pop("sweep", None)
    return out


def _check_extension(previous: dict, resolved: dict, run_dir: Path) -> None:
    """Raise unless `resolved` only extends `previous` (more steps, the same schedule so far)."""
    diff = sorted(_diff_keys(previous, resolved))
    old, new = previous["train"]["steps"], resolved["train"]["steps"]
    if not set(diff) <= {"train.steps", "optim.decay_steps"} or new <= old:
        raise ConfigError(
            f"{run_dir} already holds a run with a different config (differs in {diff}); "
            "use another name= or delete that directory (only train.steps may grow, to extend a run)"
        )
    span = lambda c: c["optim"]["decay_steps"] or c["train"]["steps"]  # noqa: E731
    if resolved["optim"]["schedule"] == "cosine" and span(previous) != span(resolved):
        raise ConfigError(
            f"extending {run_dir} from {old} to {new} steps would change its cosine schedule for the steps "
            f"already taken; add optim.decay_steps={span(previous)} (the extra steps then run at optim.end_lr)"
        )


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


def _train(config: RunConfig, run_dir: Path, primary: bool, progress: bool, command: str | None) -> None:
    trainer = Trainer(config)
    train = config.train
    ckpt = Checkpoints(run_dir / "checkpoints", keep=train.keep, tidy=primary)
    selector = _Selector(train, Checkpoints(run_dir / "best", keep=1, tidy=primary)) if train.select else None
    state = trainer.init_state()
    start, last_loss = 0, float("nan")
    if ckpt.steps():
        state, meta = ckpt.restore(state)
        start = int(meta["step"])
        last_loss = meta.get("loss", last_loss)
        last_loss = float("nan") if last_loss is None else float(last_loss)
        if selector:
            selector.resume(meta)
    _truncate_metrics(run_dir / "metrics.jsonl", start, primary)
    if start and not np.isfinite(last_loss):  # a checkpoint written before the loss was kept in its meta
        losses = [r["loss"] for r in read_jsonl(run_dir / "metrics.jsonl") if r.get("loss") is not None]
        last_loss = float(losses[-1]) if losses else last_loss
    versions = library_versions()
    if primary and (not (run_dir / "versions.json").exists() or _read_json(run_dir / "versions.json") != versions):
        write_json(run_dir / "versions.json", versions)
    state = trainer.place(state)
    val_batch, validate = trainer.validation_batch(), trainer.make_validate()
    log = _Log(run_dir, config, primary, start)
    ran = {"resumed_from": start, "device_count": trainer.mesh.size, "process_count": jax.process_count()}
    from_child = load_step_compiled_in_child(config, trainer, state, start)
    if from_child is not None:
        ran["step_compiled_in_child"] = from_child
    log.write({"step": start, **ran})
    if primary:
        provenance.log_start(run_dir, start, command, trainer.mesh.size, jax.process_count())

    bar = tqdm(
        total=train.steps, initial=start, disable=not (progress and primary), desc=config.name,
        mininterval=0.5 if sys.stderr.isatty() else 30.0,
    )
    pending: list[tuple[int, dict]] = []
    t_last, s_last = time.perf_counter(), start
    done = start
    stopped_early = False

    def save(step):
        meta = {"step": step, "seed": train.seed, "loss": last_loss, **(selector.meta() if selector else {})}
        ckpt.save(step, state, meta)

    try:
        with _InterruptFlag() as interrupt:
            for s in range(start, train.steps):
                state, metrics = trainer.step(jnp.asarray(s, jnp.int32), state, trainer.device_batch(s))
                pending.append((s + 1, metrics))
                done = s + 1
                at_log = train.log_every and done % train.log_every == 0
                at_ckpt = train.checkpoint_every and done % train.checkpoint_every == 0
                at_eval = train.eval_every and done % train.eval_every == 0 and done < train.steps
                at_val = train.validate_every and done % train.validate_every == 0
                if at_log or at_ckpt or at_eval or at_val or done == train.steps or interrupt.hit:
                    row = _flush(pending, ckpt)
                    pending = []
                    now = time.perf_counter()
                    row["steps_per_s"] = (done - s_last) / max(now - t_last, 1e-9)
                    t_last, s_last = now, done
                    last_loss = row["loss"]
                    log.write({"step": done, **row})
                    bar.set_postfix(loss=f"{row['loss']:.4g}", it_s=f"{row['steps_per_s']:.1f}")
                checked = {}
                if at_val:
                    out = jax.device_get(validate(_model_of(state), val_batch))
                    checked.update({f"val/{k}": float(v) for k, v in out.items()})
                    log.write({"step": done, **checked})
                if at_eval and primary:
                    checked.update(_prefixed(_evaluate(config, _host_model(state), run_dir, done)))
                    log.write({"step": done, **checked})
                if selector and train.select in checked:
                    stopped_early = selector.update(done, checked[train.select], state)
                if at_ckpt or done == train.steps or interrupt.hit or stopped_early:
                    save(done)
                if interrupt.hit:
                    raise Interrupted(done)
                bar.update(1)
                if stopped_early:
                    log.write({"step": done, "stopped_early": True})
                    break
        ckpt.wait()
    finally:
        bar.close()
        ckpt.close()
        if selector:
            selector.close()
        if sys.exc_info()[0] is not None:  # the run stops here; otherwise the final evaluation still logs
            log.close()

    if primary:
        final = {"step": done, "loss": last_loss}
        model = _host_model(state)
        if selector and selector.best_step is not None:  # model selection: the final evaluation is of the best
            final.update(selector.summary())
            best = Checkpoints(run_dir / "best", keep=1, read_only=True)
            model = _host_model(best.restore(trainer.init_state())[0])
        final.update(_evaluate(config, model, run_dir, train.steps))
        final.update(ran, steps_executed=done - start)
        if stopped_early:
            final["stopped_early_at"] = done
        log.write({"step": done, **_prefixed(final)})
        log.finish(final, run_dir)
        log.close()
        write_json(run_dir / "final.json", final)
        provenance.log_end(run_dir, done)


class _Selector:
    """Keeps the checkpoint with the best value of `train.select` and counts selections without
    improvement for early stopping (`train.patience`)."""

    def __init__(self, train, best: Checkpoints):
        self.train, self.best = train, best
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.waited = 0

    def resume(self, meta: dict) -> None:
        self.best_value, self.best_step = meta.get("select_best"), meta.get("select_best_step")
        self.waited = int(meta.get("select_waited", 0))

    def meta(self) -> dict:
        return {"select_best": self.best_value, "select_best_step": self.best_step, "select_waited": self.waited}

    def update(self, step: int, value: float, state) -> bool:
        """Record `value` at `step`; save the state if it is the best so far. True when patience ran out."""
        sign = 1.0 if self.train.select_mode == "min" else -1.0
        if np.isfinite(value) and (self.best_value is None or sign * value < sign * self.best_value):
            self.best_value, self.best_step, self.waited = float(value), step, 0
            self.best.save(step, state, {"step": step, "seed": self.train.seed, self.train.select: float(value)})
        else:
            self.waited += 1
        return bool(self.train.patience) and self.waited >= self.train.patience

    def summary(self) -> dict:
        return {"best_step": self.best_step, f"best_{self.train.select}": self.best_value}

    def close(self) -> None:
        self.best.close()


def library_versions() -> dict:
    """Versions of the libraries a run's numbers depend on (written as versions.json in each run)."""
    import importlib.metadata as md
    import platform

    out = {"python": platform.python_version()}
    for name in ("jax", "jaxlib", "equinox", "optax", "diffrax", "orbax-checkpoint", "numpy", "scipy", "pot"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    out["backend"] = jax.default_backend()
    return out


def _model_of(state: TrainState) -> eqx.Module:
    return state.ema if state.ema is not None else state.model


def _host_model(state: TrainState) -> eqx.Module:
    model = _model_of(state)
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
    """The run's log: metrics.jsonl always; TensorBoard event files under `<run>/tensorboard/` (scalars,
    hyperparameters, figures) and Weights & Biases when configured. Only process 0 writes."""

    def __init__(self, run_dir: Path, config: RunConfig, primary: bool, start: int):
        self.path, self.primary = run_dir / "metrics.jsonl", primary
        self.tb = self.wandb = None
        if not primary:
            return
        if config.train.tensorboard:
            from tensorboardX import SummaryWriter

            # purge_step: a resumed run drops the events logged after its checkpoint, as metrics.jsonl does
            self.tb = SummaryWriter(logdir=str(run_dir / "tensorboard"), purge_step=start or None)
            self.hparams = _flat_scalars(config.to_dict())
        if config.train.wandb:
            try:
                import wandb
            except ImportError:
                raise ConfigError(
                    f"train.wandb={config.train.wandb} needs the wandb package (pip install wandb)"
                ) from None
            run_id = hashlib.sha1(str(run_dir.absolute()).encode()).hexdigest()[:16]
            self.wandb = wandb.init(project=config.train.wandb, name=f"{config.experiment}/{config.name}",
                                    id=run_id, resume="allow", dir=str(run_dir), config=config.to_dict())

    def write(self, row: dict) -> None:
        if not self.primary:
            return
        with open(self.path, "a") as f:
            f.write(dumps(row) + "\n")
        scalars = {k: float(v) for k, v in row.items() if k != "step" and _is_number(v)}
        if self.tb is not None:
            for k, v in scalars.items():
                self.tb.add_scalar(k, v, row["step"])
        if self.wandb is not None and scalars:
            self.wandb.log(scalars, step=row["step"])

    def finish(self, final: dict, run_dir: Path) -> None:
        """Hyperparameters with the final metrics, and the run's figures."""
        figures = sorted(run_dir.glob("*.png"))
        if self.tb is not None:
            import matplotlib.image

            metrics = {f"final/{k}": float(v) for k, v in final.items() if _is_number(v)}
            self.tb.add_hparams(self.hparams, metrics, name="hparams", global_step=final["step"])
            for path in figures:
                self.tb.add_image(path.stem, matplotlib.image.imread(path)[..., :3], final["step"], dataformats="HWC")
            self.tb.flush()
        if self.wandb is not None:
            import wandb

            self.wandb.log({p.stem: wandb.Image(str(p)) for p in figures}, step=final["step"])

    def close(self) -> None:
        """Flush and close the writers; a failure (a full disk) is reported, never hides the run's own error."""
        try:
            if self.tb is not None:
                self.tb.close()
            if self.wandb is not None:
                self.wandb.finish()
        except OSError as e:
            print(f"{self.path.parent}: could not close the TensorBoard/W&B log ({e})", file=sys.stderr)


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and bool(np.isfinite(v))


def _flat_scalars(d: dict, prefix: str = "") -> dict:
    """The scalar leaves of a nested config as `a.b` keys (TensorBoard hyperparameters)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat_scalars(v, f"{prefix}{k}."))
        elif isinstance(v, bool | int | float | str):
            out[f"{prefix}{k}"] = v
    return out
