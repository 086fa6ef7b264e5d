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

.PHONY: install test release grade bench lab clean

install: $(STAMP)

# Re-running is a no-op until pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q

release: install
	@echo "make release: regenerates notebooks/ and the otter and nbgrader builds from solutions/."
	@echo "Not available yet: it arrives with the first unit."
	@exit 1

grade: install
	@echo "make grade: grades $(SUBMISSIONS) with the $(BACKEND) backend into $(OUT)/."
	@echo "Not available yet: it arrives with the batch grader."
	@exit 1

bench: install
	$(BIN)/python tests/benchmarks/run.py

lab: install
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf autograder/build grades .pytest_cache .hypothesis
	find . -name __pycache__ -prune -exec rm -rf {} +
