# GenAI Autoscaler. `make demo` and `make test` work on a fresh machine: `make install` runs first.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# The Lambda runtime is Python 3.13: use it when the machine has it (pyenv or PATH), else python3 (>= 3.11).
PYTHON ?= $(shell PYENV_VERSION=3.13.0 python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null \
            || command -v python3.13 || command -v python3)
export PATH := $(abspath $(BIN)):$(PATH)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: install lint test fuzz checkov build demo bench clean

install: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint

test: install
	$(BIN)/pytest

# Every entry point on 10,000 random and mutated inputs each (`make test` runs a fast profile of the same).
fuzz: install
	FUZZ_EXAMPLES=10000 $(BIN)/pytest -q -s -p no:cacheprovider tests/unit/test_fuzz.py

# checkov on the template, in a venv of its own (its pins are not the project's); every skip is justified in
# template.yaml, in the resource's Metadata.
checkov:
	test -x .venv-checkov/bin/checkov || ($(PYTHON) -m venv .venv-checkov && .venv-checkov/bin/pip install --quiet checkov)
	.venv-checkov/bin/checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download

build: install
	$(BIN)/sam build

demo: install
	$(BIN)/python -m genai_autoscaler_local.demo

# Every part runs, then the bench fails if a verdict did (a cold-start or decision FAIL, a policy goal MISS).
bench: install
	@failed=""; \
	$(BIN)/python scripts/bench_cold_start.py || failed="$$failed bench_cold_start"; \
	$(BIN)/python scripts/bench_policies.py --check || failed="$$failed bench_policies"; \
	$(BIN)/python scripts/bench_bedrock.py --check || failed="$$failed bench_bedrock"; \
	$(BIN)/python scripts/bench_forecast.py || failed="$$failed bench_forecast"; \
	if [ -n "$$failed" ]; then echo "make bench: a verdict failed in:$$failed" >&2; exit 1; fi

clean:
	rm -rf $(VENV) .venv-checkov .aws-sam .pytest_cache .mypy_cache .ruff_cache
