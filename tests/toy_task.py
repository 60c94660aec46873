"""A tiny registered task for runner tests: linear regression with an MLP, optionally failing.

Importable as `toy_task` (tests/ is on sys.path); `sciml --import toy_task` registers it for the CLI.
"""

import dataclasses
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from sciml.nn import MLP
from sciml.nn.dropout import inverted_dropout
from sciml.runner import Task, register_task

TRUE_W = np.array([[1.5, -2.0], [0.5, 1.0], [-1.0, 0.25]], np.float32)


@register_task("toy_regression")
@dataclasses.dataclass(frozen=True)
class ToyRegression(Task):
    """Fit y = x W + noise with a small MLP (a test fixture, not a method)."""

    batch_size: int = 32
    width: int = 16
    nan_at_step: int = -1  # make the loss NaN from this step on (tests the NaN guard)
    fail: bool = False  # raise at init (tests sweep failure reporting)
    eval_size: int = 256  # held-out points of the evaluation (tests re-evaluation with overrides)
    figure: bool = False  # write a small figure in evaluate (tests TensorBoard images)
    dropout: float = 0.0  # inverted dropout of the inputs with sciml.nn.dropout (tests train.dropout_masks)

    def init(self, *, key):
        if self.fail:
            raise RuntimeError("this sweep point fails on purpose")
        return MLP(3, 2, self.width, 1, key=key)

    def batch(self, step, *, seed):
        rng = np.random.default_rng([seed, step])
        x = rng.standard_normal((self.batch_size, 3)).astype(np.float32)
        y = x @ TRUE_W + 0.01 * rng.standard_normal((self.batch_size, 2)).astype(np.float32)
        return {"x": x, "y": y, "step": np.full((self.batch_size,), step, np.int32)}

    def loss(self, model, batch, *, key):
        x = inverted_dropout(batch["x"], self.dropout, key) if self.dropout else batch["x"]
        pred = jax.vmap(model)(x)
        mse = jnp.mean((pred - batch["y"]) ** 2)
        if self.nan_at_step >= 0:
            mse = jnp.where(batch["step"][0] >= self.nan_at_step, jnp.nan, mse)
        return mse, {"mse": mse}

    def param_labels(self, params):
        # First layer is group "first", the rest "rest" (exercises train.alternate).
        labels = jax.tree_util.tree_map(lambda _: "rest", params)
        first = lambda sub: jax.tree_util.tree_map(lambda _: "first", sub)
        return eqx.tree_at(lambda m: m.layers[0], labels, replace_fn=first)

    def validation_batch(self, *, seed):
        x = np.random.default_rng([seed, 12345]).standard_normal((16, 3)).astype(np.float32)
        return {"x": x, "y": x @ TRUE_W, "step": np.zeros((16,), np.int32)}

    def evaluate(self, model, *, key, run_dir: Path):
        x = np.random.default_rng(99).standard_normal((self.eval_size, 3)).astype(np.float32)
        pred = np.asarray(jax.vmap(model)(jnp.asarray(x)))
        if self.figure:
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(2, 2))
            ax.scatter(x @ TRUE_W[:, 0], pred[:, 0], s=2)
            fig.savefig(Path(run_dir) / "fit.png", dpi=40)
            plt.close(fig)
        return {"test_mse": float(((pred - x @ TRUE_W) ** 2).mean())}


@register_task("toy_regression_shards")
@dataclasses.dataclass(frozen=True)
class ToyRegressionShards(ToyRegression):
    """ToyRegression whose processes each generate only their share of the batch."""

    def batch(self, step, *, seed):
        return self.process_batch(step, seed=seed, process=(0, 1), num_devices=1)

    def process_batch(self, step, *, seed, process, num_devices):
        index, count = process
        per = self.batch_size // count
        # Each example is generated from its own stream so a share never needs the others.
        ids = np.arange(index * per, (index + 1) * per)
        xs = np.stack([np.random.default_rng([seed, step, i]).standard_normal(3) for i in ids]).astype(np.float32)
        y = xs @ TRUE_W
        return {"x": xs, "y": y, "step": np.full((per,), step, np.int32)}
