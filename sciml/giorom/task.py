"""The `gns` and `giorom` tasks: learned particle simulators trained on MPM trajectories.

Both train one model on all materials of `sciml.data.particles.mpm_dataset` (the particle type tells
the material), or with `data: gns` on a published 2-D GNS dataset (`sciml.data.particles.gns_dataset`:
WaterDrop, Water, Sand, Goop; their metadata's statistics normalise the inputs), with GNS's recipe: a
window of C + 1 positions with random-walk noise in, the normalised acceleration out, MSE. `gns` sees
every particle; `giorom` sees a sparse subset (a fraction `sparsity` of the particles, by
farthest-point or random sampling, re-drawn among `num_subsets` subsets per training trajectory) and
trains its reconstruction decoder in the same loss, from the subset's true positions to all particles' positions.

`evaluate` is one procedure for both (`sciml.giorom.evaluation.evaluate_rollouts`; the abstract hook
`stepped_fraction` says which particles a model steps): it rolls out every test trajectory from its
first C + 1 frames to the end (positions projected into the box the training particles occupied when
`wall_limits`, our addition: at these small training budgets both models otherwise let particles fall
through the floor; `rollout_mse_unprojected` is the plain rollout) and reports, overall and per
material: one-step position MSE beside the constant-velocity baseline, rollout MSE on the sparse
evaluation subsets (FPS from particle 0: the same particles for both models), the dense error (GNS:
its own rollout; GIOROM: reconstructed from the sparse rollout, and from the true sparse trajectory as
`recon_only_mse`), relative L2 of displacements, Chamfer distance, rollout ms/step and parameter
counts. It writes `snapshots.png` and `rollouts.npz` (first test trajectory per material).
Reference: Sanchez-Gonzalez et al. 2020 (GNS); Viswanath et al. 2024 (GIOROM), Sec. 4;
docs/references.md GIOROM.4 (smallest faithful experiment).
"""

import abc
import dataclasses
import functools
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial import cKDTree

from sciml.data.particles import MATERIALS, gns_dataset, mpm_dataset
from sciml.giorom.dynamics import noisy_inputs_and_target
from sciml.giorom.evaluation import evaluate_rollouts
from sciml.giorom.features import ParticleSetup
from sciml.giorom.figures import material_snapshots
from sciml.giorom.gno import LatentGrid
from sciml.giorom.gns import GNS
from sciml.giorom.model import GIOROM
from sciml.giorom.neighbors import particle_graph
from sciml.giorom.reconstruct import Reconstructor
from sciml.giorom.sampling import farthest_point_sampling, subset_size
from sciml.runner.task import Task, register_task
from sciml.validate import check_choice, check_range, check_ranges

#: Seed of GIOROM's training subsets (random FPS starts or random draws): fixed, so every training
#: seed sees the same subsets of the same data.
SUBSET_SEED = 12345


def _mse(a: jax.Array, b: jax.Array) -> jax.Array:
    """Mean over particles of the squared error summed over dimensions (the losses' MSE, in jit)."""
    return jnp.mean(jnp.sum((a - b) ** 2, -1))


@functools.lru_cache(maxsize=4)
def _dataset(params_json: str) -> dict:
    p = json.loads(params_json)
    p["materials"] = tuple(p["materials"])
    return mpm_dataset(**p)


@functools.lru_cache(maxsize=2)
def _published_dataset(path: str, num_train: int, num_test: int, num_frames: int, num_particles: int) -> dict:
    return gns_dataset(path, num_train=num_train, num_test=num_test, num_frames=num_frames,
                       num_particles=num_particles, dims=(2,))


@dataclasses.dataclass(frozen=True)
class ParticleTask(Task):
    """Fields shared by the GNS and GIOROM tasks (data, features, training, evaluation).

    Abstract: each final task says which particles its model steps (`stepped_fraction`) and how its
    figures name it (`label`); `evaluate` is the same procedure for both.
    """

    # data: `data` mpm (generated: `num_train` / `num_test` scenes per material, each `num_frames` frames of
    # `num_particles` particles) | gns (a published GNS dataset in `path`, 2-D: the first `num_train` /
    # `num_test` trajectories of train/test.tfrecord, `num_frames` frames each, thinned by FPS to
    # `num_particles` particles, 0 = the smallest trajectory's count; see sciml.data.particles.gns_dataset)
    data: str = "mpm"
    path: str = ""
    num_particles: int = 512
    num_frames: int = 160  # 0.8 s at 200 frames per second: the drop, the impact and most of the settling
    num_train: int = 8
    num_test: int = 2
    materials: tuple[str, ...] = ("water", "sand", "elastic")
    area: float = 0.06
    data_seed: int = 0
    cache: bool = True
    # features and training
    window: int = 5  # C past velocities (GNS and GIOROM: 5)
    noise: float = 1e-4  # random-walk noise on input positions (last-step std; acc std is about 6e-4)
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
        at_least_1 = {"ge": 1}
        check_choice("data", self.data, ("mpm", "gns"))
        if self.data == "gns" and not self.path:
            raise ValueError("data 'gns' reads a published GNS dataset: set task.path to its directory "
                             "(metadata.json, train.tfrecord, test.tfrecord)")
        check_range("num_particles", self.num_particles, ge=0 if self.data == "gns" else 1)
        check_ranges(self, num_train=at_least_1, num_test=at_least_1, window=at_least_1,
                     max_neighbors=at_least_1, width=at_least_1, batch_size=at_least_1, timing_steps=at_least_1,
                     timing_repeats=at_least_1, one_step_stride=at_least_1)
        check_range("num_frames", self.num_frames, ge=self.window + 2)
        bad = [m for m in self.materials if m not in MATERIALS]
        if bad or not self.materials:
            raise ValueError(f"unknown materials {bad}; valid: {sorted(MATERIALS)}")
        check_ranges(self, noise={"ge": 0}, radius_scale={"gt": 0}, area={"gt": 0}, eval_trajectories={"ge": 0},
                     eval_steps={"ge": 0})
        for f in self.eval_sparsities:
            subset_size(max(self.num_particles, 1), f)  # validates (0, 1]

    # ---------------------------------------------------------------------------------- hooks

    @abc.abstractmethod
    def stepped_fraction(self) -> float | None:
        """The fraction of particles the model steps in evaluation (an FPS subset, the rest
        reconstructed); None when it steps every particle."""

    @abc.abstractmethod
    def label(self) -> str:
        """The model's name in figures."""

    # ------------------------------------------------------------------------------------- data

    def dataset(self) -> dict:
        """The MPM dataset (generated once, cached in memory and in the data cache's particles/), or the
        published GNS dataset in `path` (read once per process)."""
        if self.data == "gns":
            return _published_dataset(self.path, self.num_train, self.num_test, self.num_frames, self.num_particles)
        params = {"n_particles": self.num_particles, "n_frames": self.num_frames, "n_train": self.num_train,
                  "n_test": self.num_test, "materials": list(self.materials), "seed": self.data_seed,
                  "area": self.area, "cache": self.cache}
        return _dataset(json.dumps(params, sort_keys=True))

    def particle_count(self) -> int:
        """Particles per trajectory (for `data: gns` with num_particles 0, the smallest trajectory's count)."""
        return self.num_particles if self.data == "mpm" else int(self.dataset()["metadata"]["n_particles"])

    def spacing(self) -> float:
        """Mean initial particle spacing: sqrt(area / N) for our scenes; for a published set, the median
        nearest-neighbour distance in the first frame of the first training trajectory."""
        if self.data == "mpm":
            return float(np.sqrt(self.area / self.num_particles))
        x = self.dataset()["train"]["position"][0, 0].astype(np.float64)
        return float(np.median(cKDTree(x).query(x, k=2)[0][:, 1]))

    def base_setup(self) -> ParticleSetup:
        meta = self.dataset()["metadata"]
        return ParticleSetup.from_metadata(
            meta, radius=self.radius_scale * meta["default_connectivity_radius"], window=self.window,
            noise_std=self.noise, max_neighbors=self.max_neighbors,
        )

    def _check_radius(self, setup: ParticleSetup, x: np.ndarray) -> None:
        _, _, _, count = particle_graph(jnp.asarray(x), setup.radius, setup.max_edges(len(x)), domain=setup.domain(),
                                        check_empty=False)
        if int(count) == 0:
            raise ValueError(f"radius {setup.radius:.4g} yields an empty graph on the first training frame "
                             f"({len(x)} particles); increase radius_scale")

    def _sample_times(self, step: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
        rng = np.random.default_rng([seed, step])
        pos = self.dataset()["train"]["position"]
        m = rng.integers(0, pos.shape[0], self.batch_size)
        t = rng.integers(self.window, pos.shape[1] - 1, self.batch_size)  # last input frame; t + 1 is the target
        return m, t, rng

    def limits(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """The box rollouts are projected into: the extent of all training positions (None when off).

        MPM particles sit up to about a grid cell inside the wall layer, so the walls' own box would
        push resting particles up; the data's extent does not.
        """
        if not self.wall_limits:
            return None
        pos = self.dataset()["train"]["position"]
        lo, hi = pos.min(axis=(0, 1, 2)), pos.max(axis=(0, 1, 2))
        return ((float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])))

    def rollout_steps(self) -> int:
        """Steps of the evaluation rollouts: to the last frame, or `eval_steps` if fewer."""
        full = self.num_frames - self.window - 1
        return full if self.eval_steps == 0 else min(full, self.eval_steps)

    # ------------------------------------------------------------------------------- evaluation

    def evaluate(self, model, *, key, run_dir: Path) -> dict[str, float]:
        """`evaluation.evaluate_rollouts` on the test split; writes `rollouts.npz` and `snapshots.png`."""
        data = self.dataset()
        names = {v: k for k, v in data["metadata"]["materials"].items()}
        out, saved = evaluate_rollouts(
            model, data["test"], names, window=self.window, steps=self.rollout_steps(),
            one_step_stride=self.one_step_stride, limits=self.limits(), fraction=self.stepped_fraction(),
            eval_sparsities=self.eval_sparsities, trajectories=self.eval_trajectories,
            timing_steps=self.timing_steps, timing_repeats=self.timing_repeats,
        )
        _save_rollouts(run_dir, saved)
        if self.figures:
            material_snapshots(Path(run_dir) / "snapshots.png", saved, self.label(), self.window)
        return out


@register_task("gns")
@dataclasses.dataclass(frozen=True)
class GNSTask(ParticleTask):
    """GNS on all particles (the baseline)."""

    message_passing: int = 6  # the original: 10 steps, latent 128

    def __post_init__(self):
        super().__post_init__()
        check_range("message_passing", self.message_passing, ge=1)

    def stepped_fraction(self) -> None:
        return None

    def label(self) -> str:
        return "GNS"

    def setup(self) -> ParticleSetup:
        s = self.base_setup()
        self._check_radius(s, self.dataset()["train"]["position"][0, 0])
        return s

    def init(self, *, key) -> GNS:
        return GNS(self.setup(), self.width, self.message_passing, self.depth, key=key)

    def batch(self, step: int, *, seed: int) -> dict[str, np.ndarray]:
        m, t, _ = self._sample_times(step, seed)
        train = self.dataset()["train"]
        frames = t[:, None] + np.arange(-self.window, 2)[None]  # [B, C + 2]
        return {"positions": train["position"][m[:, None], frames], "ptype": train["particle_type"][m]}

    def loss(self, model: GNS, batch, *, key):
        keys = jax.random.split(key, batch["positions"].shape[0])

        def one(pos, ptype, k):
            window, target = noisy_inputs_and_target(pos, model.setup, key=k)
            acc, count = model.forward(window, ptype)
            return _mse(acc, target), count

        mse, count = jax.vmap(one)(batch["positions"], batch["ptype"], keys)
        fill = jnp.max(count) / model.setup.max_edges(batch["positions"].shape[2])
        return jnp.mean(mse), {"acc_mse": jnp.mean(mse), "edge_fill": fill}


@register_task("giorom")
@dataclasses.dataclass(frozen=True)
class GIOROMTask(ParticleTask):
    """GIOROM on a sparse subset, with the dense reconstruction decoder trained alongside."""

    sparsity: float = 0.1  # fraction of particles in the sparse graph
    sampling: str = "fps"  # fps | random
    num_subsets: int = 8  # subsets per training trajectory (random FPS starts or random draws)
    in_depth: int = 2  # interaction networks before the neural operator
    out_depth: int = 2  # interaction networks after it
    grid: int = 32  # latent grid G x G (the original 2-D model: 32^2)
    gno_radius_scale: float = 1.5  # GNO radius in latent grid spacings (at least half the sparse radius)
    gno_channels: int = 32
    fno_width: int = 32
    fno_modes: int = 12
    fno_depth: int = 2
    recon_grid: int = 64  # splat grid of the reconstruction (the original, 3-D: 64^3)
    recon_sigma: float = 0.75  # blur std in sparse spacings sqrt(area / (sparsity N))
    recon_scale: float = 0.1  # displacement normaliser
    recon_width: int = 64
    recon_weight: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        subset_size(max(self.num_particles, 1), self.sparsity)
        check_choice("sampling", self.sampling, ("fps", "random"))
        at_least_1 = {"ge": 1}
        check_ranges(self, num_subsets=at_least_1, grid=at_least_1, gno_channels=at_least_1, fno_width=at_least_1,
                     fno_modes=at_least_1, fno_depth=at_least_1, recon_grid=at_least_1, recon_width=at_least_1)
        if 2 * self.fno_modes > self.grid:
            raise ValueError(f"fno_modes ({self.fno_modes}) must be <= grid / 2 ({self.grid // 2})")
        check_ranges(self, gno_radius_scale={"gt": 0}, recon_sigma={"gt": 0}, recon_scale={"gt": 0},
                     recon_weight={"ge": 0})

    def stepped_fraction(self) -> float:
        return self.sparsity

    def label(self) -> str:
        return f"GIOROM ({100 * self.sparsity:g}%)"

    @property
    def num_sparse(self) -> int:
        return subset_size(self.particle_count(), self.sparsity)

    def setup(self) -> ParticleSetup:
        """The sparse graph's setup: the dense radius over sqrt(sparsity) keeps the neighbour count."""
        base = self.base_setup()
        s = base.with_radius(base.radius / np.sqrt(self.sparsity))
        self._check_radius(s, self.dataset()["train"]["position"][0, 0][self.subsets()[0, 0]])
        return s

    def init(self, *, key) -> GIOROM:
        setup = self.setup()
        k1, k2 = jax.random.split(key)
        sparse_spacing = self.spacing() / np.sqrt(self.sparsity)
        recon = Reconstructor(LatentGrid(self.recon_grid, setup.domain()), self.recon_sigma * sparse_spacing,
                              self.recon_scale, self.recon_width, key=k1)
        lattice = LatentGrid(self.grid, setup.domain())
        gno_radius = max(self.gno_radius_scale * float(lattice.spacing.max()), 0.5 * setup.radius)
        return GIOROM(setup, recon, width=self.width, depth=self.depth, in_layers=self.in_depth,
                      out_layers=self.out_depth, grid=self.grid, gno_radius=gno_radius,
                      gno_channels=self.gno_channels, fno_width=self.fno_width, fno_modes=self.fno_modes,
                      fno_layers=self.fno_depth, key=k2)

    def subsets(self) -> np.ndarray:
        """Training subsets [M_train, num_subsets, num_sparse]: FPS from random starts, or random draws."""
        return _training_subsets(self)

    def batch(self, step: int, *, seed: int) -> dict[str, np.ndarray]:
        m, t, rng = self._sample_times(step, seed)
        train = self.dataset()["train"]
        idx = self.subsets()[m, rng.integers(0, self.num_subsets, self.batch_size)]  # [B, n]
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
            acc_mse = _mse(acc, target)
            dense = model.reconstruct(s_ref, s_cur, d_ref)
            rec = _mse(dense, d_cur) / model.reconstructor.scale**2
            return acc_mse, rec, count

        acc_mse, rec, count = jax.vmap(one)(batch["positions"], batch["ptype"], keys, batch["sparse_ref"],
                                            batch["sparse_cur"], batch["dense_ref"], batch["dense_cur"])
        loss = jnp.mean(acc_mse) + self.recon_weight * jnp.mean(rec)
        fill = jnp.max(count) / model.setup.max_edges(batch["positions"].shape[2])
        return loss, {"acc_mse": jnp.mean(acc_mse), "recon_mse": jnp.mean(rec), "edge_fill": fill}


@functools.lru_cache(maxsize=8)
def _training_subsets(task: GIOROMTask) -> np.ndarray:
    x0 = jnp.asarray(task.dataset()["train"]["position"][:, 0])  # [M, N, 2]
    m, n = x0.shape[:2]
    k, num_subsets = task.num_sparse, task.num_subsets
    rng = np.random.default_rng(SUBSET_SEED)
    if task.sampling == "random":
        return np.stack([[rng.permutation(n)[:k] for _ in range(num_subsets)] for _ in range(m)]).astype(np.int32)
    starts = jnp.asarray(rng.integers(0, n, (m, num_subsets)), jnp.int32)
    fps = jax.jit(jax.vmap(jax.vmap(lambda x, s: farthest_point_sampling(x, k, start=s), (None, 0)), (0, 0)))
    return np.asarray(fps(x0, starts))


def _save_rollouts(run_dir: Path, saved: dict) -> None:
    """`rollouts.npz`: per material `<m>_true`, `<m>_pred` (dense) and, for sparse models,
    `<m>_sparse_pred` and `<m>_sparse_idx`."""
    arrays = {}
    for mat, item in saved.items():
        arrays[f"{mat}_true"] = item[0]
        arrays[f"{mat}_pred"] = item[1]
        if len(item) > 2:
            arrays[f"{mat}_sparse_pred"] = item[2]
            arrays[f"{mat}_sparse_idx"] = item[3]
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    np.savez_compressed(Path(run_dir) / "rollouts.npz", **arrays)
