"""Reader of the published organoid drug-screen files of Meta Flow Matching, mapped to `Populations`.

The data of MFM Sec. 5 (Ramos Zapatero et al., Cell 2023: mass cytometry of colorectal-cancer
patient-derived organoids, PDO, alone, with cancer-associated fibroblasts, PDOF, and fibroblasts alone,
F) are published by the MFM authors already preprocessed, one pair of files per split of the paper
(the original's `src/datamodule/trellis_dataloader.py::TrellisDatamodule` names them):

    split        split file (pickle)                     cells (NumPy .npy)
    replicas-1   data_splits_replicas_1.pickle           trellis_replicas_1_normalized.npy
    replicas-2   data_splits_replicas_2.pickle           trellis_replicas_2_normalized.npy
    pdo21        split_patient_test_pdo21.pickle         trellis_patients_pdo21_normalized.npy
    pdo27        split_patient_test_pdo27.pickle         trellis_patients_pdo27_normalized.npy
    pdo75        split_patient_test_pdo75.pickle         trellis_patients_pdo75_normalized.npy

- The `.npy` is a float matrix [all cells of the screen, 44 markers] (`MARKERS`, the screen's columns
  without pPKCa), already transformed as arcsinh(x / 5), centred by the training cells' marker means and
  divided by the mean of their marker stds (the original's notebooks `trellis_data_*_splits.ipynb`,
  `normalize_raw_data`). The original's loader drops the last column (`np.load(...)[:, :-1]`), so models
  see 43 markers (Cyclin_B1 is not used); so do we.
- The pickle is `{"train": [...], "test": [...]}` (and `"val"` for the replicate splits) of experiments;
  an experiment is one culture x patient x plate x replicate, a nested dict
  `treatment -> concentration (str) -> culture -> cell type ("PDOs" | "Fibs") -> row indices or None`.
  The patient splits wrap each experiment as `{"pdo-<patient>": experiment}`; the replicate splits do
  not record the patient.

As the original's dataset class: an experiment with an empty dict anywhere is skipped; its control is the
treatment among DMSO / AH / H2O (concentration "0"); every other treatment at its highest concentration
gives one target population per culture; a population's cells are the PDO cells (cultures PDO, PDOF)
followed by the fibroblasts (PDOF, F). Populations under 1000 cells were already dropped when the files
were made. The split files themselves define the paper's splits: replicate hold-out (30 validation and
30 test experiments: `replicas-1` one replicate of 30 culture x patient x plate groups each; `replicas-2`
a replicate of every group of patient 27 for validation and of patient 21 for test) and patient hold-out
(every experiment of PDO 21, 27 or 75 for test, no validation).

Deviations: our models batch populations of one fixed size, so each population is subsampled once (seed
`seed`) to `cells` cells, drawing with replacement only if it has fewer cells than that (the original
trains on 1024 random cells of the whole population per step and evaluates on its first <= 5000 cells);
the cell-type one-hot that the original appends to the embedding's node features is not used.

The pickles hold only dicts, lists, strings, None and NumPy arrays; they are read with an unpickler that
allows nothing else, so a file cannot run code.

Reference: Atanackovic et al. 2024, "Meta Flow Matching", Sec. 5 and App. (organoid data, splits);
repository lazaratan/meta-flow-matching (`trellis_dataloader.py`, `notebooks/trellis_data_*.ipynb`,
`src/conf/datamodule/trellis_marker_col.yaml`).
"""

import codecs
import pickle
from pathlib import Path

import numpy as np

from sciml.data.populations import Populations

#: The original's split names and their (split pickle, normalised cells) files.
SPLIT_FILES = {
    "replicas-1": ("data_splits_replicas_1.pickle", "trellis_replicas_1_normalized.npy"),
    "replicas-2": ("data_splits_replicas_2.pickle", "trellis_replicas_2_normalized.npy"),
    "pdo21": ("split_patient_test_pdo21.pickle", "trellis_patients_pdo21_normalized.npy"),
    "pdo27": ("split_patient_test_pdo27.pickle", "trellis_patients_pdo27_normalized.npy"),
    "pdo75": ("split_patient_test_pdo75.pickle", "trellis_patients_pdo75_normalized.npy"),
}
SPLITS = tuple(SPLIT_FILES)
#: Control (vehicle) treatments; the source population of an experiment.
CONTROLS = ("DMSO", "AH", "H2O")
#: The 11 treatments in the original's one-hot order (`TrellisDatamodule.treatment`).
TREATMENTS = ("O", "S", "VS", "L", "V", "F", "C", "SF", "CS", "CF", "CSF")
CULTURES = ("PDO", "PDOF", "F")
#: Cell types in the order their cells are concatenated (and of the original's cell-type one-hot).
CELL_TYPES = ("PDOs", "Fibs")
#: Columns of the published .npy files (`trellis_marker_col.yaml`); the last one is dropped on reading.
MARKERS = (
    "pHH3", "RFP", "mCHERRY", "Vimentin", "EpCAM", "CK18", "Pan_CK", "GFP", "IdU", "pPDK1", "cCaspase_3",
    "Geminin", "pMEK1_2", "pNDRG", "pMKK4_SEK1", "pBTK", "pSRC", "p4EBP1", "pRB", "pAKT308", "pCREB",
    "pSMAD1_5_9", "pAKT473", "pNF_kB", "pMKK3_MKK6", "pP38", "pMAPKAPK", "pAMPKa", "pBAD", "pHistone_H2A",
    "p90RSK", "pP120_catenin", "Beta_catenin_active", "pGSK", "pERK1_2", "pSMAD2_3", "PLK", "CHGA", "pDNAPK",
    "pS6", "CD90", "cPARP", "pCHK1", "Cyclin_B1",
)
#: Markers the models see: all columns but the last, as the original's loader.
NUM_MARKERS = len(MARKERS) - 1
#: The files were made without populations of fewer cells than this.
MIN_CELLS = 1000
#: The control's concentration key.
CONTROL_CONCENTRATION = "0"


class _SplitUnpickler(pickle.Unpickler):
    """Unpickles a split file: containers, strings and NumPy arrays only (no other globals)."""

    def find_class(self, module, name):
        if module in _NUMPY_MODULES and name in _NUMPY_GLOBALS:
            return _NUMPY_GLOBALS[name]
        if (module, name) == ("_codecs", "encode"):
            return codecs.encode  # protocol-2 pickles store array bytes as latin-1 strings
        raise pickle.UnpicklingError(f"unsupported global {module}.{name} in an organoid split file")


def _reconstruct(cls, shape, dtype):
    if cls is not np.ndarray:
        raise pickle.UnpicklingError(f"unsupported array class {cls!r} in an organoid split file")
    return np.ndarray.__new__(cls, shape, dtype)


def _frombuffer(buf, dtype, shape, order):
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order).copy()


def _scalar(dtype, data):
    return np.frombuffer(data, dtype=dtype)[0]


#: NumPy's pickling helpers under their NumPy 1 and 2 module names.
_NUMPY_MODULES = ("numpy", "numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric",
                  "numpy._core.numeric")
_NUMPY_GLOBALS = {"ndarray": np.ndarray, "dtype": np.dtype, "_reconstruct": _reconstruct,
                  "_frombuffer": _frombuffer, "scalar": _scalar}


def _find(root: Path, name: str) -> Path | None:
    """`root/name`, else the first `root/*/name` or `root/*/*/name` (an unpacked `data/` folder)."""
    if (root / name).is_file():
        return root / name
    return next(iter(sorted(root.glob(f"*/{name}")) + sorted(root.glob(f"*/*/{name}"))), None)


def split_files(path: str | Path, split: str) -> tuple[Path, Path]:
    """The (split pickle, cells .npy) of `split` under the folder `path` (or a `data/` folder in it)."""
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown organoid split {split!r}; valid: {list(SPLITS)}")
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(
            f"{root} is not a folder (expected the unpacked organoid data of the MFM authors with "
            f"{' and '.join(SPLIT_FILES[split])})"
        )
    found = {name: _find(root, name) for name in SPLIT_FILES[split]}
    missing = [name for name, p in found.items() if p is None]
    if missing:
        raise FileNotFoundError(f"{root}: split {split!r} needs {missing}, not found in the folder or below it")
    return found[SPLIT_FILES[split][0]], found[SPLIT_FILES[split][1]]


def read_split_file(path: str | Path) -> dict[str, list]:
    """The experiments of a split pickle: {"train": [...], "val": [...] (if present), "test": [...]}."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            out = _SplitUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: not an organoid split file ({e})") from None
    if not isinstance(out, dict) or "train" not in out or "test" not in out:
        raise ValueError(f"{path}: expected a dict with 'train' and 'test' experiment lists, got "
                         f"{type(out).__name__} with keys {sorted(out) if isinstance(out, dict) else '-'}")
    return out


def _has_empty_dict(d: dict) -> bool:
    return any(isinstance(v, dict) and (not v or _has_empty_dict(v)) for v in d.values())


def _unwrap(item: dict) -> tuple[str, dict]:
    """(patient, experiment): patient splits wrap an experiment as {"pdo-<n>": experiment}."""
    keys = list(item)
    if len(keys) == 1 and keys[0] not in CONTROLS + TREATMENTS:
        return str(keys[0]), item[keys[0]]
    return "", item


def _rows(node: dict, culture: str, where: str) -> np.ndarray:
    """Row indices of one culture's cells (PDO cells first, then fibroblasts), as the original."""
    if culture not in node:
        raise ValueError(f"{where}: no culture {culture!r}; has {sorted(node)}")
    types = node[culture]
    wanted = [CELL_TYPES[0]] * (culture in ("PDO", "PDOF")) + [CELL_TYPES[1]] * (culture in ("PDOF", "F"))
    if culture not in CULTURES:
        raise ValueError(f"{where}: unknown culture {culture!r}; valid: {list(CULTURES)}")
    parts = []
    for t in wanted:
        if types.get(t) is None:
            raise ValueError(f"{where}, culture {culture}: no {t} cells")
        parts.append(np.asarray(types[t], np.int64).reshape(-1))
    return np.concatenate(parts)


def _problems(experiments: list, where: str) -> list[tuple[str, np.ndarray, list[tuple[int, np.ndarray]]]]:
    """(group, control rows, [(treatment index, treated rows)]) per experiment and culture; the group
    names the patient (patient splits only) and the culture, e.g. "pdo-21 PDOF"."""
    out = []
    for i, item in enumerate(experiments):
        if not isinstance(item, dict):
            raise ValueError(f"{where}[{i}]: an experiment must be a dict, got {type(item).__name__}")
        patient, exp = _unwrap(item)
        if _has_empty_dict(exp):
            continue  # the original skips these (`__filter_control__`)
        name = f"{where}[{i}]" + (f" ({patient})" if patient else "")
        controls = [c for c in CONTROLS if c in exp]
        if not controls:
            raise ValueError(f"{name}: no control among {list(CONTROLS)}; treatments {sorted(exp)}")
        control = exp[controls[0]]
        if CONTROL_CONCENTRATION not in control:
            raise ValueError(f"{name}: control {controls[0]} has no concentration '0'; has {sorted(control)}")
        by_culture: dict[str, list[tuple[int, np.ndarray]]] = {}
        for t, concentrations in exp.items():
            if t in CONTROLS:
                continue
            if t not in TREATMENTS:
                raise ValueError(f"{name}: unknown treatment {t!r}; valid: {list(TREATMENTS)} and controls")
            top = str(max(int(c) for c in concentrations))
            for culture in concentrations[top]:
                rows = _rows(concentrations[top], culture, f"{name} {t} {top}")
                by_culture.setdefault(culture, []).append((TREATMENTS.index(t), rows))
        for culture, treated in by_culture.items():
            source = _rows(control[CONTROL_CONCENTRATION], culture, f"{name} {controls[0]}")
            out.append((f"{patient} {culture}".strip(), source, treated))
    return out


def _subsample(rng: np.random.Generator, rows: np.ndarray, cells: int) -> np.ndarray:
    return rng.choice(rows, cells, replace=rows.size < cells)


def load_organoids(
    path: str | Path, split: str = "pdo21", *, cells: int = MIN_CELLS, seed: int = 0
) -> dict[str, Populations | None]:
    """The train / val / test populations of one of the paper's splits (`SPLITS`) from the folder `path`.

    Each experiment x culture is one source population (its control cells) whose targets are its
    treatments (one-hot over `TREATMENTS`); every population holds `cells` cells of the 43 markers.
    `val` is None for the patient splits, which have none.
    """
    if cells < 1:
        raise ValueError(f"cells must be >= 1, got {cells}")
    split_path, cells_path = split_files(path, split)
    experiments = read_split_file(split_path)
    try:
        x = np.load(cells_path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"{cells_path}: not a NumPy .npy cell matrix ({e})") from None
    if x.ndim != 2 or x.shape[1] != len(MARKERS):
        raise ValueError(f"{cells_path}: expected a [cells, {len(MARKERS)}] matrix (the markers of "
                         f"trellis_marker_col.yaml), got shape {x.shape}")
    rng = np.random.default_rng(seed)
    out: dict[str, Populations | None] = {"val": None}
    for name in ("train", "val", "test"):
        if name not in experiments:
            continue
        problems = _problems(experiments[name], f"{split_path.name} {name}")
        if not problems:
            if name == "val":
                continue
            raise ValueError(f"{split_path}: the {name} split has no usable experiment")
        sources, targets, source_of, treatment, groups = [], [], [], [], []
        for s, (group, source_rows, treated) in enumerate(problems):
            _check_rows(source_rows, x.shape[0], cells_path)
            sources.append(_gather(x, _subsample(rng, source_rows, cells)))
            groups.append(group)
            for j, rows in treated:
                _check_rows(rows, x.shape[0], cells_path)
                targets.append(_gather(x, _subsample(rng, rows, cells)))
                source_of.append(s)
                treatment.append(j)
        out[name] = Populations(
            sources=np.stack(sources), targets=np.stack(targets), source_of=np.asarray(source_of),
            treatment=np.asarray(treatment), groups=tuple(groups), treatments=TREATMENTS, paired=False,
        )
    return out


def _check_rows(rows: np.ndarray, n: int, where: Path) -> None:
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise ValueError(f"{where}: the split file indexes cell {int(rows.max())}, but the matrix has {n} rows")


def _gather(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The rows' first NUM_MARKERS columns as float32 (reads only those rows of a memory-mapped file)."""
    order = np.argsort(rows, kind="stable")
    out = np.empty((rows.size, NUM_MARKERS), np.float32)
    out[order] = x[rows[order], :NUM_MARKERS]
    return out
