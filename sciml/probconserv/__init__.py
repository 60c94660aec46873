"""ProbConserv: conservation-respecting probabilistic predictions (Hansen et al., ICML 2023).

An attentive neural process (ANP) predicts u(t, x) with uncertainty from a few context points; the
ProbConserv update conditions that Gaussian prediction on the integral form of the conservation law
(G u = b, one trapezoid-rule row per time). Baselines: the plain ANP, HardC (unweighted projection of
the mean) and SoftC (ANP trained with a PDE-residual penalty).
"""

from sciml.probconserv.anp import ANP as ANP
from sciml.probconserv.anp import anp_elbo_loss as anp_elbo_loss
from sciml.probconserv.anp import gaussian_kl as gaussian_kl
from sciml.probconserv.anp import mixture_moments as mixture_moments
from sciml.probconserv.anp import nll_floor as nll_floor
from sciml.probconserv.anp import predict_samples as predict_samples
from sciml.probconserv.evaluation import evaluate_tests as evaluate_tests
from sciml.probconserv.evaluation import front_position as front_position
from sciml.probconserv.evaluation import front_samples as front_samples
from sciml.probconserv.softc import pde_residual as pde_residual
from sciml.probconserv.softc import softc_penalty as softc_penalty
from sciml.probconserv.task import ProbConservTask as ProbConservTask
from sciml.probconserv.update import grid_constraint as grid_constraint
from sciml.probconserv.update import hardc_grid as hardc_grid
from sciml.probconserv.update import hardc_projection as hardc_projection
from sciml.probconserv.update import probconserv_update as probconserv_update
from sciml.probconserv.update import probconserv_update_dense as probconserv_update_dense
from sciml.probconserv.update import sample_conditioned as sample_conditioned
from sciml.probconserv.update import trapezoid_weights as trapezoid_weights
from sciml.probconserv.update import update_grid as update_grid
