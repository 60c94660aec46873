"""GNS: encode-process-decode interaction network over the radius graph of all particles.

Encoder (`ParticleEncoder`) -> `message_passing` interaction networks with residual updates (unshared
weights, sum aggregation, LayerNorm) -> MLP decoder to the normalised acceleration. Written for one
example (a window [C + 1, n, 2] and types [n]); vmap outside.
Reference: Sanchez-Gonzalez et al. 2020, "Learning to simulate complex physics with graph networks",
Sec. 2 and Appendix C.1 (10 message-passing steps, latent 128, 2-hidden-layer MLPs). Our small
configuration uses fewer steps and a narrower latent (see experiments/giorom/gns.yaml).
"""

import equinox as eqx
import jax
from jaxtyping import Array, Float, Int, PRNGKeyArray

from sciml.giorom.features import ParticleEncoder, ParticleSetup
from sciml.nn import MLP, InteractionNetwork


class GNS(eqx.Module):
    """Graph network simulator; `__call__(window, ptype)` gives normalised accelerations [n, 2]."""

    setup: ParticleSetup = eqx.field(static=True)
    encoder: ParticleEncoder
    processor: tuple[InteractionNetwork, ...]
    decoder: MLP

    def __init__(self, setup: ParticleSetup, width: int = 64, message_passing: int = 6, depth: int = 2, *,
                 key: PRNGKeyArray):
        if message_passing < 1:
            raise ValueError(f"message_passing must be >= 1, got {message_passing}")
        ke, kd, *kp = jax.random.split(key, 2 + message_passing)
        self.setup = setup
        self.encoder = ParticleEncoder(setup.window, width, depth, key=ke)
        self.processor = tuple(InteractionNetwork(width, width, width, depth, key=k) for k in kp)
        self.decoder = MLP(width, 2, width, depth, act="relu", key=kd)

    def forward(self, window: Float[Array, "c1 n 2"], ptype: Int[Array, " n"]) -> tuple[Array, Array]:
        """(normalised accelerations [n, 2], number of edges in the radius graph)."""
        g, count = self.encoder.graph(window, ptype, self.setup)
        for block in self.processor:
            g = block(g)
        return jax.vmap(self.decoder)(g.nodes), count

    def __call__(self, window: Float[Array, "c1 n 2"], ptype: Int[Array, " n"]) -> Float[Array, "n 2"]:
        return self.forward(window, ptype)[0]

