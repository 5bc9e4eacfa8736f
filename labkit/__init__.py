"""labkit: the small helper package shared by the course notebooks.

Modules: ``data`` (MovieLens download, verification, parsing, synthetic data, the Funk-SVD
tutorial files), ``splits``, ``sequences``, ``metrics``, ``stats`` (bootstrap intervals and
verdicts), ``baselines`` (popularity, item-kNN, EASE, transition counts, their choice on
validation), ``embeddings`` (what learned vectors say: nearest neighbours, one shared direction), ``frameworks`` (MXNet
import shim, quiet TensorFlow, seeding, device, progress bars, which frameworks this machine can
have), ``results`` (recording headline numbers with intervals, results tables), ``plots``,
``report`` (the ``make run`` report), ``competition`` (notebook 07's competition), ``exercises``
(exercises through nbgrader: course folder, safe grading), ``review`` (tampering in students'
cells), ``gluon`` (the MXNet notebooks' losses and training loop), ``errors`` (labkit's errors, shown
short in a notebook) and ``kernel`` (the course kernel and the notebook metadata that opens unmodified).

Submodules are imported on first use (PEP 562), so ``import labkit`` costs almost nothing: the
course environment imports it at every interpreter start-up to install the MXNet import hook
(see ``labkit.frameworks``). ``from labkit import data, metrics`` and ``labkit.record`` work as usual.

>>> import labkit; labkit.record.__module__, labkit.metrics.__name__
('labkit.results', 'labkit.metrics')
"""

import importlib
import os

__version__ = "0.1.0"

_HERE = os.path.dirname(__file__)
_FUNCTIONS = {"device": "frameworks", "import_mxnet": "frameworks", "import_tensorflow": "frameworks",
              "seed_everything": "frameworks", "record": "results"}  # the names re-exported at the top level, and their modules


def _submodules() -> list[str]:
    return sorted(f[:-3] for f in os.listdir(_HERE) if f.endswith(".py") and not f.startswith("_") and f != "conftest.py")


def __getattr__(name):
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f"{__name__}.{_FUNCTIONS[name]}"), name)
    if not name.startswith("_") and os.path.isfile(os.path.join(_HERE, f"{name}.py")):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_submodules()) | set(_FUNCTIONS))
