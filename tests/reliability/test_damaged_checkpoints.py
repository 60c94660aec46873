"""Issue 16.1: a damaged newest checkpoint falls back to an older intact one, verified by checksum."""

import json
import shutil

import pytest
from conftest import TOY, same_params

from sciml.runner import load_config, run
from sciml.runner.checkpoint import CheckpointError, Checkpoints, arrays_digest


def _data_file(step_dir):
    """The file that holds the arrays' bytes (tensorstore's data file of the `state` item)."""
    return max((p for p in (step_dir / "state" / "d").iterdir() if p.is_file()), key=lambda p: p.stat().st_size)


def _flip(path, n: int):
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + n):
        data[i] ^= 0x10
    path.write_bytes(bytes(data))


DAMAGE = {
    "truncated data file": lambda c: _data_file(c / "60").write_bytes(_data_file(c / "60").read_bytes()[:64]),
    "truncated state metadata": lambda c: (c / "60/state/_METADATA").write_text('{"tree_metadata": {"model'),
    "deleted meta/": lambda c: shutil.rmtree(c / "60" / "meta"),
    "deleted state/": lambda c: shutil.rmtree(c / "60" / "state"),
    "empty meta/metadata": lambda c: (c / "60" / "meta" / "metadata").write_text(""),
    "one flipped bit": lambda c: _flip(_data_file(c / "60"), 1),
    "64 flipped bytes": lambda c: _flip(_data_file(c / "60"), 64),
    # Arrays that load without any error but are not the ones step 60 saved: only the checksum sees it.
    "silently different arrays": lambda c: (shutil.rmtree(c / "60" / "state"),
                                            shutil.copytree(c / "40" / "state", c / "60" / "state")),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_newest_checkpoint_falls_back_to_older(damage, reference, unfinished, capfd):
    ckdir = unfinished / "toy" / "reg" / "checkpoints"
    DAMAGE[damage](ckdir)
    resumed = run(TOY, runs_dir=unfinished, progress=False)
    err = capfd.readouterr().err
    assert resumed.final["resumed_from"] == 40 and resumed.final["steps_executed"] == 20
    assert same_params(resumed.model, reference.model)
    assert resumed.final["loss"] == reference.final["loss"]
    assert "step 60" in err or "60:" in err, err  # says which checkpoint was skipped ...
    assert (ckdir.parent / "checkpoints.skipped").is_dir()  # ... and moved it aside, not deleted


def test_checksum_mismatch_is_named_and_all_damaged_is_an_error(reference, unfinished, capfd):
    ckdir = unfinished / "toy" / "reg" / "checkpoints"
    DAMAGE["silently different arrays"](ckdir)
    like = __import__("sciml.runner", fromlist=["Trainer"]).Trainer(load_config(TOY)).init_state()
    ck = Checkpoints(ckdir, read_only=True)
    _, meta = ck.restore(like)
    assert meta["step"] == 40 and any("step 60: CheckpointError: checksum mismatch" in n for n in ck.notes)
    assert (ckdir / "60").is_dir()  # read-only: nothing moved
    for s in ("20", "40"):
        (ckdir / s / "meta" / "metadata").write_text("")
    with pytest.raises(CheckpointError, match=r"no usable checkpoint in .*checkpoints \(step 60: .*checksum"):
        Checkpoints(ckdir, read_only=True).restore(like)


def test_stray_empty_step_folder_is_ignored(reference, unfinished):
    ckdir = unfinished / "toy" / "reg" / "checkpoints"
    (ckdir / "50").mkdir()
    (ckdir / "70").mkdir()
    resumed = run(TOY, runs_dir=unfinished, progress=False)
    assert resumed.final["resumed_from"] == 60 and resumed.final["steps_executed"] == 0
    assert resumed.final["loss"] == reference.final["loss"]
    assert not (ckdir / "70").exists() and not (ckdir / "50").exists()


def test_digest_covers_dtype_shape_and_bytes():
    import numpy as np

    a = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    assert arrays_digest(a) == arrays_digest({"w": a["w"].copy()})
    assert arrays_digest(a) != arrays_digest({"w": a["w"].reshape(3, 2)})
    assert arrays_digest(a) != arrays_digest({"w": a["w"].astype(np.float64)})
    b = a["w"].copy()
    b.view(np.uint32)[0, 0] ^= 1
    assert arrays_digest(a) != arrays_digest({"w": b})


def test_checkpoint_meta_is_strict_json_with_loss(reference):
    meta = json.loads((reference.dir / "checkpoints" / "60" / "meta" / "metadata").read_text())
    assert meta["step"] == 60 and meta["loss"] == reference.final["loss"] and len(meta["sha256"]) == 64
