"""sciml: seven scientific-ML papers as reusable JAX modules, with one experiment runner."""

from sciml.malloc import tune_malloc as _tune_malloc
from sciml.xla_defaults import apply_default_xla_flags as _apply_default_xla_flags

_apply_default_xla_flags()  # before any JAX backend starts; see sciml/xla_defaults.py
_tune_malloc()  # before XLA's threads allocate; see sciml/malloc.py

__version__ = "0.1.0"
