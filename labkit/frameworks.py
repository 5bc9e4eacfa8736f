"""Framework set-up shared by the notebooks: importing MXNet, seeding, choosing a device.

The numpy shim MXNet 1.9.1 needs lives here and nowhere else.
"""

from __future__ import annotations

import os
import random
import sys
import warnings

import numpy as np


def import_mxnet():
    """Import and return ``mxnet`` after restoring the ``np.bool`` alias it still uses.

    numpy 1.24 removed ``np.bool``; MXNet 1.9.1 refers to it at import time. We restore it as
    the builtin ``bool`` (what the alias always was) before the import.

    >>> import_mxnet().__version__
    '1.9.1'
    """
    if "bool" not in np.__dict__:
        np.bool = bool  # the alias numpy removed; MXNet 1.9.1 still uses it
    with warnings.catch_warnings():  # MXNet's import trips numpy/distutils deprecation notices
        warnings.simplefilter("ignore", DeprecationWarning)
        import mxnet

    return mxnet


def seed_everything(seed: int, deterministic: bool = True) -> int:
    """Seed Python's ``random``, numpy and every framework already imported; return ``seed``.

    TensorFlow (``keras.utils.set_random_seed``, plus op determinism when ``deterministic``),
    PyTorch (``manual_seed``, deterministic algorithms) and MXNet (``mx.random.seed``) are seeded
    only if the notebook has imported them, so calling this never imports a framework.
    Call it after the imports and before building a model.

    >>> seed_everything(3); a = np.random.rand(); seed_everything(3); a == np.random.rand()
    3
    3
    True
    """
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        tf.keras.utils.set_random_seed(seed)
        if deterministic:
            tf.config.experimental.enable_op_determinism()
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)
        if deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
    if "mxnet" in sys.modules:
        sys.modules["mxnet"].random.seed(seed)
    return seed


def device(framework: str):
    """Return the device to compute on for ``framework`` ('tensorflow', 'torch' or 'mxnet'): a GPU if present, else the CPU.

    TensorFlow: a device string ('/GPU:0' or '/CPU:0'); torch: a ``torch.device``; MXNet: a context.

    >>> str(device("torch")) in ("cpu", "cuda")
    True
    """
    if framework == "tensorflow":
        import tensorflow as tf

        return "/GPU:0" if tf.config.list_physical_devices("GPU") else "/CPU:0"
    if framework == "torch":
        import torch

        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if framework == "mxnet":
        mx = import_mxnet()
        return mx.gpu() if mx.context.num_gpus() > 0 else mx.cpu()
    raise ValueError(f"unknown framework {framework!r}; use 'tensorflow', 'torch' or 'mxnet'")


def import_tensorflow():
    """Import and return ``tensorflow`` with its C++ log lines silenced.

    TensorFlow's C++ runtime writes INFO/WARNING/ERROR lines straight to the process's stderr
    (CPU-feature notices, and a harmless ``E0000 ... use_unbounded_threadpool`` line from
    tf.data in 2.21), which would land in every notebook's output. ``TF_CPP_MIN_LOG_LEVEL=3``
    must be set before the import; Python exceptions are raised as usual.

    >>> import_tensorflow().__version__
    '2.21.0'
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow

    return tensorflow


def batch_mode() -> bool:
    """Return True when a notebook runs unattended (``LABKIT_BATCH=1``: make run, tests, grading).

    Then ``progress`` draws no bars: executed notebooks keep one clean line per epoch.

    >>> os.environ.get("LABKIT_BATCH") == "1" or not batch_mode()
    True
    """
    return os.environ.get("LABKIT_BATCH") == "1"


def progress(iterable, total: int | None = None, desc: str = "", **kwargs):
    """Wrap ``iterable`` in a progress bar: JupyterLab's widget bar (``tqdm.auto``), or none in batch mode.

    The bar disappears when done (``leave=False``); the loop prints its own line per epoch.

    >>> list(progress(range(3), disable=True))
    [0, 1, 2]
    """
    if batch_mode():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, mininterval=0.5, **kwargs)
