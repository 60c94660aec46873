"""sciml's default XLA:CPU flags: added on import where safe, never twice, off on request, same math."""

import json
import os
import subprocess
import sys

import numpy as np

FLAG = "--xla_cpu_experimental_ynn_fusion_type"
PROBE = """
import json, os, sys
import sciml
import jax, jax.numpy as jnp
x = jax.random.normal(jax.random.PRNGKey(0), (4, 16, 16, 8))
w = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 8, 16))
f = jax.jit(jax.value_and_grad(lambda w: jnp.sum(jnp.tanh(jax.lax.conv_general_dilated(
    x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))))))
v, g = f(w)
print(json.dumps({"flags": os.environ.get("XLA_FLAGS", ""), "v": float(v), "g": g.ravel()[:64].tolist()}))
"""


def _probe(**env) -> dict:
    full = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "SCIML_XLA_DEFAULTS")}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**full, "JAX_PLATFORMS": "cpu", **env},
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_default_flags_are_added_once_kept_off_on_request_and_do_not_change_results():
    import jaxlib

    on = _probe()
    off = _probe(SCIML_XLA_DEFAULTS="0")
    mine = _probe(XLA_FLAGS=f"{FLAG}=")
    if jaxlib.__version__.startswith("0.10."):
        assert on["flags"].count(FLAG) == 1
    assert FLAG not in off["flags"]
    assert mine["flags"] == f"{FLAG}="  # the user's own setting wins and is not duplicated
    # Another convolution library, the same convolution: equal to float32 rounding.
    np.testing.assert_allclose(on["v"], off["v"], rtol=1e-5)
    np.testing.assert_allclose(on["g"], off["g"], rtol=1e-4, atol=1e-5)


SMALL_OPS_PROBE = """
import json, sys
import sciml
import jax, jax.numpy as jnp
from sciml.xla_defaults import small_ops_options
x = jax.random.normal(jax.random.PRNGKey(0), (300, 64))
w = jax.random.normal(jax.random.PRNGKey(1), (64, 64))
def loss(w):
    h = x @ w
    h = h * jax.lax.rsqrt(jnp.mean(h * h, -1, keepdims=True) + 1e-6)  # narrow row reductions
    return jnp.sum(jnp.tanh(h @ w.T))
opts = small_ops_options()
v, g = jax.jit(jax.value_and_grad(loss), compiler_options=opts or None)(w)
v0, g0 = jax.jit(jax.value_and_grad(loss))(w)
print(json.dumps({"opts": opts, "v": [float(v), float(v0)], "g": [g.ravel()[:64].tolist(), g0.ravel()[:64].tolist()]}))
"""


def test_small_ops_options_compile_on_this_xla_keep_results_and_turn_off():
    import jaxlib

    def run(**env):
        full = {k: v for k, v in os.environ.items() if k != "SCIML_XLA_DEFAULTS"}
        out = subprocess.run([sys.executable, "-c", SMALL_OPS_PROBE], env={**full, "JAX_PLATFORMS": "cpu", **env},
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    on, off = run(), run(SCIML_XLA_DEFAULTS="0")
    if jaxlib.__version__.startswith("0.10."):
        assert on["opts"], "the measured per-program options are missing on the jaxlib they were measured on"
    assert off["opts"] == {}
    np.testing.assert_allclose(*on["v"], rtol=1e-5)
    np.testing.assert_allclose(*on["g"], rtol=1e-4, atol=1e-5)
