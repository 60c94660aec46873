"""PFGM++ (Xu et al. 2023): generative models with an augmented dimension D between PFGM (D = 1) and
diffusion/EDM (D = inf), with EDM preconditioning, the Heun sampler and the paper's robustness knobs.

The `pfgmpp` task is registered by `sciml.pfgmpp.task` (imported by the runner's catalogue); the
figures are in `sciml.pfgmpp.figures` (not imported here, so the package needs no plotting backend).
"""

from sciml.pfgmpp.evaluation import Reference as Reference
from sciml.pfgmpp.evaluation import digits_reference as digits_reference
from sciml.pfgmpp.evaluation import resampled_fd_floor as resampled_fd_floor
from sciml.pfgmpp.evaluation import robustness_sweeps as robustness_sweeps
from sciml.pfgmpp.evaluation import sample_metrics as sample_metrics
from sciml.pfgmpp.evaluation import toy_reference as toy_reference
from sciml.pfgmpp.init import host_init as host_init
from sciml.pfgmpp.kernel import BETA_CLIP as BETA_CLIP
from sciml.pfgmpp.kernel import check_D as check_D
from sciml.pfgmpp.kernel import log_radius_ratio as log_radius_ratio
from sciml.pfgmpp.kernel import radius_moments as radius_moments
from sciml.pfgmpp.kernel import sample_perturbation as sample_perturbation
from sciml.pfgmpp.kernel import sample_prior as sample_prior
from sciml.pfgmpp.loss import pfgmpp_loss as pfgmpp_loss
from sciml.pfgmpp.mlp_denoiser import MLPDenoiser as MLPDenoiser
from sciml.pfgmpp.oracle import posterior_log_weights as posterior_log_weights
from sciml.pfgmpp.oracle import posterior_mean_denoiser as posterior_mean_denoiser
from sciml.pfgmpp.precond import P_MEAN as P_MEAN
from sciml.pfgmpp.precond import P_STD as P_STD
from sciml.pfgmpp.precond import SIGMA_DATA as SIGMA_DATA
from sciml.pfgmpp.precond import EDMPrecond as EDMPrecond
from sciml.pfgmpp.precond import edm_scalings as edm_scalings
from sciml.pfgmpp.precond import loss_weight as loss_weight
from sciml.pfgmpp.precond import sample_sigma as sample_sigma
from sciml.pfgmpp.quantise import is_quantised_weight as is_quantised_weight
from sciml.pfgmpp.quantise import quantise_array as quantise_array
from sciml.pfgmpp.quantise import quantise_weights as quantise_weights
from sciml.pfgmpp.quantise import quantised_names as quantised_names
from sciml.pfgmpp.sampler import NUM_STEPS as NUM_STEPS
from sciml.pfgmpp.sampler import RHO as RHO
from sciml.pfgmpp.sampler import SIGMA_MAX as SIGMA_MAX
from sciml.pfgmpp.sampler import SIGMA_MIN as SIGMA_MIN
from sciml.pfgmpp.sampler import edm_schedule as edm_schedule
from sciml.pfgmpp.sampler import generate as generate
from sciml.pfgmpp.sampler import heun_sample as heun_sample
from sciml.pfgmpp.sampler import num_function_evals as num_function_evals
from sciml.pfgmpp.unet import UNet as UNet
