"""Generative Distribution Embeddings: set encoders + conditional generators, latent ~ W2 geometry."""

from sciml.gde.ddpm import DDPM as DDPM
from sciml.gde.ddpm import linear_betas as linear_betas
from sciml.gde.direct import DirectGenerator as DirectGenerator
from sciml.gde.encoders import ENCODERS as ENCODERS
from sciml.gde.encoders import AttentionEncoder as AttentionEncoder
from sciml.gde.encoders import DeepSetsEncoder as DeepSetsEncoder
from sciml.gde.encoders import KMEEncoder as KMEEncoder
from sciml.gde.encoders import MeanEncoder as MeanEncoder
from sciml.gde.encoders import MeanPooledBlock as MeanPooledBlock
from sciml.gde.encoders import ResNetEncoder as ResNetEncoder
from sciml.gde.encoders import check_set as check_set
from sciml.gde.encoders import make_encoder as make_encoder
from sciml.gde.flow import FlowMatching as FlowMatching
from sciml.gde.model import GDE as GDE
from sciml.gde.model import interpolate_latents as interpolate_latents
from sciml.gde.sets import encode_sets as encode_sets
from sciml.gde.sets import sample_sets as sample_sets
from sciml.gde.sets import validate_sets as validate_sets
from sciml.gde.task import GDETask as GDETask
from sciml.gde.wasserstein import bures_w2 as bures_w2
from sciml.gde.wasserstein import fit_gaussian as fit_gaussian
from sciml.gde.wasserstein import mccann_interpolant as mccann_interpolant
from sciml.gde.wasserstein import mixture_path_moments as mixture_path_moments
from sciml.gde.wasserstein import mixture_w2 as mixture_w2
from sciml.gde.wasserstein import pairwise_bures_w2 as pairwise_bures_w2
from sciml.gde.wasserstein import pairwise_mixture_w2 as pairwise_mixture_w2
