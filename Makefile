# Two commands for a fresh machine with Python >= 3.11 and make:
#   make demo   inpaint bundled test faces with the shipped model (CPU, a few minutes)
#   make test   the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test benchmark clean

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.test: $(VENV)/.base
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.base
	$(VENV)/bin/inpaint-jax demo --out demo_out

test: $(VENV)/.test
	$(PY) -m pytest

benchmark: $(VENV)/.base
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) experiments/benchmark.py --batches=64,256 --impls=subpixel

clean:
	rm -rf $(VENV) demo_out
