"""Host-side (NumPy) initialisation of a denoiser with Equinox's default distributions.

Why: Equinox draws each parameter with `jax.random` eagerly, and on CPU every new parameter shape
compiles its own small XLA program (about 1 s each for the U-Net's ~40 shapes); jitting the whole
constructor instead compiles one large program that is just as slow. Here the module is traced
abstractly (`eqx.filter_eval_shape`, no compilation) and its arrays are drawn with NumPy from the same
laws Equinox uses: Linear/Conv weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), norms at
weight 1 and bias 0, Fourier frequencies ~ N(0, scale²), and the U-Net's output convolution at zero.
"""

import math
from collections.abc import Callable

import equinox as eqx
import jax
import numpy as np
from jaxtyping import PRNGKeyArray

from sciml.pfgmpp.mlp_denoiser import FOURIER_SCALE
from sciml.pfgmpp.quantise import path_name


def host_init(make: Callable[[PRNGKeyArray], eqx.Module], *, key: PRNGKeyArray) -> eqx.Module:
    """`make(key)`'s structure with arrays drawn on the host, seeded by `key`."""
    skeleton = eqx.filter_eval_shape(make, jax.random.PRNGKey(0))
    flat, treedef = jax.tree_util.tree_flatten_with_path(skeleton)
    names = [path_name(p) for p, _ in flat]
    fan_in = {
        n[: -len("weight")]: math.prod(leaf.shape[1:])
        for n, (_, leaf) in zip(names, flat)
        if n.endswith("weight") and isinstance(leaf, jax.ShapeDtypeStruct) and len(leaf.shape) >= 2
    }
    seed = np.asarray(jax.random.key_data(key)).astype(np.uint64).ravel()
    rng = np.random.default_rng(seed)
    leaves = []
    for n, (_, leaf) in zip(names, flat):
        if not isinstance(leaf, jax.ShapeDtypeStruct):
            leaves.append(leaf)
            continue
        parent, attr = n.rsplit(".", 1) if "." in n else ("", n)
        owner = parent.rsplit(".", 1)[-1]
        prefix = parent + "." if parent else ""
        if "norm" in owner:
            value = np.ones(leaf.shape) if attr == "weight" else np.zeros(leaf.shape)
        elif owner == "map_noise" and attr == "B":
            value = FOURIER_SCALE * rng.standard_normal(leaf.shape)
        elif owner == "conv_out":
            value = np.zeros(leaf.shape)  # as the U-Net's own zero-initialised output layer
        elif prefix in fan_in:
            lim = 1 / math.sqrt(fan_in[prefix])
            value = rng.uniform(-lim, lim, leaf.shape)
        else:
            raise ValueError(f"host_init has no rule for parameter {n!r} of shape {leaf.shape}")
        leaves.append(jax.numpy.asarray(value, dtype=leaf.dtype))
    return jax.tree_util.tree_unflatten(treedef, leaves)
