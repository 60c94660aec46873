"""Mesh transformer and MeshGraphNet: learned mesh-based simulators of cylinder flow.

Reference: Garnier et al. 2025, "Training Transformers for Mesh-Based Simulations"; Pfaff et al. 2021,
"Learning Mesh-Based Simulation with Graph Networks".
"""

from .adjacency import cells_to_edges as cells_to_edges
from .adjacency import check_mesh as check_mesh
from .adjacency import hop_edges as hop_edges
from .adjacency import k_hop_edges as k_hop_edges
from .adjacency import pad_edges as pad_edges
from .adjacency import ring_edges as ring_edges
from .attention import EdgeAttention as EdgeAttention
from .data import EdgeSpec as EdgeSpec
from .mgn import MeshGraphNet as MeshGraphNet
from .normalizer import Normalizer as Normalizer
from .simulator import MeshInputs as MeshInputs
from .simulator import MeshSimulator as MeshSimulator
from .simulator import edge_features as edge_features
from .simulator import node_features as node_features
from .simulator import one_step_loss as one_step_loss
from .simulator import rollout as rollout
from .task import MeshTask as MeshTask
from .transformer import GatedMLP as GatedMLP
from .transformer import MeshTransformer as MeshTransformer
from .transformer import TransformerBlock as TransformerBlock
from .transformer import global_edges as global_edges
