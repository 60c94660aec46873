"""ProbConserv: conservation-respecting probabilistic predictions (Hansen et al., ICML 2023).

An attentive neural process (ANP) predicts u(t, x) with uncertainty from a few context points; the
ProbConserv update conditions that Gaussian prediction on the integral form of the conservation law
(G u = b, one trapezoid-rule row per time). Baselines: the plain ANP, HardC (unweighted projection of
the mean) and SoftC (ANP trained with a PDE-residual penalty).
"""

from .anp import ANP as ANP
from .anp import anp_elbo_loss as anp_elbo_loss
from .anp import gaussian_kl as gaussian_kl
from .anp import mixture_moments as mixture_moments
from .anp import predict_samples as predict_samples
from .evaluation import front_position as front_position
from .evaluation import front_samples as front_samples
from .softc import pde_residual as pde_residual
from .softc import softc_penalty as softc_penalty
from .task import ProbConservTask as ProbConservTask
from .update import grid_constraint as grid_constraint
from .update import hardc_grid as hardc_grid
from .update import hardc_projection as hardc_projection
from .update import probconserv_update as probconserv_update
from .update import probconserv_update_dense as probconserv_update_dense
from .update import sample_conditioned as sample_conditioned
from .update import trapezoid_weights as trapezoid_weights
from .update import update_grid as update_grid
