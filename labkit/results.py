"""Recording a notebook's headline numbers and reading them back from the executed notebook.

``record(name, value)`` displays the value and stores it in the cell output under the
MIME type ``application/vnd.labkit.record+json``; ``show(...)`` displays one results table
(each model's metrics with 95% intervals, and each comparison's difference with its verdict)
and stores all of its numbers the same way. ``read_records(path)`` collects the values from an
executed ``.ipynb`` and ``read_intervals(path)`` their intervals. Nothing else is written: the
executed notebook is the record.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

from .stats import Estimate, verdict

MIME = "application/vnd.labkit.record+json"
# The record prefixes of the simple baselines' rows, the same in every lesson (the report reads them).
BASELINE_KEYS = {"popularity": "popularity", "popularity (unseen)": "popularity_unseen", "item-kNN": "itemknn",
                 "EASE": "ease", "transitions": "transition"}


def _plain(value):
    """Turn numpy scalars into Python numbers so the value is JSON."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _entry(name: str, value) -> dict:
    """The stored form of one record: name, value and, for an Estimate, its interval (and, for a
    paired difference, what else its verdict reads: the level, the users who differ, the sign test)."""
    if isinstance(value, Estimate):
        entry = {"name": name, "value": _plain(value.value), "ci": [_plain(value.low), _plain(value.high)]}
        if value.n_differing is not None:
            entry["test"] = {"level": _plain(value.level), "n_differing": _plain(value.n_differing),
                             "p_value": None if value.p_value is None else _plain(value.p_value)}
        return entry
    return {"name": name, "value": _plain(value)}


def _display(text: str, entries: list[dict], html: str | None = None) -> bool:
    """Display ``text`` (and ``html``) with the records attached, if running in IPython.

    An empty ``text`` stores the records in an output that shows nothing.
    """
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return False
    if get_ipython() is None:
        return False
    bundle = {"text/plain": text, MIME: entries[0] if len(entries) == 1 else {"records": entries}}
    if html:
        bundle["text/html"] = html
    display(bundle, raw=True)
    return True


_RUNNING = {}   # the history key of the running cell's output, set before every cell (see _cell_stdout)


def _watch_cells() -> None:
    """In IPython, note before every cell where its printed output will be kept: under the cell's
    number when the cell is stored in the history (JupyterLab, papermill), under the number of the
    last stored one when it is not (nbval runs cells with ``store_history=False``, so all of its
    cells share that key: what was kept there before the cell is skipped)."""
    shell = sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None
    if shell is None or getattr(shell, "_labkit_watched", False):
        return

    def before(info):
        key = shell.execution_count - 1 if getattr(info, "store_history", True) else shell.execution_count
        _RUNNING.update(key=key, start=0)
        _RUNNING["start"] = len(_cell_stdout())   # unstored cells share one key: skip what is there

    shell.events.register("pre_run_cell", before)
    shell._labkit_watched = True


def _cell_stdout() -> str:
    """Return what the running notebook cell has printed so far, or '' outside IPython.

    IPython (9 and later) keeps each cell's printed text for its history (``history_manager.outputs``).
    """
    shell = sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None
    outputs = getattr(getattr(shell, "history_manager", None), "outputs", None)
    if not outputs:
        return ""
    cell = _RUNNING.get("key", shell.execution_count - 1)
    text = "".join("".join(map(str, o.bundle.get("stream", []))) for o in outputs.get(cell, [])
                   if o.output_type == "out_stream")
    return text[_RUNNING.get("start", 0):]


def already_printed(name: str, shown: str, printed: str) -> bool:
    """Return True if a line of ``printed`` holds both the value ``shown`` and a word (3+ letters) of ``name``.

    ``record`` uses it to skip showing ``name = value`` when the cell's own print already showed it
    (integers count with or without thousands separators).

    >>> already_printed("users", "943", "num of users: 943\\n"), already_printed("users", "1000", "users: 1,000")
    (True, True)
    >>> already_printed("lstm/chosen_epochs", "5", "validation epoch  5  loss 0.6931")
    False
    """
    words = [w for w in re.split(r"[^a-z]+", name.lower().rsplit("/", 1)[-1]) if len(w) >= 3]
    values = {shown}
    if re.fullmatch(r"-?\d+", shown):
        values.add(f"{int(shown):,}")
    patterns = [re.compile(r"(?<![\w.])" + re.escape(v) + r"(?!\w|\.\d)") for v in values]
    return any(any(w in line.lower() for w in words) and any(p.search(line) for p in patterns)
               for line in printed.splitlines())


def record(name: str, value, fmt: str = ".4f") -> None:
    """Display ``name = value`` and store it for tests and reports (returns None, so a cell ending
    in ``record(...)`` shows the line once).

    Numbers are shown with ``fmt`` (4 decimals by default), the stored value is exact. Values
    must be JSON (numbers, strings, booleans, lists/dicts of them) or a ``stats.Estimate``,
    stored with its interval. In a notebook the line is not shown when the cell has already
    printed the value next to a word of its name (``already_printed``): it is stored all the same.

    >>> record("hit@10", 0.123456)
    hit@10 = 0.1235
    >>> record("hit@10", Estimate(0.1, 0.08, 0.12))
    hit@10 = 0.1000 [0.0800, 0.1200]
    """
    entry = _entry(name, value)
    if isinstance(value, Estimate):
        shown = value.format(fmt)
    elif isinstance(entry["value"], float):
        shown = f"{entry['value']:{fmt}}"
    else:
        shown = f"{entry['value']}"
    text = f"{name} = {shown}"
    if already_printed(name, shown, _cell_stdout()):
        text = ""
    if not _display(text, [entry]):
        print(text)


def results_table(estimates: dict, differences: dict | None = None, keys: dict | None = None,
                  fmt: str = ".4f", higher_is_better: bool = True):
    """Return (table, records) for ``show``: one row per model, then one per comparison.

    ``estimates``: ``{model: {metric: Estimate or number}}`` (``stats.estimates``); ``differences``:
    ``{(a, b): {metric: Estimate of a - b}}`` (``stats.differences``); ``keys``: ``{model: record
    prefix}`` (default: the model's name). Records are ``prefix/metric`` and ``a_vs_b/metric``.
    Each comparison cell reads "difference [low, high] verdict".

    >>> e = {"A": {"hit@10": Estimate(0.2, 0.1, 0.3)}, "B": {"hit@10": Estimate(0.1, 0.05, 0.15)}}
    >>> table, recs = results_table(e, {("A", "B"): {"hit@10": Estimate(0.1, 0.02, 0.18)}}, {"A": "a", "B": "b"})
    >>> table.loc["A − B", "hit@10"], sorted(recs)
    ('+0.1000 [+0.0200, +0.1800] beats', ['a/hit@10', 'a_vs_b/hit@10', 'b/hit@10'])
    """
    import pandas as pd

    keys = keys or {}
    key = lambda model: keys.get(model, model)
    rows, records = {}, {}
    for model, by_metric in estimates.items():
        rows[model] = {m: e.format(fmt) if isinstance(e, Estimate) else f"{e:{fmt}}" for m, e in by_metric.items()}
        records.update({f"{key(model)}/{m}": e for m, e in by_metric.items()})
    for (a, b), by_metric in (differences or {}).items():
        rows[f"{a} − {b}"] = {m: f"{d.format('+' + fmt)} {verdict(d, higher_is_better)}" for m, d in by_metric.items()}
        records.update({f"{key(a)}_vs_{key(b)}/{m}": d for m, d in by_metric.items()})
    return pd.DataFrame.from_dict(rows, orient="index").fillna(""), records


def show(estimates: dict, differences: dict | None = None, keys: dict | None = None,
         fmt: str = ".4f", higher_is_better: bool = True, caption: str = ""):
    """Display the results table (see ``results_table``) and record every number in it; return None.

    It returns nothing, so a ``show(...)`` ending a cell is displayed once; ``results_table`` gives
    the DataFrame itself.

    Example::

        show(stats.estimates(per_user), stats.differences(per_user, [("LSTM", "EASE")]),
             keys={"LSTM": "lstm", "EASE": "ease"})
    """
    table, records = results_table(estimates, differences, keys, fmt, higher_is_better)
    text = (caption + "\n" if caption else "") + table.to_string()
    html = (f"<p>{caption}</p>" if caption else "") + table.to_html()
    if not _display(text, [_entry(n, v) for n, v in records.items()], html):
        print(text)


def compare(per_user: dict, pairs, keys: dict | None = None, weights=None, seed: int = 0, caption: str = "",
            fmt: str = ".4f", sentences=None) -> dict:
    """Show one results table with every model's intervals and every pair's paired difference, print
    each pair's verdict as a sentence, and return the differences (``stats.differences``).

    ``per_user``: ``{model: {metric: per-user values}}``; ``pairs``: ``[(model, other), ...]``;
    ``keys`` and ``caption`` as in ``show`` (every number is recorded); ``weights``: per-user weights
    (e.g. events per user); ``sentences``: the metrics to write a sentence for (default: all).

    >>> import numpy as np
    >>> pu = {"A": {"hit@1": np.r_[np.ones(60), np.zeros(40)]}, "B": {"hit@1": np.r_[np.zeros(60), np.ones(10), np.zeros(30)]}}
    >>> differences = compare(pu, [("A", "B")], {"A": "a", "B": "b"})
                                      hit@1
    A               0.6000 [0.5100, 0.6900]
    B               0.1000 [0.0498, 0.1600]
    A − B  +0.5000 [+0.3700, +0.6300] beats
    A beats B on hit@1 (difference +0.5000 [+0.3700, +0.6300]).
    >>> sorted(differences)
    [('A', 'B')]
    """
    from . import stats

    differences = stats.differences(per_user, pairs, weights, seed=seed)
    show(stats.estimates(per_user, weights, seed=seed), differences, keys, fmt, caption=caption)
    for (model, other), by_metric in differences.items():
        for metric, difference in by_metric.items():
            if sentences is None or metric in sentences:
                print(stats.sentence(model, other, metric, difference))
    return differences


def cpu_timed(function, *args, **kwargs):
    """Call ``function(*args, **kwargs)`` and return (its result, the CPU seconds it took).

    >>> result, seconds = cpu_timed(sum, range(10))
    >>> result, seconds >= 0
    (45, True)
    """
    import time

    start = time.process_time()
    result = function(*args, **kwargs)
    return result, time.process_time() - start


def _stored(notebook):
    """Yield every stored record entry of an executed notebook, in order."""
    nb = json.loads(Path(notebook).read_text())
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get(MIME)
            if data is not None:
                yield from data["records"] if "records" in data else [data]


def read_records(notebook) -> dict:
    """Return ``{name: value}`` of every record in an executed notebook (later ones win).

    Example::

        read_records("build/smoke/01_data_preparation.ipynb")   # {'dataset': 'ml-100k', 'users': 943, ...}
    """
    return {e["name"]: e["value"] for e in _stored(notebook)}


def read_intervals(notebook) -> dict:
    """Return ``{name: (low, high)}`` of every record stored with a 95% interval.

    Example::

        read_intervals("build/full/02_lstm_sequential.ipynb")["lstm/recall@10"]   # (0.061, 0.079)
    """
    return {e["name"]: tuple(e["ci"]) for e in _stored(notebook) if "ci" in e}


def read_tests(notebook) -> dict:
    """Return ``{name: {"level", "n_differing", "p_value"}}`` of every recorded paired difference, which
    ``labkit.stats.verdict`` reads beside the interval (so the report's verdict is the notebook's).

    Example::

        read_tests("build/full/03_ranking_losses.ipynb")["bpr_vs_hinge/hit@10"]   # {'level': 0.95, ...}
    """
    return {e["name"]: e["test"] for e in _stored(notebook) if "test" in e}


def notebook_errors(notebook) -> list[str]:
    """Return the error names and values of failed cells in an executed notebook (empty if none).

    Example::

        notebook_errors("build/smoke/01_data_preparation.ipynb")   # [] when every cell ran
    """
    nb = json.loads(Path(notebook).read_text())
    return [f"{o.get('ename')}: {o.get('evalue')}" for c in nb.get("cells", [])
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


_watch_cells()


def tuned_choice(notebook: str, dataset: str, fallback: dict, fallback_epochs: int, prefix: str,
                 epochs: int | None = None, fallback_note: str = "the as-published settings"):
    """Return ``(config, epochs)`` of the search ``make tune`` recorded for ``notebook`` on ``dataset``.

    Where ``labkit/tuning.json`` has the search, its trials table and figure are displayed and the
    choice is printed; where it has none, ``(fallback, fallback_epochs)`` is returned with a note.
    ``epochs`` (a smoke run's ``TUNED_EPOCHS``) overrides the number of epochs when given. Records
    ``prefix/config``, ``prefix/trials`` and ``prefix/cpu_minutes`` for the report.

    >>> tuned_choice("no_such_notebook", "ml-100k", {"lr": 0.1}, 5, "demo")
    labkit/tuning.json has no search of this notebook on ml-100k (run `make tune`): the tuned rows below use the as-published settings
    demo/config = lr=0.1, epochs=5
    demo/trials = 0
    demo/cpu_minutes = 0.0
    ({'lr': 0.1}, 5)
    """
    from . import tune

    entry = tune.load(notebook, dataset)
    if entry is None:
        print(f"labkit/tuning.json has no search of this notebook on {dataset} (run `make tune`): "
              f"the tuned rows below use {fallback_note}")
        config, chosen_epochs = fallback, fallback_epochs
    else:
        import matplotlib.pyplot as plt
        from IPython.display import display

        config, chosen_epochs = entry["choice"]["config"], entry["choice"]["epochs"]
        display(tune.trials_table(entry))
        display(tune.plot_trials(entry).figure)
        plt.close("all")
        print(f"chosen on validation: {tune.describe(config)}, {chosen_epochs} epochs; {entry['still_improving']} of "
              f"{len(entry['trials'])} trials were still improving at the {entry['rule']['max_epochs']}-epoch budget, "
              f"{entry.get('never_improved', 0)} never beat their first epoch")
    chosen_epochs = epochs or chosen_epochs
    record(f"{prefix}/config", tune.describe(config) + f", epochs={chosen_epochs}")
    record(f"{prefix}/trials", len(entry["trials"]) if entry else 0)
    record(f"{prefix}/cpu_minutes", entry["cpu_seconds"] / 60 if entry else 0.0, fmt=".1f")
    return config, chosen_epochs
