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

.PHONY: install test release grade demo bench lab clean

install: $(STAMP)

# Re-running is a no-op until pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q

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

lab: install
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf autograder/build grades .pytest_cache .hypothesis
	find . -name __pycache__ -prune -exec rm -rf {} +
