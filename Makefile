# ekuscan: the commands the README documents. Everything installs into .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-dev
DEMO    = .demo

.PHONY: install demo test lint fmt typecheck check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Start the built-in lab on loopback, scan it, print the inventory, stop the lab.
demo: $(STAMP)
	@mkdir -p $(DEMO) && rm -f $(DEMO)/targets.csv
	@$(BIN)/ekuscan lab --write-targets $(DEMO)/targets.csv --duration 300 > $(DEMO)/lab.log 2>&1 & echo $$! > $(DEMO)/lab.pid
	@for i in $$(seq 1 100); do [ -f $(DEMO)/targets.csv ] && break; sleep 0.2; done
	@[ -f $(DEMO)/targets.csv ] || { cat $(DEMO)/lab.log; kill $$(cat $(DEMO)/lab.pid); exit 3; }
	@cat $(DEMO)/lab.log
	@echo
	@$(BIN)/ekuscan scan -i $(DEMO)/targets.csv --public-roots $(DEMO)/targets-public-root.pem \
		--intermediates $(DEMO)/targets-intermediates.pem --timeout 2 -f table --fail-on never; status=$$?; kill $$(cat $(DEMO)/lab.pid) 2>/dev/null; exit $$status

test: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check scanner tests bench
	$(BIN)/ruff format --check scanner tests bench

fmt: $(STAMP)
	$(BIN)/ruff format scanner tests bench
	$(BIN)/ruff check --fix scanner tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict scanner

check: lint typecheck test

# Needs root (nginx on 443, a network namespace, tc netem); installs the peer tools it compares with.
bench: $(STAMP)
	$(BIN)/python bench/bench_sweep.py
	$(BIN)/python bench/bench_store.py
	$(BIN)/python bench/bench_report.py

clean:
	rm -rf $(VENV) $(DEMO) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
