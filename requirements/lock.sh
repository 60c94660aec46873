#!/usr/bin/env bash
# Resolve pyproject.toml afresh into requirements/cpu.lock and requirements/cuda.lock (exact versions).
# Run from the repository root with the Python you test with: PYTHON=python3.11 requirements/lock.sh
set -euo pipefail
PYTHON=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q --upgrade pip
"$tmp/venv/bin/pip" install -q -e '.[dev]'
{
  echo "# Exact versions of the tested CPU environment ($("$tmp/venv/bin/python" -V), $(uname -sm)): 'make venv'"
  echo "# installs with these as constraints. Regenerate after changing pyproject.toml: 'make lock'."
  "$tmp/venv/bin/pip" freeze --exclude-editable | grep -v '^#'
} > requirements/cpu.lock
jax=$("$tmp/venv/bin/python" -c 'import jax; print(jax.__version__)')
"$tmp/venv/bin/pip" install -q --dry-run --ignore-installed --report "$tmp/cuda.json" "jax[cuda12]==$jax"
{
  echo "# The CPU lock plus the CUDA 12 packages that 'jax[cuda12]' resolves to for the same JAX."
  echo "# Install: pip install -c requirements/cuda.lock -e '.[cuda]'. Regenerate: 'make lock'."
  grep -v '^#' requirements/cpu.lock
  "$tmp/venv/bin/python" -c "
import json, sys
r = json.load(open(sys.argv[1]))
print('\n'.join(sorted(f\"{i['metadata']['name']}=={i['metadata']['version']}\" for i in r['install']
                       if i['metadata']['name'].startswith(('jax-cuda', 'nvidia-')))))" "$tmp/cuda.json"
} > requirements/cuda.lock
echo "wrote requirements/cpu.lock and requirements/cuda.lock (jax $jax)"
