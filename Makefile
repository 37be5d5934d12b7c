# The two commands a new user needs: `make demo` (the main job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: setup constraints comparison-schema demo demo-quick rebless test lint bench clean
CONSTRAINTS := requirements/constraints.txt

setup: $(VENV)/.installed

# Exact versions from $(CONSTRAINTS) (-c): a fresh clone and CI get the versions the tests passed with.
$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch 2.13.0 first: the CPU wheel; an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0 -c $(CONSTRAINTS)
	$(PY) -m pip install -q -e '.[dev,serve]' -c $(CONSTRAINTS)
	touch $@

# Regenerate $(CONSTRAINTS) from the current venv (after upgrading packages and passing the tests).
constraints: setup
	$(PY) scripts/freeze_constraints.py

# Regenerate the committed JSON Schema of comparison.json from its models (evalkit/compare/schema.py).
comparison-schema: setup
	$(PY) -m evalkit.compare.schema

demo: setup
	$(PY) -m evalkit.demo

demo-quick: setup
	$(PY) -m evalkit.demo --quick

# Re-bless baselines/smollm2-135m-instruct.json: the untouched default model (examples/base.yaml) on
# its suites, every sample, then `baseline bless` (after a suite version or the default model changed).
rebless: setup
	$(PY) -m evalkit run examples/base.yaml --out runs/rebless --fresh
	$(PY) -m evalkit baseline bless runs/rebless --name smollm2-135m-instruct

lint: setup
	$(PY) -m ruff check evalkit tests bench

test: setup
	bash scripts/ensure_chromium.sh
	$(PY) -m ruff check evalkit tests bench
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) runs .pytest_cache
