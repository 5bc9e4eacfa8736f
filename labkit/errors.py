"""The base class of labkit's errors meant for students: shown in a notebook as their message, not a traceback.

A ``DataError`` (missing or corrupted data), an ``MXNetUnavailable`` (a framework this machine cannot
have) or a ``ParameterError`` (a value in the parameters cell that labkit does not know) already says
what went wrong and what to do. IPython shows such an error, a ``LabkitError``, through its
``_render_traceback_`` method: the error's name and message and the line of the student's own cell
that led to it, instead of ~35 lines through labkit's internals. The error is raised as usual, so a
run under papermill, nbclient or nbval still fails on it and its message reaches the executed
notebook and the log. Outside IPython (a script, pytest) Python prints its usual traceback.

In a notebook, ``labkit.errors.full_traceback()`` prints the last error's full traceback.

Importing this module is cheap (standard library only).
"""

from __future__ import annotations

import os
import sys

_RED, _RESET = "\x1b[0;31m", "\x1b[0m"
_HERE = os.path.dirname(os.path.abspath(__file__))


class LabkitError(Exception):
    """An error whose message says what went wrong and what to do; IPython shows it short.

    >>> class Oops(LabkitError, ValueError): pass
    >>> Oops("DATASET must be one of: ml-1m, ml-100k").lines()
    ['Oops: DATASET must be one of: ml-1m, ml-100k']
    """

    def lines(self, color: bool = False) -> list[str]:
        """Return the short report: ``Name: message``, then where the student's code called labkit."""
        name = type(self).__name__
        head = f"{_RED}{name}{_RESET}: {self}" if color else f"{name}: {self}"
        where = _caller(self.__traceback__)
        return [head] + ([where] if where else [])

    def _render_traceback_(self) -> list[str]:
        """What IPython (JupyterLab, papermill, nbclient) shows instead of the full traceback."""
        return self.lines(color=True) + ["(labkit.errors.full_traceback() prints the full traceback)"]


class ParameterError(LabkitError, ValueError):
    """A parameter has a value labkit does not accept; the message lists the valid ones."""


def _caller(tb) -> str:
    """Return 'In[3], line 2: data.load(DATASET)': the last frame outside labkit and the libraries, or ''."""
    import linecache

    frame_line = None
    while tb is not None:
        code = tb.tb_frame.f_code
        path = os.path.abspath(code.co_filename)
        if not path.startswith(_HERE + os.sep) and "site-packages" not in path and not code.co_filename.startswith("<frozen"):
            frame_line = (code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    if frame_line is None:
        return ""
    filename, lineno = frame_line
    label = filename
    try:
        from IPython import get_ipython

        shell = get_ipython()
        named = shell.compile.format_code_name(filename) if shell is not None else None
        if named:
            label = " ".join(named)
    except Exception:  # noqa: BLE001 - only a label; any IPython difference falls back to the file name
        pass
    source = linecache.getline(filename, lineno).strip()
    return f"  from {label}, line {lineno}" + (f": {source}" if source else "")


def full_traceback() -> None:
    """Print the full traceback of the last error a notebook cell raised (IPython shows labkit's short).

    >>> full_traceback() if not hasattr(sys, "last_value") else None
    """
    import traceback

    last = getattr(sys, "last_value", None)
    if last is not None:
        traceback.print_exception(last)
