"""labkit: the small helper package shared by the course notebooks.

Modules: ``data`` (MovieLens download, verification, parsing, synthetic data, the Funk-SVD
tutorial files), ``splits``, ``sequences``, ``metrics``, ``frameworks`` (MXNet import shim, seeding,
device), ``results`` (recording headline numbers), ``plots``, ``report`` (the ``make run`` report),
``competition`` (notebook 07's competition), ``exercises`` (exercises through nbgrader: course
folder, safe grading), ``review`` (tampering in students' cells) and
``gluon`` (the MXNet notebooks' losses and training loop; imports MXNet, so import it explicitly).
"""

from . import competition, data, metrics, plots, results, sequences, splits  # noqa: F401
from .frameworks import device, import_mxnet, seed_everything  # noqa: F401
from .results import record  # noqa: F401

__version__ = "0.1.0"
