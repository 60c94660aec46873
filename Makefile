PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export JAX_PLATFORMS ?= cpu
export MPLBACKEND ?= Agg

.PHONY: demo test lint notebooks bench venv clean

venv: $(STAMP)

# Re-install only when pyproject.toml changes (idempotent).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

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
