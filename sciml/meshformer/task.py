"""Task `meshformer`: MeshGraphNet or mesh transformer trained on (simulated) cylinder flow.

One task, two networks (`model: mgn | transformer`), so both see the same data, loss, noise,
normalisers and evaluation. Evaluation on the held-out trajectories reports what the MeshGraphNets and
graph-physics evaluations report: one-step RMSE (true inputs, every test frame), rollout RMSE over the
first 1, 10 and 50 steps and over the whole rollout (MeshGraphNets' cumulative definition: the root of
the mean squared error over steps, nodes and components, boundary nodes included), the "no change"
baseline, the rollout time per step and the parameter count; it draws ground truth against the
rollout and saves the rollout of the first test trajectory (`rollout.npz`).
Reference: Garnier et al. 2025, "Training Transformers for Mesh-Based Simulations"; Pfaff et al. 2021.
"""

import dataclasses
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from sciml import plot
from sciml.data.cylinder_flow import DATA_DIR, CylinderFlowConfig
from sciml.meshformer import data as mesh_data
from sciml.meshformer.mgn import NORMS, MeshGraphNet
from sciml.meshformer.normalizer import Normalizer
from sciml.meshformer.simulator import EDGE_FEATURES, NODE_FEATURES, MeshInputs, MeshSimulator, one_step_loss, rollout
from sciml.meshformer.transformer import MeshTransformer
from sciml.runner.task import Task, register_task

#: Rollout horizons reported (MeshGraphNets' cfd_eval reports 1, 10, 20, 50, 100, 200).
HORIZONS = (1, 10, 50)


def _inputs(d: dict) -> MeshInputs:
    return MeshInputs(
        jnp.asarray(d["node_type"]),
        jnp.asarray(d["mesh_pos"]),
        jnp.asarray(d["node_mask"]),
        tuple(tuple(jnp.asarray(x) for x in a) for a in d["adjacency"]),
    )


@register_task("meshformer")
@dataclasses.dataclass(frozen=True)
class MeshTask(Task):
    """Learn one step of cylinder flow on a mesh; roll out on held-out trajectories.

    Model: `model` mgn | transformer; `width`, `layers` (message-passing steps / blocks); `mlp_depth`
    hidden layers of every MLP (None: 2 for MeshGraphNet as DeepMind, 3 for the transformer as
    graph-physics); MeshGraphNet `norm` layer | rms | none; transformer `heads`, `hops` (block l uses
    the edge list hops[l % len(hops)], `hop_mode` "power" = within K hops, "ring" = exactly d hops, so
    hops=(2,) power is K-hop 2 and hops=(1, 2, 4) ring is dilation), `global_tokens` and `rope_scale`
    (rotary encoding of mesh_pos * rope_scale in the attention scores; 0 = none, then geometry enters
    only through the edge lists).
    Data: `data` lbm (the simulated CylinderFlow-like set) | synthetic (random mesh of
    `synthetic_nodes` nodes, timing only); the LBM set's size and resolution; `data_dir` ("" = data/).
    """

    model: str = "transformer"
    width: int = 64
    layers: int = 4
    mlp_depth: int | None = None
    norm: str = "layer"
    heads: int = 4
    hops: tuple[int, ...] = (1,)
    hop_mode: str = "power"
    global_tokens: int = 0
    rope_scale: float = 100.0
    noise: float = 0.02
    batch_size: int = 2
    data: str = "lbm"
    n_train: int = 16
    n_test: int = 4
    frames: int = 100
    warmup: float = 15.0
    lattice_ny: int = 48
    h_min: float = 0.01
    h_max: float = 0.03
    reynolds: tuple[float, float] = (100.0, 200.0)
    data_seed: int = 0
    data_dir: str = ""
    synthetic_nodes: int = 1900
    eval_trajectories: int = 0  # 0 = every test trajectory
    eval_batch: int = 16

    def __post_init__(self):
        if self.model not in ("mgn", "transformer"):
            raise ValueError(f"model must be 'mgn' or 'transformer', got {self.model!r}")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.hop_mode not in ("power", "ring"):
            raise ValueError(f"hop_mode must be 'power' or 'ring', got {self.hop_mode!r}")
        if not self.hops or min(self.hops) < 1:
            raise ValueError(f"hops must be a non-empty tuple of integers >= 1, got {self.hops}")
        if self.model == "mgn" and (self.hops != (1,) or self.global_tokens):
            raise ValueError("MeshGraphNet passes messages over mesh edges only: use hops=(1,), global_tokens=0")
        if self.width < 1 or self.layers < 1 or self.batch_size < 1 or self.noise < 0:
            raise ValueError("width, layers and batch_size must be >= 1 and noise >= 0")
        if self.model == "transformer" and self.width % self.heads:
            raise ValueError(f"width {self.width} must be divisible by heads {self.heads}")
        if self.frames < 3:
            raise ValueError(f"frames must be >= 3, got {self.frames}")

    # ------------------------------------------------------------------------------ data

    @property
    def data_config(self) -> CylinderFlowConfig:
        return CylinderFlowConfig(
            n_train=self.n_train, n_test=self.n_test, frames=self.frames, warmup=self.warmup, ny=self.lattice_ny,
            h_min=self.h_min, h_max=self.h_max, reynolds=tuple(self.reynolds), seed=self.data_seed,
        )

    @property
    def edge_specs(self) -> tuple[mesh_data.EdgeSpec, ...]:
        """Entry 0 is always the mesh; then the distinct edge lists the transformer blocks use."""
        specs = [mesh_data.MESH_EDGES]
        if self.model == "transformer":
            for h in self.hops:
                spec = mesh_data.EdgeSpec(h, "power" if h == 1 else self.hop_mode)
                if spec not in specs:
                    specs.append(spec)
        return tuple(specs)

    def layer_adjacency(self) -> tuple[int, ...]:
        specs = self.edge_specs
        pick = lambda h: specs.index(mesh_data.EdgeSpec(h, "power" if h == 1 else self.hop_mode))  # noqa: E731
        return tuple(pick(self.hops[l % len(self.hops)]) for l in range(self.layers))  # noqa: E741

    def dataset(self):
        """(train split, test split, statistics), prepared once per process."""
        return mesh_data.load(
            self.data, self.data_config, self.edge_specs, self.data_dir or str(DATA_DIR), self.synthetic_nodes
        )

    # ------------------------------------------------------------------------------ model

    def init(self, *, key) -> MeshSimulator:
        _, _, stats = self.dataset()
        if self.model == "mgn":
            net = MeshGraphNet(NODE_FEATURES, EDGE_FEATURES, 2, width=self.width, layers=self.layers,
                               mlp_depth=self.mlp_depth or 2, norm=self.norm, key=key)
            edge_norm = Normalizer(*stats["edge"])
        else:
            net = MeshTransformer(NODE_FEATURES, 2, width=self.width, heads=self.heads, layers=self.layers,
                                  mlp_depth=self.mlp_depth or 3, layer_adjacency=self.layer_adjacency(),
                                  global_tokens=self.global_tokens, rope_scale=self.rope_scale, key=key)
            edge_norm = None
        return MeshSimulator(net, Normalizer(*stats["node"]), Normalizer(*stats["target"]), edge_norm)

    def trainable(self, model: MeshSimulator):
        """Everything but the normalisers (their statistics are data, not parameters)."""
        mask = jax.tree_util.tree_map(eqx.is_inexact_array, model)
        frozen = lambda m: (m.node_norm, m.target_norm) + ((m.edge_norm,) if m.edge_norm is not None else ())  # noqa: E731
        return eqx.tree_at(frozen, mask, replace_fn=lambda sub: jax.tree_util.tree_map(lambda _: False, sub))

    def num_params(self, model: MeshSimulator) -> int:
        return int(sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(model.net, eqx.is_inexact_array))))

    # ------------------------------------------------------------------------------ training

    def batch(self, step: int, *, seed: int):
        train, _, _ = self.dataset()
        rng = np.random.default_rng([seed, step])
        m = rng.integers(train.num_trajectories, size=self.batch_size)
        t = rng.integers(train.frames - 1, size=self.batch_size)
        return {"velocity": train.velocity[m, t], "target": train.velocity[m, t + 1], **train.mesh(m)}

    def loss(self, model, batch, *, key):
        keys = jax.random.split(key, batch["velocity"].shape[0])

        def one(b, k):
            return one_step_loss(model, _inputs(b), b["velocity"], b["target"], noise=self.noise, key=k)

        losses = jax.vmap(one)(batch, keys)
        return losses.mean(), {}

    # ------------------------------------------------------------------------------ evaluation

    def evaluate(self, model, *, key, run_dir: Path) -> dict[str, float]:
        _, test, _ = self.dataset()
        m_count = test.num_trajectories
        if self.eval_trajectories > 0:
            m_count = min(self.eval_trajectories, m_count)
        idx = np.arange(m_count)
        mask = test.node_mask[idx]  # [M, N]

        # One-step error from ground-truth inputs at every frame, in chunks of `eval_batch` (the last
        # chunk padded with repeats that get weight 0, so one compiled program serves all chunks).
        pairs = np.array([(m, t) for m in idx for t in range(test.frames - 1)])
        sq, sq_zero, count = 0.0, 0.0, 0.0
        for i in range(0, len(pairs), self.eval_batch):
            chunk = pairs[i : i + self.eval_batch]
            real = len(chunk)
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], self.eval_batch - real, 0)])
            mm, tt = chunk[:, 0], chunk[:, 1]
            pred = np.asarray(_one_step(model, test.velocity[mm, tt], test.mesh(mm)))
            gt, prev = test.velocity[mm, tt + 1], test.velocity[mm, tt]
            w = test.node_mask[mm][..., None] * (np.arange(self.eval_batch) < real)[:, None, None]
            sq += float((((pred - gt) ** 2) * w).sum())
            sq_zero += float((((prev - gt) ** 2) * w).sum())
            count += float(w.sum() * 2)

        # Rollouts from frame 0 over the whole trajectory, boundary nodes reset to ground truth; the
        # first one is run twice more to time it (compile excluded).
        gt = test.velocity[idx]  # [M, T, N, 2]
        preds, ms = [], float("inf")
        for m in idx:
            mesh = jax.tree_util.tree_map(jnp.asarray, test.mesh(int(m)))
            args = (model, jnp.asarray(gt[m, 0]), jnp.asarray(gt[m, 1:]), mesh)
            preds.append(np.asarray(_rollout_one(*args)))
            if m == idx[0]:
                for _ in range(2):
                    t0 = time.perf_counter()
                    jax.block_until_ready(_rollout_one(*args))
                    ms = min(ms, 1e3 * (time.perf_counter() - t0) / (test.frames - 1))
        preds = np.stack(preds)  # [M, T-1, N, 2]
        err = ((preds - gt[:, 1:]) ** 2) * mask[:, None, :, None]  # [M, T-1, N, 2]
        per_step = err.sum((0, 2, 3)) / (mask.sum() * 2)  # [T-1]
        steps = len(per_step)
        out = {
            "params": float(self.num_params(model)),
            "one_step_rmse": float(np.sqrt(sq / count)),
            "one_step_rmse_no_change": float(np.sqrt(sq_zero / count)),
            "rollout_rmse_all": float(np.sqrt(per_step.mean())),
        }
        for h in HORIZONS:
            if h <= steps:
                out[f"rollout_rmse_{h}"] = float(np.sqrt(per_step[:h].mean()))
        out["rollout_ms_per_step"] = ms

        run_dir = Path(run_dir)
        n0 = int(mask[0].sum())
        np.savez_compressed(
            run_dir / "rollout.npz", prediction=preds[0][:, :n0], truth=gt[0, 1:, :n0],
            mesh_pos=test.mesh_pos[0, :n0], cells=test.cells[0], per_step_mse=per_step,
        )
        _figure(run_dir / "rollout.png", test.mesh_pos[0, :n0], test.cells[0], gt[0, 1:, :n0], preds[0][:, :n0],
                f"{self.model}: |u|, ground truth (top) vs rollout (bottom)")
        return out


# ---------------------------------------------------------------------------------- helpers


@eqx.filter_jit
def _one_step(model, velocity, mesh):
    def one(v, msh):
        inputs = _inputs(msh)
        nxt = model.step(v, inputs)
        return jnp.where(inputs.predicted()[:, None], nxt, v)

    return jax.vmap(one)(velocity, mesh)


@eqx.filter_jit
def _rollout_one(model, initial, known, mesh):
    return rollout(model, _inputs(mesh), initial, known)


def _figure(path: Path, pos, cells, truth, pred, title: str, times=None) -> None:
    steps = truth.shape[0]
    times = times or sorted({0, min(9, steps - 1), min(49, steps - 1), steps - 1})
    fig, axes = plot.figure(len(times), 2, size=2.6)
    speed_t = np.linalg.norm(truth, axis=-1)
    speed_p = np.linalg.norm(pred, axis=-1)
    vmax = float(speed_t.max())
    for j, t in enumerate(times):
        for i, (field, label) in enumerate(((speed_t, "truth"), (speed_p, "rollout"))):
            ax = axes[i, j]
            ax.tripcolor(pos[:, 0], pos[:, 1], cells, field[t], shading="gouraud", vmin=0, vmax=vmax)
            ax.set_aspect("equal")
            ax.set_axis_off()
            ax.set_title(f"{label}, step {t + 1}")
    fig.suptitle(title)
    fig.set_size_inches(2.6 * len(times) * 1.6, 2.6)
    plot.save(fig, path)
