"""Building blocks of `sciml.nn` timed on their own (see run.py for the `call` protocol)."""

import jax
import jax.numpy as jnp

from sciml.nn.dropout import dropout_masks, inverted_dropout


def dropout(rows: int = 24000, cols: int = 1024, masks: str = "threefry", rate: float = 0.1):
    """Inverted dropout of a float32 [rows, cols] array with `sciml.nn.dropout`'s masks of kind `masks`
    ("threefry" or "hash"), or, with masks="none", the same scaling without a mask (the memory-bound floor).
    The default shape is one FIM feed-forward activation at the original's size (8 x 30 x 100 tokens, 1,024 wide);
    benchmarks/README.md, "Dropout masks from a hash"."""
    x = jnp.ones((rows, cols))

    def apply(key, x):
        if masks == "none":
            return x / (1 - rate)
        with dropout_masks(masks):
            return inverted_dropout(x, rate, key)

    f = jax.jit(apply)
    key = jax.random.key(0)
    return (lambda: f(key, x)), {"examples": rows * cols}
