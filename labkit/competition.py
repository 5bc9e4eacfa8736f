"""The hidden-test competition of notebook 07: write a submission, score it.

A submission is a CSV with one row per user: ``UserID`` and ``MovieIDs``, the user's 10
recommended MovieIDs separated by spaces, best first. It is scored on ``ratings_test.csv`` with
the tutorial's validation metrics: every test rating >= 4 is one event; per event, NDCG@10 with a
single target (1 / log2(2 + rank) if the movie is in the user's list) and Recall@10 (1 if it is);
both averaged over events. A user missing from the submission scores 0 on their events.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics


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


def read_submission(path, k: int = 10) -> dict[int, np.ndarray]:
    """Return ``{UserID: array of at most k MovieIDs}`` from a submission CSV (checks its format).

    >>> import tempfile; p = Path(tempfile.mkdtemp()) / "s.csv"; _ = p.write_text("UserID,MovieIDs\\n4,7 8\\n")
    >>> read_submission(p)
    {4: array([7, 8])}
    """
    frame = pd.read_csv(path, dtype={"UserID": int, "MovieIDs": str})
    if list(frame.columns) != ["UserID", "MovieIDs"]:
        raise ValueError(f"{path}: expected columns UserID,MovieIDs, found {list(frame.columns)}")
    if frame.UserID.duplicated().any():
        raise ValueError(f"{path}: users listed twice: {frame.UserID[frame.UserID.duplicated()].tolist()[:5]}")
    out = {}
    for user, ids in zip(frame.UserID, frame.MovieIDs.fillna("")):
        items = np.array([int(x) for x in ids.split()], dtype=int)
        if len(items) > k:
            raise ValueError(f"{path}: user {user} has {len(items)} recommendations, at most {k} allowed")
        out[int(user)] = items
    return out


def score_events(user_lists: dict, events: pd.DataFrame, k: int = 10, threshold: float = 4) -> dict:
    """Return ``{"ndcg@k", "recall@k", "events"}`` of recommendation lists on rating events.

    ``events`` has UserID, MovieID, Rating; only ratings >= ``threshold`` count.

    >>> ev = pd.DataFrame({"UserID": [0, 0, 1], "MovieID": [3, 5, 2], "Rating": [5, 4, 5]})
    >>> score_events({0: np.array([3, 1]), 1: np.array([2])}, ev)
    {'ndcg@10': 0.6666666666666666, 'recall@10': 0.6666666666666666, 'events': 3}
    """
    pos = events[events["Rating"] >= threshold]
    users = sorted(user_lists)
    table = np.full((len(users) + 1, k), metrics.NO_ITEM, dtype=np.int64)  # last row: missing users
    for r, u in enumerate(users):
        items = np.asarray(user_lists[u])[:k]
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
