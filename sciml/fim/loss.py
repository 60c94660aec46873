"""The FIM-MJP training loss: Gaussian NLL on existing edges, a penalty on absent ones, initial-state CE."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml.fim.markov import offdiagonal
from sciml.fim.model import FIMOutput

#: Weight of the missing-link penalty (1 in the original's transformer configuration, 50 for its RNN).
MISSING_LINK_WEIGHT = 1.0


def fim_loss(
    out: FIMOutput,
    Q: Float[Array, "B n n"],
    adjacency: Float[Array, "B n n"],
    p0: Float[Array, "B n"],
    t_norm: Float[Array, " B"],
    *,
    missing_link_weight: float = MISSING_LINK_WEIGHT,
) -> tuple[Float[Array, ""], dict[str, Array]]:
    """Loss of a batch of model outputs (leaves with a leading batch axis) against the true processes.

    In data units (rates f = exp(log_mean) / T_norm, std s = exp(log_std) / T_norm):
    L = sum_a GaussNLL(f; F, s^2) / sum a  +  CE(init_logits, argmax p0)
        + beta * T_norm * sum_(1-a) (f^2 + s^2) / sum (1-a),
    sums over the batch's off-diagonal entries (a = adjacency). The CE target is argmax p0, as in the
    original (not the full distribution). Returns (loss, aux) with the three terms and the rate RMSE.
    Reference: `FIMMJP.loss` in FIM4Science/OpenFIM (docs/references.md FIM.1, "Loss").
    """
    tn = t_norm[:, None]
    mean = jnp.exp(out.log_mean) / tn
    # torch's GaussianNLLLoss (used by the original) clamps the variance at 1e-6
    var = jnp.maximum(jnp.exp(2.0 * out.log_std) / tn**2, 1e-6)
    target = offdiagonal(Q)
    a = offdiagonal(adjacency)
    nll = 0.5 * (jnp.log(2.0 * jnp.pi) + jnp.log(var) + (mean - target) ** 2 / var)
    loss_gauss = jnp.sum(a * nll) / (a.sum() + 1e-8)
    missing = 1.0 - a
    loss_missing = jnp.sum(tn * missing * (mean**2 + var)) / (missing.sum() + 1e-8)
    logp = jax.nn.log_softmax(out.init_logits, axis=-1)
    target_state = jnp.argmax(p0, axis=-1)
    loss_init = -jnp.mean(jnp.take_along_axis(logp, target_state[:, None], axis=-1))
    loss = loss_gauss + loss_init + missing_link_weight * loss_missing
    rmse = jnp.sqrt(jnp.mean((mean - target) ** 2))
    return loss, {"loss_gauss": loss_gauss, "loss_init": loss_init, "loss_missing": loss_missing, "rmse": rmse}
