"""Datasets: deterministic generators (cached under data/) and loaders for published formats."""

from . import cylinder_flow as cylinder_flow
from . import gpme as gpme
from . import meshgraphnets as meshgraphnets
from .gaussian_sets import GaussianSets as GaussianSets
from .gaussian_sets import MixtureSets as MixtureSets
from .gaussian_sets import gaussian_sets as gaussian_sets
from .gaussian_sets import mixture_sets as mixture_sets
from .letters import letters_populations as letters_populations
from .mjp import MJPPrior as MJPPrior
from .mjp import dfr_parameters as dfr_parameters
from .mjp import dfr_rate_matrix as dfr_rate_matrix
from .mjp import load_dfr_archive as load_dfr_archive
from .mjp import make_dfr_dataset as make_dfr_dataset
from .mjp import make_mjp_dataset as make_mjp_dataset
from .mjp import sample_processes as sample_processes
from .organoids import load_organoids as load_organoids
from .particles import mpm_dataset as mpm_dataset
from .particles import read_gns_split as read_gns_split
from .patients import PatientCohort as PatientCohort
from .patients import split_cohort as split_cohort
from .patients import synthetic_patients as synthetic_patients
from .populations import Populations as Populations
from .populations import stack_populations as stack_populations
from .toy2d import TOY_DISTRIBUTIONS as TOY_DISTRIBUTIONS
from .toy2d import sample_toy as sample_toy
