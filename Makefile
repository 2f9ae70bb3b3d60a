# Two commands do everything on a fresh clone: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# NautilusTrader, a conformance client of the sim, needs Python >= 3.12: its own venv (pinned version and
# interpreter lookup in the script; without such a Python the script warns and its test skips, saying why).
NT_VENV := .venv-nautilus
# e.g. make demo DEMO_ARGS="--duration 20" (default: the full 2-minute demo)
DEMO_ARGS ?=

.PHONY: demo test install lint bench clean nautilus-venv browser constraints mutate

# constraints.txt: the runtime dependencies at the exact versions the tests ran against (make constraints).
$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel setuptools
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/athena demo $(DEMO_ARGS)

nautilus-venv:
	bash tests/conformance/nautilus_venv.sh $(NT_VENV)

# The web pages' tests drive Debian's chromium with playwright (browsers cannot be downloaded here).
browser:
	@command -v chromium >/dev/null 2>&1 || apt-get install -y -q chromium >/dev/null 2>&1 || \
	  (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null) || \
	  { echo "could not install chromium: run 'apt-get install chromium' as root, then make test"; exit 1; }

test: $(STAMP) nautilus-venv browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy athena workers beat_schedule.py
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy athena workers beat_schedule.py
	$(BIN)/lint-imports

# After upgrading a runtime dependency in the venv and a green `make test`: pin what is installed.
constraints: $(STAMP)
	$(BIN)/python tools/constraints.py > constraints.txt.new && mv constraints.txt.new constraints.txt

# Mutation testing of the money paths (not part of `make test`: it takes hours on 2 cores). Niced: it
# must not starve other work on a shared machine. Incremental: mutants/ keeps verdicts between runs.
# e.g. make mutate MUTANTS="'athena.risk.*'" (mutmut's name patterns; default: every module listed
# in pyproject.toml's [tool.mutmut]).
MUTANTS ?=
mutate: $(STAMP)
	$(BIN)/pip install -q -e '.[mutate]'
	nice -n 19 $(BIN)/mutmut run --max-children 2 $(MUTANTS)
	$(BIN)/python -m tests.mutation.report
	$(BIN)/python -m tests.mutation.survivors
	nice -n 19 $(BIN)/python -m tests.mutation.lua_mutants

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) $(NT_VENV) var .pytest_cache .ruff_cache .mypy_cache .import_linter_cache .grimp_cache mutants
