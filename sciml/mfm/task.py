"""Tasks of the Meta Flow Matching package: `fm`, flow matching between 2-D toy distributions."""

import dataclasses
from pathlib import Path

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from sciml import metrics, plot
from sciml.data.toy2d import TOY_DISTRIBUTIONS, sample_toy
from sciml.mfm.coupling import check_coupling, ot_pair
from sciml.mfm.flow_matching import flow_matching_loss, push_forward
from sciml.mfm.vector_field import VectorField
from sciml.runner.task import Task, register_task

#: Seed of the held-out evaluation samples (training batches use the sequence [seed, step]).
EVAL_DATA_SEED = 1_000_003


@register_task("fm")
@dataclasses.dataclass(frozen=True)
class FlowMatching2D(Task):
    """Conditional flow matching from one 2-D toy distribution to another (MFM's FM baseline)."""

    source: str = "8gaussians"
    target: str = "moons"
    coupling: str = "independent"  # independent | ot (exact minibatch OT, solved when the batch is made)
    sigma: float = 0.0
    batch_size: int = 256
    width: int = 128
    depth: int = 3
    act: str = "selu"
    time_dim: int = 32
    eval_samples: int = 1000
    eval_trajectories: int = 64

    def __post_init__(self):
        for which in ("source", "target"):
            if getattr(self, which) not in TOY_DISTRIBUTIONS:
                raise ValueError(f"{which} {getattr(self, which)!r} is unknown; valid: {sorted(TOY_DISTRIBUTIONS)}")
        check_coupling(self.coupling)
        if self.batch_size < 2 or self.eval_samples < 2:
            raise ValueError("batch_size and eval_samples must be >= 2")

    def init(self, *, key):
        return VectorField(2, width=self.width, depth=self.depth, act=self.act, time_dim=self.time_dim, key=key)

    def batch(self, step: int, *, seed: int):
        rng = np.random.default_rng([seed, step])
        x0 = sample_toy(self.source, self.batch_size, rng)
        x1 = sample_toy(self.target, self.batch_size, rng)
        return {"x0": x0, "x1": ot_pair(x0, x1) if self.coupling == "ot" else x1}

    def loss(self, model, batch, *, key):
        return flow_matching_loss(model, batch["x0"], batch["x1"], key=key, sigma=self.sigma), {}

    def evaluate(self, model, *, key, run_dir: Path) -> dict[str, float]:
        rng = np.random.default_rng(EVAL_DATA_SEED)
        x0 = sample_toy(self.source, self.eval_samples, rng)
        x1 = sample_toy(self.target, self.eval_samples, rng)
        x1_again = sample_toy(self.target, self.eval_samples, rng)  # drawn last: x0 and x1 stay as they were
        generated = np.asarray(_push(model, jnp.asarray(x0)))
        ts = jnp.linspace(0.0, 1.0, 24)
        paths = np.asarray(_push(model, jnp.asarray(x0[: self.eval_trajectories]), ts))
        fig, ax = plot.figure(3)
        plot.points(ax[0, 0], x0, label="source")
        plot.points(ax[0, 0], x1, label="target")
        ax[0, 0].legend(markerscale=4)
        ax[0, 0].set_title(f"{self.source} -> {self.target}")
        plot.points(ax[0, 1], generated, c="tab:red")
        ax[0, 1].set_title("generated (t = 1)")
        plot.trajectories(ax[0, 2], paths)
        ax[0, 2].set_title("trajectories")
        plot.save(fig, Path(run_dir) / "samples.png")
        return {
            "w2": metrics.w2(generated, x1),
            "w1": metrics.w1(generated, x1),
            "mmd": float(metrics.mmd_rbf(jnp.asarray(generated), jnp.asarray(x1))),
            "w2_source_target": metrics.w2(x0, x1),
            # The two-sample floor: W2 between two independent target samples of this size.
            "w2_floor": metrics.w2(x1_again, x1),
        }


@eqx.filter_jit
def _push(model, x0, ts=None):
    return push_forward(model, x0, ts=ts)
