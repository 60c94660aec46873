#!/usr/bin/env bash
# One prepared check of a GPU (or TPU) machine: installs the accelerator extra where a package registry
# is reachable (INSTALL=1), then runs benchmarks/device_check.py: the multi-device tests, a short training
# of every method on all local devices and the original-shape benchmark entries, into one JSON
# ($OUT/device_check.json; OUT defaults to benchmarks/results/device). Without an accelerator it runs the
# same checks on the CPU. Extra wheels for an offline machine: WHEELS=DIR (installed with --no-deps).
#   bash benchmarks/device_check.sh                  # uses .venv/bin/python if present, else python3
#   INSTALL=1 EXTRA=cuda bash benchmarks/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/device}
PY=${PYTHON:-}
if [ -z "$PY" ]; then if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi; fi
if [ "${INSTALL:-0}" = 1 ]; then "$PY" -m pip install -q -e ".[${EXTRA:-cuda},dev]" || exit 1; fi
if [ -n "${WHEELS:-}" ]; then "$PY" -m pip install -q --no-deps "$WHEELS"/*.whl || exit 1; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" benchmarks/device_check.py --out "$OUT" "$@"
