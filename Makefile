# Two commands for a fresh machine with Python >= 3.11 and make:
#   make demo   inpaint bundled test faces with the shipped model (CPU, a few minutes)
#   make test   the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test benchmark table1 clean

# Table 1 on CPU-sized settings (see README): where the two image folders live.
CELEBA ?= ../shared/data/celeba_align
CARS ?= ../shared/data/cars_bbox
CE_NF ?= 32
CE_STEPS ?= 800
TABLE_IMAGES ?= 100

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

# One pytest worker per core (at most 4: each holds its own JAX and TensorFlow); the tests
# are mostly compilation, which runs on one thread, so this is ~20% faster on 2 cores.
test: $(VENV)/.test
	$(PY) -m pytest -n auto --maxprocesses=4

benchmark: $(VENV)/.base
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/run.py --batches=64 --ngfs=64 --kernels=4,5 --impls=auto,subpixel,matmul \
	  --out results/benchmark.json

table1: $(VENV)/.base
	$(PY) -m pip install -q -e '.[baselines]'
	for ds in celeba cars; do \
	  if [ $$ds = celeba ]; then folder=$(CELEBA); else folder=$(CARS); fi; \
	  for m in center pattern random half; do \
	    $(PY) experiments/train_context_encoder.py \
	      --config inpaint_jax/configs/context_encoder.py:$$ds,$$m --workdir runs/table1/ce/$${ds}_$$m \
	      --config.dataset.folder=$$folder --config.model.nf=$(CE_NF) --config.model.ndf=$(CE_NF) \
	      --config.num_steps=$(CE_STEPS) || exit 1; \
	  done; \
	done
	$(PY) experiments/reproduce_table1.py --config=inpaint_jax/configs/table1.py \
	  --config.celeba.folder=$(CELEBA) --config.cars.folder=$(CARS) --config.ce_root=runs/table1/ce \
	  --config.num_images=$(TABLE_IMAGES) --workdir runs/table1 --out results/table1

clean:
	rm -rf $(VENV) demo_out
