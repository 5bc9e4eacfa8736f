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

from .errors import LabkitError, ParameterError

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


class MXNetUnavailable(LabkitError, ModuleNotFoundError):
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
        raise ParameterError(f"unknown framework {framework!r}; use one of {sorted(WHEELS)}")
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

    It finds nothing itself for MXNet (the usual finders import it); when MXNet is hidden it raises
    ``MXNetUnavailable`` instead, as the import would fail on a machine without MXNet. For
    ``import tensorflow`` it returns the usual spec with its loader wrapped, so that the import
    runs as in ``import_tensorflow`` (quiet C++ log).
    """

    def find_spec(self, name, path=None, target=None):
        if name == "mxnet":
            why = unavailable("mxnet")
            if why and hidden("mxnet"):
                raise MXNetUnavailable(why)
            if why is None:
                _restore_numpy_bool()
        if name == "tensorflow":
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _QuietLoader(spec.loader)
                    return spec
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


# What TensorFlow 2.21's C++ runtime writes to the process's stderr (fd 2) while it is imported, even
# with TF_CPP_MIN_LOG_LEVEL=3: abseil's notice, the oneDNN notice (once per library that checks) and
# the CPU-feature notice with its second line. Only these lines are dropped; anything else is passed on.
TF_IMPORT_NOISE = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
                   "oneDNN custom operations are on", "cpu_feature_guard", "To enable the following instructions:",
                   "rebuild TensorFlow with the appropriate compiler flags")
# Environment of the course kernel (``make venv`` writes it into the kernel spec): TensorFlow's C++ log
# at ERROR and above only is still too much (tf.data writes a harmless ``E0000 ... use_unbounded_threadpool``).
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}


def _drop_noise(text: str, noise=TF_IMPORT_NOISE) -> str:
    """Return ``text`` without the lines that contain one of ``noise``.

    >>> _drop_noise("I0000 00:00 port.cc:153] oneDNN custom operations are on. ...\\nreal trouble\\n")
    'real trouble\\n'
    """
    return "".join(line for line in text.splitlines(keepends=True) if not any(n in line for n in noise))


class _quiet_stderr:
    """Context manager: what is written to fd 2 inside it is held back, then written out less ``TF_IMPORT_NOISE``.

    C++ libraries write to the file descriptor, not to ``sys.stderr``, so the descriptor itself is
    pointed at a temporary file for the duration (in Jupyter, ipykernel forwards fd 2 to the
    notebook; the descriptor it forwards from is put back afterwards).
    """

    def __enter__(self):
        import tempfile

        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed or odd stream: nothing to flush
                pass
        try:
            self._saved = os.dup(2)
        except OSError:  # no fd 2 at all (some embedded interpreters): nothing to quieten
            self._saved = None
            return self
        self._tmp = tempfile.TemporaryFile()
        os.dup2(self._tmp.fileno(), 2)
        return self

    def __exit__(self, *exc):
        if self._saved is None:
            return False
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._tmp.seek(0)
        rest = _drop_noise(self._tmp.read().decode("utf-8", "replace"))
        self._tmp.close()
        if rest:
            sys.stderr.write(rest)
            sys.stderr.flush()
        return False


def _triton_first() -> None:
    """Import triton before TensorFlow where it is installed (PyPI's CUDA build of torch brings it):
    ``import tensorflow`` then ``import triton`` kills the process with a segfault, the other order
    works, and a lesson may reach triton later through ``torch.compile`` or ``torch._inductor``."""
    import importlib.util

    if "triton" not in sys.modules and "tensorflow" not in sys.modules and importlib.util.find_spec("triton"):
        with _quiet_stderr():
            import triton  # noqa: F401


class _QuietLoader:
    """Wraps TensorFlow's loader so that a plain ``import tensorflow`` runs inside ``_quiet_stderr``."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        for key, value in QUIET_ENV.items():
            os.environ.setdefault(key, value)
        sys.modules.pop("tensorflow", None)   # being imported: let triton go first
        _triton_first()
        sys.modules["tensorflow"] = module
        with _quiet_stderr():
            self._loader.exec_module(module)


def import_tensorflow():
    """Import and return ``tensorflow`` with its C++ log lines silenced.

    TensorFlow's C++ runtime writes INFO/WARNING/ERROR lines straight to the process's stderr
    (abseil's and oneDNN's notices at import, CPU-feature notices, and a harmless
    ``E0000 ... use_unbounded_threadpool`` line from tf.data in 2.21), which would land in every
    notebook's output. ``TF_CPP_MIN_LOG_LEVEL=3`` is set before the import (later lines), and the
    notices written during the import itself, which ignore it, are dropped (``TF_IMPORT_NOISE``);
    Python exceptions are raised as usual. Where triton is installed (a CUDA build of torch), it is
    imported first: after TensorFlow, importing it segfaults. In the course environment a plain ``import tensorflow``
    is quiet too (the import hook of ``write_pth``, and ``QUIET_ENV`` in the kernel spec).

    >>> import_tensorflow().__version__
    '2.21.0'
    """
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    _triton_first()
    with _quiet_stderr():
        import tensorflow

    return tensorflow


def batch_mode() -> bool:
    """Return True when a notebook runs unattended (``LABKIT_BATCH=1``: make run, tests, grading).

    Then ``progress`` draws no bars: executed notebooks keep one clean line per epoch.

    >>> os.environ.get("LABKIT_BATCH") == "1" or not batch_mode()
    True
    """
    return os.environ.get("LABKIT_BATCH") == "1"


def _cell() -> str | None:
    """Return an identifier of the notebook cell running now (its execute request), or None outside a kernel."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    header = getattr(shell, "parent_header", None) or {}
    return header.get("msg_id") or f"In[{shell.execution_count}]"


_live = {}   # {cell: the display handle its bars share}, the current cell only


def _live_bar():
    """The tqdm class whose bars are drawn as plain text into one display per cell, updated in place."""
    global _LiveBar
    if "_LiveBar" in globals():
        return _LiveBar
    import io

    from tqdm.std import tqdm

    class _LiveBar(tqdm):
        """A tqdm bar drawn into the cell's shared display (text/plain): no widget, nothing in stderr.

        Every bar of a cell (every epoch, every training run) updates the same output, so a cell
        keeps one progress output whatever the number of epochs, and what a save stores is the
        bar's last text, which reads the same after reopening (widget bars need the live kernel).
        """

        def __init__(self, *args, cell=None, **kwargs):
            if cell not in _live:
                from IPython.display import display

                _live.clear()
                _live[cell] = display({"text/plain": ""}, raw=True, display_id=True)
            self._handle = _live[cell]
            kwargs.setdefault("ascii", False)   # block characters, as on a terminal (no stream to ask)
            super().__init__(*args, file=io.StringIO(), **kwargs)

        def display(self, msg=None, pos=None):
            if msg is None or msg:   # tqdm passes msg="" to clear; the cell keeps the bar's last state instead
                self._handle.update({"text/plain": msg or self.format_meter(**self.format_dict)}, raw=True)
            return True

    return _LiveBar


def progress(iterable, total: int | None = None, desc: str = "", **kwargs):
    """Wrap ``iterable`` in a tqdm progress bar; in batch mode (``LABKIT_BATCH=1``) return it as it is.

    In a notebook every bar of a cell is drawn as text into one output updated in place (the
    last bar's final state stays), so the cell keeps a single progress output however many
    epochs and runs it has, and a saved notebook reopens intact; the loop prints its own line per
    epoch below it. Outside a notebook it is tqdm's usual bar on stderr, cleared when done.
    Set what the bar shows after its counts with ``bar.set_postfix_str("loss 0.6931")``.

    >>> list(progress(range(3), disable=True))
    [0, 1, 2]
    """
    if batch_mode():
        return iterable
    cell = _cell()
    if cell is None:
        from tqdm.std import tqdm

        return tqdm(iterable, total=total, desc=desc, leave=False, mininterval=0.5, **kwargs)
    return _live_bar()(iterable, total=total, desc=desc, leave=True, mininterval=0.5, cell=cell, **kwargs)
