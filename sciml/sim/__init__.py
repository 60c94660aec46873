"""Simulators that make data: exact, vectorised, seeded."""

from . import lbm as lbm
from . import mpm as mpm
from .gillespie import check_rate_matrix as check_rate_matrix
from .gillespie import gillespie_jumps as gillespie_jumps
from .gillespie import observe_jumps as observe_jumps
from .gillespie import sample_paths as sample_paths
from .gillespie import simulate_many as simulate_many
