# Shopflow: `make demo` and `make test` are all a newcomer needs (Python 3.11 on the PATH).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum requirements-dev.lock | cut -c1-12)

export PYTHONPATH := $(CURDIR)
export AIRFLOW_HOME ?= $(CURDIR)/var/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export TF_CPP_MIN_LOG_LEVEL := 2
export GX_ANALYTICS_ENABLED := False
# The warehouse: the embedded SQLite file unless you point the connection elsewhere.
export AIRFLOW_CONN_WAREHOUSE ?= sqlite:///$(CURDIR)/var/warehouse.db

.PHONY: install browser demo test test-fast lint format airflow shop append-day lock clean env

install: $(STAMP)

$(STAMP): requirements-dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements-dev.lock
	@rm -f $(VENV)/.installed-* && touch $@

demo: install  ## build the small shop in the embedded warehouse and run the three DAGs
	$(BIN)/airflow db migrate > /dev/null
	AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING $(BIN)/python -m include.demo

test: install browser  ## the whole test suite (PostgreSQL required)
	$(BIN)/pytest

# The UI test reads the Shopflow page in Debian's Chromium (no browser download works offline).
export SHOPFLOW_CHROMIUM ?= /usr/bin/chromium
browser:  ## install Debian's chromium for the UI test when it is missing (root or sudo)
	@test -x $(SHOPFLOW_CHROMIUM) || { echo "Installing Debian's chromium for the UI test"; \
		if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
		{ $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium \
			> /dev/null; } || echo "Could not install chromium: the UI test will fail and say so."; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The web UI listens on this machine only; `make airflow AIRFLOW_HOST=0.0.0.0` opens it to the network.
AIRFLOW_HOST ?= 127.0.0.1
AIRFLOW_PORT ?= 8080
# Task processes report to the API server's execution API, on the same port.
EXECUTION_HOST := $(if $(filter 0.0.0.0,$(AIRFLOW_HOST)),127.0.0.1,$(AIRFLOW_HOST))

airflow: install  ## Airflow web UI and scheduler on the project's DAGs and warehouse
	@echo "Starting Airflow at http://$(AIRFLOW_HOST):$(AIRFLOW_PORT) -- user 'admin', password printed below"
	@echo "and saved in $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated."
	@echo "Listening on $(AIRFLOW_HOST) only: set AIRFLOW_HOST=0.0.0.0 to reach it from other machines."
	$(BIN)/airflow db migrate > /dev/null
	$(BIN)/python -m include.pools
	PATH="$(CURDIR)/$(BIN):$$PATH" AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin \
		AIRFLOW__API__HOST=$(AIRFLOW_HOST) AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
		AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://$(EXECUTION_HOST):$(AIRFLOW_PORT)/execution/ \
		$(BIN)/airflow standalone

shop: install  ## (re)build the embedded warehouse with the small shop: 180 days ending yesterday
	$(BIN)/python -m include.simulator build --preset small --days 180 --end yesterday --replace

append-day: install  ## the shop lives one more day
	$(BIN)/python -m include.simulator append-day

env: install  ## write .env with fresh secrets for docker compose (never over an existing one)
	@if [ -e .env ]; then echo ".env exists: left as it is"; \
	else (umask 077 && $(BIN)/python -m include.compose_env > .env) && echo "Wrote .env (keep it private)"; fi

# The development lock is resolved first; the runtime lock (the image's) takes its versions from it,
# so tests run exactly the versions the image ships.
lock:  ## re-resolve requirements-dev.lock and requirements.lock from requirements-dev.txt and requirements.txt
	$(BIN)/uv pip compile --python-version 3.11 requirements-dev.txt -o requirements-dev.lock
	$(BIN)/uv pip compile --python-version 3.11 requirements.txt -c requirements-dev.lock -o requirements.lock

clean:
	rm -rf var/staging var/models var/warehouse.db* var/test-airflow
