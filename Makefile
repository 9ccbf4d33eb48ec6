# Two commands do everything: `make demo` (main job) and `make test`.
PYTHON_VERSION := 3.10.13
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test venv bench bench-models bench-models-30 bench-models-deep clean-venv

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
	$(PY) -m lava_convdelay.demo --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/bench_recurrence.py --repeats 2
	$(PY) bench/bench_deploy.py

bench-models: $(STAMP)  # about 60 min: 25 training runs, then float/quantized/fixed-point/Lava accuracy
	$(PY) bench/bench_models.py --neurons 128 --epochs 15 --seeds 0 1 2 3 4 --jobs 2 --lava-samples 40
	cp runs/bench_models/results.json bench/results/models.json

bench-models-30: $(STAMP)  # about 70 min: CRSNN and DelRec, 5 seeds, 30 epochs
	$(PY) bench/bench_models.py --neurons 128 --epochs 30 --seeds 0 1 2 3 4 --jobs 2 --lava-samples 0 --configs crsnn delrec --out runs/bench_models_30ep
	cp runs/bench_models_30ep/results.json bench/results/models_30ep.json

bench-models-deep: $(STAMP)  # about 70 min: CRSNN and DelRec with 3 hidden layers (the paper's depth), 4 seeds, 30 epochs
	$(PY) bench/bench_models.py --neurons 128 --epochs 30 --hidden-layers 3 --seeds 0 1 2 3 --jobs 2 --lava-samples 0 --configs crsnn delrec --out runs/probe_3layers
	cp runs/probe_3layers/results.json bench/results/models_3layers_30ep.json

clean-venv:
	rm -rf $(VENV)
