# The README's commands. Everything runs from the project's own virtual environment.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export CHECKPOINTS_DATABASE_URL ?= sqlite:///var/checkpoints.db

.PHONY: run test lint format openapi bench bench-all mutation clean browser-tools spec-tools

$(BIN)/checkpoints: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## run: set up, create and fill the database when needed, serve with gunicorn on $(PORT)
run: $(BIN)/checkpoints
	mkdir -p var
	$(BIN)/checkpoints init-db
	$(BIN)/checkpoints load-example --if-empty
	PORT=$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py

## test: lint, then the whole suite
test: $(BIN)/checkpoints lint browser-tools spec-tools
	$(BIN)/pytest

## browser-tools: axe-core and playwright-core from npm for the browser tests (into var/)
BROWSER_TOOLS := var/browser-tools
browser-tools: $(BROWSER_TOOLS)/node_modules/.installed
$(BROWSER_TOOLS)/node_modules/.installed:
	mkdir -p $(BROWSER_TOOLS)
	cd $(BROWSER_TOOLS) && npm install --no-audit --no-fund --save-exact \
		axe-core@4.14.1 playwright-core@1.65.1
	touch $@

## spec-tools: Spectral with the OWASP ruleset, openapi-typescript and tsc from npm for the
## spec and client tests (into var/)
SPEC_TOOLS := var/spec-tools
spec-tools: $(SPEC_TOOLS)/node_modules/.installed
$(SPEC_TOOLS)/node_modules/.installed:
	mkdir -p $(SPEC_TOOLS)
	cd $(SPEC_TOOLS) && npm install --no-audit --no-fund --save-exact \
		@stoplight/spectral-cli@6.16.3 @stoplight/spectral-owasp-ruleset@2.0.1 \
		openapi-typescript@7.13.0 typescript@5.9.3
	touch $@

lint: $(BIN)/checkpoints
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/checkpoints
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## openapi: regenerate the committed OpenAPI document
openapi: $(BIN)/checkpoints
	$(BIN)/checkpoints openapi openapi/openapi.json

## bench: the crossing answer against the stack's ceiling under wrk, one table (not part of
## make test; BENCH_ARGS=--smoke for a quick pass, see README "Benchmarks")
BENCH_ARGS ?=
bench: $(BIN)/checkpoints
	command -v wrk >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk)
	$(BIN)/python benchmarks/crossing.py $(BENCH_ARGS)

## bench-all: every script in benchmarks/, one after the other
bench-all: $(BIN)/checkpoints
	$(BIN)/python benchmarks/run.py

## mutation: mutation testing of the domain, the write path and the HTTP statuses (not part of
## make test); fails when a surviving mutant is not listed in tests/mutation-survivors.md
## (MUTATION_ARGS: --continue goes on with an interrupted run, --again reruns what was not
## killed, --report judges the last results again)
mutation: $(BIN)/checkpoints
	$(BIN)/python tests/mutation.py $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) mutants var/*.db var/*.db-wal var/*.db-shm
