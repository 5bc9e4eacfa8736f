"""The competition of exercise 07: training files, submissions, their checks, scores, leaderboard.

A submission is a CSV with one row per user: ``UserID`` and ``MovieIDs``, the user's 10
recommended MovieIDs separated by spaces, best first (0-based ids, as in the tutorial's files).
It is scored on ``ratings_test.csv`` with the tutorial's validation metrics: every test rating >= 4
is one event; per event, NDCG@10 with a single target (1 / log2(2 + rank) if the movie is in the
user's list) and Recall@10 (1 if it is); both averaged over events. A user missing from the
submission scores 0 on their events.

The leaderboard is honest only because the grader re-runs each student's notebook on the
training files alone (``python -m labkit.exercises grade``): MovieLens is public, so a file made
at home could have been built from the test period.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics

TRAINING_FILES = ("ratings_train", "users", "movies")


class SubmissionError(ValueError):
    """A submission file that cannot be read; the message names the file, the row and the problem."""


def training_files(dataset: str = "auto", default: str = "ml-1m") -> dict[str, Path]:
    """Return the paths of the competition's training files: ``ratings_train``, ``users``, ``movies``.

    When ``$LABKIT_TUTORIAL_DIR`` is set (the grader sets it for the re-run), they come from that
    folder and nothing is loaded or downloaded. Otherwise they are written with
    ``labkit.data.tutorial_files`` from the loaded dataset into ``data/tutorial-<name>/`` (which
    then also holds ``ratings_test.csv``: MovieLens is public; what counts is the grader's re-run).

    >>> import tempfile; os.environ["LABKIT_TUTORIAL_DIR"] = d = tempfile.mkdtemp()
    >>> for name in TRAINING_FILES: _ = (Path(d) / f"{name}.csv").write_text("x\\n")
    >>> sorted(training_files())
    ['movies', 'ratings_train', 'users']
    >>> del os.environ["LABKIT_TUTORIAL_DIR"]
    """
    folder = os.environ.get("LABKIT_TUTORIAL_DIR")
    if folder:
        paths = {name: Path(folder) / f"{name}.csv" for name in TRAINING_FILES}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"LABKIT_TUTORIAL_DIR={folder} lacks {', '.join(missing)}; unset it to "
                                    "build the files from MovieLens, or point it at a folder holding them")
        return paths
    from . import data

    ml = data.load(dataset, default=default)
    paths = data.tutorial_files(ml, data.data_dir() / f"tutorial-{ml.name}")
    return {name: paths[name] for name in TRAINING_FILES}


def write_submission(users, top_items, path) -> Path:
    """Write ``users`` and their (n, 10) recommended MovieIDs to a submission CSV; return the path.

    >>> import tempfile; p = write_submission([0, 5], [[3, 1], [2, 9]], Path(tempfile.mkdtemp()) / "s.csv")
    >>> p.read_text().splitlines()
    ['UserID,MovieIDs', '0,3 1', '5,2 9']
    """
    top_items = np.asarray(top_items)
    frame = pd.DataFrame({"UserID": np.asarray(users, dtype=int),
                          "MovieIDs": [" ".join(map(str, row)) for row in top_items]})
    path = Path(path)
    frame.to_csv(path, index=False)
    return path


def _integer(text: str) -> int | None:
    """Return ``text`` as a Python int (any size), or None if it is not an integer."""
    try:
        return int(text.strip())
    except ValueError:
        return None


def read_submission(path, k: int = 10, name: str | None = None) -> dict[int, list[int]]:
    """Return ``{UserID: [MovieIDs]}`` from a submission file (a path, or its bytes with ``name``).

    Raises SubmissionError naming the file, the row (line number, the header is row 1) and the
    problem, for: unreadable text, wrong header, a row without exactly two fields, a UserID or
    MovieID that is not an integer, a user listed twice, more than ``k`` MovieIDs. Ids of any size
    are read (a 20-digit id is reported by ``submission_problems``, never an overflow).

    >>> import tempfile; p = Path(tempfile.mkdtemp()) / "s.csv"; _ = p.write_text("UserID,MovieIDs\\n4,7 8\\n")
    >>> read_submission(p)
    {4: [7, 8]}
    >>> read_submission(b"UserID,MovieIDs\\n4,7 x\\n", name="bob.csv")
    Traceback (most recent call last):
    labkit.competition.SubmissionError: bob.csv: row 2: MovieID 'x' is not an integer
    """
    if isinstance(path, (bytes, bytearray)):
        name, raw = name or "submission", bytes(path)
    else:
        name = name or Path(path).name
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise SubmissionError(f"{name}: cannot be read: {exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None or [h.strip() for h in header] != ["UserID", "MovieIDs"]:
        raise SubmissionError(f"{name}: row 1: expected the header UserID,MovieIDs, found {header}")
    out: dict[int, list[int]] = {}
    first_row: dict[int, int] = {}
    for row_number, row in enumerate(rows, start=2):
        if not row:
            continue   # a blank line
        where = f"{name}: row {row_number}"
        if len(row) != 2:
            raise SubmissionError(f"{where}: expected 2 fields (UserID,MovieIDs), found {len(row)}")
        user = _integer(row[0])
        if user is None:
            raise SubmissionError(f"{where}: UserID {row[0]!r} is not an integer")
        items = []
        for token in row[1].split():
            item = _integer(token)
            if item is None:
                raise SubmissionError(f"{where}: MovieID {token!r} is not an integer")
            items.append(item)
        if user in first_row:
            raise SubmissionError(f"{where}: user {user} is listed twice (also row {first_row[user]})")
        if len(items) > k:
            raise SubmissionError(f"{where}: user {user} has {len(items)} MovieIDs, at most {k} allowed")
        first_row[user] = row_number
        out[user] = items
    return out


def _examples(values, n: int = 3) -> str:
    values = list(values)
    return ", ".join(map(str, values[:n])) + (", ..." if len(values) > n else "")


def _looks_one_based(ids, valid: set) -> bool:
    """True when some ``ids`` are unknown and every id becomes known once shifted by -1."""
    return any(i not in valid for i in ids) and all(i - 1 in valid for i in ids)


def submission_problems(lists: dict, users, items, k: int = 10, name: str = "submission") -> list[str]:
    """Return one line per problem of a read submission (``read_submission``'s dict); [] if none.

    ``users`` and ``items`` are the valid UserIDs (``users.csv``) and MovieIDs (``movies.csv``).
    Reported, each naming the file and a row (the n-th user row): unknown users, unknown MovieIDs
    (e.g. a 20-digit id), ids that look 1-based, a movie listed twice for a user, fewer than ``k``
    movies, users without a row (they score 0 on their test events).

    >>> submission_problems({0: [1, 1], 5: [2, 10**19]}, users=[0, 1, 5], items=[1, 2, 3], k=2, name="s.csv")
    ... # doctest: +NORMALIZE_WHITESPACE
    ['s.csv: row 3: MovieID 10000000000000000000 is not in movies.csv (1 row with unknown MovieIDs)',
     's.csv: row 2: MovieID 1 listed twice for user 0 (1 row with repeated movies)',
     's.csv: 1 user of users.csv without a row (e.g. 1): they score 0 on their test events']
    """
    users, items = {int(u) for u in users}, {int(i) for i in items}
    rows = {user: n for n, user in enumerate(lists, start=2)}   # row numbers, header = row 1
    problems = []

    def report(bad: list, what, label: str):
        if bad:
            user, detail = bad[0]
            plural = "s" if len(bad) > 1 else ""
            problems.append(f"{name}: row {rows[user]}: {what(user, detail)} ({len(bad)} row{plural} {label})")

    report([(u, None) for u in lists if u not in users], lambda u, _: f"UserID {u} is not in users.csv",
           "with unknown users")
    if _looks_one_based(list(lists), users):
        problems.append(f"{name}: UserIDs look 1-based (raw MovieLens ids): the tutorial's ids start at 0, subtract 1")
    all_items = [i for v in lists.values() for i in v]
    report([(u, next(i for i in v if i not in items)) for u, v in lists.items() if any(i not in items for i in v)],
           lambda u, i: f"MovieID {i} is not in movies.csv", "with unknown MovieIDs")
    if _looks_one_based(set(all_items), items):
        problems.append(f"{name}: MovieIDs look 1-based (raw MovieLens ids): the tutorial's ids start at 0, subtract 1")
    report([(u, next(i for n, i in enumerate(v) if i in v[:n])) for u, v in lists.items() if len(set(v)) < len(v)],
           lambda u, i: f"MovieID {i} listed twice for user {u}", "with repeated movies")
    report([(u, len(v)) for u, v in lists.items() if len(v) < k],
           lambda u, n: f"user {u} has {n} MovieIDs, {k} expected", f"with fewer than {k}")
    missing = sorted(users - set(lists))
    if missing:
        plural = "s" if len(missing) > 1 else ""
        problems.append(f"{name}: {len(missing)} user{plural} of users.csv without a row (e.g. "
                        f"{_examples(missing)}): they score 0 on their test events")
    return problems


def score_events(user_lists: dict, events: pd.DataFrame, k: int = 10, threshold: float = 4) -> dict:
    """Return ``{"ndcg@k", "recall@k", "events"}`` of recommendation lists on rating events.

    ``events`` has UserID, MovieID, Rating; only ratings >= ``threshold`` count. Ids that cannot be
    movies (negative, or beyond int64) simply never match.

    >>> ev = pd.DataFrame({"UserID": [0, 0, 1], "MovieID": [3, 5, 2], "Rating": [5, 4, 5]})
    >>> score_events({0: np.array([3, 1]), 1: np.array([2])}, ev)
    {'ndcg@10': 0.6666666666666666, 'recall@10': 0.6666666666666666, 'events': 3}
    """
    pos = events[events["Rating"] >= threshold]
    users = sorted(user_lists)
    table = np.full((len(users) + 1, k), metrics.NO_ITEM, dtype=np.int64)  # last row: missing users
    for r, u in enumerate(users):
        items = [int(i) if 0 <= i < 2 ** 63 else metrics.NO_ITEM for i in list(user_lists[u])[:k]]
        table[r, :len(items)] = items
    row_of = {u: r for r, u in enumerate(users)}
    rows = np.array([row_of.get(int(u), len(users)) for u in pos["UserID"]], dtype=int)
    ranks = metrics.rank_of(table, rows, pos["MovieID"].to_numpy())
    return {f"ndcg@{k}": float(metrics.single_target_ndcg(ranks).mean()) if len(ranks) else float("nan"),
            f"recall@{k}": float((ranks >= 0).mean()) if len(ranks) else float("nan"),
            "events": int(len(ranks))}


def score_submission(path, ratings_test, k: int = 10) -> dict:
    """Score a submission CSV against the hidden ``ratings_test.csv`` (a path or a DataFrame).

    >>> import tempfile; d = Path(tempfile.mkdtemp())
    >>> _ = pd.DataFrame({"UserID": [0], "MovieID": [3], "Rating": [5], "Timestamp": [1]}).to_csv(d / "t.csv", index=False)
    >>> score_submission(write_submission([0], [[3, 1]], d / "s.csv"), d / "t.csv")
    {'ndcg@10': 1.0, 'recall@10': 1.0, 'events': 1}
    """
    test = ratings_test if isinstance(ratings_test, pd.DataFrame) else pd.read_csv(ratings_test)
    return score_events(read_submission(path, k), test, k)


def leaderboard(submissions: dict, ratings_test: pd.DataFrame, users, items, k: int = 10) -> list[dict]:
    """Validate and score submissions; return rows, best NDCG first, invalid ones last.

    ``submissions`` maps a name (e.g. the student id) to a file's path or bytes. Each row:
    ``{"submission", "status": "ok" | "invalid", "ndcg@k", "recall@k", "events", "problems": [...]}``;
    an invalid file gets one problem line (file, row, problem) and no score; it never stops the rest.

    >>> test = pd.DataFrame({"UserID": [0], "MovieID": [5], "Rating": [5]})
    >>> rows = leaderboard({"a": b"UserID,MovieIDs\\n0,5\\n", "b": b"oops"}, test, users=[0], items=[5], k=1)
    >>> [(r["submission"], r["status"], r.get("ndcg@1")) for r in rows]
    [('a', 'ok', 1.0), ('b', 'invalid', None)]
    """
    rows = []
    for name, source in submissions.items():
        try:
            lists = read_submission(source, k, name=str(name))
        except SubmissionError as exc:
            rows.append({"submission": name, "status": "invalid", "problems": [str(exc)]})
            continue
        rows.append({"submission": name, "status": "ok", **score_events(lists, ratings_test, k),
                     "problems": submission_problems(lists, users, items, k, name=str(name))})
    return sorted(rows, key=lambda r: (r["status"] != "ok", -r.get(f"ndcg@{k}", 0.0), str(r["submission"])))


def format_leaderboard(rows: list[dict], k: int = 10) -> str:
    """Return the leaderboard as text: rank, name, NDCG@k, Recall@k, then its problems indented.

    >>> print(format_leaderboard([{"submission": "a", "status": "ok", "ndcg@10": 0.5, "recall@10": 0.6, "problems": []},
    ...                           {"submission": "b", "status": "invalid", "problems": ["b: row 1: bad header"]}]))
      1. a                        NDCG@10 0.5000  Recall@10 0.6000
      -  b                        invalid
           b: row 1: bad header
    """
    lines = []
    for rank, row in enumerate(rows, 1):
        if row["status"] == "ok":
            lines.append(f"{rank:>3}. {str(row['submission']):<24} NDCG@{k} {row[f'ndcg@{k}']:.4f}  "
                         f"Recall@{k} {row[f'recall@{k}']:.4f}")
        else:
            lines.append(f"  -  {str(row['submission']):<24} {row['status']}")
        lines += [f"       {p}" for p in row.get("problems", [])]
    return "\n".join(lines)
