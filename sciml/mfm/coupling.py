"""Minibatch couplings of source and target samples for flow matching.

`independent` keeps the sampled pairs, `paired` keeps the pairs the data define (same thing here;
the name says the pairing is meaningful), `ot` re-pairs the minibatch by the exact optimal assignment
under squared Euclidean cost. The assignment is solved exactly on the host by POT's network simplex
(`ot.emd`; with uniform weights of equal size its optimal vertex is a permutation matrix, about 2x
faster here than SciPy's `linear_sum_assignment`, which remains the fallback). The coupling depends
on the data alone, so tasks apply it when they make the batch (it then overlaps with the previous
step on the device), and `ot_pairing` offers the same solver inside jit
through `jax.pure_callback`. At n = 256 (8 Gaussians -> moons) this takes about 5 ms against
about 55 ms for the in-jit Hungarian algorithm (`optax.assignment.hungarian_algorithm`) on 2 CPU cores.
Reference: Tong et al. 2024 (OT-CFM), Pooladian et al. 2023 (multisample flow matching).
"""

import jax
import numpy as np
import ot
import scipy.optimize
import scipy.spatial
from jaxtyping import Array, ArrayLike, Float

COUPLINGS = ("independent", "paired", "ot")


def check_coupling(name: str) -> None:
    if name not in COUPLINGS:
        raise ValueError(f"unknown coupling {name!r}; valid: {list(COUPLINGS)}")


def ot_pair(x0: Float[ArrayLike, "n d"], x1: Float[ArrayLike, "n d"]) -> Float[np.ndarray, "n d"]:
    """x1 reordered so that (x0[i], x1[i]) is the exact W2-optimal matching (host, NumPy in and out)."""
    x0, x1 = np.asarray(x0), np.asarray(x1)
    if x0.shape != x1.shape or x0.ndim != 2:
        raise ValueError(f"ot_pair needs two [n, d] samples of one shape, got {x0.shape} and {x1.shape}")
    n = len(x0)
    # SciPy's C loop: the same float64 sums as NumPy broadcasting, without its [n, n, d] temporary
    # (2 ms -> 0.1 ms at n = 256)
    cost = scipy.spatial.distance.cdist(x0.astype(np.float64), x1.astype(np.float64), "sqeuclidean")
    plan = ot.emd(np.full(n, 1.0 / n), np.full(n, 1.0 / n), cost)
    cols = plan.argmax(1)
    if not np.array_equal(np.sort(cols), np.arange(n)) or not np.allclose(plan[np.arange(n), cols], 1.0 / n):
        _, cols = scipy.optimize.linear_sum_assignment(cost)  # a degenerate simplex exit: solve it directly
    return x1[cols]


def ot_pairing(x0: Float[Array, "n d"], x1: Float[Array, "n d"]) -> Float[Array, "n d"]:
    """`ot_pair` usable inside jit (and under vmap, one problem at a time) via a host callback."""
    shape = jax.ShapeDtypeStruct(x1.shape, x1.dtype)
    return jax.pure_callback(ot_pair, shape, x0, x1, vmap_method="sequential")


def couple(name: str, x0: Float[Array, "n d"], x1: Float[Array, "n d"]) -> Float[Array, "n d"]:
    """The targets paired with `x0` under coupling `name` (inside jit; see `ot_pair` for the host)."""
    check_coupling(name)
    return ot_pairing(x0, x1) if name == "ot" else x1
