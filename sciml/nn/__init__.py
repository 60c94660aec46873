"""Shared Equinox building blocks: MLPs, embeddings, attention, set pooling and graphs."""

from ._attention import MultiHeadAttention as MultiHeadAttention
from ._embeddings import FourierFeatures as FourierFeatures
from ._embeddings import sinusoidal_embedding as sinusoidal_embedding
from ._mlp import MLP as MLP
from ._mlp import activation as activation
from ._sets import AttentionPool as AttentionPool
from ._sets import mean_pool as mean_pool
from .graph import Graph as Graph
from .graph import InteractionNetwork as InteractionNetwork
from .graph import knn_graph as knn_graph
from .graph import radius_graph as radius_graph
from .graph import segment_max as segment_max
from .graph import segment_mean as segment_mean
from .graph import segment_softmax as segment_softmax
from .graph import segment_sum as segment_sum
from .linear import Linear as Linear
