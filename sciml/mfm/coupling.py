"""Minibatch couplings of source and target samples for flow matching.

`independent` keeps the sampled pairs, `paired` keeps the pairs the data define (same thing here;
the name says the pairing is meaningful), `ot` re-pairs the minibatch by the exact optimal assignment
under squared Euclidean cost (Hungarian algorithm, inside jit).
Reference: Tong et al. 2024 (OT-CFM), Pooladian et al. 2023 (multisample flow matching).
"""

import jax.numpy as jnp
import optax
from jaxtyping import Array, Float

COUPLINGS = ("independent", "paired", "ot")


def check_coupling(name: str) -> None:
    if name not in COUPLINGS:
        raise ValueError(f"unknown coupling {name!r}; valid: {list(COUPLINGS)}")


def ot_pairing(x0: Float[Array, "n d"], x1: Float[Array, "n d"]) -> Float[Array, "n d"]:
    """x1 reordered so that (x0[i], x1[i]) is the exact W2-optimal matching of the two samples."""
    cost = ((x0[:, None, :] - x1[None, :, :]) ** 2).sum(-1)
    rows, cols = optax.assignment.hungarian_algorithm(cost)
    return x1[cols[jnp.argsort(rows)]]


def couple(name: str, x0: Float[Array, "n d"], x1: Float[Array, "n d"]) -> Float[Array, "n d"]:
    """The targets paired with `x0` under coupling `name`."""
    check_coupling(name)
    return ot_pairing(x0, x1) if name == "ot" else x1
