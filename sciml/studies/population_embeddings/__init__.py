"""Study: GDE's distribution embeddings as Meta Flow Matching's population embedding.

Reference: Atanackovic et al. 2024, "Meta Flow Matching"; Fishman et al. 2025, "Generative Distribution
Embeddings".
"""

from sciml.studies.population_embeddings.encoders import ENCODERS as ENCODERS
from sciml.studies.population_embeddings.encoders import GDE_ENCODERS as GDE_ENCODERS
from sciml.studies.population_embeddings.encoders import NormalisedEncoder as NormalisedEncoder
from sciml.studies.population_embeddings.encoders import latent_distances as latent_distances
from sciml.studies.population_embeddings.encoders import make_gde_encoder as make_gde_encoder
from sciml.studies.population_embeddings.encoders import population_normalisation as population_normalisation
from sciml.studies.population_embeddings.evaluation import cross_w2 as cross_w2
from sciml.studies.population_embeddings.evaluation import embed_populations as embed_populations
from sciml.studies.population_embeddings.evaluation import error_geometry as error_geometry
from sciml.studies.population_embeddings.evaluation import latent_geometry as latent_geometry
from sciml.studies.population_embeddings.evaluation import pairwise_w2 as pairwise_w2
from sciml.studies.population_embeddings.evaluation import spearman as spearman
