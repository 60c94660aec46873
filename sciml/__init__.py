"""sciml: seven scientific-ML papers as reusable JAX modules, with one experiment runner."""

from sciml.xla_defaults import apply_default_xla_flags as _apply_default_xla_flags

_apply_default_xla_flags()  # before any JAX backend starts; see sciml/xla_defaults.py

__version__ = "0.1.0"
