"""Multi-layer perceptron with activation chosen by name."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from sciml.nn.linear import Linear

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "selu": jax.nn.selu,
    "elu": jax.nn.elu,
    "tanh": jnp.tanh,
    "softplus": jax.nn.softplus,
    "sigmoid": jax.nn.sigmoid,
    "identity": lambda x: x,
}


def activation(name: str) -> Callable[[Array], Array]:
    """Look up an activation function by name; unknown names list the valid ones."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; valid: {sorted(ACTIVATIONS)}") from None


class MLP(eqx.Module):
    """`depth` hidden layers of width `width`, activation by name, optional residual connections.

    Residual connections are added between hidden layers of equal width (as in MFM's SkipMLP).
    Written for one example: `jax.vmap` it over a batch.
    """

    layers: tuple[Linear, ...]
    act: str = eqx.field(static=True)
    final_act: str = eqx.field(static=True)
    residual: bool = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int,
        width: int,
        depth: int,
        *,
        act: str = "silu",
        final_act: str = "identity",
        residual: bool = False,
        key: PRNGKeyArray,
    ):
        if depth < 0:
            raise ValueError(f"MLP depth must be >= 0, got {depth}")
        activation(act), activation(final_act)  # validate names early
        sizes = [in_size] + [width] * depth + [out_size]
        keys = jax.random.split(key, len(sizes) - 1)
        self.layers = tuple(Linear(a, b, key=k) for a, b, k in zip(sizes[:-1], sizes[1:], keys))
        self.act, self.final_act, self.residual = act, final_act, residual

    def __call__(self, x: Float[Array, " i"]) -> Float[Array, " o"]:
        return self.after_first_layer(self.layers[0](x))

    def after_first_layer(self, h: Float[Array, " w"]) -> Float[Array, " o"]:
        """The output given the first layer's output h = layers[0](x), so callers may compute that
        affine map another way (e.g. block by block over a concatenated input)."""
        if len(self.layers) == 1:
            return activation(self.final_act)(h)
        f = activation(self.act)
        x = f(h)
        for layer in self.layers[1:-1]:
            h = f(layer(x))
            x = x + h if self.residual else h
        return activation(self.final_act)(self.layers[-1](x))
