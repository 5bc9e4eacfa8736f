"""Framework set-up shared by the notebooks: importing MXNet, seeding, choosing a device, and
telling which frameworks this machine can have.

The numpy shim MXNet 1.9.1 needs lives here and nowhere else (``_restore_numpy_bool``). It runs in
``import_mxnet()`` and, in the course environment, in an import hook that ``make venv`` installs
with a .pth file (``write_pth``), so a plain ``import mxnet`` works in a notebook too.

Where a framework cannot be had (MXNet: no wheel for macOS arm64 or Windows; its Linux aarch64
wheel needs the Arm Performance Libraries), ``unavailable`` says why and what to do, and the
lessons that list it in ``metadata.labkit.requires`` are skipped with that reason
(``lesson_unavailable``). ``LABKIT_HIDE_MXNET=1`` makes any machine answer as one without
MXNet; CI tests that path with it.

Importing this module is cheap (no numpy): the course environment imports it at every start-up.
"""

from __future__ import annotations

import os
import sys
import warnings

# Where each framework of the pinned stack has wheels: (sys.platform, machine).
WHEELS = {
    "mxnet": {("linux", "x86_64"), ("linux", "aarch64"), ("darwin", "x86_64")},
    "tensorflow": {("linux", "x86_64"), ("linux", "aarch64"), ("darwin", "arm64"), ("win32", "x86_64")},
    "torch": {("linux", "x86_64"), ("linux", "aarch64"), ("darwin", "arm64"), ("win32", "x86_64")},
}
NAMES = {"mxnet": "MXNet 1.9.1 (its last release)", "tensorflow": "TensorFlow 2.21", "torch": "PyTorch 2.13"}
SYSTEMS = {"linux": "Linux", "darwin": "macOS", "win32": "Windows"}
REMEDY = ("Run those lessons on an x86_64 machine: Linux, Windows with WSL2, GitHub Codespaces (this repository's "
          "dev container) or the course container on an x86_64 host (README, 'Where it runs'); every other lesson "
          "runs here.")
# MXNet 1.9.1's Linux aarch64 wheel links the Arm Performance Libraries without shipping them.
ARMPL = ("MXNet 1.9.1's Linux aarch64 wheel needs the Arm Performance Libraries (libarmpl_lp64_mp.so), which no "
         "package index provides (install them from Arm's website and put their lib folder on LD_LIBRARY_PATH), "
         "so the lessons that need MXNet cannot run here.")
PTH_NAME = "labkit-mxnet-hook.pth"


class MXNetUnavailable(ModuleNotFoundError):
    """MXNet cannot be imported here; the message says why and what to do."""


def hidden(framework: str) -> bool:
    """Return True when ``LABKIT_HIDE_<FRAMEWORK>`` (e.g. ``LABKIT_HIDE_MXNET=1``) asks to act as if it had no wheel here.

    >>> hidden("nothing-of-that-name")
    False
    """
    return os.environ.get(f"LABKIT_HIDE_{framework.upper()}", "") not in ("", "0")


def unavailable(framework: str, system: str | None = None, machine: str | None = None) -> str | None:
    """Return why ``framework`` ('mxnet', 'tensorflow', 'torch') cannot be had on this machine, or None.

    A framework is unavailable where the pinned release has no wheel for the platform (``WHEELS``;
    ``system``/``machine`` default to this machine's ``sys.platform`` / ``platform.machine()``), where
    its wheel needs a library that cannot be loaded (MXNet on Linux aarch64: the Arm Performance
    Libraries), or when it is hidden (``hidden``). One that could be installed here but is not
    counts as available: importing it then fails loudly, so a broken set-up never passes as a skip.

    >>> unavailable("torch", "linux", "x86_64") is None
    True
    >>> why = unavailable("mxnet", "darwin", "arm64"); "container" in why and "WSL2" in why
    True
    """
    if framework not in WHEELS:
        raise ValueError(f"unknown framework {framework!r}; use one of {sorted(WHEELS)}")
    if hidden(framework):
        return (f"{NAMES[framework]} is hidden by LABKIT_HIDE_{framework.upper()}=1, as on a machine where it has "
                f"no wheel. {REMEDY}")
    if system is None or machine is None:
        import platform

        system, machine = system or sys.platform, machine or platform.machine()
    system = "linux" if system.startswith("linux") else system
    machine = machine.lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64" if system == "linux" else "arm64"}.get(machine, machine)
    if (framework, system, machine) == ("mxnet", "linux", "aarch64") and not _loadable("libarmpl_lp64_mp.so"):
        return f"{ARMPL} {REMEDY}"
    if (system, machine) in WHEELS[framework]:
        return None
    apple_silicon = (system, machine) == ("darwin", "arm64")
    where = SYSTEMS.get(system, system) + (" on Apple Silicon" if apple_silicon else f" {machine}")
    return f"{NAMES[framework]} has no wheel for {where}, so the lessons that need it cannot run here. {REMEDY}"


def _loadable(library: str) -> bool:
    """Return True if the shared library can be loaded here."""
    import ctypes

    try:
        ctypes.CDLL(library)
        return True
    except OSError:
        return False


def lesson_unavailable(path) -> str | None:
    """Return why the notebook at ``path`` cannot run here, or None when it can.

    A notebook lists the frameworks it needs in its metadata as ``metadata.labkit.requires``
    (e.g. ``["mxnet"]``); the answer is the reason of the first one ``unavailable`` here. The tests
    and ``make run`` skip such a notebook with that reason.

    >>> lesson_unavailable("notebooks/01_data_preparation.ipynb") is None
    True
    """
    import json
    from pathlib import Path

    meta = json.loads(Path(path).read_text()).get("metadata", {}).get("labkit", {})
    for framework in meta.get("requires", []):
        why = unavailable(framework)
        if why:
            return f"{Path(path).name} needs {framework}: {why}"
    return None


def _restore_numpy_bool() -> None:
    """Restore the ``np.bool`` alias that numpy 1.24 removed and MXNet 1.9.1 still uses at import."""
    import numpy as np

    if "bool" not in np.__dict__:
        np.bool = bool  # the alias numpy removed (it always was the builtin); MXNet 1.9.1 still uses it


def import_mxnet():
    """Import and return ``mxnet`` after restoring the ``np.bool`` alias it still uses.

    Where MXNet cannot be had (see ``unavailable``) or is not installed, raises ``MXNetUnavailable``
    with the reason and what to do.

    >>> mx = import_mxnet() if unavailable("mxnet") is None else None   # None where MXNet has no wheel
    >>> mx is None or mx.__version__ == "1.9.1"
    True
    """
    why = unavailable("mxnet")
    if why:
        raise MXNetUnavailable(why)
    _restore_numpy_bool()
    try:
        with warnings.catch_warnings():  # MXNet's import trips numpy/distutils deprecation notices
            warnings.simplefilter("ignore", DeprecationWarning)
            import mxnet
    except ModuleNotFoundError as exc:
        if exc.name not in ("mxnet", "distutils"):
            raise
        missing = "MXNet is not installed" if exc.name == "mxnet" else "MXNet needs distutils (setuptools on Python 3.12)"
        raise MXNetUnavailable(f"{missing} in this environment ({sys.prefix}): run `make venv`, which installs "
                               "requirements.txt.") from exc
    except OSError as exc:  # libmxnet.so found, but a system library it links is missing
        raise MXNetUnavailable(f"MXNet is installed but its library cannot be loaded ({exc}). On Debian or Ubuntu: "
                               "sudo apt install libgomp1 libquadmath0") from exc
    return mxnet


class _MXNetImportHook:
    """A finder placed first on ``sys.meta_path``: before ``import mxnet`` it restores ``np.bool``.

    It finds nothing itself (the usual finders import MXNet); when MXNet is hidden it raises
    ``MXNetUnavailable`` instead, as the import would fail on a machine without MXNet.
    """

    def find_spec(self, name, path=None, target=None):
        if name == "mxnet":
            why = unavailable("mxnet")
            if why and hidden("mxnet"):
                raise MXNetUnavailable(why)
            if why is None:
                _restore_numpy_bool()
        return None


def install_mxnet_hook() -> bool:
    """Put the MXNet import hook on ``sys.meta_path`` (once); return True if it was added now.

    The course environment's .pth file (``write_pth``) calls this at every interpreter start-up.

    >>> install_mxnet_hook() in (True, False) and any(type(f).__name__ == "_MXNetImportHook" for f in sys.meta_path)
    True
    """
    if any(type(f).__name__ == "_MXNetImportHook" for f in sys.meta_path):
        return False
    sys.meta_path.insert(0, _MXNetImportHook())
    return True


def write_pth(site_dir=None):
    """Write the .pth file that installs the MXNet import hook at start-up; return its path.

    ``site_dir`` defaults to this interpreter's site-packages; ``make venv`` calls this in .venv.
    The line does nothing when labkit cannot be found (e.g. the repository moved).

    >>> import tempfile; write_pth(tempfile.mkdtemp()).name
    'labkit-mxnet-hook.pth'
    """
    import sysconfig
    from pathlib import Path

    path = Path(site_dir or sysconfig.get_path("purelib")) / PTH_NAME
    path.write_text('import importlib.util as _u; _u.find_spec("labkit") and '
                    '__import__("labkit.frameworks").frameworks.install_mxnet_hook()\n')
    return path


def seed_everything(seed: int, deterministic: bool = True) -> int:
    """Seed Python's ``random``, numpy and every framework already imported; return ``seed``.

    TensorFlow (``keras.utils.set_random_seed``, plus op determinism when ``deterministic``),
    PyTorch (``manual_seed``, deterministic algorithms) and MXNet (``mx.random.seed``) are seeded
    only if the notebook has imported them, so calling this never imports a framework.
    Call it after the imports and before building a model.

    PyTorch's determinism is set without importing its compiler stack (``torch._inductor``,
    which imports triton): ``torch.use_deterministic_algorithms`` imports it, and on PyPI's CUDA
    build (which brings triton) ``import tensorflow`` then triton kills the process (segfault).
    ``_torch_deterministic`` sets the same two flags that call sets (see there).

    >>> import numpy as np
    >>> seed_everything(3); a = np.random.rand(); seed_everything(3); a == np.random.rand()
    3
    3
    True
    """
    import random

    import numpy as np

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
            _torch_deterministic(torch)
    if "mxnet" in sys.modules:
        sys.modules["mxnet"].random.seed(seed)
    return seed


def _torch_deterministic(torch) -> None:
    """Do what ``torch.use_deterministic_algorithms(True, warn_only=True)`` does, without importing triton.

    That call sets the ATen flag (``set_deterministic_debug_mode("warn")`` sets the same one) and
    then imports ``torch._inductor.config`` to set its ``deterministic``; the import pulls in
    torch._inductor and, where triton is installed (PyPI's CUDA build), triton, which segfaults
    once TensorFlow is imported. Here inductor's flag is set through the variable its config reads
    when first imported (``TORCHINDUCTOR_DETERMINISTIC``), or directly if a lesson imported it.
    """
    torch.set_deterministic_debug_mode("warn")
    os.environ["TORCHINDUCTOR_DETERMINISTIC"] = "1"
    config = sys.modules.get("torch._inductor.config")
    if config is not None:
        config.deterministic = True


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
