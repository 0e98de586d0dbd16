# Footfall's menu. `make run` and `make test` do all the set-up on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test unit integration lint bench bench-count bench-ab migrate lock clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Footfall needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)  ## the API on 127.0.0.1:8000 with SQLite, in-process worker and schedule
	$(BIN)/footfall serve

test: $(STAMP) lint  ## the whole suite: layer contracts, lint, unit and integration tests
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

lint: $(STAMP)  ## ruff, mypy (strict on src/) and the import-linter layer contracts
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)  ## side-by-side performance ratios (PostgreSQL and Redis on loopback)
	$(BIN)/python bench/run.py

bench-count: $(STAMP)  ## tracking's cost in instructions a request (callgrind; see bench/count.py)
	$(BIN)/python bench/count.py

bench-ab: $(STAMP)  ## one design, two versions of the code, in turns (A=rev B=rev ROUNDS=n ENV="K=v")
	$(BIN)/python bench/ab.py --a $(or $(A),HEAD) --b $(or $(B),.) --rounds $(or $(ROUNDS),6) $(ENV)

migrate: $(STAMP)
	$(BIN)/footfall migrate

lock:  ## constraints.txt from the newest releases pyproject.toml allows (then: make test, commit)
	rm -rf $(VENV)-lock
	$(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/pip install --quiet --upgrade pip
	$(VENV)-lock/bin/pip install --quiet -e '.[dev]'
	{ grep '^#' constraints.txt; $(VENV)-lock/bin/pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf $(VENV)-lock
	@git diff --stat -- constraints.txt

clean:
	rm -rf $(VENV) $(VENV)-lock .pytest_cache .mypy_cache .ruff_cache .hypothesis
