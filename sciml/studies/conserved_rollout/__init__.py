"""Study: conservation inside learned simulators (ProbConserv's update at every step of a mesh rollout).

A MeshGraphNet or mesh transformer with a Gaussian head (`sciml.meshformer`) is rolled out on the LBM
cylinder flow with each step conditioned on the volume-flux balance through cross-sections of the channel
(`constraint.py`), by HardC or by the ProbConserv update (`sciml.probconserv`), and compared with the
plain rollout on error, constraint drift and cost.
Reference: Hansen et al., ICML 2023, "Learning Physical Models that Can Respect Conservation Laws";
Pfaff et al. 2021; Garnier et al. 2025.
"""

from sciml.studies.conserved_rollout.constraint import FluxConstraint as FluxConstraint
from sciml.studies.conserved_rollout.constraint import flux_constraint as flux_constraint
from sciml.studies.conserved_rollout.constraint import relative_imbalance as relative_imbalance
from sciml.studies.conserved_rollout.constraint import section_weights as section_weights
from sciml.studies.conserved_rollout.evaluation import drift as drift
from sciml.studies.conserved_rollout.evaluation import evaluate_constrained as evaluate_constrained
from sciml.studies.conserved_rollout.rollout import METHODS as METHODS
from sciml.studies.conserved_rollout.rollout import condition_step as condition_step
from sciml.studies.conserved_rollout.rollout import conserved_rollout as conserved_rollout
