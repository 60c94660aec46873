"""Test sets, predictions, the four methods and the paper's metrics (host side, NumPy float64).

Methods applied to one trained ANP (the paper applies the hard limit post hoc to the ANP's weights):
`anp` (no change; the same name is used for a SoftC-trained model's raw prediction, labelled `softc`),
`hardc` (unweighted projection of each latent sample's mean, variance unchanged) and `probconserv`
(the conditioning update per latent sample with Sigma = diag(sigma^2), then mixture moments; the mixture
mean still satisfies G mu = b because the constraint is linear).

Metrics at one time t, averaged over test functions with standard errors sd / sqrt(n):
CE = trapz_x(mu) - U(t) (signed), MSE = mean_x (mu - u)^2, LL = mean_x log N(u | mu, sigma^2).

`evaluate_tests` runs the whole evaluation of one trained model on given test sets (tables per test
parameter, the sigma_G sweep, Stefan front positions and the CE(t) curve) and returns the metrics and a
JSON-able results dict for `sciml.probconserv.figures`.

Reference: Hansen et al., ICML 2023, Sec. 4 (metrics, Tables 1-3) and Sec. 4.3 (shock position).
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from sciml.data import gpme
from sciml.probconserv.anp import ANP, predict_samples
from sciml.probconserv.update import MIN_VARIANCE, hardc_grid, sample_conditioned, trapezoid_weights, update_grid

METHODS = ("anp", "hardc", "probconserv")


def evaluated_methods(trained: str) -> tuple[str, ...]:
    """The rows one training gives: an ANP gives ANP, HardC and ProbConserv; a SoftC-trained ANP gives SoftC."""
    return METHODS if trained == "anp" else ("softc",)


def test_set(
    equation: str,
    param: float,
    *,
    num_functions: int,
    nx: int,
    times,
    seed: int,
    n_context: tuple[int, int] = (10, 10),
) -> dict[str, np.ndarray]:
    """`num_functions` context sets of the same PDE parameter and the exact solution on a grid.

    As in the paper, the test functions share the parameter and differ in their random contexts.
    Returns xc [F, nc, 2], yc [F, nc, 1], x [nx], inputs [nt, nx, 2], u [nt, nx], mass [nt], times [nt].
    """
    rng = np.random.default_rng([seed, int(round(param * 1e6))])
    xc = np.stack([gpme.sample_points(equation, *n_context, rng, stratified_t=True) for _ in range(num_functions)])
    yc = gpme.solution(equation, xc[..., 0], xc[..., 1], param)[..., None]
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    x, inputs = gpme.eval_grid(equation, nx, times)
    return {
        "xc": xc.astype(np.float32),
        "yc": yc.astype(np.float32),
        "x": x,
        "inputs": inputs,
        "u": gpme.solution(equation, inputs[..., 0], inputs[..., 1], param),
        "mass": gpme.total_mass(equation, times, param),
        "times": times,
        "param": np.float64(param),
    }


@functools.partial(eqx.filter_jit)
def _predict_batch(model, xc, yc, xq, keys, num_samples: int):
    fn = lambda a, b, k: predict_samples(model, a, b, xq, key=k, num_samples=num_samples)  # noqa: E731
    return jax.vmap(fn)(xc, yc, keys)


def predict(
    model: ANP, data: dict[str, np.ndarray], *, key: PRNGKeyArray, num_samples: int, chunk: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Per-latent-sample means and standard deviations on the grid: two arrays [F, S, nt, nx]."""
    nt, nx, _ = data["inputs"].shape
    xq = jnp.asarray(data["inputs"].reshape(-1, 2), jnp.float32)
    F = data["xc"].shape[0]
    keys = jax.random.split(key, F)
    means, stds = [], []
    for i in range(0, F, chunk):  # bounded memory on a laptop
        m, s = _predict_batch(model, data["xc"][i : i + chunk], data["yc"][i : i + chunk], xq, keys[i : i + chunk],
                              num_samples)
        means.append(np.asarray(m, np.float64))
        stds.append(np.asarray(s, np.float64))
    shape = (F, num_samples, nt, nx)
    return np.concatenate(means).reshape(shape), np.concatenate(stds).reshape(shape)


def constrain(
    method: str, means: np.ndarray, stds: np.ndarray, x: np.ndarray, mass: np.ndarray, sigma_g: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Apply `method` to each latent sample: returns per-sample (means, variances) [..., nt, nx]."""
    var = stds**2
    if method in ("anp", "softc"):
        return means, var
    lead = means.shape[:-2]
    nt, nx = means.shape[-2:]
    flat_mass = np.broadcast_to(mass, (*lead, nt)).reshape(-1)
    if method == "hardc":
        return hardc_grid(means.reshape(-1, nx), x, flat_mass).reshape(means.shape), var
    if method == "probconserv":
        m, v = update_grid(means.reshape(-1, nx), var.reshape(-1, nx), x, flat_mass, sigma_g)
        return m.reshape(means.shape), np.maximum(v.reshape(means.shape), MIN_VARIANCE)
    raise ValueError(f"unknown method {method!r}; valid: {('anp', 'softc') + METHODS[1:]}")


def mixture(means: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Moments of the equal-weight mixture over the latent-sample axis (-3): law of total variance."""
    spread = means.var(-3, ddof=1) if means.shape[-3] > 1 else 0.0
    return means.mean(-3), var.mean(-3) + spread


def scores(mean: np.ndarray, var: np.ndarray, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-function, per-time CE, MSE and LL: arrays [F, nt]."""
    g = trapezoid_weights(data["x"])
    u = data["u"]
    ll = -0.5 * (u - mean) ** 2 / var - 0.5 * np.log(2 * np.pi * var)
    return {"ce": mean @ g - data["mass"], "mse": ((mean - u) ** 2).mean(-1), "ll": ll.mean(-1)}


def summary(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard error (sd / sqrt(n), ddof 1) over test functions (axis 0)."""
    n = values.shape[0]
    se = values.std(0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(values[0])
    return float(values.mean(0)), float(se)


def front_position(samples: np.ndarray, x: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Front estimate of each sampled profile: the first x with u <= threshold (x[-1] if none).

    Reference: original `analyze.py::estimate_shock_interval` (first grid point with u <= 0).
    """
    below = samples <= threshold
    idx = np.where(below.any(-1), below.argmax(-1), x.shape[0] - 1)
    return x[idx]


def front_samples(
    method: str,
    means: np.ndarray,
    stds: np.ndarray,
    x: np.ndarray,
    mass: float,
    *,
    seed: int,
    num_draws: int,
    threshold: float = 0.0,
) -> np.ndarray:
    """Front positions from posterior draws of one function at one time; means, stds [S, nx].

    The draws are spread evenly over the latent samples (a stratified draw from the mixture); each is a
    profile from that latent sample's Gaussian: N(mu, diag sigma^2)
    for ANP/SoftC, N(projected mu, diag sigma^2) for HardC and the exact conditioned N(mu~, Sigma~)
    (dense, rank-deficient at sigma_G = 0) for ProbConserv, drawn by Matheron's rule.
    Deviation: the original draws from one Gaussian with the latent-averaged mean and covariance.
    """
    rng = np.random.default_rng(seed)
    S = means.shape[0]
    per_sample = -(-num_draws // S)  # stratified over latent samples
    g = trapezoid_weights(x)[None, :]
    b = np.array([mass])
    if method == "probconserv":
        key = jax.random.key(int(rng.integers(2**31)))
        draws = sample_conditioned(means, stds**2, g, b, 0.0, key=key, num_samples=per_sample)
    else:
        if method == "hardc":
            means = hardc_grid(means, x, np.full(S, mass))
        draws = means[:, None, :] + stds[:, None, :] * rng.standard_normal((S, per_sample, means.shape[-1]))
    fronts = front_position(np.asarray(draws).reshape(S * per_sample, -1), x, threshold)
    return fronts[rng.permutation(S * per_sample)[:num_draws]]


def _scores_table(mean: np.ndarray, var: np.ndarray, data: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """Mean and standard error of CE, MSE and LL at the first time of `data`."""
    return {name: summary(vals[:, 0]) for name, vals in scores(mean, var, data).items()}


def fronts(
    means: np.ndarray,
    stds: np.ndarray,
    data: dict[str, np.ndarray],
    u_star: float,
    methods: tuple[str, ...],
    *,
    key: PRNGKeyArray,
    num_draws: int,
) -> dict[str, np.ndarray]:
    """Stefan front positions from posterior draws at the evaluation time, pooled over test functions,
    beside the exact front (`true`)."""
    seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
    out = {"true": gpme.stefan_front(data["times"], u_star)}
    for j, method in enumerate(methods):
        draws = [front_samples(method, means[f, :, 0], stds[f, :, 0], data["x"], float(data["mass"][0]),
                               seed=seed + 1000 * j + f, num_draws=num_draws)
                 for f in range(means.shape[0])]
        out[method] = np.concatenate(draws)
    return out


def ce_curve(
    model: ANP, data: dict[str, np.ndarray], methods: tuple[str, ...], *, key: PRNGKeyArray, num_samples: int
) -> dict[str, list[float]]:
    """Mean |CE(t)| over the context sets of `data` (a `test_set` on several times), per method."""
    means, stds = predict(model, data, key=key, num_samples=num_samples)
    curve = {"t": data["times"].tolist()}
    for method in methods:
        m, v = mixture(*constrain(method, means, stds, data["x"], data["mass"]))
        curve[method] = np.abs(scores(m, v, data)["ce"]).mean(0).tolist()
    return curve


def evaluate_tests(
    model: ANP,
    tests: list[tuple[str, float, dict[str, np.ndarray]]],
    curve_data: dict[str, np.ndarray],
    *,
    equation: str,
    trained: str,
    num_samples: int,
    sigma_g_sweep: tuple[float, ...] = (),
    front_draws: int = 0,
    key: PRNGKeyArray,
) -> tuple[dict[str, float], dict]:
    """Every metric of one trained model: per test parameter, the table of each method, the sigma_G
    sweep (ANP trainings) and the Stefan front positions; and the CE(t) curve on `curve_data`.

    `tests` holds (label, parameter, `test_set` at the evaluation time), the first one also drawn as
    the profile figure. Returns the flat metrics (`<label>/<method>/<ce|mse|ll>[_se]`, ...) and a
    JSON-able results dict (tables, sweep, fronts, curve, profile) for `sciml.probconserv.figures`.
    """
    methods = evaluated_methods(trained)
    out: dict[str, float] = {}
    results: dict = {"equation": equation, "trained": trained, "tables": {}, "sweep": {}}
    profile = None
    k_table, k_curve, k_front = jax.random.split(key, 3)
    for i, (label, value, data) in enumerate(tests):
        means, stds = predict(model, data, key=jax.random.fold_in(k_table, i), num_samples=num_samples)
        table = {}
        for method in methods:
            m, v = mixture(*constrain(method, means, stds, data["x"], data["mass"]))
            table[method] = _scores_table(m, v, data)
            for name, (mean, se) in table[method].items():
                out[f"{label}/{method}/{name}"] = mean
                out[f"{label}/{method}/{name}_se"] = se
            if i == 0:
                profile = profile or {"x": data["x"], "u": data["u"][0], "xc": data["xc"][0], "yc": data["yc"][0]}
                profile[method] = (m[0, 0], v[0, 0])
        results["tables"][label] = table
        if trained == "anp":
            for sg in sigma_g_sweep:
                m, v = mixture(*constrain("probconserv", means, stds, data["x"], data["mass"], sg))
                results["sweep"].setdefault(label, {})[f"{sg:g}"] = _scores_table(m, v, data)
                out[f"{label}/probconserv_sg{sg:g}/ce"] = results["sweep"][label][f"{sg:g}"]["ce"][0]
        if equation == "stefan":
            fr = fronts(means, stds, data, value, methods, key=jax.random.fold_in(k_front, i), num_draws=front_draws)
            results.setdefault("fronts", {})[label] = {k: v.tolist() for k, v in fr.items()}
            out[f"{label}/front_true"] = float(fr["true"][0])
            for method in methods:
                out[f"{label}/{method}/front_mean"] = float(fr[method].mean())
                out[f"{label}/{method}/front_sd"] = float(fr[method].std())
    results["curve"] = ce_curve(model, curve_data, methods, key=k_curve, num_samples=num_samples)
    results["profile"] = {k: (np.asarray(v).tolist() if not isinstance(v, tuple) else [a.tolist() for a in v])
                          for k, v in profile.items()}
    return out, results
