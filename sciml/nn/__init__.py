"""Shared Equinox building blocks: MLPs, embeddings, attention, set pooling and graphs."""

from sciml.nn.attention import MultiHeadAttention as MultiHeadAttention
from sciml.nn.embeddings import FourierFeatures as FourierFeatures
from sciml.nn.embeddings import sinusoidal_embedding as sinusoidal_embedding
from sciml.nn.graph import Graph as Graph
from sciml.nn.graph import InteractionNetwork as InteractionNetwork
from sciml.nn.graph import knn_graph as knn_graph
from sciml.nn.graph import radius_graph as radius_graph
from sciml.nn.graph import segment_max as segment_max
from sciml.nn.graph import segment_mean as segment_mean
from sciml.nn.graph import segment_softmax as segment_softmax
from sciml.nn.graph import segment_sum as segment_sum
from sciml.nn.linear import Linear as Linear
from sciml.nn.mlp import MLP as MLP
from sciml.nn.mlp import activation as activation
from sciml.nn.residual import materialise_gradient as materialise_gradient
from sciml.nn.sets import AttentionPool as AttentionPool
from sciml.nn.sets import mean_pool as mean_pool
