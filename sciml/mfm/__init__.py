"""Meta Flow Matching and its flow-matching baselines.

Reference: Atanackovic et al. 2024, "Meta Flow Matching: Integrating Vector Fields on the Wasserstein
Manifold"; Lipman et al. 2023, "Flow Matching for Generative Modeling".
"""

from .coupling import couple as couple
from .coupling import ot_pair as ot_pair
from .coupling import ot_pairing as ot_pairing
from .flow_matching import flow_matching_loss as flow_matching_loss
from .flow_matching import push_forward as push_forward
from .population_embedding import GCNLayer as GCNLayer
from .population_embedding import PopulationEmbedding as PopulationEmbedding
from .population_embedding import gcn_normalization as gcn_normalization
from .population_flow import PopulationFlow as PopulationFlow
from .population_task import ConditionalGenerativeFlowMatching as ConditionalGenerativeFlowMatching
from .population_task import FlowMatchingPopulations as FlowMatchingPopulations
from .population_task import MetaFlowMatching as MetaFlowMatching
from .population_task import PopulationTask as PopulationTask
from .task import FlowMatching2D as FlowMatching2D
from .vector_field import VectorField as VectorField
