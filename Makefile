# The README's commands. Everything runs from the project's own virtual environment.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export CHECKPOINTS_DATABASE_URL ?= sqlite:///var/checkpoints.db

.PHONY: run test lint format openapi bench clean

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
test: $(BIN)/checkpoints lint
	$(BIN)/pytest

lint: $(BIN)/checkpoints
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/checkpoints
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## openapi: regenerate the committed OpenAPI document
openapi: $(BIN)/checkpoints
	$(BIN)/checkpoints openapi openapi/openapi.json

## bench: the benchmarks (not part of make test)
bench: $(BIN)/checkpoints
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) var/*.db var/*.db-wal var/*.db-shm
