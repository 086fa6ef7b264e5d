# The course's commands. Every target that needs Python depends on `install`,
# so each is one command on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# nbgrader runs `alembic` from the venv: keep its bin/ first on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)

SUBMISSIONS ?= autograder/demo/submissions
OUT         ?= grades
BACKEND     ?= otter

.PHONY: install test test-fast release grade demo bench lab clean

install: $(STAMP)

# Re-running is a no-op until pyproject.toml changes.
# pip byte-compiles each wheel after unpacking it, on one core (a third of the install); compileall
# spreads that over every core. The grading sandbox mounts the venv read-only, so a module without
# its .pyc is compiled again by every kernel that imports it. The packages' own test suites (a
# quarter of the venv's Python files, none imported by the course or its kernels) are left out:
# 47 s -> 34 s on 2 cores. As under pip, a file that does not compile (torch ships test data in
# newer Python syntax) is left to the interpreter: hence -qq and `|| :`.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e '.[dev]'
	$(BIN)/python -m compileall -qq -j 0 -x 'site-packages/(.*/)?tests?/' $(VENV)/lib || :
	touch $(STAMP)

# The suite on TEST_JOBS workers (pytest-xdist). Tests that share a costly fixture run on one
# worker and the slowest units of work start first (tests/conftest.py); the ten slowest are listed.
TEST_JOBS ?= 2
PYTEST    := $(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist loadgroup --durations=10

test: install
	$(PYTEST)

# The inner loop, a few minutes: helpers, the masters' in-process round trips and their mutants.
# It leaves out the tests marked slow (grading, releases, kernels); CI runs `make test`.
test-fast: install
	$(PYTEST) -m "not slow"

# Student notebooks, their public checks, the otter zip and the nbgrader course, from solutions/.
release: install
	$(BIN)/python -m autograder release

# Builds the release first when a unit's grader build is missing.
grade: install
	$(BIN)/python -m autograder grade $(SUBMISSIONS) --out $(OUT) --backend $(BACKEND)

# Regenerates the demo class and its expected grades from the masters.
demo: install
	$(BIN)/python -m autograder.demo.make_demo

bench: install
	$(BIN)/python tests/benchmarks/run.py

# JupyterLab as a student sees it: autograder/student_lab/ switches nbgrader's menus and server
# extensions off; as root (containers, Colab-like machines) it adds --allow-root. LAB_ARGS: more flags.
LAB_ARGS ?=
lab: install
	JUPYTER_CONFIG_PATH=$(CURDIR)/autograder/student_lab$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH)) \
	  $(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

clean:
	rm -rf autograder/build grades .pytest_cache .hypothesis
	find . -name __pycache__ -prune -exec rm -rf {} +
