PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Exact versions of the tested environment; `make venv LOCK=` resolves pyproject.toml afresh instead.
LOCK   ?= requirements/cpu.lock
export JAX_PLATFORMS ?= cpu
export MPLBACKEND ?= Agg

.PHONY: demo test lint notebooks bench venv lock clean

venv: $(STAMP)

# Re-install only when pyproject.toml changes (idempotent).
$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(if $(LOCK),-c $(LOCK)) -e '.[dev]'
	touch $(STAMP)

# Re-resolve pyproject.toml into requirements/{cpu,cuda}.lock (exact versions); commit the result.
lock:
	PYTHON=$(PYTHON) requirements/lock.sh

demo: $(STAMP)
	$(VENV)/bin/sciml run experiments/quickstart/flow_matching_2d.yaml

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup tests

lint: $(STAMP)
	$(VENV)/bin/ruff check sciml tests benchmarks notebooks

notebooks: $(STAMP)
	$(VENV)/bin/jupytext --to ipynb notebooks/[0-9]*.py

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) runs benchmarks/results
