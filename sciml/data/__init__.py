"""Datasets: deterministic generators (cached under data/) and loaders for published formats."""

from . import gpme as gpme
from .gaussian_sets import GaussianSets as GaussianSets
from .gaussian_sets import MixtureSets as MixtureSets
from .gaussian_sets import gaussian_sets as gaussian_sets
from .gaussian_sets import mixture_sets as mixture_sets
from .toy2d import TOY_DISTRIBUTIONS as TOY_DISTRIBUTIONS
from .toy2d import sample_toy as sample_toy
