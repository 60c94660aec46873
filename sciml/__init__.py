"""sciml: seven scientific-ML papers as reusable JAX modules, with one experiment runner."""

__version__ = "0.1.0"
