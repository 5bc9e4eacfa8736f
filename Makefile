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

.PHONY: all venv test unit nbval run lab course student grade clean distclean

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

# Exercises through nbgrader (see exercises/README.md). The course folder (COURSE, git-ignored) holds
# nbgrader's source/, release/, submitted/, autograded/, feedback/, gradebook.db and the reports.
#   make course    write or refresh the course folder from exercises/ (+ the competition's files)
#   make student   nbgrader generate_assignment for every exercise -> $(COURSE)/release/
#   make grade     autograde $(COURSE)/submitted/<student>/<assignment>/ safely; reports + leaderboard
#                  [STUDENT=id] [ASSIGNMENT=name] [CELL_TIMEOUT=s] [NOTEBOOK_TIMEOUT=s]
COURSE ?= course

course: $(STAMP)
	$(PY) -m labkit.exercises course $(COURSE)

student: course
	$(PY) -m labkit.exercises release $(COURSE)

grade: $(STAMP)
	$(PY) -m labkit.exercises grade $(COURSE) $(if $(STUDENT),--student $(STUDENT)) \
		$(if $(ASSIGNMENT),--assignment $(ASSIGNMENT)) $(if $(CELL_TIMEOUT),--cell-timeout $(CELL_TIMEOUT)) \
		$(if $(NOTEBOOK_TIMEOUT),--notebook-timeout $(NOTEBOOK_TIMEOUT))

clean:
	rm -rf $(BUILD) .pytest_cache

distclean: clean
	rm -rf $(VENV)
