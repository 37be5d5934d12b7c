# The two commands a new user needs: `make demo` (the main job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: setup demo demo-quick test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch 2.13.0 first: the CPU wheel; an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,serve]'
	touch $@

demo: setup
	$(PY) -m evalkit.demo

demo-quick: setup
	$(PY) -m evalkit.demo --quick

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
