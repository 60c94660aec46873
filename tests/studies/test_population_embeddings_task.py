"""End to end at tiny scale: a GDE pretrained on source populations, then MFM with its encoder frozen or
fine-tuned; the frozen encoder must stay the pretrained one, and a mismatched pretrained run is refused."""

import json

import equinox as eqx
import jax
import numpy as np
import pytest

from sciml.runner import run
from sciml.studies.population_embeddings import NormalisedEncoder
from sciml.studies.population_embeddings.task import MFMWithEncoder

DATA = dict(data="patients", num_patients=6, num_test_patients=2, num_cells=64, points=16)
ENC = dict(encoder="resnet", latent=4, enc_width=8, enc_depth=1, fc_depth=1, geometry_sources=4, geometry_points=16)
TRAIN = {"steps": 3, "log_every": 1}


def _leaves(m):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(eqx.filter(m, eqx.is_array))]


def test_pretrained_gde_encoder_frozen_stays_and_finetuned_moves(tmp_path):
    pre = run({"experiment": "e", "name": "gde", "train": TRAIN,
               "task": {"name": "study_gde_populations", **DATA, **ENC, "populations_per_batch": 2, "gen_width": 8,
                        "gen_depth": 1, "ddpm_steps": 4, "eval_populations": 2}},
              runs_dir=tmp_path, progress=False)
    assert {"geometry_spearman", "recon_w2_unseen", "recon_w2_floor"} <= set(pre.final)
    encoder = NormalisedEncoder.from_gde(pre.model)
    mfm = {"name": "study_mfm_gde_encoder", **DATA, **ENC, "coupling": "ot", "populations_per_batch": 2,
           "eval_points": 32, "width": 8, "depth": 1, "time_dim": 4, "eval_populations": 3, "eval_steps": 2,
           "pretrained": str(pre.dir)}
    runs = {mode: run({"experiment": "e", "name": mode, "train": TRAIN, "task": {**mfm, "mode": mode}},
                      runs_dir=tmp_path, progress=False) for mode in ("frozen", "finetune")}
    for a, b in zip(_leaves(runs["frozen"].model.embedding), _leaves(encoder), strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(_leaves(runs["finetune"].model.embedding), _leaves(encoder),
                                                           strict=True))
    final = runs["frozen"].final
    for k in ("test_w2", "identity_test_w2", "geometry_spearman", "unseen_w2", "error_spearman_latent"):
        assert np.isfinite(final[k]), k
    errors = np.load(runs["frozen"].dir / "unseen_errors.npz")
    assert errors["errors"].mean() == pytest.approx(final["unseen_w2"])
    assert json.loads((runs["frozen"].dir / "final.json").read_text())["test_w2"] == final["test_w2"]

    other = MFMWithEncoder(**{**{k: v for k, v in mfm.items() if k != "name"}, "mode": "frozen", "latent": 6})
    with pytest.raises(ValueError, match=r"differs from this task in \['latent'\]"):
        other.init(key=jax.random.PRNGKey(0))
