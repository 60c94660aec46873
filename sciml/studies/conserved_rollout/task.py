"""Task `study_conserved_rollout`: a mesh simulator with a Gaussian head, rolled out plain, with HardC and
with the ProbConserv update at every step, on the LBM cylinder flow.

Training is MeshTask's (`sciml.meshformer.MeshTask` with `output_variance=True`: same data, noise,
normalisers, NLL loss); evaluation rolls out the held-out trajectories with each per-step correction and
reports rollout RMSE and flux drift at 10, 50 and all steps, and ms per step (`evaluation.py`).
Reference: Hansen et al., ICML 2023 (ProbConserv); Pfaff et al. 2021 and Garnier et al. 2025 (the models).
"""

import dataclasses
from pathlib import Path

import numpy as np

from sciml.meshformer import MeshTask
from sciml.runner import Task, register_task
from sciml.studies.conserved_rollout.evaluation import drift, evaluate_constrained, split_constraints, truth_imbalance
from sciml.studies.conserved_rollout.figures import error_and_drift_figure
from sciml.validate import check_range


@register_task("study_conserved_rollout")
@dataclasses.dataclass(frozen=True)
class ConservedRolloutTask(Task):
    """MeshGraphNet or mesh transformer (`model`) with a Gaussian head; constrained rollouts in evaluation.

    Model and data fields are MeshTask's (see `sciml.meshformer.MeshTask`; the transformer uses mesh
    edges only). `num_sections`: interior cross-sections of the flux constraint (plus the outflow row).
    `sigma_rel`: the constraint noise of the "probconserv_sigma" variant relative to the inflow flux; 0
    (default) measures it as the RMS flux mismatch of the training trajectories' ground truth.
    """

    model: str = "transformer"
    width: int = 32
    depth: int = 4
    mlp_depth: int | None = None
    num_heads: int = 4
    rope_scale: float = 100.0
    noise: float = 0.02
    batch_size: int = 1
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
    num_sections: int = 7
    sigma_rel: float = 0.0
    eval_trajectories: int = 0
    timing_repeats: int = 2

    def __post_init__(self):
        self.mesh_task  # validates the shared fields  # noqa: B018
        check_range("num_sections", self.num_sections, ge=0)
        check_range("sigma_rel", self.sigma_rel, ge=0)
        check_range("timing_repeats", self.timing_repeats, ge=1)

    @property
    def mesh_task(self) -> MeshTask:
        """The MeshTask that trains the Gaussian simulator (mesh edges only, variance head on)."""
        return MeshTask(
            model=self.model, width=self.width, depth=self.depth, mlp_depth=self.mlp_depth, num_heads=self.num_heads,
            rope_scale=self.rope_scale, noise=self.noise, batch_size=self.batch_size, data="lbm",
            num_train=self.num_train, num_test=self.num_test, num_frames=self.num_frames, warmup=self.warmup,
            lattice_ny=self.lattice_ny, h_min=self.h_min, h_max=self.h_max, reynolds=tuple(self.reynolds),
            data_seed=self.data_seed, data_dir=self.data_dir, output_variance=True,
        )

    def compiler_options(self) -> dict[str, str]:
        return self.mesh_task.compiler_options()

    def init(self, *, key):
        return self.mesh_task.init(key=key)

    def trainable(self, model):
        return self.mesh_task.trainable(model)

    def batch(self, step: int, *, seed: int):
        return self.mesh_task.batch(step, seed=seed)

    def loss(self, model, batch, *, key):
        return self.mesh_task.loss(model, batch, key=key)

    def evaluate(self, model, *, key, run_dir: Path) -> dict[str, float]:
        """Each method's rollout RMSE, drift and cost on the held-out trajectories; the truth's drift on
        both splits; per-step curves (`curves.npz`) and their figure (`error_drift.png`)."""
        train, test, _ = self.mesh_task.dataset()
        train_c, test_c = split_constraints(train, self.num_sections), split_constraints(test, self.num_sections)
        train_imbalance = truth_imbalance(train, train_c)
        sigma_rel = self.sigma_rel or train_imbalance
        out, firsts = evaluate_constrained(model, test, test_c, sigma_rel=sigma_rel,
                                           trajectories=self.eval_trajectories, timing_repeats=self.timing_repeats)
        out["truth/imbalance_train_rms"] = train_imbalance
        out["truth/imbalance_test_rms"] = truth_imbalance(test, test_c)
        out["truth/imbalance_test_max"] = float(max(drift(c, test.velocity[m]).max() for m, c in enumerate(test_c)))
        n0 = int(test.node_mask[0].sum())
        truth0 = test.velocity[0, 1:]
        per_step = {k: ((p - truth0)[:, :n0] ** 2).mean((1, 2)) for k, p in firsts.items()}
        drifts = {k: drift(test_c[0], p) for k, p in firsts.items()}
        truth_drift = drift(test_c[0], truth0)
        run_dir = Path(run_dir)
        curves = {**{f"mse_{k}": v for k, v in per_step.items()}, **{f"drift_{k}": v for k, v in drifts.items()}}
        np.savez_compressed(run_dir / "curves.npz", truth_drift=truth_drift, **curves)
        error_and_drift_figure(run_dir / "error_drift.png", per_step, drifts, truth_drift,
                               f"{self.model}: test trajectory 0")
        return out
