# The workshop's front door. Every target builds the virtual environment first
# (once: it is rebuilt only when requirements.lock or pyproject.toml change).

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The most advanced stage that exists: `make demo` runs its demo.
DEMO_STAGE ?= stage05_scaling

.DEFAULT_GOAL := help
.PHONY: help setup demo test lint format db db-stop db-url psql diff diffs measure-claims notebooks notebooks-clean lock clean

help:
	@echo "make demo      run the workshop's demo ($(DEMO_STAGE))"
	@echo "make test      run every stage's tests and ruff"
	@echo "make db        start the embedded PostgreSQL (db-stop, db-url, psql)"
	@echo "make diff FROM=2 TO=3   the code that changed between two stages"
	@echo "make measure-claims     tasks/s of the claims of stages 2 and 3"
	@echo "make notebooks          open the notebooks in JupyterLab (notebooks-clean: clear outputs)"
	@echo "make diffs     refresh diffs/ and the README excerpts after changing a stage"
	@echo "make lint      ruff check and format check (format: fix them)"
	@echo "make clean     remove .venv and test results"
	@echo "make lock      re-pin requirements.lock from pyproject.toml"

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@python=$$(bin/find-python) || exit 1; \
	if [ ! -x $(PY) ]; then echo "Creating $(VENV) with $$python"; "$$python" -m venv $(VENV) || exit 1; fi
	$(PY) -m pip install --quiet --quiet --upgrade pip
	$(PY) -m pip install --quiet --quiet -r requirements.lock
	$(PY) -m pip install --quiet --quiet --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	cd $(DEMO_STAGE) && ../$(PY) manage.py demo

test: $(STAMP)
	$(PY) -m workshop.testrun

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

db: $(STAMP)
	$(PY) -m workshop.embedded start

db-stop: $(STAMP)
	$(PY) -m workshop.embedded stop

db-url: $(STAMP)
	@$(PY) -m workshop.embedded url $(DB)

psql: $(STAMP)
	$(PY) -m workshop.embedded psql $(DB)

diff: $(STAMP)
	@$(PY) -m workshop.stagediff $(FROM) $(TO)

# Refresh the committed diffs and README excerpts after changing a stage.
diffs: $(STAMP)
	$(PY) -m workshop.stagediff --write
	$(PY) -m workshop.excerpts --write

# Writes measurements/claims.txt, then refreshes the stage 3 README that quotes it.
measure-claims: $(STAMP)
	$(PY) -m workshop.measure_claims
	$(PY) -m workshop.excerpts --write

# JupyterLab on the notebooks, with the workshop's virtual environment as the kernel.
notebooks: $(STAMP)
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

# The notebooks are committed without outputs (a test checks): clear them before committing.
notebooks-clean: $(STAMP)
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

lock: $(STAMP)
	$(PY) -m pip install --quiet --quiet pip-tools
	$(VENV)/bin/pip-compile --quiet --extra dev --strip-extras -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .test-results
