"""PFGM++ benchmark functions (see run.py for the `call` protocol): one U-Net convolution on its own."""

import jax
import jax.numpy as jnp

from sciml.pfgmpp.unet import Conv2d


def conv3x3(height: int = 16, channels: int = 64, batch: int = 64):
    """Forward and backward (input and weight gradients) of one 3x3 `Conv2d` of the U-Net, `channels` in
    and out, on a batch of (height, height, channels) maps, vmapped over the batch as the U-Net calls it.
    The loss is sum(sin(y)), so the backward pass starts from a dense cotangent. It times XLA:CPU's
    convolutions apart from the rest of the U-Net step (benchmarks/README.md, "What keeps the U-Net below parity")."""
    kc, kx = jax.random.split(jax.random.key(0))
    conv = Conv2d(channels, channels, 3, key=kc)
    x = jax.random.normal(kx, (batch, height, height, channels))

    def loss(conv, x):
        return jnp.sum(jnp.sin(jax.vmap(conv)(x)))

    grads = jax.jit(jax.grad(loss, argnums=(0, 1)))
    flops = 3 * 2 * 9 * channels * channels * height * height * batch  # forward, input and weight gradients
    return (lambda: grads(conv, x)), {"examples": batch, "flops_per_step": float(flops)}
