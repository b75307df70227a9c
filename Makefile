# The two commands of the README. Both create .venv on first use and install the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: serve test lint install-serve install-dev install-browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch is pinned to the CPU build; see pyproject.toml.
$(VENV)/.installed-torch: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[torch]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed-torch

install-serve: $(VENV)/.installed-torch
install-dev: $(VENV)/.installed-dev

serve: install-serve
	$(BIN)/rmserve serve --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check rmserve service models tests loadtest
	$(BIN)/mypy

# Chromium from Debian's packages, for the API page's browser test (tests/service/test_docs_browser.py).
# Installed only where this runs as root with apt-get (CI); elsewhere that test skips and says why.
install-browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "chromium is not installed: tests/service/test_docs_browser.py will skip"

test: lint install-browser
	$(BIN)/python -m pytest
