"""Generative Distribution Embeddings: set encoders + conditional generators, latent ~ W2 geometry."""

from .ddpm import DDPM as DDPM
from .ddpm import linear_betas as linear_betas
from .direct import DirectGenerator as DirectGenerator
from .encoders import ENCODERS as ENCODERS
from .encoders import AttentionEncoder as AttentionEncoder
from .encoders import DeepSetsEncoder as DeepSetsEncoder
from .encoders import KMEEncoder as KMEEncoder
from .encoders import MeanEncoder as MeanEncoder
from .encoders import MeanPooledBlock as MeanPooledBlock
from .encoders import ResNetEncoder as ResNetEncoder
from .encoders import check_set as check_set
from .encoders import make_encoder as make_encoder
from .flow import FlowMatching as FlowMatching
from .model import GDE as GDE
from .model import interpolate_latents as interpolate_latents
from .sets import encode_sets as encode_sets
from .sets import sample_sets as sample_sets
from .sets import validate_sets as validate_sets
from .task import GDETask as GDETask
from .wasserstein import bures_w2 as bures_w2
from .wasserstein import fit_gaussian as fit_gaussian
from .wasserstein import mccann_interpolant as mccann_interpolant
from .wasserstein import mixture_path_moments as mixture_path_moments
from .wasserstein import mixture_w2 as mixture_w2
from .wasserstein import pairwise_bures_w2 as pairwise_bures_w2
from .wasserstein import pairwise_mixture_w2 as pairwise_mixture_w2
