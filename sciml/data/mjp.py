"""Markov jump process data: the FIM prior over processes, observation grids and noise, DFR targets.

- `MJPPrior` / `sample_processes`: random rate matrices with 2..6 states padded to 6 (Beta rates on a
  random, irreducible connectivity) and random initial distributions.
- `sample_observation_masks`, `compact_observations`, `flip_labels`: regular grids with a random stride
  or irregular per-path masks, and mislabelled observations.
- `make_mjp_dataset`: a seeded synthetic pretraining set (simulated with `sciml.sim.gillespie`);
  `mjp_dataset`: the same, kept in memory and in the disk cache; `path_batch`: the model's batch layout.
- `dfr_rate_matrix`, `dfr_parameters`, `make_dfr_dataset`: the discrete flashing ratchet target.
- `load_dfr_archive`: the published DFR path archives, read without torch (`sciml.data.torch_archive`).

The original generator (`wienerfm.data_generation.markov_jump_processes`) is not public; this prior is
reconstructed from the released test files and captions, scaled down as in docs/references.md FIM.4
(our reduced experiment).
Reference: Berghaus et al. 2024, "Foundation Inference Models for Markov Jump Processes", Sec. 3.1 and
App. D; docs/references.md FIM.1, FIM.2, FIM.4.
"""

import dataclasses
import functools
import zipfile
from pathlib import Path

import jax
import numpy as np
from jaxtyping import Bool, Float, Int

from sciml.data.cache import cached_arrays
from sciml.data.torch_archive import read_torch_tensor
from sciml.sim.gillespie import check_rate_matrix, simulate_many
from sciml.validate import check_choice

#: Every process is padded to this many states (the released FIM-MJP model's size).
MAX_STATES = 6


# --------------------------------------------------------------------------------------------- prior


@dataclasses.dataclass(frozen=True)
class MJPPrior:
    """Hyperparameters of the prior over Markov jump processes.

    Rates F_ij ~ Beta(alpha, beta) with alpha ~ U(alpha_range), beta ~ U(beta_range) per process; the
    connectivity is complete with probability `p_fully_connected`, else each off-diagonal edge is kept
    with probability `p_edge`, redrawn until the graph is strongly connected (irreducible chain).
    The initial distribution is Dirichlet(`dirichlet`). The number of states n is drawn with
    probabilities proportional to `state_weights[n - 2]` (restricted to [min_states, max_states]); the
    default (5, 5, 5, 5, 25) mirrors the original training set (5k processes for each n = 2..5, 25k for
    n = 6).
    Reference: docs/references.md FIM.1 ("Training set", "Rates") and FIM.4 ("Prior").
    """

    min_states: int = 2
    max_states: int = MAX_STATES
    state_weights: tuple[float, ...] = (5.0, 5.0, 5.0, 5.0, 25.0)
    alpha_range: tuple[float, float] = (0.5, 1.5)
    beta_range: tuple[float, float] = (1.0, 3.0)
    p_fully_connected: float = 0.5
    p_edge: float = 0.5
    dirichlet: float = 1.0

    def __post_init__(self):
        if not 2 <= self.min_states <= self.max_states <= MAX_STATES:
            raise ValueError(
                f"need 2 <= min_states <= max_states <= {MAX_STATES}, got {self.min_states}, {self.max_states}"
            )
        for name in ("alpha_range", "beta_range"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"{name} must satisfy 0 < lo <= hi, got {(lo, hi)}")
        for name in ("p_fully_connected", "p_edge"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.p_fully_connected < 1 and self.p_edge <= 0:
            raise ValueError("p_edge must be > 0 unless p_fully_connected = 1 (no irreducible graph otherwise)")
        if self.dirichlet <= 0:
            raise ValueError(f"dirichlet must be > 0, got {self.dirichlet}")
        if len(self.state_weights) != MAX_STATES - 1 or min(self.state_weights) < 0:
            raise ValueError(f"state_weights needs {MAX_STATES - 1} non-negative weights (n = 2..{MAX_STATES})")
        if sum(self.state_probabilities) <= 0:
            raise ValueError("state_weights are all zero on [min_states, max_states]")

    @property
    def state_probabilities(self) -> np.ndarray:
        """P(n) for n = min_states..max_states."""
        w = np.asarray(self.state_weights, np.float64)[self.min_states - 2 : self.max_states - 1]
        return w / w.sum() if w.sum() > 0 else w


def is_irreducible(adjacency: Bool[np.ndarray, "n n"]) -> bool:
    """True if the directed graph is strongly connected (every state reaches every other state)."""
    a = np.asarray(adjacency, dtype=bool)
    n = a.shape[0]
    reach = a | np.eye(n, dtype=bool)
    for _ in range(max(1, int(np.ceil(np.log2(max(n, 2)))))):
        reach = (reach.astype(np.int32) @ reach.astype(np.int32)) > 0  # doubling the path length
    return bool(reach.all())


def sample_adjacency(rng: np.random.Generator, n: int, prior: MJPPrior = MJPPrior()) -> Bool[np.ndarray, "n n"]:
    """An irreducible off-diagonal connectivity pattern for n states (rejection sampling)."""
    off = ~np.eye(n, dtype=bool)
    if rng.random() < prior.p_fully_connected:
        return off
    while True:
        a = (rng.random((n, n)) < prior.p_edge) & off
        if is_irreducible(a):
            return a


def sample_processes(rng: np.random.Generator, num: int, prior: MJPPrior = MJPPrior()) -> dict[str, np.ndarray]:
    """`num` processes from the prior, padded to `MAX_STATES`.

    Returns a dict of NumPy arrays: `Q` [num, 6, 6] rate matrices (zero outside the leading n x n
    block), `adjacency` [num, 6, 6] (1 on existing edges), `p0` [num, 6] initial distributions (zero on
    padded states) and `n_states` [num].
    Reference: docs/references.md FIM.1, FIM.4.
    """
    Q = np.zeros((num, MAX_STATES, MAX_STATES))
    A = np.zeros((num, MAX_STATES, MAX_STATES), dtype=np.float32)
    p0 = np.zeros((num, MAX_STATES))
    ns = rng.choice(np.arange(prior.min_states, prior.max_states + 1), size=num, p=prior.state_probabilities)
    for i, n in enumerate(ns):
        adj = sample_adjacency(rng, int(n), prior)
        a, b = rng.uniform(*prior.alpha_range), rng.uniform(*prior.beta_range)
        rates = rng.beta(a, b, size=(n, n)) * adj
        # Beta draws can underflow to exactly 0 for alpha < 1; keep every existing edge positive
        rates = np.where(adj, np.maximum(rates, 1e-6), 0.0)
        Q[i, :n, :n] = rates - np.diag(rates.sum(1))
        A[i, :n, :n] = adj
        p0[i, :n] = rng.dirichlet(np.full(n, prior.dirichlet))
    return {"Q": Q.astype(np.float32), "adjacency": A, "p0": p0.astype(np.float32), "n_states": ns.astype(np.int32)}


# ------------------------------------------------------------------------------------ observations


def sample_observation_masks(
    rng: np.random.Generator,
    num_paths: int,
    grid_size: int,
    *,
    mode: str,
    stride_choices: tuple[int, ...] = (1, 2, 3, 4),
    length_range: tuple[int, int] = (8, 72),
) -> Bool[np.ndarray, "P G"]:
    """Which grid points of each path are observed.

    mode "regular": one stride s from `stride_choices` for all paths (points 0, s, 2s, ...);
    mode "irregular": each path keeps L ~ U{length_range} grid points chosen uniformly at random.
    Reference: docs/references.md FIM.1 ("reg" and "rand" grids).
    """
    check_choice("mode", mode, ("regular", "irregular"))
    if mode == "regular":
        stride = int(rng.choice(stride_choices))
        m = np.zeros(grid_size, dtype=bool)
        m[::stride] = True
        return np.broadcast_to(m, (num_paths, grid_size)).copy()
    lo, hi = length_range
    if not 1 <= lo <= hi <= grid_size:
        raise ValueError(f"length_range must satisfy 1 <= lo <= hi <= grid_size, got {length_range}")
    lengths = rng.integers(lo, hi + 1, size=num_paths)
    # the L smallest of G random keys are a uniformly random L-subset of the grid
    order = np.argsort(rng.random((num_paths, grid_size)), axis=1)
    ranks = np.argsort(order, axis=1)
    return ranks < lengths[:, None]


def compact_observations(
    grid: Float[np.ndarray, " G"], states: Int[np.ndarray, "*b G"], mask: Bool[np.ndarray, "*b G"]
) -> tuple[Float[np.ndarray, "*b G"], Int[np.ndarray, "*b G"], Int[np.ndarray, " *b"]]:
    """Move the observed points of each path to the front (in time order); pad with zeros behind.

    Returns (times, states, lengths): a padded-sequence layout for the per-path encoder.
    """
    order = np.argsort(~mask, axis=-1, kind="stable")
    lengths = mask.sum(-1).astype(np.int32)
    valid = np.arange(mask.shape[-1]) < lengths[..., None]
    times = np.where(valid, np.asarray(grid, np.float32)[order], 0.0).astype(np.float32)
    vals = np.where(valid, np.take_along_axis(states, order, axis=-1), 0).astype(states.dtype)
    return times, vals, lengths


def flip_labels(
    rng: np.random.Generator, states: Int[np.ndarray, "*b"], n_states: Int[np.ndarray, "..."] | int, p: float
) -> Int[np.ndarray, "*b"]:
    """Replace each observation with probability p by a uniformly drawn *other* state among n_states."""
    if not 0 <= p <= 1:
        raise ValueError(f"label-noise probability must be in [0, 1], got {p}")
    n = np.broadcast_to(np.asarray(n_states), states.shape)
    flip = rng.random(states.shape) < p
    # shift by 1..n-1 (mod n) so the new label always differs from the old one
    shift = 1 + np.floor(rng.random(states.shape) * (n - 1)).astype(states.dtype)
    return np.where(flip & (n > 1), (states + shift) % n, states).astype(states.dtype)


# ------------------------------------------------------------------------------------- simulation


def simulate_processes(
    Q: Float[np.ndarray, "N n n"],
    p0: Float[np.ndarray, "N n"],
    times: Float[np.ndarray, " T"],
    num_paths: int,
    *,
    seed: int,
    chunk: int = 512,
) -> Int[np.ndarray, "N P T"]:
    """Exact paths of many processes on one grid (vectorised Gillespie), in chunks of processes.

    Initial states are drawn from p0 on the host; each chunk's random key depends on the chunk index
    only, so a dataset is a pure function of `seed` (and `chunk`).
    """
    Q = check_rate_matrix(Q).astype(np.float32)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 11]))
    cdf = np.cumsum(np.asarray(p0, np.float64), axis=-1)
    u = rng.random((Q.shape[0], num_paths, 1))
    x0 = np.minimum((u > cdf[:, None, :]).sum(-1), Q.shape[-1] - 1).astype(np.int32)
    key = jax.random.PRNGKey(seed)
    out = np.empty((Q.shape[0], num_paths, len(times)), dtype=np.int8)
    for c, start in enumerate(range(0, Q.shape[0], chunk)):
        stop = min(start + chunk, Q.shape[0])
        out[start:stop] = simulate_many(Q[start:stop], x0[start:stop], times, key=jax.random.fold_in(key, c))
    return out


def make_mjp_dataset(
    seed: int,
    num_processes: int,
    num_paths: int,
    *,
    grid_size: int = 100,
    t_end: float = 10.0,
    prior: MJPPrior = MJPPrior(),
    noise: float = 0.01,
    p_regular: float = 0.5,
    stride_choices: tuple[int, ...] = (1, 2, 3, 4),
    length_range: tuple[int, int] | None = None,
) -> dict[str, np.ndarray]:
    """A seeded synthetic FIM pretraining set.

    Irregular paths keep L ~ U{length_range} grid points (default: 8%-72% of the grid, the original's
    8-72 of 100 points).

    Returns NumPy arrays: `grid` [G] (on [0, t_end]), `states` [N, P, G] int8 noisy labels on the full
    grid, `mask` [N, P, G] observed points, `Q`, `adjacency` [N, 6, 6], `p0` [N, 6], `n_states` [N],
    `t_norm` [N] (= t_end: time is divided by the last grid time, as in the original).
    Reference: docs/references.md FIM.1 ("Paths") and FIM.4.
    """
    if num_processes < 1 or num_paths < 1 or grid_size < 2:
        raise ValueError("need num_processes >= 1, num_paths >= 1, grid_size >= 2")
    if length_range is None:
        length_range = (max(2, round(0.08 * grid_size)), max(2, round(0.72 * grid_size)))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    procs = sample_processes(rng, num_processes, prior)
    grid = np.linspace(0.0, t_end, grid_size).astype(np.float32)
    clean = simulate_processes(procs["Q"], procs["p0"], grid, num_paths, seed=seed)
    states = flip_labels(rng, clean, procs["n_states"][:, None, None], noise)
    masks = np.empty(states.shape, dtype=bool)
    for i in range(num_processes):
        mode = "regular" if rng.random() < p_regular else "irregular"
        masks[i] = sample_observation_masks(
            rng, num_paths, grid_size, mode=mode, stride_choices=stride_choices, length_range=length_range
        )
    return {
        "grid": grid,
        "states": states,
        "mask": masks,
        "t_norm": np.full(num_processes, t_end, np.float32),
        **procs,
    }


#: Arrays every cached pretraining set has (an entry without one is rebuilt).
MJP_DATASET_ARRAYS = ("grid", "states", "mask", "t_norm", "Q", "adjacency", "p0", "n_states")


@functools.lru_cache(maxsize=4)
def mjp_dataset(
    seed: int,
    num_processes: int,
    num_paths: int,
    *,
    grid_size: int,
    t_end: float,
    min_states: int,
    max_states: int,
    state_weights: tuple[float, ...],
    noise: float,
    p_regular: float,
    stride_choices: tuple[int, ...],
    length_range: tuple[int, int],
    cache: bool = True,
) -> dict[str, np.ndarray]:
    """`make_mjp_dataset` with the prior's state counts, kept in memory (the last four sets) and, with
    `cache`, in the disk cache (`sciml.data.cache`, `fim/mjp_<hash>.npz`). The arrays are shared: do not
    modify them."""
    params = {
        "seed": seed, "num_processes": num_processes, "num_paths": num_paths, "grid_size": grid_size,
        "t_end": t_end, "min_states": min_states, "max_states": max_states, "state_weights": list(state_weights),
        "noise": noise, "p_regular": p_regular, "stride_choices": list(stride_choices),
        "length_range": list(length_range),
    }

    def make() -> dict[str, np.ndarray]:
        prior = MJPPrior(min_states=min_states, max_states=max_states, state_weights=tuple(state_weights))
        return make_mjp_dataset(
            seed, num_processes, num_paths, grid_size=grid_size, t_end=t_end, prior=prior, noise=noise,
            p_regular=p_regular, stride_choices=tuple(stride_choices), length_range=tuple(length_range),
        )

    return cached_arrays("fim/mjp", params, make, cache=cache, required=MJP_DATASET_ARRAYS)


def path_batch(
    data: dict[str, np.ndarray],
    proc: Int[np.ndarray, " B"],
    paths: Int[np.ndarray, "B P"],
    n_paths: Int[np.ndarray, " B"],
) -> dict[str, np.ndarray]:
    """Paths `paths[b]` of process `proc[b]` of an `make_mjp_dataset` set, in the model's layout.

    Observed points are moved to the front (`compact_observations`) and times divided by `t_norm`;
    `path_mask` [B, P] keeps the first `n_paths[b]` paths. Also returns the targets `Q`, `adjacency`,
    `p0` and `t_norm` of each process.
    """
    states = data["states"][proc[:, None], paths]  # [B, P, G]
    mask = data["mask"][proc[:, None], paths]
    times, states, lengths = compact_observations(data["grid"], states, mask)
    t_norm = data["t_norm"][proc]
    return {
        "times": (times / t_norm[:, None, None]).astype(np.float32),
        "states": states.astype(np.int32),
        "lengths": lengths,
        "path_mask": np.arange(paths.shape[1])[None, :] < n_paths[:, None],
        "t_norm": t_norm.astype(np.float32),
        "Q": data["Q"][proc],
        "adjacency": data["adjacency"][proc],
        "p0": data["p0"][proc],
    }


# --------------------------------------------------------------------------------------------- DFR


def dfr_rate_matrix(V: float = 1.0, r: float = 1.0, b: float = 1.0) -> Float[np.ndarray, "6 6"]:
    """Rate matrix of the discrete flashing ratchet.

    States 0-2 feel the potential V*i: f_ij = exp(-V (j - i) / 2) for i != j in {0, 1, 2}; states 3-5
    are potential-free: f_ij = b; the potential switches on/off between i and i+3 at rate r.
    Reference: Berghaus et al. 2024, Sec. 4.1; docs/references.md FIM.2.
    """
    if V < 0 or r < 0 or b < 0:
        raise ValueError(f"DFR parameters must be non-negative, got V={V}, r={r}, b={b}")
    F = np.zeros((6, 6))
    for i in range(3):
        for j in range(3):
            if i != j:
                F[i, j] = np.exp(-V * (j - i) / 2.0)
                F[i + 3, j + 3] = b
        F[i, i + 3] = F[i + 3, i] = r
    return F - np.diag(F.sum(1))


def dfr_parameters(Q: Float[np.ndarray, "6 6"]) -> tuple[float, float, float]:
    """Recover (V, r, b) from a (possibly estimated) 6-state DFR rate matrix.

    r = mean of Q[i, i+3] and Q[i+3, i]; b = mean of the potential-free block's off-diagonal entries;
    V = mean over ordered pairs i != j in {0, 1, 2} of -2 ln Q[i, j] / (j - i).
    Reference: `intensity_matrix_to_dfr_parameters` in the original evaluation script
    (docs/references.md FIM.2).
    """
    q = np.asarray(Q, np.float64)
    if q.shape != (6, 6):
        raise ValueError(f"a DFR rate matrix is 6 x 6, got {q.shape}")
    r = np.mean([q[i, i + 3] for i in range(3)] + [q[i + 3, i] for i in range(3)])
    pairs = [(i, j) for i in range(3) for j in range(3) if i != j]
    b = np.mean([q[i + 3, j + 3] for i, j in pairs])
    V = np.mean([-2.0 * np.log(max(q[i, j], 1e-30)) / (j - i) for i, j in pairs])
    return float(V), float(r), float(b)


def _stationary_np(Q: np.ndarray) -> np.ndarray:
    n = Q.shape[0]
    A = np.vstack([Q.T, np.ones((1, n))])
    pi = np.linalg.lstsq(A, np.r_[np.zeros(n), 1.0], rcond=None)[0]
    return np.clip(pi, 0.0, None) / np.clip(pi, 0.0, None).sum()


def make_dfr_dataset(
    seed: int,
    num_paths: int,
    *,
    V: float = 1.0,
    r: float = 1.0,
    b: float = 1.0,
    grid_size: int = 100,
    t_end: float = 2.5,
    noise: float = 0.0,
) -> dict[str, np.ndarray]:
    """DFR paths started from the stationary distribution and observed on a regular grid.

    Returns `times` [P, G] (data units), `states` [P, G], `lengths` [P], `Q` [6, 6], `p0` [6]; the
    same layout as the published archives (which have 10k paths on 100 points of [0, 2.5]).
    Reference: docs/references.md FIM.2 ("Repo datasets").
    """
    Q = dfr_rate_matrix(V, r, b)
    p0 = _stationary_np(Q)
    grid = np.linspace(0.0, t_end, grid_size).astype(np.float32)
    states = simulate_processes(Q[None], p0[None], grid, num_paths, seed=seed)[0]
    states = flip_labels(np.random.default_rng(seed), states, 6, noise)
    return {
        "times": np.broadcast_to(grid, states.shape).copy(),
        "states": states,
        "lengths": np.full(num_paths, grid_size, np.int32),
        "Q": Q.astype(np.float32),
        "p0": p0.astype(np.float32),
    }


# ----------------------------------------------------------------------- published archive reader

#: The archive's file names (fine_grid_<stem>.pt) and our keys.
DFR_ARCHIVE_FILES = {
    "grid": "grid",
    "states": "noisy_sample_paths",
    "lengths": "mask_seq_lengths",
    "t_norm": "time_normalization_factors",
    "Q": "intensity_matrices",
    "adjacency": "adjacency_matrices",
    "p0": "initial_distributions",
}


def load_dfr_archive(path: str | Path) -> dict[str, np.ndarray]:
    """Load a published DFR path archive (e.g. `6_st_DFR_V=1.zip`) or its unpacked folder.

    Returns `times` [B, P, L] in data units (the archive stores times divided by `t_norm`), `states`
    [B, P, L] int, `lengths` [B, P], `t_norm` [B], `Q` [B, 6, 6] in data units, `adjacency` [B, 6, 6],
    `p0` [B, 6]. Missing files raise a KeyError naming them; __MACOSX resource forks are skipped.
    Reference: `scripts/huggingface/datasets/mjp/mjp.py` of FIM4Science/OpenFIM (file list).
    """
    path = Path(path)
    if path.is_dir():
        files = {p.name: p.read_bytes for p in path.rglob("*.pt") if "__MACOSX" not in p.parts}
    else:
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist (expected a DFR path archive .zip or its folder)")
        try:
            z = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise ValueError(f"{path}: not a zip archive (expected a DFR archive, e.g. 6_st_DFR_V=1.zip)") from None
        files = {
            Path(n).name: (lambda n=n: z.read(n))
            for n in z.namelist()
            if n.endswith(".pt") and "__MACOSX" not in n
        }
    out = {}
    for key, stem in DFR_ARCHIVE_FILES.items():
        name = f"fine_grid_{stem}.pt"
        if name not in files:
            raise KeyError(f"{path}: archive lacks {name}; found {sorted(files)}")
        out[key] = read_torch_tensor(files[name]())
    B = out["t_norm"].reshape(-1).shape[0]
    out["t_norm"] = out["t_norm"].reshape(B).astype(np.float32)
    grid = out.pop("grid")
    grid = grid.reshape(grid.shape[0], grid.shape[1], grid.shape[2])  # drop the trailing singleton axis
    out["times"] = (grid * out["t_norm"][:, None, None]).astype(np.float32)
    out["states"] = out["states"].reshape(out["times"].shape).astype(np.int32)
    out["lengths"] = out["lengths"].reshape(out["times"].shape[:2]).astype(np.int32)
    for k in ("Q", "adjacency", "p0"):
        out[k] = out[k].astype(np.float32)
    return out
