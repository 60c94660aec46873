"""Simulators that make data: exact, vectorised, seeded."""

from sciml.sim import lbm as lbm
from sciml.sim import mpm as mpm
from sciml.sim.gillespie import check_rate_matrix as check_rate_matrix
from sciml.sim.gillespie import gillespie_jumps as gillespie_jumps
from sciml.sim.gillespie import observe_jumps as observe_jumps
from sciml.sim.gillespie import sample_paths as sample_paths
from sciml.sim.gillespie import simulate_many as simulate_many
