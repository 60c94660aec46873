"""sciml's glibc malloc settings: a large buffer freed and allocated again is served from pages the
process already has (no page faults), and SCIML_MALLOC_TUNING=0 leaves glibc's default behaviour."""

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import ctypes, ctypes.util, json, resource
import sciml
from sciml.malloc import tune_malloc
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, (ctypes.c_void_p,)
size = 48 * 2**20  # above glibc's largest mmap threshold (32 MiB); plain malloc, as XLA's buffers
faults = []
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    libc.free(block)
print(json.dumps({"applied": tune_malloc(), "faults": faults}))
"""


def _probe(**env) -> dict:
    full = {k: v for k, v in os.environ.items() if k != "SCIML_MALLOC_TUNING"}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**full, **env}, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings apply on Linux only")
def test_a_freed_large_buffer_is_reused_without_page_faults_unless_turned_off():
    on, off = _probe(), _probe(SCIML_MALLOC_TUNING="0")
    pages = 48 * 2**20 // 4096
    if not on["applied"]:
        pytest.skip("not glibc")
    assert max(on["faults"][1:]) < pages // 20, on  # after the first, the freed pages are reused
    assert not off["applied"]
    assert min(off["faults"][1:]) > pages // 2, off  # glibc's default: unmapped on free, faulted again
