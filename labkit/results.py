"""Recording a notebook's headline numbers and reading them back from the executed notebook.

``record(name, value)`` displays the value and stores it in the cell output under the
MIME type ``application/vnd.labkit.record+json``; ``read_records(path)`` collects them from an
executed ``.ipynb``. Nothing else is written: the executed notebook is the record.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

MIME = "application/vnd.labkit.record+json"


def _plain(value):
    """Turn numpy scalars into Python numbers so the value is JSON."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def record(name: str, value, fmt: str = ".4f") -> None:
    """Display ``name = value`` and store it for tests and reports (returns None, so a cell ending
    in ``record(...)`` shows the line once).

    Numbers are shown with ``fmt`` (4 decimals by default), the stored value is exact.
    Values must be JSON: numbers, strings, booleans, or lists/dicts of them.

    >>> record("hit@10", 0.123456)
    hit@10 = 0.1235
    """
    value = _plain(value)
    text = f"{name} = {value:{fmt}}" if isinstance(value, float) else f"{name} = {value}"
    try:
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is not None:
            display({"text/plain": text, MIME: {"name": name, "value": value}}, raw=True)
            return
    except ImportError:
        pass
    print(text)


def read_records(notebook) -> dict:
    """Return ``{name: value}`` of every ``record`` call in an executed notebook (later ones win).

    Example::

        read_records("build/smoke/01_data_preparation.ipynb")   # {'dataset': 'ml-100k', 'users': 943, ...}
    """
    nb = json.loads(Path(notebook).read_text())
    out = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get(MIME)
            if data is not None:
                out[data["name"]] = data["value"]
    return out


def notebook_errors(notebook) -> list[str]:
    """Return the error names and values of failed cells in an executed notebook (empty if none).

    Example::

        notebook_errors("build/smoke/01_data_preparation.ipynb")   # [] when every cell ran
    """
    nb = json.loads(Path(notebook).read_text())
    return [f"{o.get('ename')}: {o.get('evalue')}" for c in nb.get("cells", [])
            for o in c.get("outputs", []) if o.get("output_type") == "error"]
