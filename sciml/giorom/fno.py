"""Fourier neural operator on a 2-D grid (the latent operator of GIOROM v1).

`SpectralConv2d` multiplies the lowest `modes` x `modes` Fourier coefficients (both signs of the first
frequency, the non-negative half of the second, as `rfft2` stores them) by learned complex matrices
and zeroes the rest; `FNO2d` lifts the channels, applies `layers` blocks v <- gelu(K v + W v) and
projects. Complex weights are stored as real and imaginary float arrays so optimisers and
checkpoints see ordinary float arrays. Channels-last: [G, G, C].
Reference: Li et al. 2021, "Fourier neural operator for parametric PDEs" (Eq. 4-5); GIOROM v1
(`giorom3d.py` @7669ec0) uses a 2-layer FNO here, v2 a GNOT transformer.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


class SpectralConv2d(eqx.Module):
    """v -> irfft2(R * rfft2(v)) with R learned on the retained modes."""

    w_re: Array  # [2, modes, modes, in, out]: index 0 for k1 >= 0, 1 for k1 < 0
    w_im: Array
    modes: int = eqx.field(static=True)

    def __init__(self, in_ch: int, out_ch: int, modes: int, *, key: PRNGKeyArray):
        k1, k2 = jax.random.split(key)
        scale = 1.0 / (in_ch * out_ch)
        shape = (2, modes, modes, in_ch, out_ch)
        self.w_re = scale * jax.random.uniform(k1, shape)
        self.w_im = scale * jax.random.uniform(k2, shape)
        self.modes = modes

    def __call__(self, v: Float[Array, "g1 g2 c"]) -> Float[Array, "g1 g2 o"]:
        g1, g2, _ = v.shape
        m = self.modes
        if 2 * m > g1 or m > g2 // 2 + 1:
            raise ValueError(f"{m} Fourier modes do not fit a {g1} x {g2} grid (need 2 * modes <= {g1})")
        vf = jnp.fft.rfft2(v, axes=(0, 1))  # [g1, g2 // 2 + 1, c]
        w = self.w_re + 1j * self.w_im
        top = jnp.einsum("xyi,xyio->xyo", vf[:m, :m], w[0])
        bottom = jnp.einsum("xyi,xyio->xyo", vf[-m:, :m], w[1])
        out = jnp.zeros((g1, g2 // 2 + 1, w.shape[-1]), vf.dtype)
        out = out.at[:m, :m].set(top).at[-m:, :m].set(bottom)
        return jnp.fft.irfft2(out, s=(g1, g2), axes=(0, 1)).astype(v.dtype)


class FNO2d(eqx.Module):
    """Lift -> `layers` x (spectral conv + pointwise linear, GELU) -> project, channels-last."""

    lift: eqx.nn.Linear
    spectral: tuple[SpectralConv2d, ...]
    pointwise: tuple[eqx.nn.Linear, ...]
    project: eqx.nn.Linear

    def __init__(self, in_ch: int, out_ch: int, width: int = 32, modes: int = 12, layers: int = 2, *,
                 key: PRNGKeyArray):
        if layers < 1 or modes < 1:
            raise ValueError(f"FNO needs layers >= 1 and modes >= 1, got {layers}, {modes}")
        keys = jax.random.split(key, 2 * layers + 2)
        self.lift = eqx.nn.Linear(in_ch, width, key=keys[0])
        self.spectral = tuple(SpectralConv2d(width, width, modes, key=k) for k in keys[1 : layers + 1])
        self.pointwise = tuple(eqx.nn.Linear(width, width, key=k) for k in keys[layers + 1 : 2 * layers + 1])
        self.project = eqx.nn.Linear(width, out_ch, key=keys[-1])

    def __call__(self, v: Float[Array, "g1 g2 c"]) -> Float[Array, "g1 g2 o"]:
        pw = lambda layer, a: jax.vmap(jax.vmap(layer))(a)  # noqa: E731
        h = pw(self.lift, v)
        for i, (k, w) in enumerate(zip(self.spectral, self.pointwise)):
            h = k(h) + pw(w, h)
            h = jax.nn.gelu(h) if i < len(self.spectral) - 1 else h
        return pw(self.project, jax.nn.gelu(h))

