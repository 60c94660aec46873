"""An affine layer laid out for batched use: y = x W^T + b, with equinox's parameters and initialisation.

`eqx.nn.Linear` computes `W @ x`; under `jax.vmap` that yields a [out, batch] product which XLA:CPU
then transposes back, and the elementwise work that follows runs twice, once per layout (seen in the
profiles of benchmarks/mfm.yaml). `x @ W.T` gives the [batch, out] product directly. The fields,
their order, shapes and initial values are those of `eqx.nn.Linear`, so checkpoints and seeds carry
over unchanged.
"""

import equinox as eqx
from jaxtyping import Array, Float, PRNGKeyArray


class Linear(eqx.Module):
    """Drop-in for `eqx.nn.Linear` (same fields and init) computing `x @ weight.T + bias`."""

    weight: Float[Array, "o i"]
    bias: Float[Array, " o"] | None
    in_features: int | str = eqx.field(static=True)
    out_features: int | str = eqx.field(static=True)
    use_bias: bool = eqx.field(static=True)

    def __init__(self, in_features: int | str, out_features: int | str, use_bias: bool = True, *,
                 key: PRNGKeyArray):
        ref = eqx.nn.Linear(in_features, out_features, use_bias=use_bias, key=key)
        self.weight, self.bias = ref.weight, ref.bias
        self.in_features, self.out_features, self.use_bias = in_features, out_features, use_bias

    def __call__(self, x: Float[Array, "*i"], *, key=None) -> Float[Array, "*o"]:
        if self.in_features == "scalar":
            x = x[..., None]
        y = x @ self.weight.T
        if self.bias is not None:
            y = y + self.bias
        return y[..., 0] if self.out_features == "scalar" else y
