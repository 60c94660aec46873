"""The `study_gde_pfgm` task: a GDE whose conditional generator is PFGM++ at augmented dimension D.

GDE's task base `GDETaskBase` (data, encoders, training loss and evaluation) with one more generator, `pfgm`
(`PFGMGenerator`: PFGM++'s kernel, EDM preconditioning and Heun sampler given the latent), and one
more evaluation: the reconstruction W2 against the number of sampler steps (`robust_steps`), from the
same trained model, latents and prior draws. `generator: ddpm | flow | direct` run the same task
with GDE's own generators (the reference rows).
Reference: Xu et al. 2023, "PFGM++", Sec. 4-5 (D as a robustness knob, Fig. 5b); Fishman et al. 2025,
"Generative Distribution Embeddings", Alg. 1, Table 2, Sec. 5.1.
"""

import dataclasses
from pathlib import Path

import equinox as eqx
import jax

from sciml import plot
from sciml.files import write_json
from sciml.gde import GENERATORS, GDETaskBase, encode_sets
from sciml.pfgmpp import NUM_STEPS, P_MEAN, P_STD, RHO, SIGMA_MAX, SIGMA_MIN, check_D
from sciml.runner.task import register_task
from sciml.studies.pfgm_generator.evaluation import nfe_key, nfe_sweep, seed_from_key
from sciml.studies.pfgm_generator.figures import nfe_figure
from sciml.studies.pfgm_generator.generator import SIGMA_DATA, pfgm_generator
from sciml.validate import check_range, check_ranges

#: The evaluation key's stream for the NFE sweep (the parent task splits its own key three ways).
NFE_STREAM = 7


@register_task("study_gde_pfgm")
@dataclasses.dataclass(frozen=True)
class PFGMGDETask(GDETaskBase):
    """GDE with the PFGM++ conditional generator (`generator: pfgm`, augmented dimension `D`, inf = EDM).

    `num_steps` Heun levels in the main evaluation (NFE = 2 num_steps - 1); `robust_steps` the levels of
    the NFE sweep (empty: none). `beta_clip` 0 = off (see `PFGMGenerator`).
    """

    generator: str = "pfgm"
    D: float = 64.0
    num_steps: int = NUM_STEPS
    sigma_min: float = SIGMA_MIN
    sigma_max: float = SIGMA_MAX
    rho: float = RHO
    sigma_data: float = SIGMA_DATA
    P_mean: float = P_MEAN
    P_std: float = P_STD
    beta_clip: float = 0.0
    robust_steps: tuple[int, ...] = (3, 5, 9, 18)

    def __post_init__(self):
        object.__setattr__(self, "D", check_D(self.D))
        super().__post_init__()
        check_ranges(self, num_steps={"ge": 1}, sigma_min={"gt": 0}, rho={"gt": 0}, sigma_data={"gt": 0},
                     P_std={"gt": 0})
        check_range("sigma_max", self.sigma_max, gt=self.sigma_min)
        if self.beta_clip != 0:  # 0 = off
            check_range("beta_clip", self.beta_clip, gt=0, lt=0.5)
        for i, n in enumerate(self.robust_steps):
            check_range(f"robust_steps[{i}]", n, ge=1)
        if self.robust_steps and self.generator != "pfgm":
            raise ValueError(f"robust_steps sweeps the PFGM sampler; set robust_steps=[] for generator "
                             f"{self.generator!r}")

    def generator_names(self) -> tuple[str, ...]:
        return (*GENERATORS, "pfgm")

    def make_generator(self, *, key) -> eqx.Module:
        if self.generator != "pfgm":
            return self.builtin_generator(key=key)
        return pfgm_generator(self.dim, self.latent, self.gen_width, self.gen_depth, D=self.D, key=key,
                              num_steps=self.num_steps, sigma_min=self.sigma_min, sigma_max=self.sigma_max,
                              rho=self.rho, sigma_data=self.sigma_data, P_mean=self.P_mean, P_std=self.P_std,
                              clip=self.beta_clip or None)

    def evaluate(self, model, *, key, run_dir: Path) -> dict[str, float]:
        """GDE's evaluation (reconstruction, Spearman, interpolation), then the NFE sweep for `pfgm`."""
        out = super().evaluate(model, key=key, run_dir=run_dir)
        if self.generator != "pfgm" or not self.robust_steps:
            return out
        params, sets = self.eval_data()
        ne = self.eval_sets
        z = encode_sets(model, sets[:ne], chunk_size=self.chunk_size)
        kgen, kref = jax.random.split(jax.random.fold_in(key, NFE_STREAM))
        sweep = nfe_sweep(model, z, sets[:ne], {k: v[:ne] for k, v in params.items()}, self.robust_steps,
                          self.eval_samples, key=kgen, ref_seed=seed_from_key(kref))
        for n, metrics in sweep.items():
            out[nfe_key(n)] = metrics["recon_w2"]
            out[nfe_key(n) + "_median"] = metrics["recon_w2_median"]
        out["recon_w2_nfe_floor"] = next(iter(sweep.values()))["recon_w2_floor"]
        if self.figures:
            run_dir = Path(run_dir)
            steps = sorted(sweep)
            nfe = [2 * n - 1 for n in steps]
            curve = {f"D = {self.D:g}": (nfe, [sweep[n]["recon_w2"] for n in steps], None)}
            plot.save(nfe_figure(curve, floor=out["recon_w2_nfe_floor"]), run_dir / "recon_w2_vs_nfe.png")
            write_json(run_dir / "nfe_sweep.json", {str(k): v for k, v in sweep.items()})
        return out
