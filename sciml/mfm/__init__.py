"""Meta Flow Matching and its flow-matching baselines.

Reference: Atanackovic et al. 2024, "Meta Flow Matching: Integrating Vector Fields on the Wasserstein
Manifold"; Lipman et al. 2023, "Flow Matching for Generative Modeling".
"""

from sciml.mfm.coupling import couple as couple
from sciml.mfm.coupling import ot_pair as ot_pair
from sciml.mfm.coupling import ot_pairing as ot_pairing
from sciml.mfm.evaluation import population_metrics as population_metrics
from sciml.mfm.evaluation import population_problems as population_problems
from sciml.mfm.evaluation import population_scores as population_scores
from sciml.mfm.evaluation import predict_populations as predict_populations
from sciml.mfm.evaluation import toy_metrics as toy_metrics
from sciml.mfm.flow_matching import flow_matching_loss as flow_matching_loss
from sciml.mfm.flow_matching import push_forward as push_forward
from sciml.mfm.population_embedding import GCNLayer as GCNLayer
from sciml.mfm.population_embedding import PopulationEmbedding as PopulationEmbedding
from sciml.mfm.population_embedding import gcn_normalisation as gcn_normalisation
from sciml.mfm.population_flow import PopulationFlow as PopulationFlow
from sciml.mfm.population_flow import embedding_width as embedding_width
from sciml.mfm.task import ConditionalGenerativeFlowMatching as ConditionalGenerativeFlowMatching
from sciml.mfm.task import FlowMatching2D as FlowMatching2D
from sciml.mfm.task import FlowMatchingPopulations as FlowMatchingPopulations
from sciml.mfm.task import MetaFlowMatching as MetaFlowMatching
from sciml.mfm.task import PopulationTask as PopulationTask
from sciml.mfm.vector_field import VectorField as VectorField
