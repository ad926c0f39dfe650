# Every target bootstraps .venv on first use (or when pyproject.toml or this file changes),
# so a fresh machine needs only Python >= 3.10, make and the package registries.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
REPORT ?= reports/conformance-local.yaml
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
# `make conformance PUBLISH=1` also copies a passing run's report to where it is committed;
# plain runs leave the checkout clean.
PUBLISH ?=
PUBLISHED := conformance/reports/v$(VERSION)/pytest-meshgate-local.yaml
# The implementation a report is about (conformance/README.md: all five are required).
IMPLEMENTATION = --meshgate-report-organization=pytest-meshgate --meshgate-report-project=local \
	--meshgate-report-url=https://github.com/pytest-meshgate/pytest-meshgate \
	--meshgate-report-version=v$(VERSION) --meshgate-report-contact=@pytest-meshgate/maintainers

.PHONY: conformance test bench lint schema clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,kind]'
	touch $(STAMP)

## The main job: the conformance suite in cases/ on the embedded local target,
## its ConformanceReport in $(REPORT) (with PUBLISH=1, also in $(PUBLISHED)).
conformance: $(STAMP)
	$(BIN)/python -m pytest cases -p no:cacheprovider -q \
		--meshgate-report=$(REPORT) $(IMPLEMENTATION)
	@echo "conformance report: $(REPORT)"
ifneq ($(PUBLISH),)
	@mkdir -p $(dir $(PUBLISHED))
	cp $(REPORT) $(PUBLISHED)
endif

## The project's own tests.
test: $(STAMP)
	$(BIN)/python -m pytest tests -q -n 2

## Figures: reload latency, suite time/memory, the split judge (simulated) and bulk throughput.
bench: $(STAMP)
	$(BIN)/python -m benchmarks

## Style, types and the layer contracts (docs/architecture.md).
lint: $(STAMP)
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check pytest_meshgate tests benchmarks
	$(BIN)/ruff format --check pytest_meshgate tests benchmarks
	$(BIN)/mypy
	$(BIN)/mypy benchmarks --ignore-missing-imports

## Regenerate the case JSON Schema from the model: the copy the wheel ships
## (pytest_meshgate/schema/), schema/case.schema.json and the one published for this
## version, schema/v$(VERSION)/ (those of released versions are never rewritten).
schema: $(STAMP)
	$(BIN)/python -m pytest_meshgate schema > pytest_meshgate/schema/case.schema.json
	@mkdir -p schema/v$(VERSION)
	cp pytest_meshgate/schema/case.schema.json schema/case.schema.json
	cp pytest_meshgate/schema/case.schema.json schema/v$(VERSION)/case.schema.json

clean:
	rm -rf $(VENV) reports .pytest_cache .mypy_cache .ruff_cache
