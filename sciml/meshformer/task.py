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
from pathlib import Path

import jax
import numpy as np

from sciml import xla_defaults
from sciml.data import mesh_trajectories
from sciml.data.cache import data_dir
from sciml.data.cylinder_flow import CylinderFlowConfig
from sciml.data.mesh_trajectories import MESH_EDGES, EdgeSpec
from sciml.meshformer.evaluation import evaluate_mesh_simulator
from sciml.meshformer.figures import rollout_figure
from sciml.meshformer.mgn import NORMS, MeshGraphNet
from sciml.meshformer.normaliser import Normaliser
from sciml.meshformer.simulator import (
    EDGE_FEATURES,
    NODE_FEATURES,
    MeshSimulator,
    mesh_inputs,
    normalisers,
    one_step_loss,
    one_step_nll,
)
from sciml.meshformer.transformer import MeshTransformer
from sciml.params import trainable_mask
from sciml.runner.task import Task, register_task
from sciml.validate import check_choice, check_range, check_ranges


@register_task("meshformer")
@dataclasses.dataclass(frozen=True)
class MeshTask(Task):
    """Learn one step of cylinder flow on a mesh; roll out on held-out trajectories.

    Model: `model` mgn | transformer; `width`, `depth` (message-passing steps / blocks); `mlp_depth`
    hidden layers of every MLP (None: 2 for MeshGraphNet as DeepMind, 3 for the transformer as
    graph-physics); MeshGraphNet `norm` layer | rms | none; transformer `num_heads`, `hops` (block l uses
    the edge list hops[l % len(hops)], `hop_mode` "power" = within K hops, "ring" = exactly d hops, so
    hops=(2,) power is K-hop 2 and hops=(1, 2, 4) ring is dilation), `global_tokens` and `rope_scale`
    (rotary encoding of mesh_pos * rope_scale in the attention scores; 0 = none, then geometry enters
    only through the edge lists).
    Data: `data` lbm (the simulated CylinderFlow-like set) | synthetic (random mesh of
    `synthetic_nodes` nodes, timing only) | meshgraphnets (the published CylinderFlow files in `path`:
    `meta.json`, `train.tfrecord`, `test.tfrecord`; the first `num_train` / `num_test` trajectories, cut
    to `num_frames` frames, normalised with MeshGraphNets' statistics, see
    `sciml.data.mesh_trajectories.meshgraphnets_statistics`); the LBM set's size and resolution;
    `data_dir` ("" = the shared data cache, `sciml.data.cache.data_dir()`).
    `output_variance`: a Gaussian head (mean and variance per node) trained by the NLL instead of the
    MSE (`sciml.meshformer.simulator.one_step_nll`); off by default.
    """

    model: str = "transformer"
    width: int = 64
    depth: int = 4
    mlp_depth: int | None = None
    norm: str = "layer"
    num_heads: int = 4
    hops: tuple[int, ...] = (1,)
    hop_mode: str = "power"
    global_tokens: int = 0
    rope_scale: float = 100.0
    noise: float = 0.02
    batch_size: int = 2
    data: str = "lbm"
    path: str = ""  # directory of the published dataset (data: meshgraphnets)
    num_train: int = 16
    num_test: int = 4
    num_frames: int = 100
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
    output_variance: bool = False

    def __post_init__(self):
        check_choice("model", self.model, ("mgn", "transformer"))
        check_choice("data", self.data, mesh_trajectories.SOURCES)
        if self.data == "meshgraphnets" and not self.path:
            raise ValueError("data 'meshgraphnets' reads the published CylinderFlow files: set task.path to their "
                             "directory (meta.json, train.tfrecord, test.tfrecord)")
        check_choice("norm", self.norm, NORMS)
        check_choice("hop_mode", self.hop_mode, ("power", "ring"))
        if not self.hops or min(self.hops) < 1:
            raise ValueError(f"hops must be a non-empty tuple of integers >= 1, got {self.hops}")
        if self.model == "mgn" and (self.hops != (1,) or self.global_tokens):
            raise ValueError("MeshGraphNet passes messages over mesh edges only: use hops=(1,), global_tokens=0")
        check_ranges(self, width={"ge": 1}, depth={"ge": 1}, batch_size={"ge": 1}, noise={"ge": 0})
        if self.model == "transformer" and self.width % self.num_heads:
            raise ValueError(f"width {self.width} must be divisible by num_heads {self.num_heads}")
        check_range("num_frames", self.num_frames, ge=3)

    # ------------------------------------------------------------------------------ data

    @property
    def data_config(self) -> CylinderFlowConfig:
        return CylinderFlowConfig(
            n_train=self.num_train, n_test=self.num_test, frames=self.num_frames, warmup=self.warmup,
            ny=self.lattice_ny, h_min=self.h_min, h_max=self.h_max, reynolds=tuple(self.reynolds),
            seed=self.data_seed,
        )

    @property
    def edge_specs(self) -> tuple[EdgeSpec, ...]:
        """Entry 0 is always the mesh; then the distinct edge lists the transformer blocks use."""
        specs = [MESH_EDGES]
        if self.model == "transformer":
            for h in self.hops:
                spec = EdgeSpec(h, "power" if h == 1 else self.hop_mode)
                if spec not in specs:
                    specs.append(spec)
        return tuple(specs)

    def layer_adjacency(self) -> tuple[int, ...]:
        specs = self.edge_specs
        pick = lambda h: specs.index(EdgeSpec(h, "power" if h == 1 else self.hop_mode))  # noqa: E731
        return tuple(pick(self.hops[l % len(self.hops)]) for l in range(self.depth))  # noqa: E741

    def dataset(self):
        """(train split, test split, statistics), prepared once per process."""
        if self.data == "meshgraphnets":
            return mesh_trajectories.load(self.data, self.data_config, self.edge_specs, "", self.synthetic_nodes,
                                          path=self.path, noise=self.noise)
        return mesh_trajectories.load(
            self.data, self.data_config, self.edge_specs, self.data_dir or str(data_dir()), self.synthetic_nodes
        )

    # ------------------------------------------------------------------------------ model

    def compiler_options(self) -> dict[str, str]:
        """Both models' steps are many 64-128-wide products and row reductions, which XLA:CPU's own
        fused code runs faster than YNNPACK's kernels (benchmarks/README.md, "Mesh transformer" and
        "MeshGraphNet")."""
        return xla_defaults.small_ops_options()

    def init(self, *, key) -> MeshSimulator:
        _, _, stats = self.dataset()
        out = 4 if self.output_variance else 2  # mean change (+ variance) per node
        if self.model == "mgn":
            net = MeshGraphNet(NODE_FEATURES, EDGE_FEATURES, out, width=self.width, layers=self.depth,
                               mlp_depth=self.mlp_depth or 2, norm=self.norm, key=key)
            edge_norm = Normaliser(*stats["edge"])
        else:
            net = MeshTransformer(NODE_FEATURES, out, width=self.width, heads=self.num_heads, layers=self.depth,
                                  mlp_depth=self.mlp_depth or 3, layer_adjacency=self.layer_adjacency(),
                                  global_tokens=self.global_tokens, rope_scale=self.rope_scale, key=key)
            edge_norm = None
        return MeshSimulator(net, Normaliser(*stats["node"]), Normaliser(*stats["target"]), edge_norm,
                             output_variance=self.output_variance)

    def trainable(self, model: MeshSimulator):
        """Everything but the normalisers (their statistics are data, not parameters)."""
        return trainable_mask(model, frozen=normalisers)

    # ------------------------------------------------------------------------------ training

    def batch(self, step: int, *, seed: int):
        train, _, _ = self.dataset()
        rng = np.random.default_rng([seed, step])
        m = rng.integers(train.num_trajectories, size=self.batch_size)
        t = rng.integers(train.frames - 1, size=self.batch_size)
        return {"velocity": train.velocity[m, t], "target": train.velocity[m, t + 1], **train.mesh(m)}

    def loss(self, model, batch, *, key):
        keys = jax.random.split(key, batch["velocity"].shape[0])

        step_loss = one_step_nll if self.output_variance else one_step_loss

        def one(b, k):
            return step_loss(model, mesh_inputs(b), b["velocity"], b["target"], noise=self.noise, key=k)

        losses = jax.vmap(one)(batch, keys)
        return losses.mean(), {}

    # ------------------------------------------------------------------------------ evaluation

    def evaluate(self, model, *, key, run_dir: Path) -> dict[str, float]:
        """`evaluation.evaluate_mesh_simulator` on the held-out split; saves the first test trajectory's
        rollout (`rollout.npz`) and draws it against the ground truth (`rollout.png`)."""
        _, test, _ = self.dataset()
        out, preds, per_step = evaluate_mesh_simulator(model, test, trajectories=self.eval_trajectories,
                                                       batch=self.eval_batch)
        run_dir = Path(run_dir)
        n0 = int(test.node_mask[0].sum())
        truth, pred = test.velocity[0, 1:, :n0], preds[0][:, :n0]
        np.savez_compressed(run_dir / "rollout.npz", prediction=pred, truth=truth, mesh_pos=test.mesh_pos[0, :n0],
                            cells=test.cells[0], per_step_mse=per_step)
        rollout_figure(run_dir / "rollout.png", test.mesh_pos[0, :n0], test.cells[0], truth, pred,
                       f"{self.model}: |u|, ground truth (top) vs rollout (bottom)")
        return out
