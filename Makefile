# The two set-up commands: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= .demo

.PHONY: demo daemon test typecheck faults bench bench-providers clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("crosswatch needs Python 3.11 or newer" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

# Everything against the Plex, Trakt and Jellyfin emulators, in a temporary folder (under a minute).
demo: $(STAMP)
	$(BIN)/crosswatch demo

# The daemon on the example config, in the foreground (Ctrl+C stops it).
daemon: $(STAMP)
	@mkdir -p $(DEMO_DIR)
	@test -f $(DEMO_DIR)/config.toml || cp etc/crosswatch.toml $(DEMO_DIR)/config.toml
	$(BIN)/crosswatch --config-dir $(DEMO_DIR) run

# The whole test suite, on both async backends.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Type checking (CI runs it): core and the plugins, the plugin contract strictly.
typecheck: $(STAMP)
	$(BIN)/python -m mypy

# The fault suite over every write boundary of every scenario (the default run samples them).
faults: $(STAMP)
	CROSSWATCH_FAULT_SWEEP=full $(BIN)/python -m pytest tests/faults $(PYTEST_ARGS)

# The benchmarks (figures printed as JSON).
bench: $(STAMP)
	$(BIN)/python -m tests.bench.bench_core
	$(BIN)/python -m tests.bench.bench_captures
	$(BIN)/python -m tests.bench.bench_runs
	$(BIN)/python -m tests.bench.bench_metrics

# The providers' and the daemon's benchmarks against the emulators (minutes; figures as JSON).
bench-providers: $(STAMP)
	$(BIN)/python -m tests.bench.bench_plex
	$(BIN)/python -m tests.bench.bench_trakt
	$(BIN)/python -m tests.bench.bench_jellyfin
	$(BIN)/python -m tests.bench.bench_sync
	$(BIN)/python -m tests.bench.bench_scrobble
	$(BIN)/python -m tests.bench.bench_web

clean:
	rm -rf $(VENV) $(DEMO_DIR)
