# spikefold — the two README commands (`make demo`, `make test`) and friends.
PYTHON      ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
TORCH_SPEC  ?= torch==2.13.0
STAMP       := $(VENV)/.spikefold-installed
PYTEST_ARGS ?= -n 2
# Dependency files: the venv is re-installed only when one of these changes.
DEPFILES    := pyproject.toml requirements-nodeps.txt

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): $(DEPFILES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m pip install --quiet --no-deps --ignore-requires-python -r requirements-nodeps.txt
	touch $(STAMP)

demo: setup
	$(PY) -m toolchain.demo

lint: setup
	$(PY) -m ruff check .

test: setup lint
	$(PY) -m pytest $(PYTEST_ARGS) tests

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .hypothesis
