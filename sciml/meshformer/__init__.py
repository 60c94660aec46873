"""Mesh transformer and MeshGraphNet: learned mesh-based simulators of cylinder flow.

Reference: Garnier et al. 2025, "Training Transformers for Mesh-Based Simulations"; Pfaff et al. 2021,
"Learning Mesh-Based Simulation with Graph Networks".
"""

from sciml.meshformer.adjacency import cells_to_edges as cells_to_edges
from sciml.meshformer.adjacency import check_mesh as check_mesh
from sciml.meshformer.adjacency import hop_edges as hop_edges
from sciml.meshformer.adjacency import k_hop_edges as k_hop_edges
from sciml.meshformer.adjacency import pad_edges as pad_edges
from sciml.meshformer.adjacency import ring_edges as ring_edges
from sciml.meshformer.attention import EdgeAttention as EdgeAttention
from sciml.meshformer.data import EdgeSpec as EdgeSpec
from sciml.meshformer.mgn import MeshGraphNet as MeshGraphNet
from sciml.meshformer.normalizer import Normalizer as Normalizer
from sciml.meshformer.simulator import MeshInputs as MeshInputs
from sciml.meshformer.simulator import MeshSimulator as MeshSimulator
from sciml.meshformer.simulator import edge_features as edge_features
from sciml.meshformer.simulator import node_features as node_features
from sciml.meshformer.simulator import one_step_loss as one_step_loss
from sciml.meshformer.simulator import rollout as rollout
from sciml.meshformer.task import MeshTask as MeshTask
from sciml.meshformer.transformer import GatedMLP as GatedMLP
from sciml.meshformer.transformer import MeshTransformer as MeshTransformer
from sciml.meshformer.transformer import TransformerBlock as TransformerBlock
from sciml.meshformer.transformer import global_edges as global_edges
