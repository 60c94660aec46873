"""Run configuration: frozen dataclasses loaded from YAML and overridden with `a.b=value`.

An unknown key, a wrong type, a missing file or an unknown task stops at once with a message that
names it and lists what is valid.
"""

import copy
import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from sciml.nn.dropout import MASK_KINDS
from sciml.runner.task import task_class
from sciml.validate import check_choice, check_ranges


class ConfigError(ValueError):
    """A configuration that cannot be used as written."""


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """Optimiser and learning-rate schedule (optax)."""

    name: str = "adam"  # adam | adamw | adamax | sgd
    lr: float = 1e-3
    weight_decay: float = 0.0
    b1: float = 0.9
    b2: float = 0.999
    # constant | cosine (linear warm-up, then cosine decay to end_lr) | exponential (after the warm-up,
    # end_lr + (lr - end_lr) * decay_rate ** (step / decay_steps), as MeshGraphNets and GNS decay)
    schedule: str = "constant"
    warmup: int = 0
    end_lr: float = 0.0
    clip: float = 0.0  # global-norm gradient clipping; 0 = off
    # cosine: the optimiser steps the decay spans (0 = train.steps; set it to extend a finished cosine
    # run: the extra steps then continue at end_lr). exponential: the steps per factor decay_rate.
    decay_steps: int = 0
    decay_rate: float = 0.1  # exponential: the factor per decay_steps

    def __post_init__(self):
        check_choice("optim.name", self.name, ("adam", "adamw", "adamax", "sgd"), error=ConfigError)
        check_choice("optim.schedule", self.schedule, ("constant", "cosine", "exponential"), error=ConfigError)
        check_ranges(self, "optim.", ConfigError, lr={"gt": 0}, warmup={"ge": 0}, weight_decay={}, b1={}, b2={},
                     end_lr={}, clip={}, decay_steps={"ge": 0}, decay_rate={"gt": 0, "le": 1})
        if self.schedule == "exponential" and not self.decay_steps:
            raise ConfigError("optim.schedule=exponential needs optim.decay_steps (the steps per factor decay_rate)")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Length, seed and the cadence of logging, evaluation and checkpoints."""

    steps: int = 1000
    seed: int = 0
    log_every: int = 50
    eval_every: int = 0  # 0 = evaluate only at the end
    checkpoint_every: int = 0  # 0 = only at the end
    keep: int = 3  # checkpoints kept
    ema: float = 0.0  # EMA decay of the parameters; 0 = off
    alternate: tuple[str, ...] = ()  # parameter groups updated on alternating steps (task.param_labels)
    accumulate: int = 1  # micro-batches per optimiser step (gradient accumulation); = a K-times larger batch
    precision: str = "float32"  # float32 | bfloat16 (bf16 compute; float32 master weights and optimiser state)
    dropout_masks: str = "threefry"  # threefry (jax.random's masks) | hash (faster on CPU, other masks)
    validate_every: int = 0  # validation loss on the task's held-out batch every N steps; 0 = off
    select: str = ""  # metric that picks the best checkpoint (e.g. val/loss, eval/fd); "" = keep latest only
    select_mode: str = "min"  # min | max: which direction of `select` is better
    patience: int = 0  # stop after this many selections without improvement; 0 = never stop early
    tensorboard: bool = True  # TensorBoard event files in the run directory
    wandb: str = ""  # Weights & Biases project to log to (needs the wandb package); "" = off

    def __post_init__(self):
        check_ranges(self, "train.", ConfigError, steps={"ge": 1}, seed={"ge": 0}, ema={"ge": 0, "lt": 1},
                     log_every={"ge": 0}, eval_every={"ge": 0}, checkpoint_every={"ge": 0}, keep={"ge": 1},
                     accumulate={"ge": 1}, validate_every={"ge": 0}, patience={"ge": 0})
        check_choice("train.precision", self.precision, ("float32", "bfloat16"), error=ConfigError)
        check_choice("train.dropout_masks", self.dropout_masks, MASK_KINDS, error=ConfigError)
        check_choice("train.select_mode", self.select_mode, ("min", "max"), error=ConfigError)
        if self.select and not self.select.startswith(("val/", "eval/")):
            raise ConfigError(f"train.select must name a val/ or eval/ metric (e.g. val/loss), got {self.select!r}")
        if self.select.startswith("val/") and not self.validate_every:
            raise ConfigError(f"train.select={self.select} needs train.validate_every > 0")
        if self.select.startswith("eval/") and not self.eval_every:
            raise ConfigError(f"train.select={self.select} needs train.eval_every > 0")
        if self.patience and not self.select:
            raise ConfigError("train.patience needs train.select (the metric whose improvement it waits for)")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A whole experiment: where it lives, the task and how it is trained."""

    experiment: str
    name: str
    task: Any  # the task dataclass instance
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    sweep: Any = None  # raw sweep spec (dict of key -> list, or list of override dicts)

    def to_dict(self) -> dict:
        """Plain-dict form, round-trippable through `from_dict` (the `task` section carries its name)."""
        out = {"experiment": self.experiment, "name": self.name}
        out["task"] = {"name": task_name(self.task), **_asdict(self.task)}
        out["train"] = _asdict(self.train)
        out["optim"] = _asdict(self.optim)
        if self.sweep is not None:
            out["sweep"] = self.sweep
        return out


def task_name(task: Any) -> str:
    from sciml.runner.task import _REGISTRY

    for name, cls in _REGISTRY.items():
        if type(task) is cls:
            return name
    raise ConfigError(f"{type(task).__name__} is not a registered task")


def _asdict(obj) -> dict:
    return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def _plain(v):
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


# --------------------------------------------------------------------------------------- loading


def load_yaml(path: str | Path) -> dict:
    """Read a YAML config file into a dict; a missing file is named in the error."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path) as f:
            raw = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({_yaml_problem(e)})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (not UTF-8)") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(raw).__name__}")
    return raw


def _yaml_problem(e: yaml.YAMLError) -> str:
    """One line from a YAML error: the problem and where (line, column), e.g. a tab used for indentation."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def apply_overrides(raw: dict, overrides: Iterable[str]) -> dict:
    """Apply `a.b=value` overrides (value parsed as YAML) to a nested dict, returning a new dict."""
    out = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key.sub=value")
        key, text = item.split("=", 1)
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"override {item!r}: the value is not valid YAML ({_yaml_problem(e)})") from None
        set_key(out, key.strip(), value)
    return out


def set_key(raw: dict, key: str, value: Any) -> None:
    """Set dotted `key` (e.g. `task.lr`) in a nested dict in place."""
    *path, last = key.split(".")
    if not key or not all(path) or not last:
        raise ConfigError(f"override key {key!r} is not of the form section.key")
    node = raw
    for p in path:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{key!r}: {p!r} is not a section (it is {node!r})")
    node[last] = value


def from_dict(raw: dict, *, source: str = "config") -> RunConfig:
    """Build and validate a RunConfig from a nested dict (YAML + overrides)."""
    raw = dict(raw)
    valid = [f.name for f in dataclasses.fields(RunConfig)]
    _reject_unknown(raw, valid, "", source)
    for k in ("experiment", "name", "task"):
        if k not in raw:
            raise ConfigError(f"{source}: missing required key {k!r}")
    if not isinstance(raw["task"], dict):
        raise ConfigError(
            f"{source}: task must be a mapping such as {{name: fm, ...}}, got {raw['task']!r} "
            "(to choose the task, set task.name=...)"
        )
    task_raw = dict(raw["task"])
    if "name" not in task_raw:
        raise ConfigError(f"{source}: task.name is required (the registered task to run)")
    try:
        cls = task_class(task_raw.pop("name"))
    except KeyError as e:
        raise ConfigError(f"{source}: {e.args[0]}") from None
    return RunConfig(
        experiment=_path_part(raw["experiment"], "experiment", source),
        name=_path_part(raw["name"], "name", source),
        task=build(cls, task_raw, "task"),
        train=build(TrainConfig, raw.get("train") or {}, "train"),
        optim=build(OptimConfig, raw.get("optim") or {}, "optim"),
        sweep=raw.get("sweep"),
    )


def _path_part(value, key: str, source: str) -> str:
    """`experiment` and `name` become folders under runs/: non-empty, relative, no `.` or `..` parts."""
    value = _typed(str, value, key)
    parts = value.split("/")
    if not value.strip() or value.startswith("/") or any(p in ("", ".", "..") or p != p.strip() for p in parts):
        raise ConfigError(
            f"{source}: {key} must be a non-empty relative folder name (no leading '/', no empty, '.' or '..' "
            f"parts, no surrounding spaces), got {value!r}"
        )
    return value


def load_config(config: "str | Path | dict | RunConfig", overrides: Iterable[str] = ()) -> RunConfig:
    """A RunConfig from a YAML path, a dict or a RunConfig, with overrides applied."""
    overrides = list(overrides)
    if isinstance(config, RunConfig):
        if not overrides:
            return config
        config = config.to_dict()
    if isinstance(config, str | Path):
        source = str(config)
        raw = load_yaml(config)
    else:
        source, raw = "config", config
    return from_dict(apply_overrides(raw, overrides), source=source)


def build(cls: type, raw: dict, prefix: str):
    """Instantiate dataclass `cls` from `raw`, checking keys and coercing/validating types."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix} must be a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    _reject_unknown(raw, list(fields), prefix)
    hints = typing.get_type_hints(cls)
    kwargs = {k: _typed(hints[k], v, f"{prefix}.{k}") for k, v in raw.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{prefix}: {e}") from None


def _reject_unknown(raw: dict, valid: list[str], prefix: str, source: str = ""):
    for k in raw:
        if k not in valid:
            hint = difflib.get_close_matches(str(k), valid, n=1)
            did = f" (did you mean {hint[0]!r}?)" if hint else ""
            where = f" in {source}" if source else ""
            name = f"{prefix}.{k}" if prefix else str(k)
            raise ConfigError(f"unknown key {name}{where}{did}; valid keys: {sorted(valid)}")


def _typed(tp, value, key: str):
    """Coerce `value` to annotation `tp` where lossless (int -> float, '1e-3' -> float, list -> tuple)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _typed(a, value, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{key}: expected {tp}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{key}: expected {len(args)} items, got {len(value)}")
        return tuple(_typed(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # YAML 1.1 reads "1e-3" as a string
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    elif dataclasses.is_dataclass(tp):
        return build(tp, value, key)
    else:
        return value
    name = getattr(tp, "__name__", str(tp))
    raise ConfigError(f"{key}: expected {name}, got {value!r} ({type(value).__name__})")
