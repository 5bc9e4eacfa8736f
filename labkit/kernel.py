"""The course kernel and the notebook metadata that goes with it, so that a notebook opens unmodified.

On opening a notebook JupyterLab writes the running kernel's ``language_info`` and ``kernelspec``
into its metadata; any difference from what the file holds marks it modified (unsaved changes, a
prompt on leaving). ipykernel reports Python's full version (3.11.7, 3.12.1, ...), so a file can match
one interpreter only. The course kernel (``CourseKernel``, which ``make venv`` names in the kernel
spec) reports ``LANGUAGE_INFO``: ipykernel's, without the version. Every notebook and exercise stores
exactly that and ``KERNELSPEC``, and then opens unmodified on any Python the course supports.

``python -m labkit.kernel [--check] FILE.ipynb ...`` (``make notebook-metadata``) rewrites (or with
``--check`` only lists) the notebooks whose metadata differs. Only ``metadata.language_info`` and
``metadata.kernelspec`` are touched; cells, ids and the rest of the metadata stay as they are.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KERNEL = "deeprec"
KERNELSPEC = {"display_name": "Deep RecSys (.venv)", "language": "python", "name": KERNEL}
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}


def _course_kernel():
    from ipykernel.ipkernel import IPythonKernel

    class CourseKernel(IPythonKernel):
        """ipykernel's IPython kernel, reporting ``LANGUAGE_INFO`` (no Python version) to the front end."""

        language_info = LANGUAGE_INFO

    return CourseKernel


def __getattr__(name):
    if name == "CourseKernel":   # ipykernel is imported only when the kernel class is asked for
        return _course_kernel()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def write_spec(kernel_dir) -> dict:
    """Make the kernel spec in ``kernel_dir`` start ``CourseKernel`` with TensorFlow's C++ log quiet; return the spec.

    ``make venv`` runs it on the spec ``ipykernel install`` wrote: the argv gains
    ``--IPKernelApp.kernel_class=labkit.kernel.CourseKernel`` and the env ``frameworks.QUIET_ENV``, for
    every kernel started from it (JupyterLab, papermill, nbval, nbgrader).

    >>> import tempfile; d = Path(tempfile.mkdtemp())
    >>> _ = (d / "kernel.json").write_text(json.dumps({"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]}))
    >>> spec = write_spec(d); spec["argv"][3], spec["env"]
    ('--IPKernelApp.kernel_class=labkit.kernel.CourseKernel', {'TF_CPP_MIN_LOG_LEVEL': '3'})
    """
    from .frameworks import QUIET_ENV

    path = Path(kernel_dir) / "kernel.json"
    spec = json.loads(path.read_text())
    option = "--IPKernelApp.kernel_class=labkit.kernel.CourseKernel"
    argv = [a for a in spec["argv"] if not a.startswith("--IPKernelApp.kernel_class=")]
    at = argv.index("-f") if "-f" in argv else len(argv)
    spec["argv"] = argv[:at] + [option] + argv[at:]
    spec["env"] = {**spec.get("env", {}), **QUIET_ENV}
    path.write_text(json.dumps(spec, indent=1) + "\n")
    return spec


def metadata_problems(nb: dict) -> list[str]:
    """Return what in a notebook's metadata JupyterLab would change on opening it (empty: opens clean).

    >>> metadata_problems({"metadata": {"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO}})
    []
    >>> len(metadata_problems({"metadata": {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}}))
    1
    """
    meta = nb.get("metadata", {})
    problems = []
    if meta.get("kernelspec") != KERNELSPEC:
        problems.append("kernelspec is not the course kernel's")
    if meta.get("language_info") != LANGUAGE_INFO:
        problems.append("language_info differs from the course kernel's")
    return problems


def normalise(path) -> bool:
    """Give the notebook at ``path`` the course kernel's metadata; return True if the file changed.

    Only the two metadata entries change: the rest of the file keeps its bytes (key order, indent,
    escaping and final newline as found), so the diff is those lines and merges stay simple.
    """
    path = Path(path)
    text = path.read_text()
    nb = json.loads(text)
    styles = [(a, e) for a in (True, False) for e in ("", "\n")]
    style = next((st for st in styles if json.dumps(nb, indent=1, ensure_ascii=st[0]) + st[1] == text), (False, "\n"))
    meta = nb.setdefault("metadata", {})
    meta["kernelspec"] = dict(KERNELSPEC)
    meta["language_info"] = json.loads(json.dumps(LANGUAGE_INFO))
    new = json.dumps(nb, indent=1, ensure_ascii=style[0]) + style[1]
    if new == text:
        return False
    path.write_text(new)
    return True


def main(argv=None) -> int:
    """``python -m labkit.kernel [--check] FILE.ipynb ...``: fix (or list) notebooks whose metadata would change on opening."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [Path(a) for a in args if a != "--check"]
    bad = []
    for path in paths:
        problems = metadata_problems(json.loads(path.read_text()))
        if problems and check:
            bad.append(f"{path}: {'; '.join(problems)}")
        elif not check and normalise(path):
            print(f"normalised {path}")
    if bad:
        print("\n".join(bad) + "\nThese notebooks would open modified in JupyterLab; fix them with "
              "`make notebook-metadata`.", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
