"""A vector field conditioned on its population: v(t, x | c), c = [population part, treatment one-hot].

The population part distinguishes the three models of the MFM comparison:

- FM: nothing (the field sees one point at a time; `embedding is None`, `num_populations == 0`);
- CGFM: a one-hot of the training population (`num_populations` > 0). At a population it never saw,
  the original conditions on the uniform average of the training one-hots, and so do we;
- MFM: phi(p0), the GCN embedding of the source population (`embedding` set). Any population
  encoder can take the GCN's place: a module mapping one population [n, d] to a vector [k] (a set
  encoder of another method, for instance); k is read from its output shape (`embedding_width`).

The treatment one-hot (organoids/patients) is appended for all three, as in the original.
Reference: Atanackovic et al. 2024, "Meta Flow Matching", Sec. 3 (Eq. 9-10, the MFM objective) and
Sec. 5 (baselines FM and CGFM).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from sciml.mfm.population_embedding import PopulationEmbedding
from sciml.mfm.vector_field import VectorField
from sciml.ode import solve, solve_on_grid

#: Default size of the probe population on which `PopulationFlow` reads an embedding's width.
PROBE_POINTS = 128


def embedding_width(embedding: eqx.Module, dim: int, points: int = PROBE_POINTS) -> int:
    """The width k of a population encoder (one population [points, dim] -> [k]), read from the shape of its
    output on a probe population by `eqx.filter_eval_shape` (nothing is computed). `points` must be a
    population size the encoder accepts (the GCN needs more than k_nn points)."""
    if points < 1:
        raise ValueError(f"the probe population needs at least 1 point, got {points}")
    out = eqx.filter_eval_shape(embedding, jax.ShapeDtypeStruct((points, dim), jnp.float32))
    if not isinstance(out, jax.ShapeDtypeStruct) or out.ndim != 1:
        shape = getattr(out, "shape", type(out).__name__)
        raise ValueError(f"a population encoder must map a population [n, d] to one vector [k], got {shape}")
    return out.shape[0]


class PopulationFlow(eqx.Module):
    """v(t, x | c) with c built by `condition`. `embedding`: any population encoder, a module mapping one
    population [n, d] to a vector [k] (default MFM: `PopulationEmbedding`, the GCN); its width k is read on a
    probe population of `probe_points` points (`embedding_width`)."""

    field: VectorField
    embedding: eqx.Module | None
    num_populations: int = eqx.field(static=True)
    num_treatments: int = eqx.field(static=True)

    def __init__(
        self,
        dim: int,
        *,
        embedding: eqx.Module | None = None,
        num_populations: int = 0,
        num_treatments: int = 0,
        width: int = 256,
        depth: int = 3,
        act: str = "selu",
        time_dim: int = 128,
        time_scale: float = 10.0,
        fourier_features: int = 0,
        fourier_scale: float = 1.0,
        residual: bool = True,
        probe_points: int = PROBE_POINTS,
        key: PRNGKeyArray,
    ):
        if embedding is not None and num_populations:
            raise ValueError("condition on a population embedding (MFM) or a population one-hot (CGFM), not both")
        if isinstance(embedding, PopulationEmbedding) and embedding.dim != dim:
            raise ValueError(f"the embedding expects {embedding.dim}-d points, the field {dim}-d")
        self.embedding = embedding
        self.num_populations, self.num_treatments = num_populations, num_treatments
        embed_dim = 0 if embedding is None else embedding_width(embedding, dim, probe_points)
        cond_dim = embed_dim + num_populations + num_treatments
        self.field = VectorField(
            dim, width=width, depth=depth, act=act, time_dim=time_dim, fourier_features=fourier_features,
            fourier_scale=fourier_scale, cond_dim=cond_dim, residual=residual, time_scale=time_scale, key=key,
        )

    @property
    def cond_dim(self) -> int:
        return self.field.cond_dim

    def condition(
        self,
        source: Float[Array, "n d"],
        population: Float[Array, " p"] | None = None,
        treatment: Int[Array, ""] | int | None = None,
    ) -> Float[Array, " c"]:
        """The condition vector c of one source population.

        `population`: CGFM's one-hot (or average of one-hots) over the training populations;
        `treatment`: the treatment index (needed when the model has treatments).
        """
        parts = []
        if self.embedding is not None:
            parts.append(self.embedding(source))
        if self.num_populations:
            if population is None or population.shape != (self.num_populations,):
                raise ValueError(f"CGFM needs a population one-hot of shape ({self.num_populations},)")
            parts.append(population.astype(source.dtype))
        if self.num_treatments:
            if treatment is None:
                raise ValueError(f"this model has {self.num_treatments} treatments: pass a treatment index")
            parts.append(jax.nn.one_hot(treatment, self.num_treatments, dtype=source.dtype))
        return jnp.concatenate(parts) if parts else jnp.zeros((0,), source.dtype)

    def __call__(self, t: Float[ArrayLike, ""], x: Float[Array, " d"], cond: Float[Array, " c"]) -> Float[Array, " d"]:
        return self.field(t, x, cond if self.cond_dim else None)

    def predict(
        self,
        source: Float[Array, "n d"],
        cond: Float[Array, " c"],
        *,
        rtol: float = 1e-4,
        atol: float = 1e-4,
        steps: int = 0,
    ) -> Float[Array, "n d"]:
        """Push every point of `source` from t = 0 to 1 along v(t, x | cond).

        The population is one ODE state [n, d] (one step-size controller for all points, which is
        much cheaper than a vmapped solve per point): adaptive Tsit5 with `rtol`/`atol` as the
        original's dopri5 (1e-4), or Heun on a uniform grid of `steps` steps if `steps > 0`.
        """
        f = lambda t, y, _: jax.vmap(lambda x: self(t, x, cond))(y)
        if steps > 0:
            return solve_on_grid(f, source, jnp.linspace(0.0, 1.0, steps + 1))
        return solve(f, source, 0.0, 1.0, rtol=rtol, atol=atol)
