# Membership & loyalty suite for Tryton 8.0
#
#   make demo            demo server on http://localhost:8000 (FRESH=1
#                        rebuilds the database)
#   make demo-db         build var/demo.sqlite only
#   make test            tests of every module on SQLite
#                        (MODULES="member_core" TESTS=pattern restrict)
#   make test-postgresql the same on PostgreSQL
#   make lint            ruff
#   make bench           benchmarks (BENCH_SCALE=small for a quick run)

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
NPM ?= npm
SAO_VERSION ?= 8.0
SAO_DIR := var/sao
SAO_STAMP := $(SAO_DIR)/package/.installed
# a directory of addons/ is a module once it has tryton.cfg and
# pyproject.toml; installing it earlier would break trytond's start
ADDON_PROJECTS := $(foreach cfg,$(wildcard addons/*/tryton.cfg),\
	$(wildcard $(dir $(cfg))pyproject.toml))
ADDON_DIRS := $(patsubst %/pyproject.toml,./%,$(ADDON_PROJECTS))
# packages shipped inside a module (the IoT box agent) install beside it
SUB_PROJECTS := $(foreach d,$(ADDON_DIRS),$(wildcard $(d)/*/pyproject.toml))
ADDON_DIRS += $(patsubst %/pyproject.toml,%,$(SUB_PROJECTS))
# named after the module list: a new module means a new install
INSTALL_STAMP := $(VENV)/.installed-$(shell echo $(ADDON_DIRS) \
	| cksum | cut -d' ' -f1)

export MODULES TESTS BENCH_SCALE FRESH

.PHONY: help install sao demo demo-db serve test test-postgresql lint \
	lint-fix bench clean distclean

help:
	@sed -n '3,10p' Makefile | sed 's/^# \{0,1\}//'

# --- installation -----------------------------------------------------

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
		echo "error: $(PYTHON) is missing: install Python 3.11" \
			"(with its venv module) or run make PYTHON=/path/to/python3.11."; \
		exit 2; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
		|| { echo "error: $(PYTHON) is not Python 3.11:" \
			"run make PYTHON=/path/to/python3.11."; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(INSTALL_STAMP): $(PY) requirements.txt $(ADDON_PROJECTS) $(SUB_PROJECTS)
	@mkdir -p var
	@echo "Installing requirements.txt and $(or $(ADDON_DIRS),no module)" \
		"into $(VENV) (log: var/install.log)"
	@$(PY) -m pip install --disable-pip-version-check \
		-r requirements.txt $(addprefix -e ,$(ADDON_DIRS)) \
		> var/install.log 2>&1 \
		|| { tail -n 30 var/install.log; echo "error: pip install failed:" \
			"see var/install.log."; exit 2; }
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(INSTALL_STAMP)

$(SAO_STAMP):
	@command -v $(NPM) >/dev/null 2>&1 && command -v node >/dev/null 2>&1 \
		|| { echo "error: npm and node are missing: they install the" \
			"sao web client (apt-get install nodejs npm)."; exit 2; }
	rm -rf $(SAO_DIR) && mkdir -p $(SAO_DIR)
	cd $(SAO_DIR) && $(NPM) pack --silent tryton-sao@$(SAO_VERSION) \
		&& tar xzf tryton-sao-*.tgz && rm tryton-sao-*.tgz
	cd $(SAO_DIR)/package && $(NPM) install --omit=dev \
		--legacy-peer-deps --no-audit --no-fund --loglevel=error
	@test -f $(SAO_DIR)/package/dist/tryton-sao.js \
		&& test -f $(SAO_DIR)/package/node_modules/jquery/dist/jquery.js \
		|| { echo "error: sao was not installed completely in" \
			"$(SAO_DIR)/package."; exit 2; }
	@touch $@

sao: $(SAO_STAMP)

# --- demo -------------------------------------------------------------

demo: install
	@$(PY) scripts/demo.py check
	@$(MAKE) --no-print-directory sao
	@$(PY) scripts/demo.py build $(if $(filter-out 0,$(FRESH)),--fresh)
	@$(PY) scripts/demo.py serve

demo-db: install sao
	@$(PY) scripts/demo.py build $(if $(filter-out 0,$(FRESH)),--fresh)

serve: install sao
	@$(PY) scripts/demo.py serve

# --- quality ----------------------------------------------------------

test: install
	@$(PY) scripts/run_tests.py

test-postgresql: install
	@$(PY) scripts/pgcluster.py run -- $(PY) scripts/run_tests.py

lint: install
	@$(VENV)/bin/ruff check . && echo "lint: no finding"

lint-fix: install
	$(VENV)/bin/ruff check --fix .

bench: install
	@$(PY) bench/run.py

clean:
	rm -rf var/dbcache var/bench var/screenshots var/pgtest

distclean:
	rm -rf var $(VENV)
