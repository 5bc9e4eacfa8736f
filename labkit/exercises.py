"""Exercises: generate student versions from the solution sources, and grade submissions.

Sources live in ``exercises/NN_topic.ipynb`` and use nbgrader's markup, so instructors who use
nbgrader can take them as they are:

* a code cell with ``metadata.nbgrader.solution = true`` holds ``### BEGIN SOLUTION`` /
  ``### END SOLUTION``; the student version replaces that region with ``# YOUR CODE HERE`` and
  ``raise NotImplementedError()``;
* a code cell with ``metadata.nbgrader.grade = true`` (and ``points``) is a check; anything
  between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` is removed from the student
  version and put back when grading.

``python -m labkit.exercises student exercises build/exercises/student`` writes student versions;
``python -m labkit.exercises grade build/exercises/student`` grades a folder of completed
notebooks (named like the sources) and prints a score table, plus a leaderboard for the
competition of exercise 07 when submissions were written.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCES = REPO_ROOT / "exercises"
KERNEL = "deeprec"

SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\s*?\n.*?^[ \t]*### END SOLUTION[ \t]*\n?", re.M | re.S)
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS\s*?\n.*?^[ \t]*### END HIDDEN TESTS[ \t]*\n?", re.M | re.S)
STUB = "{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()\n"


def nbgrader(cell) -> dict:
    """Return a cell's nbgrader metadata ({} when it has none).

    >>> nbgrader({"metadata": {"nbgrader": {"grade": True}}})
    {'grade': True}
    """
    return cell.get("metadata", {}).get("nbgrader", {})


def strip_solutions(source: str) -> str:
    """Replace every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region with the stub.

    >>> print(strip_solutions("def f():\\n    ### BEGIN SOLUTION\\n    return 1\\n    ### END SOLUTION\\n"), end="")
    def f():
        # YOUR CODE HERE
        raise NotImplementedError()
    """
    return SOLUTION.sub(lambda m: STUB.format(indent=m.group(1)), source)


def strip_hidden_tests(source: str) -> str:
    """Remove every ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region.

    >>> strip_hidden_tests("assert a\\n### BEGIN HIDDEN TESTS\\nassert b\\n### END HIDDEN TESTS\\n")
    'assert a\\n'
    """
    return HIDDEN.sub("", source)


def student_version(nb):
    """Return the student version of a source notebook: no solutions, no hidden tests, no outputs.

    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("### BEGIN SOLUTION\\nx = 1\\n### END SOLUTION")])
    >>> student_version(nb).cells[0].source
    '# YOUR CODE HERE\\nraise NotImplementedError()\\n'
    """
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = strip_hidden_tests(strip_solutions(cell.source))
            cell.outputs, cell.execution_count = [], None
    nb.metadata.setdefault("labkit", {})["student_version"] = True
    return nb


def release(sources: Path = SOURCES, out: Path = REPO_ROOT / "build" / "exercises" / "student") -> list[Path]:
    """Write the student version of every ``NN_*.ipynb`` in ``sources`` into ``out``; return the paths.

    Example::

        release()   # build/exercises/student/01_leave_last_out.ipynb, ...
    """
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sorted(Path(sources).glob("[0-9][0-9]_*.ipynb")):
        nbformat.write(student_version(nbformat.read(src, as_version=4)), out / src.name)
        written.append(out / src.name)
    return written


def merge_submission(source_nb, submitted_nb):
    """Return the source notebook with the student's solution cells put in (matched by grade_id).

    Checks (and hidden tests) always come from the source, so a student cannot edit them away.
    A solution cell missing from the submission keeps the stub (it fails its checks).
    """
    merged = student_version(source_nb)
    answers = {nbgrader(c).get("grade_id"): c.source for c in submitted_nb.cells
               if nbgrader(c).get("solution") and nbgrader(c).get("grade_id")}
    for cell, original in zip(merged.cells, source_nb.cells):
        meta = nbgrader(original)
        if cell.cell_type != "code":
            continue
        if meta.get("solution") and meta.get("grade_id") in answers:
            cell.source = answers[meta["grade_id"]]
        elif meta.get("grade"):
            cell.source = original.source   # restore hidden tests
    return merged


def grade_notebook(source: Path, submitted: Path, timeout: int = 900, cwd: Path | None = None) -> dict:
    """Execute a submission against its source's checks and return points per check and in total.

    Returns ``{"notebook", "points", "max_points", "checks": {grade_id: (points, max)}, "executed"}``;
    a check scores its points when its cell runs without an error. Every cell runs (errors do
    not stop the run), so one unsolved task costs only its own points.

    Example::

        grade_notebook(Path("exercises/01_leave_last_out.ipynb"), Path("submissions/alice/01_leave_last_out.ipynb"))
    """
    from nbclient import NotebookClient

    merged = merge_submission(nbformat.read(source, as_version=4), nbformat.read(submitted, as_version=4))
    client = NotebookClient(merged, kernel_name=KERNEL, timeout=timeout, allow_errors=True,
                            resources={"metadata": {"path": str(cwd or Path(submitted).parent)}})
    client.execute()
    checks = {}
    for cell in merged.cells:
        meta = nbgrader(cell)
        if cell.cell_type == "code" and meta.get("grade"):
            failed = any(o.get("output_type") == "error" for o in cell.outputs)
            points = float(meta.get("points", 0))
            checks[meta["grade_id"]] = (0.0 if failed else points, points)
    return {"notebook": Path(source).stem, "points": sum(p for p, _ in checks.values()),
            "max_points": sum(m for _, m in checks.values()), "checks": checks, "executed": merged}


def grade_folder(folder: Path, sources: Path = SOURCES) -> list[dict]:
    """Grade every notebook in ``folder`` that has a source of the same name; return the results.

    Example::

        for r in grade_folder(Path("build/exercises/student")): print(r["notebook"], r["points"])
    """
    results = []
    for submitted in sorted(Path(folder).glob("[0-9][0-9]_*.ipynb")):
        source = Path(sources) / submitted.name
        if source.is_file():
            results.append(grade_notebook(source, submitted))
    return results


def leaderboard(folder: Path, ratings_test) -> list[dict]:
    """Score every ``*.csv`` submission (notebook 07's format) found in ``folder``; best NDCG first.

    Example::

        leaderboard(Path("build/exercises/student"), "data/tutorial-ml-100k/ratings_test.csv")
    """
    from .competition import score_submission

    rows = []
    for csv in sorted(Path(folder).glob("*submission*.csv")):
        try:
            rows.append({"submission": csv.name, **score_submission(csv, ratings_test)})
        except ValueError as exc:
            rows.append({"submission": csv.name, "error": str(exc)})
    return sorted(rows, key=lambda r: -r.get("ndcg@10", -1))


def score_table(results: list[dict]) -> str:
    """Return a plain-text table of grading results, one line per notebook and a total.

    >>> print(score_table([{"notebook": "01_x", "points": 2.0, "max_points": 3.0, "checks": {"a": (2.0, 3.0)}}]))
    notebook                         points
    01_x                          2.0 / 3.0
    total                         2.0 / 3.0
    """
    lines = [f"{'notebook':<28}{'points':>11}"]
    for r in results:
        lines.append(f"{r['notebook']:<28}{r['points']:>5.1f} / {r['max_points']:.1f}")
    total, top = sum(r["points"] for r in results), sum(r["max_points"] for r in results)
    lines.append(f"{'total':<28}{total:>5.1f} / {top:.1f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.exercises", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("student", help="write student versions")
    s.add_argument("sources", type=Path, nargs="?", default=SOURCES)
    s.add_argument("out", type=Path, nargs="?", default=REPO_ROOT / "build" / "exercises" / "student")
    g = sub.add_parser("grade", help="grade a folder of completed notebooks")
    g.add_argument("folder", type=Path)
    g.add_argument("--sources", type=Path, default=SOURCES)
    g.add_argument("--ratings-test", help="ratings_test.csv for the competition leaderboard")
    args = parser.parse_args(argv)
    if args.command == "student":
        for path in release(args.sources, args.out):
            print(path)
        return 0
    results = grade_folder(args.folder, args.sources)
    print(score_table(results))
    for r in results:
        for gid, (p, m) in r["checks"].items():
            print(f"  {r['notebook']}:{gid} {p:.1f}/{m:.1f}")
    (args.folder / "grades.json").write_text(json.dumps(
        [{k: v for k, v in r.items() if k != "executed"} for r in results], indent=2))
    if args.ratings_test:
        board = leaderboard(args.folder, args.ratings_test)
        print("\nleaderboard (hidden test, NDCG@10):")
        for rank, row in enumerate(board, 1):
            print(f"{rank:>3}. {row['submission']:<40} " + (
                f"NDCG@10 {row['ndcg@10']:.4f}  Recall@10 {row['recall@10']:.4f}" if "error" not in row else row["error"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
