"""Populations for population-conditioned flows: source point clouds and the targets measured from them.

A `Populations` holds S source populations `sources [S, n, d]` and M target populations
`targets [M, n, d]`; target m was measured from source `source_of[m]` under treatment `treatment[m]`
(letters: one target per source and no treatment; patients/organoids: one target per treatment of a
control population). All populations of one collection have the same size n: the models batch them
with static shapes (the original's padding branches are broken, so fixed sizes are the safe choice).

Reference: Atanackovic et al. 2024, "Meta Flow Matching", Sec. 4 (letters) and Sec. 5 (organoids).
"""

import dataclasses
from collections.abc import Sequence

import numpy as np


def stack_populations(populations: Sequence[np.ndarray], what: str = "populations") -> np.ndarray:
    """Stack point clouds [n_i, d] into [P, n, d]; unequal sizes or dimensions are an error."""
    if len(populations) == 0:
        raise ValueError(f"no {what} given")
    arrays = [np.asarray(p, np.float32) for p in populations]
    for i, a in enumerate(arrays):
        if a.ndim != 2:
            raise ValueError(f"{what}[{i}] must be a point cloud [n, d], got shape {a.shape}")
        if a.shape[0] == 0:
            raise ValueError(f"{what}[{i}] is empty (0 points)")
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(
            f"{what} must all have the same number of points and dimension (the model batches them with "
            f"static shapes), got shapes {sorted(shapes)}; subsample them to a common size first"
        )
    return np.stack(arrays)


@dataclasses.dataclass(frozen=True, eq=False)
class Populations:
    """Source populations, target populations and which source/treatment each target comes from.

    `paired` says that `targets[m][i]` is the image of `sources[source_of[m]][i]` (letters' denoising
    pairs); otherwise source and target are independent samples (cells are destroyed by measuring).
    `groups[s]` names what source s belongs to (its letter or patient) for group-wise splits.
    """

    sources: np.ndarray  # [S, n, d]
    targets: np.ndarray  # [M, n, d]
    source_of: np.ndarray  # [M] int
    treatment: np.ndarray  # [M] int in [0, len(treatments)) ; all 0 when there is no treatment
    groups: tuple[str, ...]  # [S]
    treatments: tuple[str, ...] = ()
    paired: bool = False

    def __post_init__(self):
        s, t = self.sources, self.targets
        if s.ndim != 3 or t.ndim != 3:
            raise ValueError(f"sources and targets must be [P, n, d], got {s.shape} and {t.shape}")
        if s.shape[0] == 0 or t.shape[0] == 0:
            raise ValueError("a Populations needs at least one source and one target")
        if s.shape[1] == 0:
            raise ValueError("populations are empty (0 points)")
        if s.shape[1:] != t.shape[1:]:
            raise ValueError(f"sources {s.shape[1:]} and targets {t.shape[1:]} must have the same [n, d]")
        m = t.shape[0]
        if self.source_of.shape != (m,) or self.treatment.shape != (m,):
            raise ValueError(f"source_of and treatment must have shape ({m},)")
        if self.source_of.min() < 0 or self.source_of.max() >= s.shape[0]:
            raise ValueError("source_of points outside the sources")
        if len(self.groups) != s.shape[0]:
            raise ValueError(f"groups has {len(self.groups)} names for {s.shape[0]} sources")
        if self.treatments and (self.treatment.min() < 0 or self.treatment.max() >= len(self.treatments)):
            raise ValueError("treatment indices outside the treatment names")
        if not self.treatments and self.treatment.any():
            raise ValueError("treatment indices given without treatment names")

    @property
    def num_points(self) -> int:
        return self.sources.shape[1]

    @property
    def dim(self) -> int:
        return self.sources.shape[2]

    @property
    def num_sources(self) -> int:
        return self.sources.shape[0]

    @property
    def num_targets(self) -> int:
        return self.targets.shape[0]

    def select_sources(self, keep: Sequence[int] | np.ndarray) -> "Populations":
        """The sub-collection of the given sources (in that order) and all their targets."""
        keep = np.asarray(keep, int)
        if keep.size == 0:
            raise ValueError("select_sources got no sources to keep")
        new_index = -np.ones(self.num_sources, int)
        new_index[keep] = np.arange(keep.size)
        rows = np.flatnonzero(new_index[self.source_of] >= 0)
        if rows.size == 0:
            raise ValueError("the selected sources have no targets")
        return Populations(
            sources=self.sources[keep],
            targets=self.targets[rows],
            source_of=new_index[self.source_of[rows]],
            treatment=self.treatment[rows],
            groups=tuple(self.groups[i] for i in keep),
            treatments=self.treatments,
            paired=self.paired,
        )

    def select_groups(self, groups: Sequence[str]) -> "Populations":
        """The sources whose group is in `groups` (e.g. a set of letters or patients)."""
        wanted = set(groups)
        missing = wanted - set(self.groups)
        if missing:
            raise ValueError(f"unknown groups {sorted(missing)}; present: {sorted(set(self.groups))}")
        return self.select_sources([i for i, g in enumerate(self.groups) if g in wanted])
