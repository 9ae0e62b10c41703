# spikefold — the two README commands (`make demo`, `make test`) and friends.
PYTHON      ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
TORCH_SPEC  ?= torch==2.13.0
STAMP       := $(VENV)/.spikefold-installed
PYTEST_ARGS ?= -n 2
# Dependency files: the venv is re-installed only when one of these changes.
DEPFILES    := pyproject.toml requirements-nodeps.txt

CHROMIUM    ?= /usr/bin/chromium

.PHONY: setup demo test lint bench results clean browser report-screenshot

setup: $(STAMP)

$(STAMP): $(DEPFILES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m pip install --quiet --no-deps --ignore-requires-python -r requirements-nodeps.txt
	touch $(STAMP)

demo: setup
	$(VENV)/bin/spikefold run configs/demo.yaml

lint: setup
	$(PY) -m ruff check .

test: setup lint browser
	$(PY) -m pytest $(PYTEST_ARGS) tests

# Headless Chromium renders report.html in tests/toolchain/test_report_browser.py (Debian's
# `chromium` package). Idempotent: nothing to do when it is there; installed with apt-get when
# this runs as root (CI, .ci/run); otherwise a notice, and that test skips with its reason
# (outside CI only: with CI=1 it fails).
browser:
	@if test -x $(CHROMIUM); then :; \
	elif test "$$(id -u)" = 0 && command -v apt-get >/dev/null; then \
		echo "installing chromium (apt-get) for the report's browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "note: $(CHROMIUM) is missing and this is not root: the browser test of report.html" \
		     "will skip (as root: apt-get install -y chromium)"; \
	fi

# docs/img/report-demo.png (docs/report.md): the demo's report.html in headless Chromium.
report-screenshot: demo browser
	$(PY) -m toolchain.browser runs/demo/report.html docs/img/report-demo.png --crop 1500

bench: setup
	$(PY) -m bench

# Every table of docs/results.md and README's figures (QUICK=1: CI-sized, into runs/results-quick)
results: setup
	$(PY) -m experiments.all $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .hypothesis
