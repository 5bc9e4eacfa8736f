"""How much of a lesson's code is the model, its loss and its training loop (issue 19).

What counts (the definition ``tests/test_lessons.py`` checks and the report quotes):

* a **code line** is a non-blank line of a code cell that is not only a comment;
* the **lesson** is every cell before the first markdown cell that starts with ``## Appendix``;
  the appendix (benchmarks, worked examples kept for the curious) is not counted;
* cells tagged ``discussion`` are not counted either: they only turn the notebook's numbers into
  the closing prose (f-strings), and their source is hidden in JupyterLab;
* a **model line** is a code line of a model cell, listed by cell id in ``MODEL_CELLS`` below (ids,
  not tags, so that marking a cell never edits a notebook another branch is editing): the model
  (its layers or modules and forward pass), the loss, the training loop (optimiser steps, the epoch
  loop, its stopping rule, its per-epoch log line), or a call that runs that loop to train a model.
  Data preparation, evaluation, baselines, recording, tables, plots, tuning searches and benchmarks
  are not model cells, and a model cell may not record, show or plot (the test checks that).

Run ``python tests/code_share.py [notebooks...]`` for the table (default: lessons 02-07).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL_LESSONS = sorted(p for p in (ROOT / "notebooks").glob("0[2-7]_*.ipynb"))
MODEL_CELLS = {
    "02_lstm_sequential": ["c009", "c011", "c015", "c017", "c017b", "d19-train"],
    "03_ranking_losses": ["c006", "c008", "c014", "c018", "321a8db4", "d19-tuned-train"],
    "04_neumf": ["c008", "c010", "d19-train-loop", "c012", "c014", "c018", "d19-tuned-train"],
    "05_caser": ["c009", "c011", "7bef47fa", "d19-tuned-train"],
    "06_two_tower": ["c011", "c014", "c018", "c020"],
    "07_funk_svd": ["c013", "3a90cf87", "d19-train-funk", "c024", "d19-tuned-train"],
}
# Model cells another branch adds, tolerated while absent from the notebook (``share`` finds no such
# cell); none now.
PENDING: dict[str, list[str]] = {}


def code_lines(source: str) -> int:
    """Non-blank lines that are not only a comment.

    >>> code_lines("x = 1\\n\\n# a comment\\ny = 2  # trailing\\n")
    2
    """
    return sum(1 for line in source.splitlines() if line.strip() and not line.strip().startswith("#"))


def lesson_cells(nb: dict) -> list[dict]:
    """The cells before the appendix (the first markdown cell starting with '## Appendix')."""
    cells = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown" and "".join(cell["source"]).lstrip().startswith("## Appendix"):
            break
        cells.append(cell)
    return cells


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def share(path) -> tuple[int, int]:
    """Return (model lines, counted code lines) of one lesson notebook."""
    nb = json.loads(Path(path).read_text())
    model = total = 0
    for cell in lesson_cells(nb):
        if cell["cell_type"] != "code" or "discussion" in tags(cell):
            continue
        n = code_lines("".join(cell["source"]))
        total += n
        model += n if cell.get("id") in MODEL_CELLS.get(Path(path).stem, ()) else 0
    return model, total


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or MODEL_LESSONS
    for p in paths:
        m, t = share(p)
        print(f"{p.stem:<22} {m:4d} / {t:4d} = {m / t:.0%}")
