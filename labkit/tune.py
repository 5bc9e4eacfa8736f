"""Equal care for every model: one search budget, one stopping rule, one committed record.

Every model notebook searches its own small space of hyper-parameters on the protocol's
validation split with the same budget: ``TRIALS`` configurations (``configurations``: the whole
grid when it is that small, otherwise a seeded sample of it), each trained under the same early
stopping rule (``Stopping``: at most ``MAX_EPOCHS`` epochs; an epoch *improves* when its validation
score beats the last improving one's by more than ``MIN_DELTA``; patience starts only once a later
epoch improved on the first (the warm-up is over), then stop after ``PATIENCE`` epochs without an
improvement, never before ``MIN_EPOCHS``; a trial that has not improved on its first epoch after
``WARMUP_LIMIT`` epochs ends there, flagged ``never_improved``). A trial whose last improvement is
within ``PATIENCE`` of the budget is flagged ``still_improving``: the budget, not the rule, stopped it.

``make tune`` (``python -m labkit.tune run``) executes the notebooks with ``TUNE=True``: each runs
its search with its own model code, skips the test, and records the search (``record_search``).
The runner collects those records into ``labkit/tuning.json`` (per notebook and dataset: the
space, every trial with its configuration, validation score, best epoch, epochs run and seconds,
and the choice). The file holds hyper-parameters and validation scores only. In normal runs a
notebook reads its entry (``load``), shows the search (``trials_table``, ``plot_trials``) and
trains the chosen configuration on all the training data; without an entry it says so and runs
the faithful settings. ``run --smoke`` runs every search tiny and writes to ``build/`` only.

The simple baselines get the same care: ``leave_last_out_baselines`` chooses EASE's λ over
``EASE_LAMBDAS`` and item-kNN's neighbours x shrinkage over ``KNN_GRID`` on validation.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TRIALS = 12          # configurations per model, the same for every model
MAX_EPOCHS = 30      # the budget of one trial
PATIENCE = 5         # epochs without a better validation score before stopping
MIN_EPOCHS = 8       # never stop earlier
WARMUP_LIMIT = 15    # a trial not better than its first epoch after this many epochs ends ("never improved")
MIN_DELTA = 1e-4     # an improvement is a gain of more than this on the validation metric (one user's hit
                     # on ML-100K's 943 users is 1/943 ~ 1.1e-3; float noise in the 7th decimal is not one)
EASE_LAMBDAS = (10.0, 30.0, 100.0, 300.0, 500.0, 1000.0, 3000.0, 10000.0)
KNN_GRID = {"neighbours": [20, 50, 100, 200], "shrinkage": [0.0, 10.0, 100.0]}
SMOKE = {"TUNE_TRIALS": 2, "TUNE_MAX_EPOCHS": 2}   # what `make tune SMOKE=1` injects besides TUNE

REPO_ROOT = Path(__file__).resolve().parent.parent
TUNING_FILE = REPO_ROOT / "labkit" / "tuning.json"
PREFIX = "[tune]"    # progress lines the runner echoes


def configurations(space: dict, n: int = TRIALS, seed: int = 0) -> list[dict]:
    """Return ``n`` configurations of ``space`` (``{name: [values]}``): the whole grid when it has at
    most ``n`` points, else ``n`` distinct grid points drawn with ``seed``, in grid order.

    >>> configurations({"lr": [0.1, 0.01], "k": [8]})
    [{'lr': 0.1, 'k': 8}, {'lr': 0.01, 'k': 8}]
    >>> len(configurations({"a": list(range(5)), "b": list(range(5))}, n=12))
    12
    """
    names = list(space)
    grid = [dict(zip(names, values)) for values in itertools.product(*(space[k] for k in names))]
    if len(grid) <= n:
        return grid
    picked = np.random.default_rng(seed).choice(len(grid), size=n, replace=False)
    return [grid[i] for i in sorted(picked)]


@dataclass
class Stopping:
    """The one early-stopping rule, warm-up aware. Call ``update(score)`` after each epoch; it
    returns True to stop.

    An epoch *improves* when its score beats the last improving epoch's (at first, epoch 1's) by
    more than ``min_delta``; ``improved_epoch`` is the last such epoch. Stops after ``max_epochs``;
    or, once the warm-up is over (some epoch improved on the first), after ``patience`` epochs
    without an improvement, with at least ``min_epochs`` run; or, if no epoch has improved on the
    first after ``warmup_limit`` epochs, there (``never_improved``: a flat or falling curve, e.g. a
    model stuck at a constant output, or one moving only in the 7th decimal). So patience never
    judges a model that has not yet left its starting point. ``best_epoch`` / ``best`` are the true
    best so far (1-based, the first of equals), gains below ``min_delta`` included; ``still_improving``
    is True when the budget stopped a run whose last improvement was within ``patience`` of the end
    (the rule had not fired) and which improved on its first epoch.

    >>> s = Stopping(max_epochs=10, patience=2, min_epochs=0)
    >>> [s.update(v) for v in (0.1, 0.3, 0.2, 0.25)]
    [False, False, False, True]
    >>> s.best_epoch, s.best, s.epochs, s.still_improving
    (2, 0.3, 4, False)
    >>> s = Stopping(max_epochs=3, patience=2, min_epochs=0); [s.update(v) for v in (1, 2, 3)][-1], s.still_improving
    (True, True)
    >>> s = Stopping(max_epochs=10, patience=2, min_epochs=0, warmup_limit=4)
    >>> [s.update(v) for v in (0.5, 0.5, 0.4, 0.5)], s.never_improved
    ([False, False, False, True], True)
    >>> s = Stopping(max_epochs=10, patience=2, min_epochs=0, warmup_limit=3)   # a gain of 1e-7 is no improvement
    >>> [s.update(v) for v in (0.5, 0.5000001, 0.5)], s.never_improved, s.best_epoch
    ([False, False, True], True, 2)
    """

    max_epochs: int = MAX_EPOCHS
    patience: int = PATIENCE
    min_epochs: int = MIN_EPOCHS
    warmup_limit: int = WARMUP_LIMIT
    min_delta: float = MIN_DELTA
    scores: list = field(default_factory=list)

    def update(self, score: float) -> bool:
        self.scores.append(float(score))
        if self.epochs >= self.max_epochs:
            return True
        if self.improved_epoch == 1:      # still warming up: nothing has improved on the first epoch yet
            return self.epochs >= self.warmup_limit
        return self.epochs >= self.min_epochs and self.epochs - self.improved_epoch >= self.patience

    @property
    def improved_epoch(self) -> int:
        """The last epoch (1-based) that beat the previous improving epoch by more than ``min_delta``
        (epoch 1 counts as the first; 0 before any epoch)."""
        at, reference = 0, None
        for epoch, score in enumerate(self.scores, 1):
            if reference is None or score > reference + self.min_delta:
                at, reference = epoch, score
        return at

    @property
    def epochs(self) -> int:
        return len(self.scores)

    @property
    def best_epoch(self) -> int:
        return int(np.argmax(self.scores)) + 1 if self.scores else 0

    @property
    def best(self) -> float:
        return max(self.scores) if self.scores else float("nan")

    @property
    def never_improved(self) -> bool:
        """True when more than one epoch ran and none beat the first by more than ``min_delta``."""
        return self.epochs > 1 and self.improved_epoch == 1

    @property
    def still_improving(self) -> bool:
        return (self.epochs >= self.max_epochs and self.epochs - self.improved_epoch < self.patience
                and not self.never_improved)


def search(space: dict, trial, metric: str, n: int = TRIALS, max_epochs: int = MAX_EPOCHS, seed: int = 0,
           name: str = "") -> list[dict]:
    """Run ``trial(config, stopping)`` for each of ``configurations(space, n, seed)``; return the trials.

    ``trial`` trains one configuration on the training part of the validation split, calling
    ``stopping.update(validation score)`` after every epoch and stopping when it returns True.
    Each returned trial: config, value (best validation ``metric``), best_epoch, epochs,
    still_improving, never_improved (see ``Stopping``), seconds (wall) and cpu_seconds (this
    process). One ``[tune]`` line per trial.

    >>> def trial(config, stopping):
    ...     for epoch in range(1, 100):
    ...         if stopping.update(config["lr"] * min(epoch, 3)):
    ...             break
    >>> t = search({"lr": [1.0, 2.0]}, trial, "score", max_epochs=10)  # doctest: +ELLIPSIS
    [tune] 1/2 lr=1.0: score 3.0000 at epoch 3 of 8 ...
    [tune] 2/2 lr=2.0: score 6.0000 at epoch 3 of 8 ...
    >>> best(t)["config"]
    {'lr': 2.0}
    """
    configs = configurations(space, n, seed)
    trials = []
    for number, config in enumerate(configs, 1):
        stopping = Stopping(max_epochs=max_epochs, min_epochs=min(MIN_EPOCHS, max_epochs),
                            warmup_limit=min(WARMUP_LIMIT, max_epochs))
        wall, cpu = time.perf_counter(), time.process_time()
        trial(config, stopping)
        row = {"config": config, "value": stopping.best, "best_epoch": stopping.best_epoch,
               "epochs": stopping.epochs, "still_improving": stopping.still_improving,
               "never_improved": stopping.never_improved,
               "seconds": round(time.perf_counter() - wall, 2), "cpu_seconds": round(time.process_time() - cpu, 2)}
        trials.append(row)
        text = ", ".join(f"{k}={v}" for k, v in config.items())
        print(f"{PREFIX} {name + ' ' if name else ''}{number}/{len(configs)} {text}: {metric} {row['value']:.4f} "
              f"at epoch {row['best_epoch']} of {row['epochs']}"
              + (" (still improving at the budget)" if row["still_improving"] else "")
              + (" (never better than its first epoch)" if row["never_improved"] else "")
              + f" ({row['seconds']:.0f} s, {row['cpu_seconds']:.0f} CPU-s)", flush=True)
    return trials


def best(trials: list[dict]) -> dict:
    """Return the trial with the highest validation value (the first of equals).

    >>> best([{"value": 0.1}, {"value": 0.3}, {"value": 0.3}])
    {'value': 0.3}
    """
    return max(trials, key=lambda t: t["value"])


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def make_entry(notebook: str, dataset: str, space: dict, trials: list[dict], metric: str,
               max_epochs: int = MAX_EPOCHS, seed: int = 0) -> dict:
    """Return the record of one search: what ``tuning.json`` keeps per notebook and dataset.

    >>> e = make_entry("03_x", "ml-100k", {"lr": [1]}, [{"config": {"lr": 1}, "value": 0.2, "best_epoch": 3,
    ...                 "epochs": 8, "still_improving": False, "seconds": 1.0, "cpu_seconds": 1.0}], "hit@10")
    >>> e["choice"]["config"], e["choice"]["epochs"], e["rule"]["trials"]
    ({'lr': 1}, 3, 1)
    """
    chosen = best(trials)
    return {
        "notebook": notebook, "dataset": dataset, "metric": metric, "split": "validation", "space": space,
        "rule": {"trials": len(trials), "seed": seed, **rule(max_epochs)},
        "trials": trials,
        "choice": {"config": chosen["config"], "epochs": chosen["best_epoch"], "value": chosen["value"],
                   "still_improving": chosen["still_improving"]},
        "still_improving": sum(t["still_improving"] for t in trials),
        "never_improved": sum(t.get("never_improved", False) for t in trials),
        "seconds": round(sum(t["seconds"] for t in trials), 1),
        "cpu_seconds": round(sum(t["cpu_seconds"] for t in trials), 1),
        "date": time.strftime("%Y-%m-%d"), "commit": _commit(),
    }


def rule(max_epochs: int = MAX_EPOCHS) -> dict:
    """Return the stopping rule's constants for a budget of ``max_epochs`` (as ``search`` applies them).

    >>> rule()["min_delta"] == MIN_DELTA and rule(2)["min_epochs"] == 2
    True
    """
    return {"max_epochs": max_epochs, "patience": PATIENCE, "min_epochs": min(MIN_EPOCHS, max_epochs),
            "warmup_limit": min(WARMUP_LIMIT, max_epochs), "min_delta": MIN_DELTA}


def record_search(entry: dict) -> None:
    """Display a search's trials as a table and store the entry in the executed notebook (the
    runner collects it under the record name ``tune``); returns None.

    Example::

        record_search(make_entry("03_ranking_losses", ml.name, SPACE, trials, "hit@10"))
    """
    from .results import _display, _entry

    table = trials_table(entry)
    text = table.to_string()
    if not _display(text, [_entry("tune", entry)], table.to_html()):
        print(text)


class SearchDone(Exception):
    """Raised by ``finish`` to end a notebook run with ``TUNE=True`` after its search (no test)."""


def finish(entry: dict) -> None:
    """Record the search (``record_search``) and end the run: raises ``SearchDone``, which the
    ``make tune`` runner takes as success, so that nothing after the search (the test) runs.

    Example::

        if TUNE:
            tune.finish(tune.make_entry("03_ranking_losses", ml.name, SPACE, trials, "hit@10"))
    """
    record_search(entry)
    raise SearchDone(f"search of {entry['notebook']} on {entry['dataset']} recorded ({len(entry['trials'])} trials); "
                     "the test is not evaluated with TUNE=True")


def load(notebook: str, dataset: str, path: Path | str | None = None) -> dict | None:
    """Return the committed search of ``notebook`` on ``dataset`` (see ``make_entry``), or None.

    ``path`` defaults to ``$LABKIT_TUNING_FILE`` if set (e.g. a smoke search's file, for testing),
    else the committed ``labkit/tuning.json``.

    >>> load("03_ranking_losses", "no-such-dataset") is None
    True
    """
    path = Path(path or os.environ.get("LABKIT_TUNING_FILE") or TUNING_FILE)
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get(notebook, {}).get(dataset)


def trials_table(entry: dict):
    """Return a DataFrame of an entry's trials: the configuration, validation value, best epoch,
    epochs run, seconds; the chosen trial marked. A trial flagged ``never_improved`` (or, in older entries, whose best epoch is its first) is marked
    "never improved" (no later epoch beat its first; the rule let it run to its warm-up limit).

    >>> e = {"metric": "hit@10", "choice": {"config": {"lr": 1}}, "trials": [{"config": {"lr": 1}, "value": 0.2,
    ...      "best_epoch": 3, "epochs": 8, "still_improving": False, "seconds": 1.0, "cpu_seconds": 1.0}]}
    >>> trials_table(e).columns.tolist()
    ['lr', 'validation hit@10', 'best epoch', 'epochs run', 'still improving', 'CPU-s', 'chosen']
    """
    import pandas as pd

    rows = [{**t["config"], f"validation {entry['metric']}": round(t["value"], 4), "best epoch": t["best_epoch"],
             "epochs run": t["epochs"], "still improving": t["still_improving"], "CPU-s": t["cpu_seconds"],
             "chosen": "◀" if t["config"] == entry["choice"]["config"] else ""} for t in entry["trials"]]
    for row, t in zip(rows, entry["trials"]):
        if t.get("never_improved", t["best_epoch"] == 1 and t["epochs"] > 1):   # never improved on its first epoch
            row["still improving"] = "never improved"
    table = pd.DataFrame(rows)
    table.index = range(1, len(table) + 1)
    return table


def plot_trials(entry: dict, ax=None, reference: dict | None = None):
    """Draw each trial's validation value (chosen one highlighted; ``reference``: ``{label: value}``
    lines, e.g. the faithful settings or a baseline on the same split); return the axes.

    Example::

        plot_trials(tune.load("03_ranking_losses", "ml-100k"), reference={"EASE": 0.09})
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    values = [t["value"] for t in entry["trials"]]
    chosen = [t["config"] == entry["choice"]["config"] for t in entry["trials"]]
    x = np.arange(1, len(values) + 1)
    ax.bar(x, values, color=["C3" if c else "C0" for c in chosen])
    for i, t in enumerate(entry["trials"]):
        if t["still_improving"]:
            ax.annotate("↑", (x[i], values[i]), ha="center", va="bottom")
    for i, (name, value) in enumerate((reference or {}).items()):
        ax.axhline(value, color=f"C{i + 4}", ls="--", label=name)
    if reference:
        ax.legend(fontsize=8)
    ax.set(xlabel="trial (red: chosen; ↑: still improving at the budget)", ylabel=f"validation {entry['metric']}",
           xticks=x, title=f"{entry['notebook']} search on {entry['dataset']}: {len(values)} trials, "
                           f"{entry['cpu_seconds'] / 60:.1f} CPU-min")
    return ax


def describe(config: dict) -> str:
    """Return a configuration as ``name=value`` text.

    >>> describe({"lr": 0.01, "k": 32})
    'lr=0.01, k=32'
    """
    return ", ".join(f"{k}={v}" for k, v in config.items())


# --- the simple baselines, searched on the same validation split ---------------------------------

def item_similarity_shrunk(X: np.ndarray, neighbours: int | None = None, shrinkage: float = 0.0,
                           gram: np.ndarray | None = None) -> np.ndarray:
    """Return item-kNN's cosine similarity with shrinkage: G_ij / (|x_i| |x_j| + shrinkage), diagonal
    0, each column keeping its ``neighbours`` largest entries (``baselines.item_similarity`` with a
    shrunk denominator: pairs seen by few users count less). ``gram``: X^T X in float64 if already
    computed (a grid search computes it once).

    >>> X = np.array([[1, 1, 0], [1, 0, 1]], np.float32)
    >>> item_similarity_shrunk(X, shrinkage=1.0).astype(float).round(3).tolist()[0]
    [0.0, 0.414, 0.414]
    """
    G = gram if gram is not None else X.T.astype(np.float64) @ X.astype(np.float64)
    norms = np.sqrt(np.diag(G))
    S = G / (norms[:, None] * norms[None, :] + shrinkage + 1e-12)
    np.fill_diagonal(S, 0.0)
    if neighbours is not None and neighbours < len(S) - 1:
        weakest = np.argpartition(S, len(S) - neighbours, axis=0)[:len(S) - neighbours]
        np.put_along_axis(S, weakest, 0.0, axis=0)
    return S.astype(np.float32)


def leave_last_out_baselines(d, sequence_length: int | None = None, lambdas=EASE_LAMBDAS, knn: dict | None = None,
                             k=(10, 50), select: str = "hit@10") -> dict:
    """The simple baselines of a leave-last-out split, each searched on validation like the models.

    ``labkit.baselines.leave_last_out`` with EASE's λ over ``lambdas`` (8 values), plus item-kNN's
    neighbours x shrinkage over ``knn`` (``KNN_GRID``, 12 points) chosen on the validation items
    by ``select``, then refitted on ``d.train`` and ranking ``d.test_items`` once (training items
    never ranked). Returns ``baselines.leave_last_out``'s dict with "item-kNN" replaced by the
    tuned one, ``"knn"`` its configuration, ``"trials"`` ``{name: number of configurations}``, and
    ``"best"`` re-chosen on validation.

    Example::

        base = tune.leave_last_out_baselines(d, sequence_length=5)
        base["lambda"], base["knn"], base["best"]
    """
    from .baselines import leave_last_out
    from .metrics import hit_and_auc_per_user

    base = leave_last_out(d, lambdas=tuple(lambdas), sequence_length=sequence_length, k=k, select=select)
    grid = configurations(knn or KNN_GRID, n=10 ** 6)
    fit = d.seen_fit.astype(np.float32)
    gram = fit.T.astype(np.float64) @ fit.astype(np.float64)
    scores = {}
    for config in grid:
        s = fit @ item_similarity_shrunk(fit, **config, gram=gram)
        scores[tuple(config.items())] = float(hit_and_auc_per_user(s, d.val_items, exclude=d.seen_fit, k=k)[select].mean())
    chosen = dict(max(scores, key=scores.get))
    train = d.seen.astype(np.float32)
    base["test"]["item-kNN"] = hit_and_auc_per_user(train @ item_similarity_shrunk(train, **chosen), d.test_items,
                                                    exclude=d.seen, k=k)
    base["validation"]["item-kNN"] = {select: scores[tuple(chosen.items())]}
    base["knn"] = chosen
    base["trials"] = {"popularity": 1, "item-kNN": len(grid), "EASE": len(lambdas)}
    if sequence_length:
        base["trials"]["transitions"] = 1
    candidates = {n: v[select] for n, v in base["validation"].items() if not n.startswith("EASE")}
    candidates["EASE"] = base["validation"][f"EASE λ={base['lambda']:g}"][select]
    base["best"] = max(candidates, key=candidates.get)
    return base


def record_baselines(base: dict, cpu_seconds: float) -> None:
    """Record each tuned baseline's configuration and number of trials (``<prefix>/config``,
    ``<prefix>/trials``; prefixes popularity, itemknn, ease, transition) and the CPU minutes of
    the whole baseline search (``baselines/cpu_minutes``), for the report; returns None.

    Example::

        cpu = time.process_time(); base = tune.leave_last_out_baselines(d)
        tune.record_baselines(base, time.process_time() - cpu)
    """
    from .results import record

    prefixes = {"popularity": "popularity", "item-kNN": "itemknn", "EASE": "ease", "transitions": "transition"}
    configs = {"item-kNN": describe(base["knn"]), "EASE": f"lambda={base['lambda']:g}"}
    for name, trials in base["trials"].items():
        if name in configs:
            record(f"{prefixes[name]}/config", configs[name])
        record(f"{prefixes[name]}/trials", trials)
    record("baselines/cpu_minutes", cpu_seconds / 60, fmt=".2f")


# --- the runner: make tune --------------------------------------------------------------------

def notebook_space(path: Path) -> dict | None:
    """Return the literal ``SPACE = {...}`` a notebook assigns in a code cell (its search space), or None.

    >>> notebook_space(REPO_ROOT / "notebooks" / "01_data_preparation.ipynb") is None
    True
    """
    nb = json.loads(Path(path).read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        try:
            body = ast.parse("".join(cell["source"])).body
        except SyntaxError:
            continue
        for node in body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SPACE" for t in node.targets):
                return ast.literal_eval(node.value)
    return None


def tunable(folder: Path | None = None) -> list[Path]:
    """Return the lesson notebooks whose ``parameters`` cell has ``TUNE``.

    >>> [p.stem for p in tunable()][:1] == [p.stem for p in tunable()][:1]
    True
    """
    from .report import discover, parameter_names

    return [p for p in discover(folder or REPO_ROOT / "notebooks") if "TUNE" in parameter_names(p)]


class _Echo(logging.Handler):
    """Prints papermill's logged cell output lines that start with ``[tune]`` (one per trial)."""

    def emit(self, record):
        for line in str(record.getMessage()).splitlines():
            if line.startswith(PREFIX):
                print(line, flush=True)


def collect(executed: list[Path], into: Path) -> dict:
    """Merge the ``tune`` records of executed notebooks into the JSON file ``into``; return its content.

    Example::

        collect([Path("build/tune/03_ranking_losses.ipynb")], Path("labkit/tuning.json"))
    """
    from .results import read_records

    into = Path(into)
    content = json.loads(into.read_text()) if into.is_file() else {}
    for path in executed:
        entry = read_records(path).get("tune")
        if entry is None:
            raise ValueError(f"{path} recorded no search (did it run with TUNE=True?)")
        content.setdefault(entry["notebook"], {})[entry["dataset"]] = entry
    content = {nb: dict(sorted(by_dataset.items())) for nb, by_dataset in sorted(content.items())}
    into.parent.mkdir(parents=True, exist_ok=True)
    into.write_text(json.dumps(content, indent=1) + "\n")   # keys in the notebook's order
    return content


def run(build: Path, only: list[str] | None = None, smoke: bool = False, dataset: str = "auto",
        into: Path | None = None) -> int:
    """Execute each tunable notebook with ``TUNE=True`` into ``build/tune`` (smoke: ``build/tune-smoke``,
    tiny searches), echo one line per trial, and collect the searches into ``into`` (default: the
    committed ``labkit/tuning.json``; smoke: ``build/tune-smoke/tuning.json``). Returns an exit code.

    Example::

        run(Path("build"), only=["03_ranking_losses"])
    """
    from papermill.exceptions import PapermillExecutionError

    from . import report

    folder = Path(build) / ("tune-smoke" if smoke else "tune")
    into = Path(into) if into else (folder / "tuning.json" if smoke else TUNING_FILE)
    paths = [p for p in tunable() if not only or p.stem in only]
    if only and len(paths) != len(only):
        print(f"[make tune] no tunable notebook named {sorted(set(only) - {p.stem for p in paths})}", file=sys.stderr)
        return 2
    logger = logging.getLogger("papermill")
    logger.setLevel(logging.INFO)
    logger.addHandler(_Echo())
    logger.propagate = False
    done, failed = [], []
    from .frameworks import lesson_unavailable

    for path in paths:
        why = lesson_unavailable(path)
        if why:  # a framework this machine cannot have (MXNet on a Mac): skipped with the reason
            print(f"[make tune] {path.name}: skipped: {why}", flush=True)
            continue
        params = {"DATASET": dataset, "TUNE": True}
        if smoke:
            params = {**report.notebook_metadata(path).get("smoke", {}), **params, **SMOKE}
        out = folder / path.name
        print(f"[make tune] {path.name} {params} ...", flush=True)
        start = time.perf_counter()
        try:
            report.execute(path, out, params, log_output=True)
            failed.append(path.stem)
            print(f"[make tune] {path.name} ran to the end without a search: TUNE is not used", file=sys.stderr)
        except PapermillExecutionError as exc:
            if exc.ename == "SearchDone":
                done.append(out)
                print(f"[make tune] {path.name} done in {time.perf_counter() - start:.0f} s", flush=True)
                continue
            failed.append(path.stem)
            print(f"[make tune] {path.name} FAILED: {exc.ename}: {exc.evalue}", file=sys.stderr, flush=True)
            continue
    if done:
        content = collect(done, into)
        for out in done:
            e = content[out.stem][report.read_records(out)["dataset"]]
            print(f"[make tune] {out.stem} on {e['dataset']}: chose {describe(e['choice']['config'])}, "
                  f"{e['choice']['epochs']} epochs (validation {e['metric']} {e['choice']['value']:.4f}); "
                  f"{len(e['trials'])} trials, {e['cpu_seconds'] / 60:.1f} CPU-min, "
                  f"{e['still_improving']} still improving at the budget, "
                  f"{e.get('never_improved', 0)} never better than their first epoch")
        print(f"[make tune] wrote {into}")
    if smoke and done:
        problems = check_spaces(into, strict=False)
        for p in problems:
            print(f"[make tune] {p}", file=sys.stderr)
        failed += problems
    return 1 if failed else 0


def check_spaces(path: Path | None = None, strict: bool = True) -> list[str]:
    """Return what disagrees between a tuning file and the notebooks' search spaces (empty: all agree).

    Each entry must have its notebook's ``SPACE``, the configurations ``configurations(SPACE,
    n, seed)`` in order with n its number of trials, its choice the best trial on validation, and
    (``strict``, the committed file) n = ``TRIALS`` and the course's stopping rule (``rule()``). A notebook without an entry is no error (it
    says so and runs its faithful settings): ``missing`` lists them.

    >>> check_spaces(Path("/nonexistent.json"), strict=False)
    ['/nonexistent.json is missing']
    """
    path = Path(path or TUNING_FILE)
    if not path.is_file():
        return [f"{path} is missing"]
    content = json.loads(path.read_text())
    problems = []
    for nb in tunable():
        space = notebook_space(nb)
        entries = content.get(nb.stem, {})
        if space is None:
            problems.append(f"{nb.stem} has TUNE but no literal SPACE cell")
            continue
        for ds, e in entries.items():
            where = f"{nb.stem} on {ds}"
            if e["space"] != json.loads(json.dumps(space)):
                problems.append(f"{where}: the recorded space differs from the notebook's SPACE")
                continue
            n = len(e["trials"])
            if strict and n != TRIALS:
                problems.append(f"{where}: {n} trials, not {TRIALS}")
            used = {k: v for k, v in e["rule"].items() if k not in ("trials", "seed")}
            if strict and used != rule():
                problems.append(f"{where}: searched under {used}, not the course's stopping rule {rule()} "
                                f"(make tune ONLY={nb.stem})")
            expected = json.loads(json.dumps(configurations(space, n, e["rule"]["seed"])))
            if [t["config"] for t in e["trials"]] != expected:
                problems.append(f"{where}: the trials are not configurations(SPACE, {n}) in order")
            if e["choice"]["config"] != best(e["trials"])["config"]:
                problems.append(f"{where}: the choice is not the best trial on validation")
    return problems


def missing(path: Path | None = None) -> list[str]:
    """Return the tunable notebooks without any search in the tuning file.

    >>> missing(Path("/nonexistent.json")) == [p.stem for p in tunable()]
    True
    """
    path = Path(path or TUNING_FILE)
    content = json.loads(path.read_text()) if path.is_file() else {}
    return [nb.stem for nb in tunable() if not content.get(nb.stem)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.tune", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["run", "check", "collect"],
                        help="run: execute the searches and collect them; check: the committed file against the "
                             "notebooks; collect NOTEBOOK...: add executed searches to the tuning file")
    parser.add_argument("notebooks", nargs="*", type=Path, help="with collect: executed notebooks (build/tune/*.ipynb)")
    parser.add_argument("--build", type=Path, default=REPO_ROOT / "build")
    parser.add_argument("--only", nargs="*", help="notebook stems (default: every tunable notebook)")
    parser.add_argument("--smoke", action="store_true", help="tiny searches, written under build/ only")
    parser.add_argument("--dataset", default="auto")
    parser.add_argument("--into", type=Path, help="the tuning file to update (default: labkit/tuning.json)")
    args = parser.parse_args(argv)
    if args.command == "check":
        problems = check_spaces(args.into)
        print("\n".join(problems) if problems else "tuning file agrees with every notebook's SPACE")
        for stem in missing(args.into):
            print(f"note: {stem} has no search yet (make tune ONLY={stem}); it runs its faithful settings")
        return 1 if problems else 0
    if args.command == "collect":
        collect(args.notebooks, args.into or TUNING_FILE)
        return 0
    return run(args.build, args.only, args.smoke, args.dataset, args.into)


if __name__ == "__main__":
    sys.exit(main())
