"""Datasets: deterministic generators (cached under data/) and loaders for published formats."""

from . import gpme as gpme
from .gaussian_sets import GaussianSets as GaussianSets
from .gaussian_sets import MixtureSets as MixtureSets
from .gaussian_sets import gaussian_sets as gaussian_sets
from .gaussian_sets import mixture_sets as mixture_sets
from .letters import letters_populations as letters_populations
from .organoids import load_organoids as load_organoids
from .patients import PatientCohort as PatientCohort
from .patients import split_cohort as split_cohort
from .patients import synthetic_patients as synthetic_patients
from .populations import Populations as Populations
from .populations import stack_populations as stack_populations
from .toy2d import TOY_DISTRIBUTIONS as TOY_DISTRIBUTIONS
from .toy2d import sample_toy as sample_toy
