# Two commands do everything: `make demo` (main job) and `make test`.
PYTHON_VERSION := 3.10.13
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint venv bench bench-models bench-models-deep clean-venv

venv: $(STAMP)

# Created on first use with the pyenv Python 3.10 (lava-nc/lava-dl need <3.11).
$(STAMP): pyproject.toml
	@if [ ! -x $(PY) ]; then \
	  PY310=$$(command -v pyenv >/dev/null && pyenv root >/dev/null 2>&1 && echo "$$(pyenv root)/versions/$(PYTHON_VERSION)/bin/python3"); \
	  [ -x "$$PY310" ] || PY310=$$(command -v python3.10); \
	  [ -n "$$PY310" ] || { echo "error: Python 3.10 not found (install it with pyenv: pyenv install $(PYTHON_VERSION))"; exit 1; }; \
	  echo "creating $(VENV) with $$PY310"; \
	  "$$PY310" -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The main job: embedded spoken digits -> CRSNN -> NetX HDF5 -> Lava (runs/demo).
demo: $(STAMP)
	$(VENV)/bin/lava-convdelay demo --out runs/demo

# CI runs this (.ci/run): lint, types, and every test (slow ones too) on all cores
test: lint
	$(PY) -m pytest -q -n auto

# The edit-test loop: the same without the tests marked slow
test-fast: $(STAMP)
	$(PY) -m pytest -q -n auto -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) bench/bench_recurrence.py --repeats 2
	$(PY) bench/bench_training.py --out bench/results/training.json
	$(PY) bench/bench_deploy.py

bench-models: $(STAMP)  # about 40 min: 5 configs + the GRU reference, 5 seeds, 30 epochs, 128 neurons
	$(PY) bench/bench_models.py --neurons 128 --epochs 30 --seeds 0 1 2 3 4 --jobs 2 --lava-samples 40
	cp runs/bench_models/results.json bench/results/models.json

bench-models-deep: $(STAMP)  # about 20 min: CRSNN and DelRec with 3 hidden layers (the paper's depth), 3 seeds
	$(PY) bench/bench_models.py --neurons 128 --epochs 30 --hidden-layers 3 --seeds 0 1 2 --jobs 2 --lava-samples 0 --configs crsnn delrec --no-gru --out runs/bench_models_deep
	cp runs/bench_models_deep/results.json bench/results/models_3layers.json

clean-venv:
	rm -rf $(VENV)
