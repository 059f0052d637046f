# Two commands on a fresh machine: `make demo` and `make test`.
# Versions come from the committed uv.lock (uv sync --locked), so a new release upstream
# never changes what a clone installs; `make lock` moves the lock on purpose and
# `make test-latest` runs the suite against the newest versions pyproject.toml allows.
PYTHON     ?= python3
UV_VERSION := 0.13.9
VENV       := .venv
BIN        := $(VENV)/bin
TOOLS      := .tools
UV         := $(TOOLS)/bin/uv
LATEST     := .venv-latest

# uv must use the given Python and never fetch one of its own.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: demo test test-latest lock lint format bench clean

# uv itself is the one thing installed by pip, at a pinned version, in a folder of its own.
$(UV):
	@echo "Installing uv $(UV_VERSION) into $(TOOLS)/ ..."
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Not quiet: the first install downloads Polars and friends (half a minute or so), and
# uv's progress says so.
$(VENV)/.installed-core: $(UV) pyproject.toml uv.lock
	@echo "Installing tagengine and its dependencies into $(VENV)/, as uv.lock says ..."
	$(UV) sync --locked --inexact --python $(PYTHON)
	touch $@

$(VENV)/.installed-test: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --extra test --quiet --python $(PYTHON)
	touch $@ $(VENV)/.installed-core

demo: $(VENV)/.installed-core
	$(BIN)/tagengine example-data build/demo --customers 5000
	$(BIN)/tagengine run rules/retail.tags --data build/demo --as-of 2024-12-31 --out build/tags.parquet
	@echo "Next: source $(VENV)/bin/activate, then the tagengine commands of README.md (Using it)."

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

# The newest releases pyproject.toml's ranges allow, in a venv of their own; the lock is
# left as it is. Drift shows here first, on purpose.
test-latest: $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(LATEST)
	$(UV) pip install --quiet --python $(LATEST)/bin/python --upgrade -e '.[test]'
	$(UV) pip list --python $(LATEST)/bin/python --format freeze | grep -iE '^(polars|duckdb|pyspark|sqlglot|lark|pydantic)='
	$(LATEST)/bin/python -m pytest

# Move every locked version to the newest release its range allows.
lock: $(UV)
	$(UV) lock --upgrade

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

format: $(VENV)/.installed-test
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf build $(VENV) $(LATEST) $(TOOLS) .pytest_cache .ruff_cache .hypothesis
