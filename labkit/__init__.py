"""labkit: the small helper package shared by the course notebooks.

Modules: ``data`` (MovieLens download, verification, parsing, synthetic data, the Funk-SVD
tutorial files), ``splits``, ``sequences``, ``metrics``, ``frameworks`` (MXNet import shim, seeding,
device, which frameworks this machine can have), ``results`` (recording headline numbers), ``plots``,
``report`` (the ``make run`` report), ``competition`` (notebook 07's submissions), ``exercises``
(student versions, grading) and ``gluon`` (the MXNet notebooks' losses and training loop).

Submodules are imported on first use (PEP 562), so ``import labkit`` costs almost nothing: the
course environment imports it at every interpreter start-up to install the MXNet import hook
(see ``labkit.frameworks``). ``from labkit import data, metrics`` and ``labkit.record`` work as usual.

>>> import labkit; labkit.record.__module__, labkit.metrics.__name__
('labkit.results', 'labkit.metrics')
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("competition", "data", "exercises", "frameworks", "gluon", "metrics", "plots", "report",
               "results", "sequences", "splits")
_FUNCTIONS = {"device": "frameworks", "import_mxnet": "frameworks", "seed_everything": "frameworks",
              "record": "results"}


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f"{__name__}.{_FUNCTIONS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES) | set(_FUNCTIONS))
