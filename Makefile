# Two commands for a fresh machine with Python >= 3.11 and make:
#   make demo   inpaint bundled test faces with the shipped model (CPU, a few minutes)
#   make test   the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test train-smoke benchmark clean

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

# A short real training run on generated images (no data needed).
train-smoke: $(VENV)/.base
	$(PY) experiments/make_synthetic_images.py --out /tmp/inpaint_jax_synthetic --count 64
	$(PY) experiments/train_dcgan.py --config inpaint_jax/configs/tiny.py \
	  --workdir /tmp/inpaint_jax_smoke --config.dataset.folder=/tmp/inpaint_jax_synthetic \
	  --config.num_steps=100

benchmark: $(VENV)/.base
	$(PY) experiments/benchmark.py

clean:
	rm -rf $(VENV) demo_out
