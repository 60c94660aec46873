"""The `study_gde_pfgm` task: validation, the generator it builds, an end-to-end run with the NFE sweep,
and the seed summary of the study's table."""

import math

import jax
import numpy as np
import pytest

from sciml.runner import run
from sciml.runner.task import registered_tasks
from sciml.studies.pfgm_generator import PFGMGenerator, nfe_key, summarise
from sciml.studies.pfgm_generator.task import PFGMGDETask

SMALL = [
    "train.steps=4",
    "train.log_every=2",
    "train.checkpoint_every=0",
    "task.sets_per_batch=2",
    "task.set_size=8",
    "task.width=8",
    "task.latent=4",
    "task.gen_width=8",
    "task.gen_depth=1",
    "task.ddpm_steps=4",
    "task.num_steps=3",
    "task.robust_steps=[1,2]",
    "task.eval_sets=4",
    "task.eval_samples=16",
    "task.eval_sample_w2_points=8",
    "task.spearman_sets=4",
    "task.interp_pairs=1",
    "task.interp_steps=3",
]


def test_task_is_registered_and_validates():
    assert registered_tasks()["study_gde_pfgm"] is PFGMGDETask
    assert PFGMGDETask(D=math.inf).D == math.inf
    with pytest.raises(ValueError, match="D must be >= 1"):
        PFGMGDETask(D=0.5)
    with pytest.raises(ValueError, match=r"generator 'gan' is unknown; valid: \['ddpm', 'flow', 'direct', 'pfgm'\]"):
        PFGMGDETask(generator="gan")
    with pytest.raises(ValueError, match="robust_steps sweeps the PFGM sampler"):
        PFGMGDETask(generator="ddpm")
    with pytest.raises(ValueError, match="robust_steps"):
        PFGMGDETask(robust_steps=(3, 0))
    with pytest.raises(ValueError, match="beta_clip"):
        PFGMGDETask(beta_clip=0.6)
    with pytest.raises(ValueError, match="sigma_max"):
        PFGMGDETask(sigma_min=1.0, sigma_max=0.5)


def test_the_task_builds_the_generator_its_fields_describe():
    task = PFGMGDETask(dim=3, latent=4, gen_width=8, gen_depth=1, D=16.0, num_steps=7, sigma_min=0.01,
                       sigma_max=30.0, rho=5.0, sigma_data=0.8, P_mean=-1.0, P_std=1.4, beta_clip=1e-3)
    gen = task.init(key=jax.random.PRNGKey(0)).generator
    assert isinstance(gen, PFGMGenerator)
    got = {n: getattr(gen, n) for n in ("dim", "D", "num_steps", "sigma_min", "sigma_max", "rho", "sigma_data",
                                        "P_mean", "P_std", "clip")}
    assert got == dict(dim=3, D=16.0, num_steps=7, sigma_min=0.01, sigma_max=30.0, rho=5.0, sigma_data=0.8,
                       P_mean=-1.0, P_std=1.4, clip=1e-3)
    assert PFGMGDETask(beta_clip=0.0, latent=4).init(key=jax.random.PRNGKey(0)).generator.clip is None
    ddpm = PFGMGDETask(generator="ddpm", robust_steps=(), latent=4).init(key=jax.random.PRNGKey(0)).generator
    assert type(ddpm).__name__ == "DDPM"


@pytest.mark.slow
def test_pfgm_gde_runs_end_to_end_with_the_nfe_sweep(repo, tmp_path):
    cfg = repo / "experiments/studies/pfgm_generator_normal_d5.yaml"
    r = run(cfg, [*SMALL, "task.D=4", "name=pfgm"], runs_dir=tmp_path, progress=False)
    f = r.final
    for n in (1, 2):
        assert np.isfinite(f[nfe_key(n)]) and f[nfe_key(n)] > f["recon_w2_nfe_floor"]
    assert nfe_key(1) == "recon_w2_nfe1" and nfe_key(3) == "recon_w2_nfe5"
    assert np.isfinite(f["recon_w2"]) and -1 <= f["spearman"] <= 1
    assert (r.dir / "recon_w2_vs_nfe.png").exists() and (r.dir / "nfe_sweep.json").exists()
    ddpm = run(cfg, [*SMALL, "task.generator=ddpm", "task.robust_steps=[]", "name=ddpm"], runs_dir=tmp_path,
               progress=False)
    assert np.isfinite(ddpm.final["recon_w2"]) and not any(k.startswith("recon_w2_nfe") for k in ddpm.final)


def test_summarise_gives_mean_and_sample_std_over_seeds():
    rows = {"D=4": [{"w": 1.0, "s": 0.5}, {"w": 3.0, "s": 0.7}], "inf": [{"w": 2.0, "s": 0.1}]}
    out = summarise(rows, ["w", "s"])
    assert out["D=4"]["w"] == (2.0, pytest.approx(np.sqrt(2.0)), 2)
    assert out["D=4"]["s"][0] == pytest.approx(0.6)
    assert out["inf"]["w"][0] == 2.0 and math.isnan(out["inf"]["w"][1]) and out["inf"]["w"][2] == 1
    with pytest.raises(KeyError, match="lack 'w'"):
        summarise({"x": [{"w": 1.0}, {"s": 2.0}]}, ["w"])
