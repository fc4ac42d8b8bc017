# Everything sets itself up: a fresh clone needs only Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint typecheck format bench clean

# One line while installing; pip's own output goes to .venv/install.log, shown if it fails.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing seedream-batch and its dependencies into $(VENV) (log: $(VENV)/install.log)..."
	@{ $(BIN)/python -m pip install --upgrade pip \
	   && $(BIN)/python -m pip install -e '.[dev]'; } > $(VENV)/install.log 2>&1 \
	 || { tail -n 40 $(VENV)/install.log; echo "install failed; the whole log: $(VENV)/install.log"; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@rm -rf outputs/demo
	$(BIN)/seedream-batch run jobs/demo.yaml --simulate --first-poll 1 --poll-interval 0.5 --progress-every 2
	@echo "gallery: outputs/demo/index.html   summary: outputs/demo/summary.json"

# The suite mostly waits (simulated generation, subprocess runs, a browser): four
# workers finish it in about half the time even on two cores. TEST_WORKERS=0: serial.
TEST_WORKERS ?= 4

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check runner tests
	$(BIN)/ruff format --check runner tests

format: $(STAMP)
	$(BIN)/ruff format runner tests
	$(BIN)/ruff check --fix runner tests

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m runner.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
