"""PFGM++ (Xu et al. 2023): generative models with an augmented dimension D between PFGM (D = 1) and
diffusion/EDM (D = inf), with EDM preconditioning, the Heun sampler and the paper's robustness knobs.

The `pfgmpp` task is registered by `sciml.pfgmpp.task` (imported by the runner's catalogue).
"""

from ._init import host_init as host_init
from ._kernel import BETA_CLIP as BETA_CLIP
from ._kernel import check_D as check_D
from ._kernel import log_radius_ratio as log_radius_ratio
from ._kernel import radius_moments as radius_moments
from ._kernel import sample_perturbation as sample_perturbation
from ._kernel import sample_prior as sample_prior
from ._loss import pfgmpp_loss as pfgmpp_loss
from ._mlp_denoiser import MLPDenoiser as MLPDenoiser
from ._oracle import posterior_log_weights as posterior_log_weights
from ._oracle import posterior_mean_denoiser as posterior_mean_denoiser
from ._precond import P_MEAN as P_MEAN
from ._precond import P_STD as P_STD
from ._precond import SIGMA_DATA as SIGMA_DATA
from ._precond import EDMPrecond as EDMPrecond
from ._precond import edm_scalings as edm_scalings
from ._precond import loss_weight as loss_weight
from ._precond import sample_sigma as sample_sigma
from ._quantize import is_quantized_weight as is_quantized_weight
from ._quantize import quantize_array as quantize_array
from ._quantize import quantize_weights as quantize_weights
from ._quantize import quantized_names as quantized_names
from ._sampler import NUM_STEPS as NUM_STEPS
from ._sampler import RHO as RHO
from ._sampler import SIGMA_MAX as SIGMA_MAX
from ._sampler import SIGMA_MIN as SIGMA_MIN
from ._sampler import edm_schedule as edm_schedule
from ._sampler import generate as generate
from ._sampler import heun_sample as heun_sample
from ._sampler import num_function_evals as num_function_evals
from ._unet import UNet as UNet
