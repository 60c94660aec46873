"""Metrics of constrained rollouts: rollout RMSE and constraint drift at 10, 50 and all steps, ms per step.

- Rollout RMSE: MeshGraphNets' cumulative definition (`sciml.meshformer.rollout_rmse`), boundary nodes
  included, over the held-out trajectories.
- Constraint drift at horizon h: the mean over the first h steps and the trajectories of the root mean
  square over sections of (G v - b) / Q_in, the flux mismatch relative to the inflow flux; the ground
  truth's own value is reported beside it (the tolerance to which the LBM data satisfy the constraint).
- Cost: milliseconds per step of one compiled rollout (`sciml.timing.median_seconds`).
Reference: Pfaff et al. 2021 (`cfd_eval.py`, rollout RMSE); Hansen et al., ICML 2023, Sec. 4 (conservation
error of each method).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from sciml.data.cylinder_flow import NORMAL, OUTFLOW
from sciml.data.mesh_trajectories import Split
from sciml.meshformer import MeshSimulator, mesh_inputs, rollout_per_step_mse, rollout_rmse
from sciml.studies.conserved_rollout.constraint import FluxConstraint, flux_constraint
from sciml.studies.conserved_rollout.rollout import METHODS, conserved_rollout
from sciml.timing import median_seconds

#: Horizons reported (steps); "all" is the whole rollout.
HORIZONS = (10, 50)

#: Timed rollouts per method (after one untimed call that compiles).
TIMING_REPEATS = 2


@eqx.filter_jit
def _rollout(sim, mesh, initial, known, G, g_in, sigma_rel, method):
    return conserved_rollout(sim, mesh_inputs(mesh), initial, known, G, g_in, method=method, sigma_rel=sigma_rel)


def split_constraints(split: Split, num_sections: int) -> list[FluxConstraint]:
    """The flux constraint of each trajectory's mesh, padded to the split's node count."""
    n_pad = split.velocity.shape[2]
    return [flux_constraint(split.mesh_pos[m, : int(split.node_mask[m].sum())], split.cells[m], num_sections,
                            num_nodes=n_pad) for m in range(split.num_trajectories)]


def drift(constraint: FluxConstraint, frames: np.ndarray) -> np.ndarray:
    """Per-step RMS over sections of the relative flux mismatch (G v - b) / Q_in: [T]."""
    v = np.asarray(frames, np.float64)
    b = constraint.rhs(v)
    rel = (v.reshape(len(v), -1) @ constraint.G.T - b) / np.abs(b)
    return np.sqrt((rel**2).mean(-1))


def truth_imbalance(split: Split, constraints: list[FluxConstraint]) -> float:
    """RMS over trajectories, frames and sections of the ground truth's relative flux mismatch."""
    return float(np.sqrt(np.mean([drift(c, split.velocity[m]) ** 2 for m, c in enumerate(constraints)])))


def run_rollouts(
    sim: MeshSimulator, test: Split, constraints: list[FluxConstraint], idx: np.ndarray, method: str,
    sigma_rel: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Rollouts [M, T - 1, N, 2] and their predicted variances of trajectories `idx` with `method`."""
    frames, variances = [], []
    for m in idx:
        gt = jnp.asarray(test.velocity[m])
        c = constraints[m]
        f, v = _rollout(sim, jax.tree_util.tree_map(jnp.asarray, test.mesh(int(m))), gt[0], gt[1:],
                        jnp.asarray(c.G, gt.dtype), jnp.asarray(c.g_in, gt.dtype), jnp.asarray(sigma_rel, gt.dtype),
                        method)
        frames.append(np.asarray(f))
        variances.append(np.asarray(v))
    return np.stack(frames), np.stack(variances)


def ms_per_step(sim: MeshSimulator, test: Split, constraint: FluxConstraint, method: str, sigma_rel: float = 0.0,
                m: int = 0, repeats: int = TIMING_REPEATS) -> float:
    """Milliseconds per step of trajectory `m`'s compiled rollout with `method`."""
    gt = jnp.asarray(test.velocity[m])
    args = (sim, jax.tree_util.tree_map(jnp.asarray, test.mesh(int(m))), gt[0], gt[1:],
            jnp.asarray(constraint.G, gt.dtype), jnp.asarray(constraint.g_in, gt.dtype),
            jnp.asarray(sigma_rel, gt.dtype), method)
    return 1e3 * median_seconds(lambda: _rollout(*args), repeats=repeats) / (test.frames - 1)


def horizon_metrics(per_step: np.ndarray, drifts: np.ndarray, prefix: str) -> dict[str, float]:
    """RMSE and mean drift at each horizon and over the whole rollout; `drifts` [M, T - 1]."""
    out = {f"{prefix}/rollout_rmse_all": rollout_rmse(per_step), f"{prefix}/drift_all": float(drifts.mean())}
    for h in HORIZONS:
        if h <= len(per_step):
            out[f"{prefix}/rollout_rmse_{h}"] = rollout_rmse(per_step, h)
            out[f"{prefix}/drift_{h}"] = float(drifts[:, :h].mean())
    return out


def evaluate_constrained(
    sim: MeshSimulator, test: Split, constraints: list[FluxConstraint], *, sigma_rel: float,
    trajectories: int = 0, timing_repeats: int = TIMING_REPEATS,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Every method's metrics on the first `trajectories` test trajectories (0: all), plus the ground
    truth's drift; returns (metrics, {method: rollouts of the first trajectory [T - 1, N, 2]}).

    Methods: plain, hardc, probconserv (sigma_g = 0) and probconserv_sigma (sigma_g = sigma_rel * Q_in).
    """
    count = test.num_trajectories if trajectories <= 0 else min(trajectories, test.num_trajectories)
    idx = np.arange(count)
    truth = test.velocity[idx, 1:]
    truth_drift = np.stack([drift(constraints[m], truth[j]) for j, m in enumerate(idx)])
    out = horizon_metrics(np.zeros(truth.shape[1]), truth_drift, "truth")
    out = {k: v for k, v in out.items() if "drift" in k}
    out["sigma_rel"] = float(sigma_rel)
    firsts = {}
    variants = [(m, m, 0.0) for m in METHODS] + [("probconserv_sigma", "probconserv", sigma_rel)]
    for name, method, srel in variants:
        preds, variances = run_rollouts(sim, test, constraints, idx, method, srel)
        per_step = rollout_per_step_mse(preds, truth, test.node_mask[idx])
        drifts = np.stack([drift(constraints[m], preds[j]) for j, m in enumerate(idx)])
        out.update(horizon_metrics(per_step, drifts, name))
        pred_nodes = (test.node_mask[idx] & np.isin(test.node_type[idx], (NORMAL, OUTFLOW)))[:, None, :, None]
        out[f"{name}/mean_sd"] = float(np.sqrt((variances * pred_nodes).sum() / (pred_nodes.sum() * 2
                                                                                  * variances.shape[1])))
        out[f"{name}/ms_per_step"] = ms_per_step(sim, test, constraints[int(idx[0])], method, srel, int(idx[0]),
                                                 timing_repeats)
        firsts[name] = preds[0]
    return out, firsts


#: The rollout variants of `evaluate_constrained`, in table order, and the metrics of the study's table.
VARIANTS = (*METHODS, "probconserv_sigma")
TABLE_METRICS = ("rollout_rmse_10", "rollout_rmse_50", "rollout_rmse_all", "drift_10", "drift_50", "drift_all",
                 "ms_per_step")


def summarise(finals: list[dict]) -> dict[str, tuple[float, float, int]]:
    """(mean, sd over seeds with ddof 1 (0 for one seed), number of seeds) of every numeric metric."""
    if not finals:
        raise ValueError("no runs to summarise")
    keys = [k for k in finals[0] if isinstance(finals[0][k], int | float) and all(k in f for f in finals)]
    out = {}
    for k in keys:
        x = np.array([float(f[k]) for f in finals])
        out[k] = (float(x.mean()), float(x.std(ddof=1)) if len(x) > 1 else 0.0, len(x))
    return out


def markdown_table(summaries: dict[str, dict[str, tuple[float, float, int]]]) -> str:
    """One row per (model, variant) with mean ± sd over seeds of `TABLE_METRICS`; `summaries` maps a
    model name to its `summarise` output."""
    head = "| model | rollout | seeds | " + " | ".join(TABLE_METRICS) + " |"
    lines = [head, "|" + "---|" * (3 + len(TABLE_METRICS))]
    for model, s in summaries.items():
        for variant in ("truth", *VARIANTS):
            cells = []
            for metric in TABLE_METRICS:
                key = f"{variant}/{metric}"
                if key not in s:
                    cells.append("")
                    continue
                mean, sd, _ = s[key]
                fmt = ".1f" if metric == "ms_per_step" else ".2e" if metric.startswith("drift") else ".3f"
                cells.append(f"{mean:{fmt}} ± {sd:{fmt}}")
            n = s.get(f"{VARIANTS[0]}/rollout_rmse_all", (0, 0, 0))[2]
            label = "LBM ground truth" if variant == "truth" else variant
            lines.append(f"| {model} | {label} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
