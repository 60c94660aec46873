"""XLA:CPU options that sciml sets by default, measured in benchmarks/ (see benchmarks/README.md).

- `--xla_cpu_experimental_ynn_fusion_type=-LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION`: jaxlib 0.10
  sends convolutions to YNNPACK, whose kernels (and weight gradients) ran the PFGM++ U-Net step about
  1.8x slower than XLA's own (Eigen) convolutions on 2 CPU cores. Matrix products keep YNNPACK.

`small_ops_options()` gives per-program options (a task's `compiler_options` hook) for steps made of
many small matrix products and narrow row reductions, such as the mesh transformer's: YNNPACK only for
stand-alone matrix products, XLA's fused code for the rest (about 1.2x faster there, but 1.1-1.2x
slower for GNS, the ANP and the U-Net, hence not a process-wide default).

The process flags are appended to `XLA_FLAGS` when `sciml` is imported, so they take effect only if no JAX backend
has started yet (import sciml before running JAX code), only for the jaxlib versions they were
measured on (an unknown flag is a hard error in XLA), and never when the user's `XLA_FLAGS` already
names the option. `SCIML_XLA_DEFAULTS=0` turns them off. The flag changes which library computes a
convolution, not the math: results agree to float32 rounding (tests/test_xla_defaults.py).
"""

import os
import sys

#: (flag name, value) pairs, and the jaxlib release series they were measured on.
DEFAULT_FLAGS = (("xla_cpu_experimental_ynn_fusion_type", "-LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION"),)
TESTED_JAXLIB = ("0.10.",)


#: YNNPACK fusion kinds kept by `small_ops_options` (an absolute set: per-program options do not
#: take the +/- edits the flag does).
SMALL_OPS_YNN_FUSIONS = ("LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT",)


def small_ops_options() -> dict[str, str]:
    """Compiler options for CPU steps of many small ops (see the module docstring); {} where they were
    not measured (another jaxlib, or a GPU/TPU backend) or `SCIML_XLA_DEFAULTS=0`."""
    import jax

    if not _enabled() or jax.default_backend() != "cpu":
        return {}
    jaxlib = _jaxlib_version()
    if jaxlib is None or not jaxlib.startswith(TESTED_JAXLIB):
        return {}
    return {"xla_cpu_experimental_ynn_fusion_type": ",".join(SMALL_OPS_YNN_FUSIONS)}


def _enabled() -> bool:
    return os.environ.get("SCIML_XLA_DEFAULTS", "1").strip().lower() not in ("0", "off", "false", "no")


def _jaxlib_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jaxlib")
    except PackageNotFoundError:
        return None


def apply_default_xla_flags() -> list[str]:
    """Append the default flags to `XLA_FLAGS` where safe; returns the flags added."""
    if not _enabled():
        return []
    if "jax" in sys.modules:
        from jax._src import xla_bridge

        if xla_bridge.backends_are_initialized():
            return []  # too late for XLA_FLAGS in this process
    jaxlib = _jaxlib_version()
    if jaxlib is None or not jaxlib.startswith(TESTED_JAXLIB):
        return []
    current = os.environ.get("XLA_FLAGS", "")
    added = [f"--{name}={value}" for name, value in DEFAULT_FLAGS if f"--{name}" not in current]
    if added:
        os.environ["XLA_FLAGS"] = " ".join([current, *added]).strip()
    return added
