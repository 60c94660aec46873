"""Datasets: deterministic generators (cached under data/) and loaders for published formats."""

from sciml.data import cylinder_flow as cylinder_flow
from sciml.data import gpme as gpme
from sciml.data import meshgraphnets as meshgraphnets
from sciml.data.gaussian_sets import GaussianSets as GaussianSets
from sciml.data.gaussian_sets import MixtureSets as MixtureSets
from sciml.data.gaussian_sets import gaussian_sets as gaussian_sets
from sciml.data.gaussian_sets import mixture_sets as mixture_sets
from sciml.data.letters import letters_populations as letters_populations
from sciml.data.mjp import MJPPrior as MJPPrior
from sciml.data.mjp import dfr_parameters as dfr_parameters
from sciml.data.mjp import dfr_rate_matrix as dfr_rate_matrix
from sciml.data.mjp import load_dfr_archive as load_dfr_archive
from sciml.data.mjp import make_dfr_dataset as make_dfr_dataset
from sciml.data.mjp import make_mjp_dataset as make_mjp_dataset
from sciml.data.mjp import sample_processes as sample_processes
from sciml.data.organoids import load_organoids as load_organoids
from sciml.data.particles import mpm_dataset as mpm_dataset
from sciml.data.particles import read_gns_split as read_gns_split
from sciml.data.patients import PatientCohort as PatientCohort
from sciml.data.patients import split_cohort as split_cohort
from sciml.data.patients import synthetic_patients as synthetic_patients
from sciml.data.populations import Populations as Populations
from sciml.data.populations import stack_populations as stack_populations
from sciml.data.toy2d import TOY_DISTRIBUTIONS as TOY_DISTRIBUTIONS
from sciml.data.toy2d import sample_toy as sample_toy
