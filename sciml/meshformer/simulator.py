"""The learned simulator around either network: features, normalisers, noisy one-step loss, rollout.

Inputs per node: velocity and the one-hot node type (9 classes), normalised; MeshGraphNet also gets
edge features [dx, dy, |d|] of the mesh positions (sender minus receiver), normalised. The network
predicts the normalised velocity change; training adds Gaussian noise to the input velocity of normal
nodes and keeps the target at the clean next velocity (MeshGraphNets' gamma = 1), and the loss is the
squared error summed over components, averaged over normal and outflow nodes. A rollout feeds
predictions back with `lax.scan`; nodes that are neither normal nor outflow (inflow, walls) are reset
to their known values each step.

Optional Gaussian head (`output_variance=True`, off by default): the network outputs 4 channels per
node, the normalised mean change and a variance (softplus of the last two channels, floored), trained by
the Gaussian negative log-likelihood (`one_step_nll`); `step_gaussian` gives the next velocity's mean and
variance in physical units. Used to condition each rollout step on a constraint (ProbConserv).
Reference: Pfaff et al. 2021, "Learning Mesh-Based Simulation with Graph Networks", sec. 3.2 (noise),
`cfd_model.py` / `cfd_eval.py`; Garnier et al. 2025 (graph-physics `Simulator`, same scheme).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from sciml.data.cylinder_flow import NODE_TYPE_SIZE, NORMAL, OUTFLOW
from sciml.meshformer.mgn import MeshGraphNet
from sciml.meshformer.normaliser import Normaliser
from sciml.meshformer.transformer import MeshTransformer

#: Width of the node input: velocity (2) + one-hot node type (9); the edge input [dx, dy, |d|].
NODE_FEATURES = 2 + NODE_TYPE_SIZE
EDGE_FEATURES = 3

#: Floor on the predicted normalised variance, so the Gaussian NLL stays bounded.
MIN_VARIANCE = 1e-6


class MeshInputs(eqx.Module):
    """The static part of one sample: its mesh, padded. `adjacency` holds (senders, receivers, mask)
    per edge list; entry 0 is the mesh itself (MeshGraphNet's message-passing edges)."""

    node_type: Int[Array, " n"]
    mesh_pos: Float[Array, "n 2"]
    node_mask: Bool[Array, " n"]
    adjacency: tuple[tuple[Int[Array, " _e"], Int[Array, " _e"], Bool[Array, " _e"]], ...]

    def __check_init__(self):
        n = self.node_type.shape[-1]
        if self.mesh_pos.shape[-2:] != (n, 2):
            raise ValueError(f"mesh_pos must be [{n}, 2] to match node_type, got {self.mesh_pos.shape}")
        if self.node_mask.shape[-1] != n:
            raise ValueError(f"node_mask must have {n} entries, got {self.node_mask.shape}")
        for k, (s, r, m) in enumerate(self.adjacency):
            if not s.shape == r.shape == m.shape:
                raise ValueError(f"adjacency {k}: senders {s.shape}, receivers {r.shape}, mask {m.shape} differ")

    def predicted(self) -> Bool[Array, " n"]:
        """Nodes whose velocity is learned (normal and outflow); the others are boundary conditions."""
        return ((self.node_type == NORMAL) | (self.node_type == OUTFLOW)) & self.node_mask


def mesh_inputs(arrays: dict) -> MeshInputs:
    """`MeshInputs` from the dict of host arrays a prepared split gives (`Split.mesh(m)`)."""
    return MeshInputs(
        jnp.asarray(arrays["node_type"]),
        jnp.asarray(arrays["mesh_pos"]),
        jnp.asarray(arrays["node_mask"]),
        tuple(tuple(jnp.asarray(x) for x in a) for a in arrays["adjacency"]),
    )


def edge_features(mesh_pos: Float[Array, "n 2"], senders: Int[Array, " e"], receivers: Int[Array, " e"]):
    """[dx, dy, |d|] with d = pos[sender] - pos[receiver] (MeshGraphNets' relative mesh position)."""
    rel = mesh_pos[senders] - mesh_pos[receivers]
    return jnp.concatenate([rel, jnp.linalg.norm(rel, axis=-1, keepdims=True)], -1)


def node_features(velocity: Float[Array, "n 2"], node_type: Int[Array, " n"]) -> Float[Array, "n f"]:
    """[velocity, one_hot(node_type, 9)]."""
    if velocity.shape[-1] != 2:
        raise ValueError(f"velocity must have 2 components, got shape {velocity.shape}")
    return jnp.concatenate([velocity, jax.nn.one_hot(node_type, NODE_TYPE_SIZE, dtype=velocity.dtype)], -1)


class MeshSimulator(eqx.Module):
    """A network (MeshGraphNet or MeshTransformer) with its frozen normalisers.

    `output_variance=True`: the network has 4 outputs per node (mean change, then variance), see
    `gaussian` and `step_gaussian`; the default (2 outputs, mean only) is the published simulator.
    """

    net: MeshGraphNet | MeshTransformer
    node_norm: Normaliser
    target_norm: Normaliser
    edge_norm: Normaliser | None
    output_variance: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        if self.node_norm.size != NODE_FEATURES or self.target_norm.size != 2:
            raise ValueError(f"normalisers must have {NODE_FEATURES} node and 2 target features")
        if isinstance(self.net, MeshGraphNet) and (self.edge_norm is None or self.edge_norm.size != EDGE_FEATURES):
            raise ValueError(f"MeshGraphNet needs an edge normaliser of {EDGE_FEATURES} features")

    def outputs(self, velocity: Float[Array, "n 2"], mesh: MeshInputs) -> Float[Array, "n o"]:
        """The raw network output: [n, 2] (mean only) or [n, 4] (mean, variance channels)."""
        x = self.node_norm(node_features(velocity, mesh.node_type))
        if isinstance(self.net, MeshGraphNet):
            s, r, m = mesh.adjacency[0]
            e = self.edge_norm(edge_features(mesh.mesh_pos, s, r))
            out = self.net(x, e, s, r, mesh.node_mask, m)
        else:
            out = self.net(x, mesh.adjacency, mesh.node_mask, mesh.mesh_pos)
        want = 4 if self.output_variance else 2
        if out.shape[-1] != want:
            raise ValueError(f"the network gives {out.shape[-1]} outputs per node; output_variance="
                             f"{self.output_variance} needs {want}")
        return out

    def __call__(self, velocity: Float[Array, "n 2"], mesh: MeshInputs) -> Float[Array, "n 2"]:
        """The network's predicted (mean) normalised velocity change of every node."""
        return self.outputs(velocity, mesh)[..., :2]

    def gaussian(
        self, velocity: Float[Array, "n 2"], mesh: MeshInputs
    ) -> tuple[Float[Array, "n 2"], Float[Array, "n 2"]]:
        """(mean, variance) of the normalised velocity change (needs `output_variance=True`)."""
        if not self.output_variance:
            raise ValueError("this simulator has no variance head: build it with output_variance=True")
        out = self.outputs(velocity, mesh)
        return out[..., :2], jax.nn.softplus(out[..., 2:]) + MIN_VARIANCE

    def step(self, velocity: Float[Array, "n 2"], mesh: MeshInputs) -> Float[Array, "n 2"]:
        """Next velocity v + denormalise(network output), before any boundary reset."""
        return velocity + self.target_norm.inverse(self(velocity, mesh))

    def step_gaussian(
        self, velocity: Float[Array, "n 2"], mesh: MeshInputs
    ) -> tuple[Float[Array, "n 2"], Float[Array, "n 2"]]:
        """Mean and variance of the next velocity in physical units (before any boundary reset)."""
        mean, var = self.gaussian(velocity, mesh)
        return velocity + self.target_norm.inverse(mean), var * self.target_norm.std**2


def normalisers(sim: MeshSimulator) -> tuple[Normaliser, ...]:
    """The simulator's normalisers: data statistics, frozen (for `sciml.params.trainable_mask`)."""
    return (sim.node_norm, sim.target_norm) + ((sim.edge_norm,) if sim.edge_norm is not None else ())


def one_step_loss(
    sim: MeshSimulator,
    mesh: MeshInputs,
    velocity: Float[Array, "n 2"],
    target: Float[Array, "n 2"],
    *,
    noise: float,
    key: PRNGKeyArray,
) -> Float[Array, ""]:
    """MSE of the normalised velocity change on normal + outflow nodes, inputs noised on normal nodes."""
    noisy, want = _noised_input_and_target(sim, mesh, velocity, target, noise, key)
    return _mean_over_predicted(mesh, ((sim(noisy, mesh) - want) ** 2).sum(-1))


def one_step_nll(
    sim: MeshSimulator,
    mesh: MeshInputs,
    velocity: Float[Array, "n 2"],
    target: Float[Array, "n 2"],
    *,
    noise: float,
    key: PRNGKeyArray,
) -> Float[Array, ""]:
    """Gaussian NLL of the normalised velocity change (up to the constant log 2 pi / 2 per component),
    summed over components and averaged over normal + outflow nodes; inputs noised as in `one_step_loss`.

    Reference: Nix & Weigend 1994 / Lakshminarayanan et al. 2017 (a mean-variance head trained by NLL).
    """
    noisy, want = _noised_input_and_target(sim, mesh, velocity, target, noise, key)
    mean, var = sim.gaussian(noisy, mesh)
    return _mean_over_predicted(mesh, (0.5 * (jnp.log(var) + (want - mean) ** 2 / var)).sum(-1))


def _noised_input_and_target(sim, mesh, velocity, target, noise, key):
    """Training noise on the normal nodes' input velocity, and the normalised change to predict from it."""
    normal = (mesh.node_type == NORMAL) & mesh.node_mask
    noisy = velocity + noise * jax.random.normal(key, velocity.shape) * normal[:, None]
    return noisy, sim.target_norm(target - noisy)


def _mean_over_predicted(mesh, per_node):
    """Mean of a per-node loss over the predicted (normal + outflow) nodes."""
    w = mesh.predicted().astype(per_node.dtype)
    return (per_node * w).sum() / jnp.maximum(w.sum(), 1.0)


def rollout(
    sim: MeshSimulator, mesh: MeshInputs, initial: Float[Array, "n 2"], known: Float[Array, "t n 2"]
) -> Float[Array, "t n 2"]:
    """Autoregressive rollout of len(known) steps from `initial`; returns the predicted frames 1..t.

    `known[k]` supplies the boundary values of frame k + 1 (inflow and wall nodes are reset to them).
    """
    keep = mesh.predicted()[:, None]

    def advance(v, boundary):
        nxt = jnp.where(keep, sim.step(v, mesh), boundary)
        return nxt, nxt

    _, frames = jax.lax.scan(advance, initial, known)
    return frames
