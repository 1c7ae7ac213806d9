# Hardened session-store kit: one entry point for humans and CI.
#   make test   - install everything, lint, unit tests, molecule scenarios
#   make lab    - bring up and verify the local lab (see README)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# The pinned community package the collections in requirements.yml come from.
ANSIBLE_COMMUNITY_PACKAGE := ansible==12.3.0
DISTROS := bookworm trixie
# The HA scenarios run on Debian 13 (Redis HA with Valkey); the single-node
# ones on Debian 12 and 13.
HA_SCENARIOS := redis-ha postgresql-ha
SCENARIOS ?= redis postgresql app $(HA_SCENARIOS)
MOLECULE_LANES ?= 2
# The rest of the HA matrix (`make test-matrix`): scenario, distro, Redis engine.
MATRIX_RUNS := "redis-ha bookworm redis" "redis-ha trixie redis" "postgresql-ha bookworm -"
PY_SOURCES := scripts tests/unit $(wildcard bench) plugins roles/session_verify/files

.PHONY: help
help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## Debian packages and the Docker engine (root on a bare machine)
	scripts/bootstrap.sh

$(VENV)/.stamp: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.stamp ## Python virtualenv with the pinned tools

.PHONY: collections
collections: venv ## Pinned Ansible collections into ./collections
	$(BIN)/python scripts/install_collections.py --source $(ANSIBLE_COMMUNITY_PACKAGE)

.PHONY: images
images: deps ## Systemd test-host images (rebuilt only when the recipe changes)
	for d in $(DISTROS); do scripts/build-image.sh $$d; done

.PHONY: setup
setup: deps venv collections images ## Everything the tests and the lab need

.PHONY: lint
lint: venv collections ## yamllint, ansible-lint (production), ruff, mypy
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --profile production --offline
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/mypy $(PY_SOURCES)

.PHONY: unit
unit: venv collections ## Unit tests of the Python code and the docs sync
	$(BIN)/pytest -q -n auto --dist loadfile tests/unit

.PHONY: collection-test
# On the pinned ansible-core and on the oldest supported one (OLDEST_CORE in
# scripts/collection_test.py, a cached .venv-oldest); offline install with
# dependencies, ansible-builder, the git tag pin from a clone.
collection-test: venv collections ## Build the collection tarball, install it in scratch projects, use it (~2 min)
	$(BIN)/python scripts/collection_test.py

.PHONY: release
# Version policy and steps: README, "Releasing". Tagging is the last step:
#   git tag -a v<version> -m 'hardened.sessions <version>'
release: venv ## Check that galaxy.yml, the changelog and the tag v<version> on HEAD agree
	$(BIN)/python scripts/release.py

.PHONY: molecule
# Two lanes share the 2 CPUs (scripts/molecule_lanes.py: longest scenarios in
# different lanes; each scenario's log in .molecule-logs/, the failures
# summarised at the end). MOLECULE_LANES=1 runs them one after the other.
molecule: setup ## Every molecule scenario (SCENARIOS="redis ...", MOLECULE_LANES=2)
	$(BIN)/python scripts/molecule_lanes.py --lanes $(MOLECULE_LANES) --log-dir .molecule-logs \
	  --molecule $(BIN)/molecule $(SCENARIOS)

.PHONY: test
# setup installs promtool (Debian prometheus): here the alert rules' tests
# must run, never skip (tests/unit/test_alert_rules.py).
test: export KIT_REQUIRE_PROMTOOL := 1
test: setup lint unit collection-test molecule ## THE test command: what CI runs

.PHONY: test-ha
test-ha: setup ## The HA scenarios on Debian 13 (Redis HA with Valkey): failover under load
	$(MAKE) molecule SCENARIOS="$(HA_SCENARIOS)"

.PHONY: test-matrix
test-matrix: setup ## The HA scenarios on the combinations test-ha leaves out (Debian 12; Redis on 13)
	for run in $(MATRIX_RUNS); do \
	  set -- $$run; \
	  echo ">> molecule test -s $$1 on $$2 ($$3)"; \
	  KIT_HA_DISTRO=$$2 KIT_REDIS_HA_ENGINE=$$3 $(BIN)/molecule test -s $$1; \
	done

.PHONY: lab
# On a lab unchanged since its last verified converge (scripts/lab_state.py:
# same kit files, secrets, CA and containers) only a smoke check runs;
# FULL=1 always converges and runs the suite.
lab: setup ## Local lab: hosts, site.yml, verification, lab/endpoints.json (FULL=1: always converge)
	@if [ -z "$(FULL)" ] && $(BIN)/python scripts/lab_state.py check; then \
	  $(BIN)/python scripts/lab_state.py smoke && cat lab/summary.txt; \
	else \
	  $(BIN)/ansible-playbook -i inventories/lab/hosts.yml playbooks/lab.yml && \
	  $(BIN)/python scripts/lab_state.py record; \
	fi

.PHONY: lab-destroy
lab-destroy: venv collections ## Remove the lab containers and lab/
	$(BIN)/ansible-playbook -i inventories/lab/hosts.yml playbooks/lab_destroy.yml
	rm -rf lab

.PHONY: phalcon-build
phalcon-build: setup ## Prove the Phalcon compile path in a scratch host (DISTRO=trixie|bookworm; ~20 min, not in make test)
	scripts/phalcon-build.sh $(or $(DISTRO),trixie)

.PHONY: clean
clean: ## Remove the venv and installed collections
	rm -rf $(VENV) collections

.PHONY: bench
bench: setup ## Benchmarks on the lab (not in make test): bench/results/, docs/performance.md
	$(BIN)/pip install --quiet -r bench/requirements.txt
	cd bench && $(BIN)/python run.py
