# Deep Recommender Systems, hands-on.
#   make test   unit tests, every notebook in smoke mode, nbval reproducibility (the test command)
#   make run    every notebook at full scale, then build/report.md (fails if a floor is missed)
#   make lab    JupyterLab on the notebooks, in the course's kernel
# Each target creates .venv and installs the pinned stack on first use (`make venv`).
#
# Python: the pinned stack needs 3.11 or 3.12. With uv on the PATH, uv finds such a Python (or
# downloads one) and installs; otherwise the first of $(PYTHON) that runs and is 3.11 or 3.12, with
# pip. `make python` prints the choice. `make venv UV=` uses pip even where uv is present;
# `make venv UV= PYTHON=/path/to/python3.12` names the interpreter.
# torch: on Linux the CPU build (~200 MB) from $(TORCH_CPU_INDEX); `make venv TORCH=cuda` takes PyPI's
# CUDA build instead (~2.7 GB more, for an NVIDIA GPU). TORCH_CPU_INDEX= (empty) turns the index off:
# torch==2.13.0 then comes from PyPI or from PIP_FIND_LINKS (CI does that; the index is unreachable there).

PYTHON_VERSIONS := 3.11 3.12
PYTHON_SPEC     := >=3.11,<3.13
PYTHON ?= python3.12 python3.11 python3
UV     ?= $(shell command -v uv 2>/dev/null)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
KERNEL := deeprec
BUILD  := build
LAB_ARGS ?=

TORCH ?= cpu
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
ifneq ($(filter-out cpu cuda,$(TORCH)),)
$(error TORCH=$(TORCH): use TORCH=cpu (the default) or TORCH=cuda)
endif
ifeq ($(TORCH)-$(shell uname -s),cpu-Linux)
TORCH_INDEX := $(TORCH_CPU_INDEX)
endif
PIP_FLAGS := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
UV_FLAGS  := $(foreach f,$(PIP_FIND_LINKS),--find-links $(f)) \
             $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX) --index-strategy unsafe-best-match)
# uv installs without .pyc files (faster); Python writes them on first import, unless a machine-wide
# PYTHONDONTWRITEBYTECODE=1 stops it and every kernel start recompiles TensorFlow and torch (~2x slower).
unexport PYTHONDONTWRITEBYTECODE

# Sets $py to the first of $(PYTHON) that runs, is a supported version and has venv; otherwise
# prints one message and stops. Shared by `make python` and the pip branch of `make venv`.
define FIND_PYTHON
py=; found=; \
for c in $(PYTHON); do \
  v=$$($$c -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue; \
  case " $(PYTHON_VERSIONS) " in \
    *" $$v "*) if $$c -c 'import ensurepip' 2>/dev/null; then py=$$(command -v $$c); break; fi; \
               found="$$found $$c ($$v, without venv)";; \
    *) found="$$found $$c ($$v)";; \
  esac; \
done; \
if [ -z "$$py" ]; then printf '%s\n' \
  "make: no supported Python found. Found:$${found:- none that runs, of: $(PYTHON)}." \
  "The course needs Python 3.11 or 3.12 (its pinned numpy 1.26.4 has no wheel for 3.13+; pandas 3 needs 3.11)." \
  "Easiest: get uv, which fetches Python 3.12 by itself, then run make again:" \
  "  Linux, Windows (inside WSL2):  curl -LsSf https://astral.sh/uv/install.sh | sh" \
  "  macOS:                         brew install uv    (or the curl line above)" \
  "Or get Python 3.12 and run make again (or: make venv PYTHON=/path/to/python3.12):" \
  "  Ubuntu 24.04 / Debian 12, WSL2: sudo apt install python3-venv    (their python3 is 3.12 / 3.11)" \
  "  macOS:                         brew install python@3.12" \
  "  Windows:                       wsl --install, then the Linux lines inside WSL2" >&2; \
  exit 1; fi
endef

.PHONY: all venv python test unit nbval run run-1m lab course student grade clean distclean test-grading

all: test

# The interpreter `make venv` will use (tests/test_setup.py checks this with fake interpreters).
python:
ifneq ($(UV),)
	@echo "uv $(UV)"; $(UV) python find '$(PYTHON_SPEC)' 2>/dev/null || echo "(uv will download Python $(PYTHON_SPEC))"
else
	@$(FIND_PYTHON); echo "$$py"
endif

$(STAMP): requirements.txt pyproject.toml
ifneq ($(UV),)
	UV_VENV_CLEAR=1 $(UV) venv --seed --python '$(PYTHON_SPEC)' $(VENV)
	$(UV) pip install --python $(PY) $(UV_FLAGS) --requirement requirements.txt
	$(UV) pip install --python $(PY) --no-deps --editable .
else
	@$(FIND_PYTHON); echo "$$py -m venv --clear $(VENV)"; "$$py" -m venv --clear $(VENV)
	$(PY) -m pip install --quiet $(PIP_FLAGS) --requirement requirements.txt
	$(PY) -m pip install --quiet --no-deps --editable .
endif
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Deep RecSys (.venv)"
	$(PY) -c 'import labkit.frameworks as f; f.write_pth()'  # a plain `import mxnet` works (np.bool shim)
	mkdir -p $(VENV)/share/jupyter/lab/settings  # no "Jupyter news?" pop-up over every notebook
	printf '%s\n' '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' \
		> $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $(STAMP)

venv: $(STAMP)

# The README's test command. Unit tests and smoke-executed notebooks first, then nbval re-runs
# the executed notebooks and compares the cells tagged `nbval-check-output`. Notebooks run in
# batch mode (no progress bars) with matplotlib's inline backend.
test: unit nbval

unit: $(STAMP)
	$(PY) -m pytest labkit tests

nbval: unit
	env -u MPLBACKEND LABKIT_BATCH=1 $(PY) -m pytest -p no:cacheprovider --nbval-lax --nbval-kernel-name $(KERNEL) \
		--nbval-cell-timeout 900 $(BUILD)/smoke/[0-9]*.ipynb

run: $(STAMP)
	$(PY) -m labkit.report run --build $(BUILD)
	$(PY) -m pytest -p no:cacheprovider -o addopts="" tests/check_floors.py -v

# The ML-1M notebooks at full size on synthetic-1m (ML-1M's formats and counts, synthetic content):
# times only, no floors. Run it before `make run`, whose report then has a section on it.
run-1m: $(STAMP)
	$(PY) -m labkit.report run --build $(BUILD)/synthetic-1m --dataset synthetic-1m \
		--only 01_data_preparation 02_lstm_sequential 07_funk_svd

# The container runs it with LAB_ARGS="--ip=0.0.0.0 --port=8888 --no-browser --allow-root".
lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks $(LAB_ARGS)

# Exercises through nbgrader (see exercises/README.md). The course folder (COURSE, git-ignored) holds
# nbgrader's source/, release/, submitted/, autograded/, feedback/, gradebook.db and the reports.
#   make course    write or refresh the course folder from exercises/ (+ the competition's files)
#   make student   nbgrader generate_assignment for every exercise -> $(COURSE)/release/
#   make grade     grade $(COURSE)/submitted/<student>/<assignment>/, each in a bubblewrap sandbox, scored
#                  outside it; reports, gradebook, leaderboard. [STUDENT=id] [ASSIGNMENT=name] [WORKERS=n]
#                  [CELL_TIMEOUT=s] [NOTEBOOK_TIMEOUT=s] [MEMORY=GiB] [GRADE_ARGS="--unsafe-no-sandbox ..."]
COURSE ?= course

course: $(STAMP)
	$(PY) -m labkit.course course $(COURSE)

student: course
	$(PY) -m labkit.course release $(COURSE)

grade: $(STAMP)
	$(PY) -m labkit.course grade $(COURSE) $(if $(STUDENT),--student $(STUDENT)) \
		$(if $(ASSIGNMENT),--assignment $(ASSIGNMENT)) $(if $(CELL_TIMEOUT),--cell-timeout $(CELL_TIMEOUT)) \
		$(if $(NOTEBOOK_TIMEOUT),--notebook-timeout $(NOTEBOOK_TIMEOUT)) $(if $(WORKERS),--workers $(WORKERS)) \
		$(if $(MEMORY),--memory $(MEMORY)) $(GRADE_ARGS)

clean:
	rm -rf $(BUILD) .pytest_cache

distclean: clean
	rm -rf $(VENV)

# The grader's integration tests (issue 20; CI calls this, after `apt-get install -y bubblewrap`): the
# red-team suite (hostile notebooks against the sandbox, the probes and the judges) and the sandboxed
# round trip of all 7 exercises (solutions full marks, untouched release zero, the competition).
test-grading: $(STAMP)
	@command -v bwrap >/dev/null || { echo "make test-grading: bubblewrap (bwrap) is missing; Debian/Ubuntu: sudo apt-get install -y bubblewrap" >&2; exit 1; }
	CI=$${CI:-1} $(PY) -m pytest -p no:cacheprovider -o addopts="-ra" -m integration tests/test_grading_attacks.py tests/test_exercises.py
