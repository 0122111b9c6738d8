# The README's two commands are `make serve` and `make test`; both build .venv first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PYTENSOR_FLAGS ?= base_compiledir=$(CURDIR)/var/cache/pytensor
export HELSINKI_DATA_DIR ?= $(CURDIR)/var

# A Python 3.12: python3.12 on PATH if it runs, else one from pyenv.
FIND_PYTHON := for c in python3.12 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do \
	  if "$$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1; then echo "$$c"; break; fi; done

.PHONY: venv browser serve test lint typecheck pytest fit backtest clean

$(VENV)/.installed: pyproject.toml
	@py="$$($(FIND_PYTHON))"; \
	if [ -z "$$py" ]; then \
	  echo "Helsinki needs Python 3.12: none found on PATH or in pyenv (~/.pyenv/versions/3.12.*)." >&2; \
	  echo "Install one (e.g. 'pyenv install 3.12') and run make again." >&2; exit 1; fi; \
	echo "Using $$py"; \
	[ -x $(PY) ] || "$$py" -m venv $(VENV); \
	$(PY) -m pip install --quiet --upgrade pip && \
	$(PY) -m pip install --quiet -e '.[dev]' && touch $@

venv: $(VENV)/.installed

# The API on 127.0.0.1:8000 (OpenAPI at /docs) and its fit worker; Ctrl-C stops both.
serve: venv
	$(VENV)/bin/helsinki serve

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

# Debian's Chromium for the end-to-end tests (tests/e2e drive it with Playwright); installed
# with apt the first time (as root, or through sudo).
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  echo "Installing Debian's chromium for the browser tests (tests/e2e)"; \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || { \
	    echo "Could not install chromium: run 'apt-get install chromium' as root, then make test again." >&2; \
	    exit 1; }; \
	fi

# The suite runs in TEST_WORKERS processes (pytest-xdist, one per core by default), each test
# file whole in one of them (module fixtures such as the quality target's backtests are
# computed once); TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= auto
pytest: venv browser
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
