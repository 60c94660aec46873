"""Loader for the organoid drug-screen data in AnnData (.h5ad) form, mapped to `Populations`.

The data of MFM Sec. 5 (Ramos Zapatero et al. 2023, mass cytometry of patient-derived organoids, as
preprocessed by the MFM authors) come as one AnnData: cells x markers, with `obs` columns naming the
patient, culture, replicate/plate and treatment of each cell. An experiment (one value of each of
`population_keys`) becomes one source population (its control cells) with one target population per
treatment. As the original, experiments whose control or treated population has fewer than
`min_cells` cells are dropped, and each population is subsampled to a fixed size (`cells`).

The column names and control labels are arguments, since the published files are not reachable from
here to check them; the defaults follow the paper's wording. `anndata` is an optional dependency,
imported only when this loader runs.

Reference: Atanackovic et al. 2024, "Meta Flow Matching", Sec. 5 and App. (organoid preprocessing:
arcsinh(x / 5), standardisation, populations under 1000 cells dropped).
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sciml.data.populations import Populations

#: The cytometry transform of the original preprocessing: arcsinh(x / 5).
ARCSINH_COFACTOR = 5.0
#: The original drops populations with fewer cells than this.
MIN_CELLS = 1000


def _anndata():
    try:
        import anndata
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "loading .h5ad files needs the optional dependency anndata: pip install anndata"
        ) from e
    return anndata


def load_organoids(
    path: str | Path,
    *,
    population_keys: Sequence[str] = ("patient", "culture", "replicate"),
    treatment_key: str = "treatment",
    controls: Sequence[str] = ("DMSO", "H2O", "AH"),
    group_key: str = "patient",
    markers: Sequence[str] | None = None,
    cells: int = MIN_CELLS,
    min_cells: int = MIN_CELLS,
    arcsinh_cofactor: float | None = None,
    standardise: bool = False,
    seed: int = 0,
) -> Populations:
    """Read an .h5ad file into control (source) and treated (target) populations of `cells` cells each.

    - `population_keys`: the `obs` columns whose joint value is one experiment (one source population).
    - `controls`: treatment labels pooled as the experiment's control (untreated) cells.
    - `group_key`: the `obs` column used for group-wise splits (patient hold-out).
    - `arcsinh_cofactor`, `standardise`: apply the original's preprocessing if the file holds raw counts.
    """
    if cells < 1 or cells > min_cells:
        raise ValueError(f"cells must be in [1, min_cells={min_cells}] to subsample without replacement, got {cells}")
    adata = _anndata().read_h5ad(path)
    obs = adata.obs
    needed = [*population_keys, treatment_key, group_key]
    missing = [k for k in needed if k not in obs.columns]
    if missing:
        raise KeyError(f"{path}: obs lacks columns {missing}; available: {list(obs.columns)}")
    x = adata.X
    x = np.asarray(x.toarray() if hasattr(x, "toarray") else x, np.float64)
    if markers is not None:
        names = list(adata.var_names)
        unknown = [m for m in markers if m not in names]
        if unknown:
            raise KeyError(f"{path}: unknown markers {unknown}; available: {names}")
        x = x[:, [names.index(m) for m in markers]]
    if arcsinh_cofactor is not None:
        x = np.arcsinh(x / arcsinh_cofactor)
    if standardise:
        x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-12)

    treatment = obs[treatment_key].astype(str).to_numpy()
    is_control = np.isin(treatment, list(controls))
    treatments = tuple(sorted(set(treatment[~is_control])))
    keys = list(zip(*(obs[k].astype(str).to_numpy() for k in population_keys)))
    group = obs[group_key].astype(str).to_numpy()
    rng = np.random.default_rng(seed)

    sources, targets, source_of, target_treatment, groups = [], [], [], [], []
    for experiment in sorted(set(keys)):
        in_exp = np.array([k == experiment for k in keys])
        control_rows = np.flatnonzero(in_exp & is_control)
        if control_rows.size < min_cells:
            continue
        treated = []
        for j, name in enumerate(treatments):
            rows = np.flatnonzero(in_exp & (treatment == name))
            if rows.size >= min_cells:
                treated.append((j, rows))
        if not treated:
            continue
        s = len(sources)
        sources.append(x[rng.choice(control_rows, cells, replace=False)])
        groups.append(str(group[control_rows[0]]))
        for j, rows in treated:
            targets.append(x[rng.choice(rows, cells, replace=False)])
            source_of.append(s)
            target_treatment.append(j)
    if not sources:
        raise ValueError(
            f"{path}: no experiment has >= {min_cells} control cells and a treatment with >= {min_cells} cells"
        )
    return Populations(
        sources=np.stack(sources).astype(np.float32),
        targets=np.stack(targets).astype(np.float32),
        source_of=np.asarray(source_of),
        treatment=np.asarray(target_treatment),
        groups=tuple(groups),
        treatments=treatments,
        paired=False,
    )


def organoid_splits(
    path: str | Path, *, cells: int, test_patients: int, seed: int = 0
) -> dict[str, Populations | None]:
    """Patient hold-out of an organoid screen: train on all but the last `test_patients` patients (sorted
    by name), test on those; no val split. Populations of fewer than `cells` cells are dropped."""
    pops = load_organoids(path, cells=cells, min_cells=cells, seed=seed)
    groups = sorted(set(pops.groups))
    if not 0 < test_patients < len(groups):
        raise ValueError(f"test_patients must be in [1, {len(groups) - 1}] for {len(groups)} patients")
    return {
        "train": pops.select_groups(groups[:-test_patients]),
        "val": None,
        "test": pops.select_groups(groups[-test_patients:]),
    }
