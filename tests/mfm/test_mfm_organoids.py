"""The published organoid drug-screen files (MFM Sec. 5) in their real layout, written here in miniature.

Layout (lazaratan/meta-flow-matching `trellis_dataloader.py` and `notebooks/trellis_data_*_splits.ipynb`):
`trellis_<...>_normalized.npy` is a [cells, 44] float64 matrix (44 marker columns; the loader drops the
last), and the split pickle is {"train": [...], ("val": [...],) "test": [...]} of experiments
`treatment -> concentration (str) -> culture -> {"PDOs": rows | None, "Fibs": rows | None}`, wrapped as
{"pdo-<n>": experiment} in the patient splits. Every population's cells here carry a distinct value in
every marker, so the checks below see which rows each population was read from.
"""

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.data.organoids import MARKERS, NUM_MARKERS, TREATMENTS, load_organoids, read_split_file, split_files
from sciml.mfm import MetaFlowMatching
from sciml.runner import load_config
from sciml.runner.train import Trainer


class _Screen:
    """Builds a cell matrix and split experiments; each population's cells get the value `code`."""

    def __init__(self):
        self.blocks: list[np.ndarray] = []
        self.n = 0

    def cells(self, code: float, n: int) -> np.ndarray:
        rows = np.arange(self.n, self.n + n)
        block = np.full((n, len(MARKERS)), code, np.float64)
        block[:, -1] = -999.0  # the last column (Cyclin_B1) must never be read
        self.blocks.append(block)
        self.n += n
        return rows

    def node(self, culture: str, code: float, n: int, fib_code: float | None = None, n_fib: int = 0) -> dict:
        """{culture: {"PDOs": rows, "Fibs": rows}} as the notebooks write it (None where a type is absent)."""
        pdos = self.cells(code, n) if culture in ("PDO", "PDOF") else None
        fibs = self.cells(fib_code if fib_code is not None else code, n_fib or n) if culture in ("PDOF", "F") else None
        return {culture: {"PDOs": pdos, "Fibs": fibs}}

    def matrix(self) -> np.ndarray:
        return np.concatenate(self.blocks)


def _write_patient_split(folder, n=30) -> dict:
    """split_patient_test_pdo21.pickle + trellis_patients_pdo21_normalized.npy; returns the codes used."""
    s = _Screen()
    train = [
        # PDO 5, PDO culture, DMSO control; O at concentrations 1 and 3 (3 is used), L at 4.
        {"pdo-5": {"O": {"1": s.node("PDO", 91.0, n), "3": s.node("PDO", 1.0, n)},
                   "DMSO": {"0": s.node("PDO", 0.0, n)},
                   "L": {"4": s.node("PDO", 2.0, n)}}},
        # PDO 5, co-culture: the source holds PDO cells (code 10) then fibroblasts (code 11).
        {"pdo-5": {"AH": {"0": s.node("PDOF", 10.0, n, 11.0)},
                   "CSF": {"2": s.node("PDOF", 12.0, n, 13.0)}}},
        # An experiment with an empty dict is skipped, as the original's __filter_control__.
        {"pdo-11": {"H2O": {"0": s.node("PDO", 50.0, n)}, "S": {}}},
    ]
    test = [{"pdo-21": {"H2O": {"0": s.node("F", 20.0, n)}, "VS": {"4": s.node("F", 21.0, n)}}}]
    np.save(folder / "trellis_patients_pdo21_normalized.npy", s.matrix())
    with open(folder / "split_patient_test_pdo21.pickle", "wb") as f:
        pickle.dump({"train": train, "test": test}, f, protocol=pickle.HIGHEST_PROTOCOL)


def _write_replica_split(folder, n=30):
    """data_splits_replicas_1.pickle (protocol 2, as NumPy 1 wrote it) + its .npy: train / val / test."""
    s = _Screen()

    def exp(code):
        return {"DMSO": {"0": s.node("PDO", code, n)}, "C": {"1": s.node("PDO", code + 1, n)}}

    splits = {"train": [exp(0.0), exp(10.0)], "val": [exp(20.0)], "test": [exp(30.0)]}
    np.save(folder / "trellis_replicas_1_normalized.npy", s.matrix())
    with open(folder / "data_splits_replicas_1.pickle", "wb") as f:
        pickle.dump(splits, f, protocol=2)


def test_patient_split_reads_the_published_layout(tmp_path):
    data = tmp_path / "data"  # the files may sit in a data/ folder under task.path
    data.mkdir()
    _write_patient_split(data)
    out = load_organoids(tmp_path, "pdo21", cells=30, seed=0)
    train, test = out["train"], out["test"]
    assert out["val"] is None
    assert train.dim == NUM_MARKERS == 43 and train.treatments == TREATMENTS
    assert train.num_sources == 2 and train.num_targets == 3  # pdo-11 skipped (empty dict)
    assert train.groups == ("pdo-5 PDO", "pdo-5 PDOF") and test.groups == ("pdo-21 F",)
    # every value of a population is its code: the right rows, and never the dropped last column
    np.testing.assert_array_equal(train.sources[0], 0.0)
    assert list(train.source_of) == [0, 0, 1]
    assert [TREATMENTS[j] for j in train.treatment] == ["O", "L", "CSF"]
    np.testing.assert_array_equal(train.targets[0], 1.0)  # the highest concentration (3), not 1
    np.testing.assert_array_equal(train.targets[1], 2.0)
    # co-culture: the PDO cells and the fibroblasts together (30 + 30: all of them at cells=60)
    np.testing.assert_array_equal(np.unique(train.sources[1]), [10.0, 11.0])
    whole = load_organoids(tmp_path, "pdo21", cells=60)["train"].sources[1]
    assert (whole == 10.0).all(1).sum() == 30 and (whole == 11.0).all(1).sum() == 30
    np.testing.assert_array_equal(np.unique(train.targets[2]), [12.0, 13.0])
    # fibroblast monoculture: only the Fibs rows
    np.testing.assert_array_equal(test.sources[0], 20.0)
    np.testing.assert_array_equal(test.targets[0], 21.0)
    assert test.treatment.tolist() == [TREATMENTS.index("VS")]


def test_replica_split_with_validation_and_protocol_2_pickle(tmp_path):
    _write_replica_split(tmp_path)
    out = load_organoids(tmp_path, "replicas-1", cells=30)
    assert [out[k].num_sources for k in ("train", "val", "test")] == [2, 1, 1]
    np.testing.assert_array_equal(out["val"].sources[0], 20.0)
    np.testing.assert_array_equal(out["test"].targets[0], 31.0)
    assert out["train"].groups == ("PDO", "PDO")  # the replicate splits do not record the patient
    assert set(read_split_file(split_files(tmp_path, "replicas-1")[0])) == {"train", "val", "test"}


def test_subsampling_to_a_fixed_size(tmp_path):
    _write_patient_split(tmp_path, n=30)
    small = load_organoids(tmp_path, "pdo21", cells=10, seed=1)["train"]
    assert small.sources.shape == (2, 10, 43)
    np.testing.assert_array_equal(np.unique(small.targets[0]), [1.0])
    big = load_organoids(tmp_path, "pdo21", cells=45, seed=1)["train"]  # fewer cells than asked: resampled
    assert big.sources.shape == (2, 45, 43)


def test_missing_or_malformed_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_organoids(tmp_path / "nowhere", "pdo21")
    with pytest.raises(FileNotFoundError, match=r"needs \['split_patient_test_pdo27.pickle', "
                                                r"'trellis_patients_pdo27_normalized.npy'\]"):
        load_organoids(tmp_path, "pdo27")
    with pytest.raises(ValueError, match="unknown organoid split 'pdo99'"):
        load_organoids(tmp_path, "pdo99")
    _write_patient_split(tmp_path)
    np.save(tmp_path / "trellis_patients_pdo21_normalized.npy", np.zeros((5, 43)))
    with pytest.raises(ValueError, match=r"expected a \[cells, 44\] matrix"):
        load_organoids(tmp_path, "pdo21")
    np.save(tmp_path / "trellis_patients_pdo21_normalized.npy", np.zeros((5, 44)))
    with pytest.raises(ValueError, match="indexes cell"):
        load_organoids(tmp_path, "pdo21")
    # a pickle that would call anything but NumPy's array helpers is refused, not run
    with open(tmp_path / "split_patient_test_pdo21.pickle", "wb") as f:
        f.write(b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00echo\x85R.")
    with pytest.raises(ValueError, match="unsupported global os.system"):
        load_organoids(tmp_path, "pdo21")


def test_population_tasks_train_on_the_organoid_files(tmp_path):
    _write_patient_split(tmp_path)
    task = MetaFlowMatching(data="organoids", path=str(tmp_path), split="pdo21", coupling="independent",
                            num_cells=30, points=12, eval_points=20, k=3, width=8, depth=1, time_dim=8,
                            gcn_depth=1, embed_width=4, populations_per_batch=2)
    assert task.splits()["val"] is None and task.splits()["test"].groups == ("pdo-21 F",)
    model = task.init(key=jax.random.PRNGKey(0))
    assert model.num_treatments == 11 and model.embedding.dim == 43
    b = task.batch(0, seed=0)
    assert b["x0"].shape == (2, 12, 43) and set(b["treatment"]) <= {0, 3, 10}
    loss, _ = task.loss(model, b, key=jax.random.PRNGKey(1))
    assert np.isfinite(float(loss))
    with pytest.raises(ValueError, match="data 'organoids' needs path"):
        MetaFlowMatching(data="organoids", coupling="ot")
    with pytest.raises(ValueError, match="split"):
        MetaFlowMatching(split="pdo22")


def test_paper_organoids_config_runs_two_steps_on_the_fixture(repo, tmp_path):
    _write_patient_split(tmp_path, n=40)
    config = load_config(repo / "experiments/mfm/paper_organoids.yaml", [
        f"task.path={tmp_path}", "task.num_cells=40", "task.points=16", "task.eval_points=40", "task.k=5",
        "task.populations_per_batch=2", "train.steps=2",
    ])
    assert config.task.data == "organoids" and config.task.split == "pdo21"
    trainer = Trainer(config)
    state = trainer.place(trainer.init_state())
    for s in range(2):
        state, metrics = trainer.step(jnp.asarray(s, jnp.int32), state, trainer.device_batch(s))
        assert np.isfinite(float(metrics["loss"]))
