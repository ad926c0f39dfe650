# Every target bootstraps .venv on first use (or when pyproject.toml or this file changes),
# so a fresh machine needs only Python >= 3.10, make and the package registries.
# `make conformance` (and `make setup`) install the runtime dependencies only; `make test`,
# `make lint`, `make bench` and `make schema` add the development tools on top.
PYTHON ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
RUNTIME := $(VENV)/.runtime
STAMP   := $(VENV)/.installed
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

.PHONY: conformance setup test bench lint schema clean

# Each step says how long it took (a fresh clone's set-up is what `make bench` times).
$(RUNTIME): pyproject.toml Makefile
	@start=$$(date +%s); \
	$(PYTHON) -m venv $(VENV) && \
	$(BIN)/python -m pip install --quiet --upgrade pip && \
	$(BIN)/python -m pip install --quiet -e . && \
	touch $(RUNTIME) && \
	echo "set-up: runtime dependencies installed in $$(( $$(date +%s) - start )) s"

$(STAMP): $(RUNTIME)
	@start=$$(date +%s); \
	$(BIN)/python -m pip install --quiet -e '.[dev,kind]' && \
	touch $(STAMP) && \
	echo "set-up: development tools installed in $$(( $$(date +%s) - start )) s"

## The venv the main job needs, and nothing else.
setup: $(RUNTIME)

## The main job: the conformance suite in cases/ on the embedded local target,
## its ConformanceReport in $(REPORT) (with PUBLISH=1, also in $(PUBLISHED)).
conformance: $(RUNTIME)
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

## Figures: reload latency, the speed-up over 681cb13's code, suite time/memory, cores, the
## split judge (simulated), bulk throughput against wrk (or autocannon from npm), a fresh
## clone's set-up (MESHGATE_BENCH_SKIP_SETUP=1 skips that one).
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
