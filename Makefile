# Deep Recommender Systems, hands-on.
#   make test   unit tests, every notebook in smoke mode, nbval reproducibility (the test command)
#   make run    every notebook at full scale, then build/report.md (fails if a floor is missed)
#   make lab    JupyterLab on the notebooks, in the course's kernel
# Each target creates .venv and installs the pinned stack on first use.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
KERNEL := deeprec
BUILD  := build

.PHONY: all venv test unit nbval run lab student grade clean distclean

all: test

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --requirement requirements.txt
	$(PY) -m pip install --quiet --no-deps --editable .
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Deep RecSys (.venv)"
	touch $(STAMP)

venv: $(STAMP)

# The README's test command. Unit tests and smoke-executed notebooks first, then nbval re-runs
# the executed notebooks and compares the cells marked `# NBVAL_CHECK_OUTPUT`.
test: unit nbval

unit: $(STAMP)
	$(PY) -m pytest labkit tests

nbval: unit
	$(PY) -m pytest -p no:cacheprovider --nbval-lax --nbval-kernel-name $(KERNEL) \
		--nbval-cell-timeout 900 $(BUILD)/smoke/[0-9]*.ipynb

run: $(STAMP)
	$(PY) -m labkit.report run --build $(BUILD)
	$(PY) -m pytest -p no:cacheprovider -o addopts="" tests/check_floors.py -v

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

# Exercises (see exercises/README.md): student versions into build/exercises/student, and grading
# of a folder of completed notebooks: make grade DIR=path/to/folder [RATINGS_TEST=.../ratings_test.csv]
student: $(STAMP)
	$(PY) -m labkit.exercises student exercises $(BUILD)/exercises/student

grade: $(STAMP)
	$(PY) -m labkit.exercises grade $(DIR) $(if $(RATINGS_TEST),--ratings-test $(RATINGS_TEST))

clean:
	rm -rf $(BUILD) .pytest_cache

distclean: clean
	rm -rf $(VENV)
