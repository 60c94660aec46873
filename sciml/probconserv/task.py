"""The `probconserv` task: train an ANP (or SoftC-ANP) on a GPME family, then evaluate ANP, HardC and
ProbConserv on the paper's test parameters.

One training gives three rows of the paper's tables, because HardC and ProbConserv are applied post
hoc to the trained ANP (as the original's `physnp_limit` config does). `method: softc` trains the ANP
with the PDE-residual penalty and reports the `softc` row.

Evaluation (written to `run_dir/results.json` and as PNG figures):
- per test parameter (and Stefan's out-of-distribution u* = 0.5): CE, MSE and LL at the paper's
  evaluation time with standard errors over `num_test` context sets;
- a sigma_G sweep of ProbConserv (CE -> 0 as sigma_G -> 0);
- |CE(t)| over time for `curve_functions` functions;
- Stefan: front positions from posterior samples at t = 0.05 against the exact front 2 z1 sqrt(t).

Deviations (small-scale, all configurable): width 32 instead of 128, batches of 16 instead of 250
functions, 600-1500 steps instead of 500 epochs of 10k functions (2k training functions here), 101 grid
points and 30 latent samples instead of 201 and 100; the experiments compute SoftC's residual on 25
random targets per function instead of all 100 (`softc_points`).

Reference: Hansen et al., "Learning Physical Models that Can Respect Conservation Laws", ICML 2023.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from sciml.data import gpme
from sciml.probconserv import evaluation as ev
from sciml.probconserv import figures
from sciml.probconserv.anp import ANP, anp_elbo_loss
from sciml.probconserv.softc import softc_penalty
from sciml.runner.task import Task, register_task
from sciml.validate import check_choice, check_range, check_ranges

#: NumPy streams under `data_seed` (the training parameters) and the runner's seed (the batches).
TRAIN_PARAMS_STREAM = 7
BATCH_STREAM = 11
#: The validation functions (parameters, contexts and targets): rng [data_seed, VALID_STREAM].
VALID_STREAM = 13


@register_task("probconserv")
@dataclasses.dataclass(frozen=True)
class ProbConservTask(Task):
    equation: str = "stefan"  # heat | pme | stefan
    method: str = "anp"  # anp | softc (HardC and ProbConserv are applied to the trained ANP)
    width: int = 32  # hidden width of the ANP (the original uses 128)
    num_heads: int = 4
    dropout: float = 0.0  # of the attention weights and attention-block outputs in training (the original: 0.1)
    context_t: int = 10  # contexts: context_t stratified times x context_x sorted positions
    context_x: int = 10
    target_t: int = 10
    target_x: int = 10
    batch_size: int = 16  # functions per step (the original: 250)
    num_train_functions: int = 2000  # PDE parameters drawn once from data_seed (the original: 10k)
    data_seed: int = 0
    num_valid_functions: int = 0  # held-out functions of the val/loss (train.validate_every); 0 = none (original: 100)
    softc_weight: float = 1.0  # lambda of SoftC's residual penalty
    softc_points: int = 0  # targets per function in the residual penalty (random subset); 0 = all (original)
    # evaluation
    num_test: int = 50  # context sets per test parameter
    eval_nx: int = 101  # grid points in x (the original: 201)
    eval_samples: int = 30  # latent samples mixed by moments (the original: 100)
    include_ood: bool = True  # also evaluate the out-of-distribution parameters (Stefan u* = 0.5)
    sigma_g_sweep: tuple[float, ...] = (1e-3, 3e-2, 3e-1)  # sigma_G values (sigma_G^2 ~ 1e-6, 1e-3, 1e-1)
    curve_times: int = 11  # times of the CE(t) curve
    curve_functions: int = 10
    front_draws: int = 200  # posterior draws per test function for the Stefan front
    eval_seed: int = 2023  # the test context sets

    def __post_init__(self):
        check_choice("equation", self.equation, gpme.EQUATIONS)
        check_choice("method", self.method, ("anp", "softc"))
        check_ranges(self, **{name: {"ge": 1} for name in (
            "width", "num_heads", "context_t", "context_x", "target_t", "target_x", "batch_size",
            "num_train_functions", "num_test", "eval_samples", "curve_functions", "front_draws", "curve_times")})
        if self.width % self.num_heads:
            raise ValueError(f"width ({self.width}) must be divisible by num_heads ({self.num_heads})")
        check_ranges(self, eval_nx={"ge": 2}, softc_points={"ge": 0}, softc_weight={"ge": 0},
                     num_valid_functions={"ge": 0}, dropout={"ge": 0, "lt": 1})
        for sg in self.sigma_g_sweep:
            check_range("sigma_g_sweep", sg, gt=0)

    # ------------------------------------------------------------------------------------------ model

    @property
    def case(self) -> gpme.GPMECase:
        return gpme.get_case(self.equation)

    def init(self, *, key: PRNGKeyArray) -> ANP:
        return ANP(hidden=self.width, num_heads=self.num_heads, input_range=(self.case.t_range, self.case.x_range),
                   dropout=self.dropout, key=key)

    def train_params(self) -> np.ndarray:
        rng = np.random.default_rng([self.data_seed, TRAIN_PARAMS_STREAM])
        return gpme.sample_params(self.equation, self.num_train_functions, rng)

    def batch(self, step: int, *, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([seed, step, BATCH_STREAM])
        params = self.train_params()[rng.integers(0, self.num_train_functions, size=self.batch_size)]
        b = gpme.sample_batch(self.equation, params, rng, n_context=(self.context_t, self.context_x),
                              n_target=(self.target_t, self.target_x))
        return {"xc": b["xc"], "yc": b["yc"][..., None], "xt": b["xt"], "yt": b["yt"][..., None],
                "param": b["param"]}

    def validation_batch(self, *, seed: int) -> dict[str, np.ndarray] | None:
        """`num_valid_functions` functions drawn like the training ones, with parameters from the training
        range, a pure function of `data_seed` (the original's `valid` dataset of 100 functions)."""
        if not self.num_valid_functions:
            return None
        rng = np.random.default_rng([self.data_seed, VALID_STREAM])
        params = gpme.sample_params(self.equation, self.num_valid_functions, rng)
        b = gpme.sample_batch(self.equation, params, rng, n_context=(self.context_t, self.context_x),
                              n_target=(self.target_t, self.target_x))
        return {"xc": b["xc"], "yc": b["yc"][..., None], "xt": b["xt"], "yt": b["yt"][..., None],
                "param": b["param"]}

    def loss(self, model: ANP, batch: dict, *, key: PRNGKeyArray) -> tuple[jax.Array, dict]:
        keys = jax.random.split(key, batch["xc"].shape[0])

        def one(xc, yc, xt, yt, param, k):
            k_elbo, k_pts = jax.random.split(k)
            loss, aux, (kv, z) = anp_elbo_loss(model, xc, yc, xt, yt, key=k_elbo)
            if self.method == "softc":
                if 0 < self.softc_points < xt.shape[0]:  # cheaper unbiased estimate of the mean residual
                    xt = xt[jax.random.choice(k_pts, xt.shape[0], (self.softc_points,), replace=False)]
                pde = softc_penalty(model, kv, z, self.equation, param, xt)
                aux = {**aux, "pde": pde}
                loss = loss + self.softc_weight * pde
            return loss, aux

        losses, aux = jax.vmap(one)(batch["xc"], batch["yc"], batch["xt"], batch["yt"], batch["param"], keys)
        return losses.mean(), jax.tree_util.tree_map(jnp.mean, aux)

    # ------------------------------------------------------------------------------------- evaluation

    @property
    def methods(self) -> tuple[str, ...]:
        return ev.evaluated_methods(self.method)

    def test_parameters(self) -> list[tuple[str, float]]:
        """(label, value) of each test parameter, e.g. ("u*=0.6", 0.6); out-of-distribution ones last."""
        values = list(self.case.test_values) + (list(self.case.ood_values) if self.include_ood else [])
        return [(f"{self.case.param_name}={v:g}", float(v)) for v in values]

    def test_data(self, param: float, times=None, num_functions: int | None = None) -> dict[str, np.ndarray]:
        times = [self.case.eval_time] if times is None else times
        return ev.test_set(self.equation, param, num_functions=num_functions or self.num_test, nx=self.eval_nx,
                           times=times, seed=self.eval_seed, n_context=(self.context_t, self.context_x))

    def curve_time_grid(self) -> np.ndarray:
        t0, t1 = self.case.t_range
        return np.linspace(t0, t1, self.curve_times + 1)[1:]  # t = 0 has no error to show

    def evaluate(self, model: ANP, *, key: PRNGKeyArray, run_dir: Path) -> dict[str, float]:
        run_dir = Path(run_dir)
        params = self.test_parameters()
        tests = [(label, value, self.test_data(value)) for label, value in params]
        # |CE(t)| over time on `curve_functions` context sets of the first test parameter
        curve = self.test_data(params[0][1], times=self.curve_time_grid(), num_functions=self.curve_functions)
        out, results = ev.evaluate_tests(
            model, tests, curve, equation=self.equation, trained=self.method, num_samples=self.eval_samples,
            sigma_g_sweep=self.sigma_g_sweep, front_draws=self.front_draws, key=key,
        )
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "results.json").write_text(json.dumps(results))
        figures.profile(results, run_dir / "profile.png")
        figures.ce_curve(results, run_dir / "ce_vs_t.png")
        if "fronts" in results:
            figures.fronts(results, run_dir / "fronts.png")
        return out
