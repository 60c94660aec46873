"""A mesh simulator's autoregressive rollout with every step conditioned on the flux constraint.

Each step the Gaussian head gives the next velocity's mean and per-node variance (`MeshSimulator.
step_gaussian`); boundary nodes (inflow, walls) are reset to their known values with variance 0; then
the flattened velocity v [2 N] is corrected so that the section fluxes match the known inflow flux,
G v = b with b = Q_in(t) 1 (`constraint.FluxConstraint`):

- "plain": no correction (the model's mean).
- "hardc": the Euclidean projection of the mean onto {G v = b} over the predicted nodes' values (the
  known boundary values stay put): HardC, `sciml.probconserv.hardc_projection` with the known columns of
  G removed and their contribution moved into b.
- "probconserv": the ProbConserv update of N(mean, diag(var)) on G v = b + N(0, sigma_g^2 I),
  `sciml.probconserv.probconserv_update`; nodes of large predicted variance move most, known nodes
  (variance 0) do not move. sigma_g = 0 enforces the constraint exactly; sigma_g > 0 (given relative to
  Q_in, the flux scale) admits the ground truth's own imbalance.

The corrected mean is what the next step sees (the conditioned variance is reported, not propagated:
each step's variance is the network's one-step variance, a deviation from a full Bayesian filter).
Reference: Hansen et al., ICML 2023, Sec. 3 (Eqs. 6-7, the update; sigma_G -> 0 in Sec. 3.2) and Sec. 4
(HardC); Pfaff et al. 2021 (the autoregressive rollout with boundary resets).
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float

from sciml.meshformer import MeshInputs, MeshSimulator
from sciml.probconserv import hardc_projection, probconserv_update

#: The per-step corrections compared.
METHODS = ("plain", "hardc", "probconserv")


def condition_step(
    mean: Float[Array, "n 2"],
    var: Float[Array, "n 2"],
    keep: Bool[Array, " n"] | Float[Array, " n"],
    G: Float[Array, "m n2"],
    b: Float[Array, " m"],
    *,
    method: str,
    sigma_g: Float[Array, ""] | float = 0.0,
) -> tuple[Float[ArrayLike, "n 2"], Float[ArrayLike, "n 2"]]:
    """One step's correction of (mean, var) by `method`; `keep` [n] is 1 on predicted nodes, 0 on known.

    Returns the corrected mean and the variance (conditioned for "probconserv", unchanged otherwise); on
    concrete inputs the corrections compute in float64 and return NumPy arrays (`sciml.probconserv`).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "plain":
        return mean, var
    flat, kflat = mean.reshape(-1), jnp.repeat(keep, 2).astype(mean.dtype)
    if method == "hardc":
        # Project the predicted values only: known values are data, their flux moves into b.
        Gp = G * kflat[None, :]
        new = hardc_projection(flat, Gp, b - G @ (flat * (1 - kflat)))
        return new.reshape(mean.shape), var
    noise = jnp.broadcast_to(jnp.asarray(sigma_g, mean.dtype), b.shape)  # one sigma_g per row of G
    new, new_var = probconserv_update(flat, (var * keep[:, None]).reshape(-1), G, b, noise)
    return new.reshape(mean.shape), new_var.reshape(var.shape)


def conserved_rollout(
    sim: MeshSimulator,
    mesh: MeshInputs,
    initial: Float[Array, "n 2"],
    known: Float[Array, "t n 2"],
    G: Float[Array, "m n2"],
    g_in: Float[Array, " n2"],
    *,
    method: str,
    sigma_rel: float | Float[Array, ""] = 0.0,
) -> tuple[Float[Array, "t n 2"], Float[Array, "t n 2"]]:
    """Rollout of len(known) steps from `initial`, each step corrected by `method`; (frames, variances).

    `known[k]` gives the boundary values of frame k + 1 and with them the inflow flux b = g_in . v_known;
    `sigma_rel` sets the ProbConserv constraint noise sigma_g = sigma_rel * |Q_in| (0: hard limit).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if G.shape[1] != 2 * initial.shape[0] or g_in.shape != (G.shape[1],):
        raise ValueError(f"G [m, {2 * initial.shape[0]}] and g_in [{2 * initial.shape[0]}] must match the mesh, "
                         f"got {G.shape} and {g_in.shape}")
    keep = mesh.predicted()

    def advance(v, boundary):
        mean, var = sim.step_gaussian(v, mesh)
        mean = jnp.where(keep[:, None], mean, boundary)
        var = jnp.where(keep[:, None], var, 0.0)
        q_in = boundary.reshape(-1) @ g_in
        b = jnp.full(G.shape[0], q_in, mean.dtype)
        nxt, nvar = condition_step(mean, var, keep, G, b, method=method, sigma_g=sigma_rel * jnp.abs(q_in))
        return nxt, (nxt, nvar)

    _, (frames, variances) = jax.lax.scan(advance, initial, known)
    return frames, variances
