"""Optimisers from config: Adam/AdamW/SGD, warm-up (+ cosine) schedules, clipping, alternating groups.

Alternating updates (e.g. Meta Flow Matching's original, which steps the population encoder and the
vector field on alternate batches with two Adam optimisers) are a property of the optimiser, not of a
method's private loop: each parameter group gets its own optimiser that acts only on its phase.
"""

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from jaxtyping import PyTree

from sciml.runner.config import OptimConfig


def schedule(cfg: OptimConfig, total_steps: int) -> optax.ScalarOrSchedule:
    """Learning rate: constant, or linear warm-up then constant / cosine decay to `end_lr` / exponential
    decay towards `end_lr` by `decay_rate` every `decay_steps`."""
    if cfg.schedule == "exponential":
        decay = lambda step: cfg.end_lr + (cfg.lr - cfg.end_lr) * cfg.decay_rate ** (step / cfg.decay_steps)  # noqa: E731
        if cfg.warmup == 0:
            return decay
        return optax.join_schedules([optax.linear_schedule(0.0, cfg.lr, cfg.warmup), decay], [cfg.warmup])
    if cfg.schedule == "cosine":
        span = cfg.decay_steps or total_steps
        return optax.warmup_cosine_decay_schedule(0.0, cfg.lr, cfg.warmup, max(span, cfg.warmup + 1), cfg.end_lr)
    if cfg.warmup > 0:
        return optax.join_schedules(
            [optax.linear_schedule(0.0, cfg.lr, cfg.warmup), optax.constant_schedule(cfg.lr)], [cfg.warmup]
        )
    return cfg.lr


def base_optimiser(cfg: OptimConfig, total_steps: int) -> optax.GradientTransformation:
    lr = schedule(cfg, total_steps)
    if cfg.name == "adam":
        opt = optax.adam(lr, b1=cfg.b1, b2=cfg.b2)
    elif cfg.name == "adamw":
        opt = optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, weight_decay=cfg.weight_decay)
    elif cfg.name == "adamax":  # weight_decay as L2 added to the gradient, as torch.optim.Adamax does
        opt = optax.chain(optax.add_decayed_weights(cfg.weight_decay), optax.adamax(lr, b1=cfg.b1, b2=cfg.b2))
    else:
        opt = optax.sgd(lr, momentum=cfg.b1 or None)
    return optax.chain(optax.clip_by_global_norm(cfg.clip), opt) if cfg.clip > 0 else opt


def on_phase(inner: optax.GradientTransformation, phase: int, num_phases: int) -> optax.GradientTransformation:
    """`inner` applied only on steps where `step % num_phases == phase`; zero updates otherwise.

    The inner state (moments, schedule count) advances only on its own phase, as with a separate
    optimiser that is stepped every `num_phases`-th batch.
    """

    def init(params):
        return jnp.zeros([], jnp.int32), inner.init(params)

    def update(updates, state, params=None):
        count, inner_state = state

        def active(_):
            return inner.update(updates, inner_state, params)

        def idle(_):
            return jax.tree_util.tree_map(jnp.zeros_like, updates), inner_state

        new_updates, new_inner = jax.lax.cond(count % num_phases == phase, active, idle, None)
        return new_updates, (count + 1, new_inner)

    return optax.GradientTransformation(init, update)


def make_optimiser(
    cfg: OptimConfig,
    total_steps: int,
    *,
    alternate: tuple[str, ...] = (),
    labels: Callable[[PyTree], PyTree[str]] | None = None,
) -> optax.GradientTransformation:
    """The run's optimiser; with `alternate`, one optimiser per label, active on alternating steps."""
    if not alternate:
        return base_optimiser(cfg, total_steps)
    if labels is None:
        raise ValueError("train.alternate needs a task with param_labels(params) naming each parameter's group")
    # Each group's schedule spans its own steps.
    per_phase = max((cfg.decay_steps or total_steps) // len(alternate), 1)
    cfg = dataclasses.replace(cfg, decay_steps=0)
    transforms = {g: on_phase(base_optimiser(cfg, per_phase), i, len(alternate)) for i, g in enumerate(alternate)}

    def checked_labels(params):
        out = labels(params)
        if out is None:
            raise ValueError("train.alternate needs a task with param_labels(params) naming each parameter's group")
        unknown = set(jax.tree_util.tree_leaves(out)) - set(alternate)
        if unknown:
            raise ValueError(f"param_labels gave groups {sorted(unknown)} not in train.alternate {list(alternate)}")
        return out

    return optax.multi_transform(transforms, checked_labels)
