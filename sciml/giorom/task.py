"""The `gns` and `giorom` tasks: learned particle simulators trained on MPM trajectories.

Both train one model on all materials of `sciml.data.particles.mpm_dataset` (the particle type tells
the material) with GNS's recipe: a window of C + 1 positions with random-walk noise in, the
normalised acceleration out, MSE. `gns` sees every particle; `giorom` sees a sparse subset (a fraction
`sparsity` of the particles, by farthest-point or random sampling, re-drawn among `n_subsets`
subsets per training trajectory) and trains its reconstruction decoder in the same loss, from the
subset's true positions to all particles' positions.

`evaluate` rolls out every test trajectory from its first C + 1 frames to the end (positions projected
into the box the training particles occupied when `wall_limits`, our addition: at these small training
budgets both models otherwise let particles fall through the floor; `rollout_mse_unprojected` is the
plain rollout) and reports, overall and per material: one-step position MSE beside the
constant-velocity baseline, rollout MSE on the sparse evaluation subsets (FPS from particle 0: the
same particles for both models), the dense error
(GNS: its own rollout; GIOROM: reconstructed from the sparse rollout, and from the true sparse
trajectory as `recon_only_mse`), relative L2 of displacements, Chamfer distance, rollout ms/step and
parameter counts. It writes `snapshots.png` and `rollouts.npz` (first test trajectory per material).
Reference: Sanchez-Gonzalez et al. 2020 (GNS); Viswanath et al. 2024 (GIOROM), Sec. 4;
docs/references.md GIOROM.4 (smallest faithful experiment).
"""

import dataclasses
import functools
import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from sciml.data.particles import MATERIALS, mpm_dataset
from sciml.giorom.dynamics import noisy_inputs_and_target
from sciml.giorom.evaluation import (
    eval_subset,
    frame_chamfer,
    one_step_errors,
    reconstruct_frames,
    rollout_ms_per_step,
    rollout_positions,
    snapshot_figure,
)
from sciml.giorom.features import ParticleSetup
from sciml.giorom.gno import LatentGrid
from sciml.giorom.gns import GNS
from sciml.giorom.metrics import displacement_rel_l2
from sciml.giorom.model import GIOROM
from sciml.giorom.neighbors import particle_graph
from sciml.giorom.reconstruct import Reconstructor
from sciml.giorom.sampling import farthest_point_sampling, subset_size
from sciml.runner.task import Task, register_task

#: The paper's headline claims (abstract, docs/references.md GIOROM.3).
PAPER_SPEEDUP = 25.0
PAPER_REPO_FIGURE = {  # Res/sparsity_loss.png: time for 120 steps and rollout MSE by sparsity (dataset unstated)
    1.0: {"seconds_120_steps": 108.0, "rollout_mse": 0.007},
    0.031: {"seconds_120_steps": 5.5, "rollout_mse": 1e-4},
    0.007: {"seconds_120_steps": 2.2, "rollout_mse": 0.022},
}


@functools.lru_cache(maxsize=4)
def _dataset(params_json: str) -> dict:
    p = json.loads(params_json)
    p["materials"] = tuple(p["materials"])
    return mpm_dataset(**p)


@dataclasses.dataclass(frozen=True)
class _ParticleTask(Task):
    """Fields shared by the GNS and GIOROM tasks (data, features, training, evaluation)."""

    # data: `n_train` / `n_test` scenes per material, each `n_frames` frames of `n_particles` particles
    n_particles: int = 512
    n_frames: int = 160  # 0.8 s at 200 frames per second: the drop, the impact and most of the settling
    n_train: int = 8
    n_test: int = 2
    materials: tuple[str, ...] = ("water", "sand", "elastic")
    area: float = 0.06
    data_seed: int = 0
    cache: bool = True
    # features and training
    window: int = 5  # C past velocities (GNS and GIOROM: 5)
    noise_std: float = 1e-4  # random-walk noise on input positions (last-step std; acc std is about 6e-4)
    radius_scale: float = 1.0  # multiplies the dataset's connectivity radius
    max_neighbors: int = 16  # edges reserved per particle on average (about 12 are used)
    width: int = 64
    depth: int = 2
    batch_size: int = 4
    # evaluation
    wall_limits: bool = True  # project rollout positions into the box the training particles occupied
    eval_trajectories: int = 0  # test trajectories to roll out (0 = all)
    eval_steps: int = 0  # rollout steps (0 = to the last frame)
    one_step_stride: int = 8
    eval_sparsities: tuple[float, ...] = (0.25, 0.1, 0.05)
    timing_steps: int = 20
    timing_repeats: int = 3
    figures: bool = True

    def __post_init__(self):
        for name in ("n_particles", "n_train", "n_test", "window", "max_neighbors", "width", "batch_size",
                     "timing_steps", "timing_repeats", "one_step_stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_frames < self.window + 2:
            raise ValueError(f"n_frames must be >= window + 2 = {self.window + 2}, got {self.n_frames}")
        bad = [m for m in self.materials if m not in MATERIALS]
        if bad or not self.materials:
            raise ValueError(f"unknown materials {bad}; valid: {sorted(MATERIALS)}")
        if self.noise_std < 0 or self.radius_scale <= 0 or self.area <= 0:
            raise ValueError("need noise_std >= 0, radius_scale > 0 and area > 0")
        if self.eval_trajectories < 0 or self.eval_steps < 0:
            raise ValueError("eval_trajectories and eval_steps must be >= 0")
        for f in self.eval_sparsities:
            subset_size(self.n_particles, f)  # validates (0, 1]

    # ------------------------------------------------------------------------------------- data

    def data(self) -> dict:
        """The MPM dataset (generated once, cached in memory and under data/particles/)."""
        params = {"n_particles": self.n_particles, "n_frames": self.n_frames, "n_train": self.n_train,
                  "n_test": self.n_test, "materials": list(self.materials), "seed": self.data_seed,
                  "area": self.area, "cache": self.cache}
        return _dataset(json.dumps(params, sort_keys=True))

    def spacing(self) -> float:
        """Mean initial particle spacing sqrt(area / N)."""
        return float(np.sqrt(self.area / self.n_particles))

    def base_setup(self) -> ParticleSetup:
        meta = self.data()["metadata"]
        return ParticleSetup.from_metadata(
            meta, radius=self.radius_scale * meta["default_connectivity_radius"], window=self.window,
            noise_std=self.noise_std, max_neighbors=self.max_neighbors,
        )

    def _check_radius(self, setup: ParticleSetup, x: np.ndarray) -> None:
        _, _, _, count = particle_graph(jnp.asarray(x), setup.radius, setup.max_edges(len(x)), domain=setup.domain(),
                                        check_empty=False)
        if int(count) == 0:
            raise ValueError(f"radius {setup.radius:.4g} yields an empty graph on the first training frame "
                             f"({len(x)} particles); increase radius_scale")

    def _sample_times(self, step: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
        rng = np.random.default_rng([seed, step])
        pos = self.data()["train"]["position"]
        m = rng.integers(0, pos.shape[0], self.batch_size)
        t = rng.integers(self.window, pos.shape[1] - 1, self.batch_size)  # last input frame; t + 1 is the target
        return m, t, rng

    def _test_indices(self) -> list[int]:
        n = self.data()["test"]["position"].shape[0]
        return list(range(n if self.eval_trajectories == 0 else min(n, self.eval_trajectories)))

    def _material_names(self) -> dict[int, str]:
        return {v: k for k, v in self.data()["metadata"]["materials"].items()}

    def limits(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """The box rollouts are projected into: the extent of all training positions (None when off).

        MPM particles sit up to about a grid cell inside the wall layer, so the walls' own box would
        push resting particles up; the data's extent does not.
        """
        if not self.wall_limits:
            return None
        pos = self.data()["train"]["position"]
        lo, hi = pos.min(axis=(0, 1, 2)), pos.max(axis=(0, 1, 2))
        return ((float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])))

    def _rollout_steps(self) -> int:
        full = self.n_frames - self.window - 1
        return full if self.eval_steps == 0 else min(full, self.eval_steps)

    @staticmethod
    def _n_params(model) -> int:
        return int(sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array))))

    @staticmethod
    def _aggregate(per_traj: list[dict], materials: list[str]) -> dict[str, float]:
        out = {}
        keys = per_traj[0].keys()
        for k in keys:
            out[k] = float(np.mean([r[k] for r in per_traj]))
            for mat in sorted(set(materials)):
                out[f"{k}/{mat}"] = float(np.mean([r[k] for r, m in zip(per_traj, materials) if m == mat]))
        return out


@register_task("gns")
@dataclasses.dataclass(frozen=True)
class GNSTask(_ParticleTask):
    """GNS on all particles (the baseline)."""

    message_passing: int = 6  # the original: 10 steps, latent 128

    def __post_init__(self):
        super().__post_init__()
        if self.message_passing < 1:
            raise ValueError(f"message_passing must be >= 1, got {self.message_passing}")

    def setup(self) -> ParticleSetup:
        s = self.base_setup()
        self._check_radius(s, self.data()["train"]["position"][0, 0])
        return s

    def init(self, *, key) -> GNS:
        return GNS(self.setup(), self.width, self.message_passing, self.depth, key=key)

    def batch(self, step: int, *, seed: int) -> dict[str, np.ndarray]:
        m, t, _ = self._sample_times(step, seed)
        train = self.data()["train"]
        frames = t[:, None] + np.arange(-self.window, 2)[None]  # [B, C + 2]
        return {"positions": train["position"][m[:, None], frames], "ptype": train["particle_type"][m]}

    def loss(self, model: GNS, batch, *, key):
        keys = jax.random.split(key, batch["positions"].shape[0])

        def one(pos, ptype, k):
            window, target = noisy_inputs_and_target(pos, model.setup, key=k)
            acc, count = model.forward(window, ptype)
            return jnp.mean(jnp.sum((acc - target) ** 2, -1)), count

        mse, count = jax.vmap(one)(batch["positions"], batch["ptype"], keys)
        fill = jnp.max(count) / model.setup.max_edges(batch["positions"].shape[2])
        return jnp.mean(mse), {"acc_mse": jnp.mean(mse), "edge_fill": fill}

    def evaluate(self, model: GNS, *, key, run_dir: Path) -> dict[str, float]:
        test = self.data()["test"]
        names = self._material_names()
        c, steps, limits = self.window, self._rollout_steps(), self.limits()
        per_traj, mats, saved = [], [], {}
        for i in self._test_indices():
            x, ptype = test["position"][i], test["particle_type"][i]
            true = x[c + 1 : c + 1 + steps]
            w0, p0 = jnp.asarray(x[: c + 1]), jnp.asarray(ptype)
            pred = np.asarray(rollout_positions(model, w0, p0, steps, limits))
            free = pred if limits is None else np.asarray(rollout_positions(model, w0, p0, steps))
            one, const = one_step_errors(model, x, ptype, c, self.one_step_stride)
            r = {
                "one_step_mse": one,
                "one_step_mse_constant_velocity": const,
                "rollout_mse": float(np.mean(np.sum((pred - true) ** 2, -1))),
                "rollout_mse_unprojected": float(np.mean(np.sum((free - true) ** 2, -1))),
                "dense_mse": float(np.mean(np.sum((pred - true) ** 2, -1))),
                "dense_rel_l2": float(displacement_rel_l2(pred, true, x[0])),
                "chamfer": float(np.mean(frame_chamfer(jnp.asarray(pred), jnp.asarray(true)))),
                "max_abs_position": float(np.abs(pred).max()),
            }
            for f in self.eval_sparsities:
                idx = eval_subset(x[0], f)
                r[f"sparse_mse_{round(100 * f)}"] = float(np.mean(np.sum((pred[:, idx] - true[:, idx]) ** 2, -1)))
            per_traj.append(r)
            mat = names[int(ptype[0])]
            mats.append(mat)
            if mat not in saved:
                saved[mat] = (x[: c + 1 + steps], np.concatenate([x[: c + 1], pred]))
        out = self._aggregate(per_traj, mats)
        x0, p0 = test["position"][0], test["particle_type"][0]
        out["ms_per_step"] = rollout_ms_per_step(model, x0[: c + 1], p0, self.timing_steps, self.timing_repeats,
                                                 limits=limits)
        out["n_params"] = float(self._n_params(model))
        out["n_particles"] = float(self.n_particles)
        out["radius"] = float(model.setup.radius)
        _save_rollouts(run_dir, saved, "gns")
        if self.figures:
            _figures(run_dir, saved, "GNS", model.setup)
        return out


@register_task("giorom")
@dataclasses.dataclass(frozen=True)
class GIOROMTask(_ParticleTask):
    """GIOROM on a sparse subset, with the dense reconstruction decoder trained alongside."""

    sparsity: float = 0.1  # fraction of particles in the sparse graph
    sampling: str = "fps"  # fps | random
    n_subsets: int = 8  # subsets per training trajectory (random FPS starts or random draws)
    in_layers: int = 2
    out_layers: int = 2
    grid: int = 32  # latent grid G x G (the original 2-D model: 32^2)
    gno_radius_scale: float = 1.5  # GNO radius in latent grid spacings (at least half the sparse radius)
    gno_channels: int = 32
    fno_width: int = 32
    fno_modes: int = 12
    fno_layers: int = 2
    recon_grid: int = 64  # splat grid of the reconstruction (the original, 3-D: 64^3)
    recon_sigma: float = 0.75  # blur std in sparse spacings sqrt(area / (sparsity N))
    recon_scale: float = 0.1  # displacement normaliser
    recon_width: int = 64
    recon_weight: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        subset_size(self.n_particles, self.sparsity)
        if self.sampling not in ("fps", "random"):
            raise ValueError(f"sampling must be 'fps' or 'random', got {self.sampling!r}")
        for name in ("n_subsets", "grid", "gno_channels", "fno_width", "fno_modes", "fno_layers", "recon_grid",
                     "recon_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if 2 * self.fno_modes > self.grid:
            raise ValueError(f"fno_modes ({self.fno_modes}) must be <= grid / 2 ({self.grid // 2})")
        if min(self.gno_radius_scale, self.recon_sigma, self.recon_scale) <= 0 or self.recon_weight < 0:
            raise ValueError("gno_radius_scale, recon_sigma and recon_scale must be > 0, recon_weight >= 0")

    @property
    def n_sparse(self) -> int:
        return subset_size(self.n_particles, self.sparsity)

    def setup(self) -> ParticleSetup:
        """The sparse graph's setup: the dense radius over sqrt(sparsity) keeps the neighbour count."""
        base = self.base_setup()
        s = base.with_radius(base.radius / np.sqrt(self.sparsity))
        self._check_radius(s, self.data()["train"]["position"][0, 0][self.subsets()[0, 0]])
        return s

    def init(self, *, key) -> GIOROM:
        setup = self.setup()
        k1, k2 = jax.random.split(key)
        sparse_spacing = self.spacing() / np.sqrt(self.sparsity)
        recon = Reconstructor(LatentGrid(self.recon_grid, setup.domain()), self.recon_sigma * sparse_spacing,
                              self.recon_scale, self.recon_width, key=k1)
        lattice = LatentGrid(self.grid, setup.domain())
        gno_radius = max(self.gno_radius_scale * float(lattice.spacing.max()), 0.5 * setup.radius)
        return GIOROM(setup, recon, width=self.width, depth=self.depth, in_layers=self.in_layers,
                      out_layers=self.out_layers, grid=self.grid, gno_radius=gno_radius,
                      gno_channels=self.gno_channels, fno_width=self.fno_width, fno_modes=self.fno_modes,
                      fno_layers=self.fno_layers, key=k2)

    def subsets(self) -> np.ndarray:
        """Training subsets [M_train, n_subsets, n_sparse]: FPS from random starts, or random draws."""
        return _training_subsets(self)

    def batch(self, step: int, *, seed: int) -> dict[str, np.ndarray]:
        m, t, rng = self._sample_times(step, seed)
        train = self.data()["train"]
        idx = self.subsets()[m, rng.integers(0, self.n_subsets, self.batch_size)]  # [B, n]
        frames = t[:, None] + np.arange(-self.window, 2)[None]
        pos = train["position"]
        return {
            "positions": pos[m[:, None, None], frames[:, :, None], idx[:, None, :]],  # [B, C + 2, n, 2]
            "ptype": train["particle_type"][m[:, None], idx],
            "sparse_ref": pos[m[:, None], 0, idx],
            "sparse_cur": pos[m[:, None], t[:, None], idx],
            "dense_ref": pos[m, 0],
            "dense_cur": pos[m, t],
        }

    def loss(self, model: GIOROM, batch, *, key):
        keys = jax.random.split(key, batch["positions"].shape[0])

        def one(pos, ptype, k, s_ref, s_cur, d_ref, d_cur):
            window, target = noisy_inputs_and_target(pos, model.setup, key=k)
            acc, count = model.forward(window, ptype)
            acc_mse = jnp.mean(jnp.sum((acc - target) ** 2, -1))
            dense = model.reconstruct(s_ref, s_cur, d_ref)
            rec = jnp.mean(jnp.sum((dense - d_cur) ** 2, -1)) / model.reconstructor.scale**2
            return acc_mse, rec, count

        acc_mse, rec, count = jax.vmap(one)(batch["positions"], batch["ptype"], keys, batch["sparse_ref"],
                                            batch["sparse_cur"], batch["dense_ref"], batch["dense_cur"])
        loss = jnp.mean(acc_mse) + self.recon_weight * jnp.mean(rec)
        fill = jnp.max(count) / model.setup.max_edges(batch["positions"].shape[2])
        return loss, {"acc_mse": jnp.mean(acc_mse), "recon_mse": jnp.mean(rec), "edge_fill": fill}

    def evaluate(self, model: GIOROM, *, key, run_dir: Path) -> dict[str, float]:
        test = self.data()["test"]
        names = self._material_names()
        c, steps, limits = self.window, self._rollout_steps(), self.limits()
        per_traj, mats, saved = [], [], {}
        for i in self._test_indices():
            x, ptype = test["position"][i], test["particle_type"][i]
            idx = eval_subset(x[0], self.sparsity)
            true = x[c + 1 : c + 1 + steps]
            w0, p0 = jnp.asarray(x[: c + 1, idx]), jnp.asarray(ptype[idx])
            pred_s = rollout_positions(model, w0, p0, steps, limits)
            free = pred_s if limits is None else rollout_positions(model, w0, p0, steps)
            dense = np.asarray(reconstruct_frames(model, jnp.asarray(x[0, idx]), pred_s, jnp.asarray(x[0])))
            oracle = np.asarray(reconstruct_frames(model, jnp.asarray(x[0, idx]), jnp.asarray(true[:, idx]),
                                                   jnp.asarray(x[0])))
            pred_s = np.asarray(pred_s)
            one, const = one_step_errors(model, x[:, idx], ptype[idx], c, self.one_step_stride)
            r = {
                "one_step_mse": one,
                "one_step_mse_constant_velocity": const,
                "rollout_mse": float(np.mean(np.sum((pred_s - true[:, idx]) ** 2, -1))),
                "rollout_mse_unprojected": float(np.mean(np.sum((np.asarray(free) - true[:, idx]) ** 2, -1))),
                "dense_mse": float(np.mean(np.sum((dense - true) ** 2, -1))),
                "dense_rel_l2": float(displacement_rel_l2(dense, true, x[0])),
                "chamfer": float(np.mean(frame_chamfer(jnp.asarray(dense), jnp.asarray(true)))),
                "recon_only_mse": float(np.mean(np.sum((oracle - true) ** 2, -1))),
                "recon_only_chamfer": float(np.mean(frame_chamfer(jnp.asarray(oracle), jnp.asarray(true)))),
                "max_abs_position": float(np.abs(pred_s).max()),
            }
            per_traj.append(r)
            mat = names[int(ptype[0])]
            mats.append(mat)
            if mat not in saved:
                saved[mat] = (x[: c + 1 + steps], np.concatenate([x[: c + 1], dense]),
                              np.concatenate([x[: c + 1, idx], pred_s]), idx)
        out = self._aggregate(per_traj, mats)
        x0, p0 = test["position"][0], test["particle_type"][0]
        idx0 = eval_subset(x0[0], self.sparsity)
        out["ms_per_step"] = rollout_ms_per_step(model, x0[: c + 1, idx0], p0[idx0], self.timing_steps,
                                                 self.timing_repeats, limits=limits)
        out["ms_per_step_with_recon"] = rollout_ms_per_step(model, x0[: c + 1, idx0], p0[idx0], self.timing_steps,
                                                            self.timing_repeats, dense_ref=x0[0],
                                                            sparse_ref=x0[0, idx0], limits=limits)
        out["n_params"] = float(self._n_params(model))
        out["n_sparse"] = float(len(idx0))
        out["n_particles"] = float(self.n_particles)
        out["radius"] = float(model.setup.radius)
        _save_rollouts(run_dir, saved, "giorom")
        if self.figures:
            _figures(run_dir, {k: v[:2] for k, v in saved.items()}, f"GIOROM ({100 * self.sparsity:g}%)", model.setup)
        return out


@functools.lru_cache(maxsize=8)
def _training_subsets(task: GIOROMTask) -> np.ndarray:
    x0 = jnp.asarray(task.data()["train"]["position"][:, 0])  # [M, N, 2]
    m, n = x0.shape[:2]
    k, n_subsets = task.n_sparse, task.n_subsets
    rng = np.random.default_rng(12345)
    if task.sampling == "random":
        return np.stack([[rng.permutation(n)[:k] for _ in range(n_subsets)] for _ in range(m)]).astype(np.int32)
    starts = jnp.asarray(rng.integers(0, n, (m, n_subsets)), jnp.int32)
    fps = jax.jit(jax.vmap(jax.vmap(lambda x, s: farthest_point_sampling(x, k, start=s), (None, 0)), (0, 0)))
    return np.asarray(fps(x0, starts))


def _save_rollouts(run_dir: Path, saved: dict, prefix: str) -> None:
    arrays = {}
    for mat, item in saved.items():
        arrays[f"{mat}_true"] = item[0]
        arrays[f"{mat}_pred"] = item[1]
        if len(item) > 2:
            arrays[f"{mat}_sparse_pred"] = item[2]
            arrays[f"{mat}_sparse_idx"] = item[3]
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    np.savez_compressed(Path(run_dir) / "rollouts.npz", **arrays)


def _figures(run_dir: Path, saved: dict, label: str, setup: ParticleSetup) -> None:
    """Snapshots of the first test trajectory per material: truth and prediction, four frames."""
    rows = {}
    for mat, (true, pred) in saved.items():
        rows[f"{mat}: truth"] = true
        rows[f"{mat}: {label}"] = pred
    t = next(iter(saved.values()))[0].shape[0]
    frames = sorted({setup.window, t // 3, 2 * t // 3, t - 1})
    snapshot_figure(Path(run_dir) / "snapshots.png", rows, frames)
