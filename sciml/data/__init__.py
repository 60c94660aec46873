"""Datasets: deterministic generators (cached under data/) and loaders for published formats."""

from .toy2d import TOY_DISTRIBUTIONS as TOY_DISTRIBUTIONS
from .toy2d import sample_toy as sample_toy
