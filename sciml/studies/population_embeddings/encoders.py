"""Population encoders for Meta Flow Matching taken from GDE: a set encoder behind a fixed normalisation.

MFM (Atanackovic et al. 2024, Sec. 3.2) conditions its vector field on phi(p0), a GCN embedding of the
source population. GDE (Fishman et al. 2025, Sec. 3) learns distributionally invariant set encoders
(mean-pooled ResNet blocks, attention pooling, or the kernel-mean-embedding baseline) jointly with a
conditional generator. `NormalisedEncoder` is such an encoder as a population encoder for
`sciml.mfm.PopulationFlow`: it maps one population [n, d] to its latent [latent] through the same fixed
affine normalisation (x - shift) / scale that `sciml.gde.GDE.encode` applies, so a GDE pretrained on the
source populations plugs in unchanged (`from_gde`).

Deviation from MFM: the GCN's embedding is L2-normalised; a GDE latent is not (it ends with SELU, or is a
mean of Fourier features for KME), as in GDE.
"""

import equinox as eqx
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from sciml.gde import GDE, make_encoder

#: GDE encoders compared in place of the GCN (`sciml.gde.ENCODERS` names).
GDE_ENCODERS = ("resnet", "attention", "kme")
#: Every population encoder of the study: MFM's GCN and the GDE encoders.
ENCODERS = ("gcn", *GDE_ENCODERS)


def population_normalisation(sources: np.ndarray) -> tuple[float, float]:
    """(shift, scale): the mean and standard deviation of every coordinate of the training source
    populations [S, n, d], pooled, the normalisation of the GDE and of the encoders trained from scratch."""
    x = np.asarray(sources, np.float64)
    if x.ndim != 3 or x.size == 0:
        raise ValueError(f"sources must be a non-empty array [S, n, d], got shape {x.shape}")
    scale = float(x.std())
    if not scale > 0:
        raise ValueError("the source populations have zero spread; they cannot be normalised")
    return float(x.mean()), scale


class NormalisedEncoder(eqx.Module):
    """phi(p) = E((p - shift) / scale) for one population p [n, d]: a GDE set encoder E as MFM's population
    embedding (what `GDE.encode` computes)."""

    encoder: eqx.Module
    shift: float = eqx.field(static=True)
    scale: float = eqx.field(static=True)

    def __check_init__(self):
        if not self.scale > 0:
            raise ValueError(f"normalisation scale must be > 0, got {self.scale}")

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def __call__(self, x: Float[Array, "n d"]) -> Float[Array, " latent"]:
        return self.encoder((x - self.shift) / self.scale)

    @classmethod
    def from_gde(cls, gde: GDE) -> "NormalisedEncoder":
        """The encoder of a trained GDE with the GDE's own normalisation: phi(p) = gde.encode(p)."""
        return cls(gde.encoder, gde.shift, gde.scale)


def make_gde_encoder(
    name: str, dim: int, latent: int, *, width: int, depth: int, fc_depth: int, num_heads: int, bandwidth: float,
    key: PRNGKeyArray,
) -> eqx.Module:
    """A fresh GDE set encoder by name (one of `GDE_ENCODERS`; `sciml.gde.make_encoder`)."""
    if name not in GDE_ENCODERS:
        raise ValueError(f"unknown GDE encoder {name!r}; valid: {list(GDE_ENCODERS)}")
    return make_encoder(name, dim, latent, width, depth, fc_depth, num_heads, bandwidth, key=key)


def latent_distances(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Euclidean distances [a, b] between two sets of latents, in float64."""
    a, b = np.asarray(z, np.float64), np.asarray(y, np.float64)
    return np.sqrt(np.maximum(((a[:, None] - b[None]) ** 2).sum(-1), 0.0))


