"""Mesh transformer and MeshGraphNet: learned mesh-based simulators of cylinder flow.

The data they train on (padded trajectories, mesh edge lists) is in `sciml.data.mesh_trajectories`
and `sciml.data.mesh_graph`.
Reference: Garnier et al. 2025, "Training Transformers for Mesh-Based Simulations"; Pfaff et al. 2021,
"Learning Mesh-Based Simulation with Graph Networks".
"""

from sciml.meshformer.attention import EdgeAttention as EdgeAttention
from sciml.meshformer.evaluation import evaluate_mesh_simulator as evaluate_mesh_simulator
from sciml.meshformer.evaluation import one_step_rmse as one_step_rmse
from sciml.meshformer.evaluation import rollout_ms_per_step as rollout_ms_per_step
from sciml.meshformer.evaluation import rollout_per_step_mse as rollout_per_step_mse
from sciml.meshformer.evaluation import rollout_rmse as rollout_rmse
from sciml.meshformer.figures import rollout_figure as rollout_figure
from sciml.meshformer.mgn import MeshGraphNet as MeshGraphNet
from sciml.meshformer.normaliser import Normaliser as Normaliser
from sciml.meshformer.simulator import MeshInputs as MeshInputs
from sciml.meshformer.simulator import MeshSimulator as MeshSimulator
from sciml.meshformer.simulator import edge_features as edge_features
from sciml.meshformer.simulator import mesh_inputs as mesh_inputs
from sciml.meshformer.simulator import node_features as node_features
from sciml.meshformer.simulator import one_step_loss as one_step_loss
from sciml.meshformer.simulator import one_step_nll as one_step_nll
from sciml.meshformer.simulator import rollout as rollout
from sciml.meshformer.task import MeshTask as MeshTask
from sciml.meshformer.transformer import GatedMLP as GatedMLP
from sciml.meshformer.transformer import MeshTransformer as MeshTransformer
from sciml.meshformer.transformer import TransformerBlock as TransformerBlock
from sciml.meshformer.transformer import global_edges as global_edges
