"""Dropout masks with `jax.random.bernoulli`'s exact bits, computed several times faster on CPU.

`eqx.nn.Dropout` and `jax.random.bernoulli` draw with JAX's threefry hash, which JAX lowers on CPU as
a rolled loop over the whole array: five passes that each read and write two uint32 arrays of the
mask's size. In the FIM-MJP step (4 layers x 3 dropouts over 24,000 tokens, up to 1,024 wide) that
was the largest single cost, more than the forward pass's matmuls; in the PFGM++ U-Net it was 21
small loops per step. Here the same hash (Threefry-2x32,
20 rounds, JAX's partitionable counter layout) is written out round by round, so XLA fuses it into
one elementwise kernel. The masks are bit-for-bit those of `jax.random.bernoulli` and `eqx.nn.Dropout`
for the same key (checked in tests/nn/test_nn_dropout.py); keys of another PRNG implementation, or
`jax_threefry_partitionable=False`, fall back to JAX's own sampler.

Opt-in, `with dropout_masks("hash"):` (the runner's `train.dropout_masks=hash`): masks from a keyed
integer hash of each element's index instead, two rounds of MurmurHash3's 32-bit finaliser, about
4x cheaper than Threefry's 20 rounds on CPU (benchmarks/nn.yaml). Its masks are as random for dropout's purpose (each
element kept with probability q, independently of its neighbours and of other keys; checked in
tests/nn/test_nn_dropout.py) but not the same masks, so a run's numbers change with it.
References: Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3" (Threefry-2x32);
Appleby, MurmurHash3 (`fmix32`).
"""

import contextlib
import contextvars
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)
#: How masks are drawn: "threefry" (JAX's own bits, the default) or "hash" (faster, other masks).
MASK_KINDS = ("threefry", "hash")
_mask_kind = contextvars.ContextVar("sciml_dropout_masks", default="threefry")


@contextlib.contextmanager
def dropout_masks(kind: str):
    """Within the block (while a function is traced), `bernoulli` and `dropout` draw masks of `kind`."""
    if kind not in MASK_KINDS:
        raise ValueError(f"dropout masks must be one of {MASK_KINDS}, got {kind!r}")
    token = _mask_kind.set(kind)
    try:
        yield
    finally:
        _mask_kind.reset(token)


def _rotl(x: Array, r: int) -> Array:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def threefry2x32(k0: Array, k1: Array, x0: Array, x1: Array) -> tuple[Array, Array]:
    """The Threefry-2x32 block function (20 rounds), unrolled; as JAX's `threefry2x32_p`."""
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = _rotl(x1, r) ^ x0
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x0, x1


def _raw_threefry_key(key) -> Array | None:
    """The uint32[2] data of a threefry key, or None if the key is of another implementation."""
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if jax.random.key_impl(key) != "threefry2x32":
            return None
        key = jax.random.key_data(key)
    elif jax.config.jax_default_prng_impl != "threefry2x32":
        return None
    return key if key.dtype == jnp.uint32 and key.shape == (2,) else None


def random_bits(key: PRNGKeyArray, shape: tuple[int, ...]) -> Array | None:
    """`jax.random.bits(key, shape)` (uint32) for a threefry key, or None where it cannot be matched."""
    raw = _raw_threefry_key(key)
    size = math.prod(shape)
    if raw is None or not jax.config.jax_threefry_partitionable or size >= 2**32:
        return None
    # the partitionable layout hashes the flat index i as the pair (i >> 32, i & 0xffffffff) = (0, i)
    lo = jax.lax.iota(jnp.uint32, size).reshape(shape)
    b0, b1 = threefry2x32(raw[0], raw[1], jnp.zeros_like(lo), lo)
    return b0 ^ b1


def fmix32(h: Array) -> Array:
    """MurmurHash3's 32-bit finaliser: a bijection of uint32 in which every input bit flips each output bit
    with probability about 1/2."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def hash_bits(key: PRNGKeyArray, shape: tuple[int, ...]) -> Array:
    """uint32 bits of `shape`: fmix32(fmix32(i ^ k0) ^ k1) of each element's flat index i, where (k0, k1)
    are two words drawn from `key` (any PRNG implementation). Valid below 2**32 elements."""
    size = math.prod(shape)
    if size >= 2**32:
        raise ValueError(f"hash dropout masks index elements with uint32; {size} elements is too many")
    k = jax.random.bits(key, (2,), jnp.uint32)
    index = jax.lax.iota(jnp.uint32, size).reshape(shape)
    return fmix32(fmix32(index ^ k[0]) ^ k[1])


def bernoulli(key: PRNGKeyArray, p: float | Array, shape: tuple[int, ...]) -> Array:
    """`jax.random.bernoulli(key, p, shape)`, bit for bit, drawn faster (see the module doc); inside
    `dropout_masks("hash")`, a mask of the same law from `hash_bits` instead."""
    bits = hash_bits(key, shape) if _mask_kind.get() == "hash" else random_bits(key, shape)
    if bits is None:
        return jax.random.bernoulli(key, p, shape)
    # jax.random.uniform: the top 23 bits as the mantissa of a float in [1, 2), minus 1
    uniform = jax.lax.bitcast_convert_type((bits >> np.uint32(9)) | np.uint32(0x3F800000), jnp.float32) - 1.0
    return uniform < p


def inverted_dropout(x: Array, rate: float | Array, key: PRNGKeyArray) -> Array:
    """Dropout in training: each entry kept with probability 1 - rate (a `bernoulli` mask) and scaled by
    1 / (1 - rate), as `eqx.nn.Dropout` and `torch.nn.Dropout` do."""
    keep = 1 - rate
    return jnp.where(bernoulli(key, keep, x.shape), x / keep, 0)


def dropout(layer: eqx.nn.Dropout, x: Array, *, key: PRNGKeyArray | None, inference: bool) -> Array:
    """`layer(x, key=key, inference=inference)` with the same mask, drawn faster (see the module doc)."""
    if inference or key is None or (isinstance(layer.p, (int, float)) and layer.p == 0):
        return layer(x, key=key, inference=inference)
    if not isinstance(layer.p, (int, float)) or (_mask_kind.get() == "threefry" and random_bits(key, (1,)) is None):
        return layer(x, key=key, inference=inference)
    return inverted_dropout(x, jax.lax.stop_gradient(layer.p), key)
