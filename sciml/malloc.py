"""glibc malloc settings that keep XLA:CPU's large step buffers mapped between training steps.

XLA:CPU allocates each step's activations and gradients afresh. glibc serves every block above its
mmap threshold (at most 32 MiB) with a new `mmap` and unmaps it on free, and it trims the heap's free
top back to the kernel, so every step faults the same pages in again (a page fault per 4 KiB, zeroed
by the kernel). On 2 CPU cores this cost 20-40% of the step of the graph and attention models
(benchmarks/README.md, "Allocator"). Serving large blocks from the heap and never trimming it makes a
step reuse the pages the previous step freed.

The cost: memory that a step freed stays with the process (its peak resident size is kept), which
is what a training loop wants and a long-lived process with one large burst may not. Only the
allocator changes, never what is computed. It applies to glibc on Linux only, is set when `sciml` is
imported (`mallopt` applies to allocations made afterwards), and `SCIML_MALLOC_TUNING=0` turns it off.
"""

import ctypes
import ctypes.util
import os
import sys

# mallopt parameter numbers from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
#: mallopt(3): "Setting M_TRIM_THRESHOLD to -1 disables trimming completely." A finite int would not do:
#: XLA's temporary buffer of one step can exceed 2 GiB (the GNS step's is 2.15 GB).
_NEVER_TRIM = -1
#: Whether `tune_malloc` applied the settings in this process (`sciml` calls it on import).
TUNED = False


def tune_malloc() -> bool:
    """Serve large blocks from the heap, never trim it, one arena; True if applied."""
    if os.environ.get("SCIML_MALLOC_TUNING", "1").strip().lower() in ("0", "off", "false", "no"):
        return False
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        if not libc.gnu_get_libc_version:  # musl and others have no glibc tunables
            return False
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    global TUNED
    ok = mallopt(_M_MMAP_MAX, 0) and mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM) and mallopt(_M_ARENA_MAX, 1)
    TUNED = bool(ok)
    return TUNED
