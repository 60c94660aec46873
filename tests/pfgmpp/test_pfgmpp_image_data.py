"""The `pfgmpp` task on published image data: CIFAR-10 batches and EDM-style image zips (`task.path`)."""

import io
import json
import sys
import zipfile
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

from sciml.pfgmpp import evaluation
from sciml.pfgmpp.task import PFGMPPTask
from sciml.runner import load_config, run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from test_cifar10 import write_batches  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "fixtures" / "cifar10_tiny"
SMALL_UNET = dict(channels=8, channel_mult=(1, 2), num_blocks=1, attn_resolutions=(16,), batch_size=4,
                  eval_samples=8, num_steps=3)


def test_committed_fixture_is_the_test_writers_output(tmp_path):
    # tests/data/fixtures/cifar10_tiny (the paper config's offline stand-in) = write_batches(n=2, seed=0).
    write_batches(tmp_path, n=2, seed=0)
    for f in sorted((FIXTURE / "cifar-10-batches-py").iterdir()):
        assert f.read_bytes() == (tmp_path / "cifar-10-batches-py" / f.name).read_bytes(), f.name


def test_cifar10_batches_are_the_images_in_unit_range(tmp_path):
    batches = write_batches(tmp_path, n=3)
    task = PFGMPPTask(data="cifar10", path=str(tmp_path), image_size=32, **SMALL_UNET)
    assert task.shape == (3, 32, 32)
    train, test, _ = task._data()
    assert train.shape == (15, 3, 32, 32) and test.shape == (4, 3, 32, 32)
    y = task.batch(0, seed=0)["y"]
    assert y.dtype == np.float32 and y.shape == (4, 3, 32, 32)
    raw = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)]).reshape(15, 3, 32, 32)
    idx = [int(np.argmin(np.abs(raw.astype(np.float32) / 127.5 - 1 - yi).sum(axis=(1, 2, 3)))) for yi in y]
    np.testing.assert_allclose(y, raw[idx].astype(np.float32) / 127.5 - 1, atol=1e-6)
    assert y.min() >= -1 and y.max() <= 1


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(data="cifar10"), "task.path"),
        (dict(data="cifar10", path="x", image_size=16), "image_size"),
        (dict(data="images", path="x", image_size=12), "multiple of 8"),
        (dict(data="digits", path="x"), "task.path applies"),
    ],
)
def test_config_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        PFGMPPTask(**kw)


def test_missing_files_name_the_path(tmp_path):
    task = PFGMPPTask(data="cifar10", path=str(tmp_path / "nowhere"), image_size=32)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        task.batch(0, seed=0)
    (tmp_path / "set.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="set.zip: not a valid zip"):
        PFGMPPTask(data="images", path=str(tmp_path / "set.zip"), image_size=32).batch(0, seed=0)


def test_image_zip_trains_and_evaluates_with_pixel_metrics(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    data = tmp_path / "set.zip"
    with zipfile.ZipFile(data, "w") as z:
        for i, img in enumerate(imgs):
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="png")
            z.writestr(f"00000/img{i:08d}.png", buf.getvalue())
        z.writestr("dataset.json", json.dumps({"labels": None}))
    raw = {"experiment": "pfgmpp", "name": "images", "task": {"name": "pfgmpp", "data": "images", "path": str(data),
                                                              "image_size": 16, **SMALL_UNET},
           "train": {"steps": 2, "log_every": 1, "tensorboard": False}}
    r = run(load_config(raw), runs_dir=tmp_path / "runs", progress=False)
    assert {"pixel_fd", "w2", "mmd", "nfe"} <= set(r.final)
    assert "pixel_fd_test_vs_train" not in r.final  # an image folder has no test split
    assert all(np.isfinite(r.final[k]) for k in ("pixel_fd", "w2", "mmd"))
    with zipfile.ZipFile(r.dir / "samples.zip") as z:
        assert len([n for n in z.namelist() if n.endswith(".png")]) == 8
    assert (r.dir / "samples.png").exists()


def test_pixel_metrics_are_zero_for_the_reference_itself_and_order_noise():
    rng = np.random.default_rng(1)
    train = rng.integers(0, 256, (64, 3, 16, 16), dtype=np.uint8)
    ref = evaluation.image_reference(train, seed=0, points=64)
    same = evaluation.sample_metrics(train.astype(np.float32) / 127.5 - 1, ref)
    assert same["w2"] < 1e-6 and abs(same["pixel_fd"]) < 1e-6
    noisy = evaluation.sample_metrics(np.clip(train / 127.5 - 1 + rng.normal(0, 0.5, train.shape), -1, 1), ref)
    assert noisy["w2"] > 1 and noisy["pixel_fd"] > same["pixel_fd"]
    # The pooling: block means of 2x2 blocks to 8x8 per channel, channel-major.
    pooled = evaluation.pooled_pixels(train[:1], size=8)
    np.testing.assert_allclose(pooled[0, 0], train[0, 0, :2, :2].mean() / 127.5 - 1)
    np.testing.assert_allclose(pooled[0, 64 + 8 + 1], train[0, 1, 2:4, 2:4].mean() / 127.5 - 1)
    np.testing.assert_array_equal(evaluation.to_uint8(np.array([-1.0, 0.0, 1.0, np.nan])), [0, 128, 255, 128])


def test_cifar10_unet_is_the_originals_32x32_rgb_network():
    # --arch=ncsnpp at 32x32x3: 128 channels, mult [2, 2, 2], 4 blocks, attention at 16x16 (train.py and
    # SongUNet's defaults). Shapes only: the network is evaluated abstractly.
    task = PFGMPPTask(data="cifar10", path="unused", image_size=32, channels=128, channel_mult=(2, 2, 2),
                      num_blocks=4, attn_resolutions=(16,))
    model = jax.eval_shape(lambda: task._build(jax.random.PRNGKey(0)))
    out = jax.eval_shape(lambda m, x: m(x, 1.0), model, jax.ShapeDtypeStruct((3, 32, 32), np.float32))
    assert out.shape == (3, 32, 32)
    # Attention in the 4 encoder blocks at 16x16, the first lowest-level block, the last decoder block at 16x16.
    assert [b.attn is not None for b in model.net.enc].count(True) == 4
    assert sum(b.attn is not None for b in model.net.dec) == 1
