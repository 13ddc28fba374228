# ticklake: `make run` starts the platform, `make test` runs the checks. Both set themselves up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint pytest bench chaos clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/ticklake up

test: lint pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy contracts streaming orchestration governance serve ticklake

pytest: install
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/parse_throughput.py
	$(BIN)/python bench/floors.py
	$(BIN)/python bench/stage_costs.py
	$(BIN)/python bench/stage_costs.py --collector
	$(BIN)/python bench/sim_throughput.py
	$(BIN)/python bench/sink_throughput.py
	$(BIN)/python bench/aggregator_throughput.py
	$(BIN)/python bench/e2e_throughput.py
	$(BIN)/python bench/e2e_throughput.py --trades-only --rate 12000 --trades 2400000
	$(BIN)/python bench/time_to_first_candle.py
	$(BIN)/python bench/silver_build.py

chaos: install
	$(BIN)/ticklake chaos --trades 1000000 --kills 20

clean:
	rm -rf $(VENV) .ticklake .pytest_cache .mypy_cache .ruff_cache
