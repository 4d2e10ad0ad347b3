# Relay — `make run` starts everything on embedded defaults; `make test` runs the test suite.
# Both create what is missing (virtual environments, database, FAQ index, Rasa model) and
# skip every step whose inputs did not change.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
RASA_VENV := .venv-rasa
APP_PY := $(VENV)/bin/python
PIP_FLAGS := --quiet --disable-pip-version-check --prefer-binary

.PHONY: run run-cluster test setup venvs system-deps test-system-deps lint bench bench-datasets build-index tune-model train migrate seed clean app-lock rasa-lock

run: setup
	$(APP_PY) -m relay.run

# The cluster on this machine: PostgreSQL, Redis, HAProxy and REPLICAS of each Relay process.
REPLICAS ?= 2
run-cluster: setup test-system-deps
	$(APP_PY) -m relay.run --replicas $(REPLICAS)

test: venvs test-system-deps
	$(APP_PY) -m relay.testrun

setup: venvs
	$(APP_PY) -m relay.setup

venvs: $(VENV)/.installed $(RASA_VENV)/.installed

$(VENV)/.installed: requirements/app.lock
	@echo "==> application environment ($(VENV))"
	@test -x $(APP_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -r requirements/app.lock
	@touch $@

$(RASA_VENV)/.installed: requirements/rasa.lock
	@echo "==> Rasa environment ($(RASA_VENV))"
	@test -x $(RASA_VENV)/bin/python || $(PYTHON) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install $(PIP_FLAGS) --no-deps --ignore-requires-python -r requirements/rasa.lock
	@touch $@

# Debian packages the browser and PostgreSQL tests need (installed only when missing).
test-system-deps:
	@bash scripts/system-deps.sh

PACKAGES := relay actions knowledge crm_store bot console

lint: venvs
	$(VENV)/bin/ruff check $(PACKAGES) tests
	$(VENV)/bin/mypy $(PACKAGES)

# The benchmark's datasets (BANKING77, CLINC150) are not in the repository: they live beside it,
# in ../shared/datasets (also on CI). Point DATASETS elsewhere with `make bench DATASETS=dir`.
DATASETS ?= ../shared/datasets
BANKING77_TRAIN := $(DATASETS)/banking77/train.csv
CLINC := $(DATASETS)/clinc150/dev.json

bench: bench-datasets setup
	$(APP_PY) -m knowledge.tools.bench --banking77-train $(BANKING77_TRAIN) --clinc $(CLINC)

bench-datasets:
	@for f in $(BANKING77_TRAIN) $(CLINC); do test -f "$$f" || { \
	  echo "make bench: $$f is missing. The benchmark reads BANKING77 and CLINC150 from" \
	       "DATASETS=$(DATASETS) (outside the repository); set DATASETS to the directory" \
	       "holding banking77/train.csv and clinc150/dev.json." >&2; exit 2; }; done

build-index: venvs
	$(APP_PY) -m knowledge.build.onnx_export
	$(APP_PY) -m knowledge.build

# Fine-tune the encoder on the FAQ's paraphrases (minutes on a CPU; see docs/knowledge.md), then
# point RELAY_EMBEDDING_MODEL at var/tuned-model and run `make build-index`.
tune-model: venvs
	$(APP_PY) -m knowledge.tools.tune

train: venvs
	$(APP_PY) -m relay.train

migrate: venvs
	$(APP_PY) -m crm_store.migrate

# Regenerate the locks (maintainers only; needs the package index).
rasa-lock:
	rm -rf /tmp/relay-rasa-lock && $(PYTHON) -m venv /tmp/relay-rasa-lock
	cd /tmp/relay-rasa-lock && bin/pip download --no-deps --ignore-requires-python rasa==3.6.21 -d wheel
	$(APP_PY) requirements/rasa_requirements.py /tmp/relay-rasa-lock/wheel/rasa-3.6.21-py3-none-any.whl > requirements/rasa.in
	/tmp/relay-rasa-lock/bin/pip install --ignore-requires-python --prefer-binary -r requirements/rasa.in
	/tmp/relay-rasa-lock/bin/pip install --no-deps --ignore-requires-python rasa==3.6.21
	{ head -2 requirements/rasa.lock; /tmp/relay-rasa-lock/bin/pip freeze --all | grep -v -E '^(pip|wheel)=='; } > requirements/rasa.lock.new && mv requirements/rasa.lock.new requirements/rasa.lock

app-lock:
	rm -rf /tmp/relay-app-lock && $(PYTHON) -m venv /tmp/relay-app-lock
	/tmp/relay-app-lock/bin/pip install --prefer-binary '.[dev]'
	{ head -1 requirements/app.lock; /tmp/relay-app-lock/bin/pip freeze --all | grep -v -E '^(pip|wheel|relay)=='; } > requirements/app.lock.new && mv requirements/app.lock.new requirements/app.lock

clean:
	rm -rf var models .pytest_cache
