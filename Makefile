# Every target bootstraps .venv on first use (or when pyproject.toml changes),
# so a fresh machine needs only Python >= 3.10, make and the package registries.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
REPORT ?= reports/conformance-local.yaml

.PHONY: conformance test bench lint schema clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## The main job: the conformance suite in cases/ on the embedded local target.
conformance: $(STAMP)
	$(BIN)/python -m pytest cases -p no:cacheprovider -q

## The project's own tests.
test: $(STAMP)
	$(BIN)/python -m pytest tests -q -n 2

## Figures: reload latency and suite time/memory on the local target.
bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check pytest_meshgate tests benchmarks
	$(BIN)/ruff format --check pytest_meshgate tests benchmarks
	$(BIN)/mypy
	$(BIN)/mypy benchmarks --ignore-missing-imports

## Regenerate schema/case.schema.json from the case model.
schema: $(STAMP)
	$(BIN)/python -m pytest_meshgate schema > schema/case.schema.json

clean:
	rm -rf $(VENV) reports .pytest_cache .mypy_cache .ruff_cache
