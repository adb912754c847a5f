# rehabwatch: the two commands a newcomer needs are `make demo` and `make test`.
# Both create their own virtual environment (.venv) and install what they need.

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test deps system-deps bench clean

demo: deps
	$(BIN)/python -m rehabwatch.demo

test: deps
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: deps
	for b in bench_startup bench_fit bench_fitbit bench_formats bench_summary bench_evaluate bench_rules burden bench_stream bench_api bench_cohort bench_demo; do \
	  $(BIN)/python -m bench.$$b || exit 1; done

deps: $(STAMP) system-deps

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

# PostgreSQL server binaries for the storage tests, Chromium for the browser tests (Debian
# packages; needs root or sudo).
system-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq postgresql; }
	@[ -x /usr/bin/chromium ] || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

clean:
	rm -rf $(VENV) rehabwatch.db demo-out
