# The workshop's front door. Every target builds the virtual environment first
# (once: it is rebuilt only when requirements.lock or pyproject.toml change).

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The most advanced stage that exists: `make demo` runs its demo.
DEMO_STAGE ?= stage05_scaling

.DEFAULT_GOAL := help
PHONY_STEPS := step step-test steps-test steps-edit steps
.PHONY: $(PHONY_STEPS) help setup browser loadtest chaos pressure pooler demo test lint format db db-stop db-url psql reset diff diffs measure-claims bench measurements screenshots notebooks notebooks-clean lock clean

help:
	@echo "make setup     create .venv and install the pinned dependencies (demo and test do it too)"
	@echo "make demo      run the workshop's demo ($(DEMO_STAGE))"
	@echo "make test      run every stage's tests and ruff"
	@echo "make db        start the embedded PostgreSQL (db-stop, db-url, psql)"
	@echo "make reset DB=stage02_db_queue  empty a stage's queue tables (before an exercise)"
	@echo "make diff FROM=2 TO=3   the code that changed between two stages (FROM=5.2 TO=5.3: steps)"
	@echo "make step N=3  stage 5's step 3 as a project of its own, in .steps/ (make step-test N=3)"
	@echo "make measure-claims     tasks/s of the claims of stages 2 and 3"
	@echo "make bench     stage 5 against plain SQL and other queues (.measurements/bench.txt; ~5 min)"
	@echo "make chaos     stage 5: 10,000 tasks, a worker SIGKILLed every 2 s, a database restart"
	@echo "make pressure  stage 5 at 600 tasks/s through a held horizon, readers, kills, a lock (~7 min)"
	@echo "make loadtest  stage 5 under locust: 1, 2 and 4 worker processes (.measurements/load.csv)"
	@echo "make measurements       maintainers: refresh the committed measurements/ and the quotes"
	@echo "make notebooks          open the notebooks in JupyterLab (notebooks-clean: clear outputs)"
	@echo "make diffs     refresh diffs/ and the README excerpts after changing a stage"
	@echo "make screenshots       the dashboard screenshots of the stage 5 README (stage05_scaling/docs)"
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

test: $(STAMP) browser pooler
	$(PY) -m workshop.testrun

# Stage 5's dashboard test drives Debian's chromium. Installed here when missing and we may
# (root, apt); otherwise that one test is skipped and this says what to install.
browser:
	@if [ ! -x /usr/bin/chromedriver ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing chromium and chromium-driver (apt) for the dashboard test"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
			|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }; \
		else \
			echo "No /usr/bin/chromedriver: the dashboard test will be skipped (sudo apt-get install chromium chromium-driver)"; \
		fi; \
	fi

# Stage 5's pooler tests run workers through Debian's pgbouncer, in transaction pooling. Installed
# here when missing and we may (root, apt); otherwise those tests are skipped and this says so.
pooler:
	@if [ ! -x /usr/sbin/pgbouncer ] && ! command -v pgbouncer >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing pgbouncer (apt) for the pooler tests"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null \
			|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null; }; \
		else \
			echo "No pgbouncer: the pooler tests will be skipped (sudo apt-get install pgbouncer)"; \
		fi; \
	fi

# Stage 5 under fire: workers killed with SIGKILL, the database restarted; checks nothing is lost.
chaos: $(STAMP)
	cd stage05_scaling && ../$(PY) manage.py chaos

# Stage 5 under pressure: a held xmin horizon, analytics readers, killed backends, a lock.
pressure: $(STAMP)
	cd stage05_scaling && ../$(PY) manage.py pressure

# Stage 5's load test: locust over HTTP against 1, 2 and 4 worker processes. Writes
# .measurements/load.csv (untracked; `make measurements` refreshes the committed one).
loadtest: $(STAMP)
	cd stage05_scaling && ../$(PY) manage.py loadtest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

db: $(STAMP)
	$(PY) -m workshop.database start

db-stop: $(STAMP)
	$(PY) -m workshop.database stop

db-url: $(STAMP)
	@$(PY) -m workshop.database url $(DB)

psql: $(STAMP)
	$(PY) -m workshop.database psql $(DB)

# Empty a stage's queue tables before an exercise: make reset DB=stage02_db_queue
reset: $(STAMP)
	@$(PY) -m workshop.reset $(DB)

diff: $(STAMP)
	@$(PY) -m workshop.stagediff $(FROM) $(TO)

# Stage 5 in steps (steps/stage05/, workshop/steps.py): `make step N=3` writes step 3 as a
# project of its own under .steps/; `make diff FROM=5.2 TO=5.3` compares two steps.
step: $(STAMP)
	@test -n "$(N)" || { echo "which step? make step N=3 (stage 5 has steps 1 to $$(ls steps/stage05/*.patch | wc -l))"; exit 2; }
	@$(PY) -m workshop.steps show $(N)

step-test: $(STAMP)
	@test -n "$(N)" || { echo "which step? make step-test N=3"; exit 2; }
	$(PY) -m workshop.steps test $(N)

# Every step's whole suite, one after another (make test runs each step's own tests only).
steps-test: $(STAMP)
	@for n in $$(seq 1 $$(ls steps/stage05/*.patch | wc -l)); do \
		echo "== step $$n"; $(PY) -m workshop.steps test $$n || exit 1; done

# Change a step: `make steps-edit` makes its commits in .steps/stage05/repo; change them there
# (git rebase -i, git commit --amend), then `make steps` writes the patches and stage05_scaling/.
steps-edit: $(STAMP)
	$(PY) -m workshop.steps edit

steps: $(STAMP)
	$(PY) -m workshop.steps save
	$(PY) -m workshop.stagediff --write

# Refresh the committed diffs and README excerpts after changing a stage.
diffs: $(STAMP)
	$(PY) -m workshop.stagediff --write
	$(PY) -m workshop.excerpts --write
	$(PY) -m workshop.copies --write

# Writes .measurements/claims.txt (untracked; `make measurements` refreshes the committed one).
measure-claims: $(STAMP)
	$(PY) -m workshop.measure_claims

# The benchmark (workshop/bench): writes .measurements/bench.csv and bench.txt (untracked). The
# other queues it compares come from the `bench` extra (locked).
bench: $(STAMP)
	$(PY) -m workshop.bench

# For maintainers: every measurement the READMEs quote, run again into the committed
# measurements/, and the quotes refreshed (workshop/measurements.py). About 25 minutes.
measurements: $(STAMP)
	$(PY) -m workshop.measure_claims --save
	$(PY) -m workshop.bench --save
	$(PY) -m workshop.bench --only growth --save
	$(PY) -m workshop.bench.turns --save
	cd stage05_scaling && ../$(PY) manage.py loadtest --save
	cd stage05_scaling && ../$(PY) manage.py demo --save
	cd stage05_scaling && ../$(PY) manage.py compare_threads --save
	cd stage05_scaling && ../$(PY) manage.py chaos --save ../measurements/chaos.txt
	cd stage05_scaling && ../$(PY) manage.py pressure --save ../measurements/pressure.txt --plot ../measurements/pressure.svg
	$(PY) -m workshop.web_burst --save measurements/web_burst.txt
	$(PY) -m workshop.excerpts --write
	$(PY) -m workshop.copies --write

# The dashboard's screenshots in the stage 5 README, taken by its browser test against real workers.
screenshots: $(STAMP) browser
	WORKSHOP_SCREENSHOTS=stage05_scaling/docs $(PY) -m pytest tests/stage05_scaling/test_dashboard.py -q

# JupyterLab on the notebooks, with the workshop's virtual environment as the kernel.
notebooks: $(STAMP)
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

# The notebooks are committed without outputs (a test checks): clear them before committing.
notebooks-clean: $(STAMP)
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

lock: $(STAMP)
	$(PY) -m pip install --quiet --quiet pip-tools
	$(VENV)/bin/pip-compile --quiet --extra dev --extra bench --strip-extras -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .test-results
