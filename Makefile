# The two commands of the README. Both create .venv and install jaxsnn into it first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-slow clean

KERNEL_SOURCES := $(wildcard jaxsnn/core/kernels/src/*) jaxsnn/core/kernels/CMakeLists.txt

$(VENV)/.installed: pyproject.toml CMakeLists.txt $(KERNEL_SOURCES)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

## Main job on the embedded default (constrained async BO of an LIF net on digits): no download, no GPU.
demo: setup
	$(PY) experiments/hpo.py

## The test suite (fast tests; `make test-slow` for the long ones). tests/conftest.py requires the
## compiled kernels whatever the runner; two pytest-xdist workers share the tests (work stealing:
## a long file no longer runs alone at the end) and one JAX compilation cache. The 25 slowest
## tests are listed at the end, so every run (CI's too) shows where the 3-minute budget goes.
PYTEST_WORKERS ?= 2

test: setup
	JAXSNN_REQUIRE_KERNELS=1 $(PY) -m pytest -n $(PYTEST_WORKERS) --dist worksteal --durations=25

test-slow: setup
	JAXSNN_REQUIRE_KERNELS=1 $(PY) -m pytest -m slow -n $(PYTEST_WORKERS) --dist worksteal

clean:
	rm -rf $(VENV) build outputs multirun
