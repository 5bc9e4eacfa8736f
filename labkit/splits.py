"""Train/test splits and filters used by the notebooks, each as its source defines it.

All functions take and return ratings frames with at least ``user_id``, ``item_id`` and
``timestamp`` columns (``rating`` where the function says so) and never modify their input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def sort_by_user_time(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` sorted by (user_id, timestamp); rows with equal keys keep file order.

    This is seed 000's ``sorted(raw, key=lambda x: (x[0], x[3]))`` (Python's sort is stable).

    >>> df = pd.DataFrame({"user_id": [2, 1, 1], "item_id": [7, 8, 9], "timestamp": [5, 6, 6]})
    >>> sort_by_user_time(df).item_id.tolist()
    [8, 9, 7]
    """
    return df.sort_values(["user_id", "timestamp"], kind="stable")


@dataclass
class IdMap:
    """A contiguous 0-based id map fitted on some raw ids (sorted ascending).

    >>> m = IdMap.fit([30, 10, 20, 10]); m.encode([10, 30]).tolist(), len(m)
    ([0, 2], 3)
    """

    raw: np.ndarray  # raw[new_id] = raw id

    @classmethod
    def fit(cls, raw_ids) -> "IdMap":
        return cls(np.unique(np.asarray(raw_ids)))

    def __len__(self) -> int:
        return len(self.raw)

    def encode(self, raw_ids) -> np.ndarray:
        """Return the new ids of ``raw_ids``; raises KeyError if one was not seen in ``fit``."""
        raw_ids = np.asarray(raw_ids)
        pos = np.searchsorted(self.raw, raw_ids)
        pos_clipped = np.minimum(pos, len(self.raw) - 1)
        bad = (pos >= len(self.raw)) | (self.raw[pos_clipped] != raw_ids)
        if bad.any():
            raise KeyError(f"ids not in the map: {np.unique(raw_ids[bad])[:10].tolist()}")
        return pos

    def decode(self, new_ids) -> np.ndarray:
        """Return the raw ids of ``new_ids``."""
        return self.raw[np.asarray(new_ids)]

    def as_dict(self) -> dict:
        """Return ``{raw_id: new_id}`` like seed 000's ``user_map`` / ``item_map``."""
        return {int(v): i for i, v in enumerate(self.raw)}


def reindex(df: pd.DataFrame, users: IdMap, items: IdMap) -> pd.DataFrame:
    """Return a copy of ``df`` with user_id and item_id replaced by their contiguous ids.

    >>> df = pd.DataFrame({"user_id": [5, 9], "item_id": [100, 7]})
    >>> reindex(df, IdMap.fit([5, 9]), IdMap.fit([7, 100])).values.tolist()
    [[0, 1], [1, 0]]
    """
    out = df.copy()
    out["user_id"] = users.encode(df["user_id"].to_numpy())
    out["item_id"] = items.encode(df["item_id"].to_numpy())
    return out


def ratio_split_per_user(df: pd.DataFrame, ratio: float = 0.8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split each user's interactions in time order: the first ``round(n * ratio)`` go to train.

    Seed 000's protocol. ``round`` is Python's (half to even: 2.5 -> 2), as in the seed.
    Returns (train, test), both sorted by (user_id, timestamp).

    >>> df = pd.DataFrame({"user_id": [0] * 11, "item_id": range(1, 12), "timestamp": range(11)})
    >>> train, test = ratio_split_per_user(df)
    >>> train.item_id.tolist(), test.item_id.tolist()
    ([1, 2, 3, 4, 5, 6, 7, 8, 9], [10, 11])
    """
    df = sort_by_user_time(df)
    pos = df.groupby("user_id").cumcount().to_numpy()
    n = df.groupby("user_id")["user_id"].transform("size").to_numpy()
    in_train = pos < np.round(n * ratio)
    return df[in_train], df[~in_train]


def leave_last_out(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out each user's latest interaction as the test item (d2l's 'seq-aware' split).

    Ties: among a user's rows with the latest timestamp, the first in file order is the test
    item, as d2l's ``split_data_ml100k`` picks it. Returns (train, test), train sorted by
    (user_id, timestamp), test with one row per user sorted by user_id.

    >>> df = pd.DataFrame({"user_id": [1, 1, 1], "item_id": [4, 5, 6], "timestamp": [1, 3, 3]})
    >>> train, test = leave_last_out(df)
    >>> train.item_id.tolist(), test.item_id.tolist()
    ([4, 6], [5])
    """
    df = sort_by_user_time(df)
    latest = df.groupby("user_id")["timestamp"].transform("max").to_numpy()
    candidates = df[df["timestamp"].to_numpy() == latest]
    test_index = candidates.groupby("user_id").head(1).index
    return df.drop(index=test_index), df.loc[test_index].sort_values("user_id", kind="stable")


def min_count_filter(df: pd.DataFrame, min_count: int = 20, column: str = "user_id") -> pd.DataFrame:
    """Keep rows whose ``column`` value occurs at least ``min_count`` times (one pass, as RePlay's MinCountFilter).

    >>> df = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 2, 3]})
    >>> min_count_filter(df, 2).user_id.tolist()
    [1, 1]
    """
    counts = df.groupby(column)[column].transform("size")
    return df[counts >= min_count]


def low_rating_filter(df: pd.DataFrame, min_rating: float = 4) -> pd.DataFrame:
    """Keep rows with ``rating >= min_rating`` (RePlay's LowRatingFilter).

    >>> low_rating_filter(pd.DataFrame({"rating": [3, 4, 5]})).rating.tolist()
    [4, 5]
    """
    return df[df["rating"] >= min_rating]


def global_time_split(df: pd.DataFrame, test_fraction: float = 0.2, drop_cold_users: bool = True,
                      drop_cold_items: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split all interactions at one moment in time (RePlay's TimeSplitter with a float threshold).

    The test set starts at the timestamp found at position ``int(n * (1 - test_fraction))`` of
    the time-sorted interactions, so every row with that timestamp or later is in test (ties at
    the boundary go to test). Test rows of users or items absent from train are then dropped.

    >>> df = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [1, 2, 1, 2, 1], "timestamp": [1, 2, 3, 4, 5]})
    >>> train, test = global_time_split(df, 0.4)
    >>> train.timestamp.tolist(), test.timestamp.tolist()   # user 3 is cold: dropped from test
    ([1, 2, 3], [4])
    """
    ts = np.sort(df["timestamp"].to_numpy(), kind="stable")
    boundary = ts[int(len(ts) * (1 - test_fraction))]
    is_test = df["timestamp"].to_numpy() >= boundary
    train, test = df[~is_test], df[is_test]
    if drop_cold_users:
        test = test[test["user_id"].isin(train["user_id"].unique())]
    if drop_cold_items:
        test = test[test["item_id"].isin(train["item_id"].unique())]
    return train, test


def last_positives_split(df: pd.DataFrame, n_positive: int = 5, threshold: float = 4,
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-user validation split from the user's ``n_positive``-th last positive (Funk-SVD tutorial).

    In each user's time-ordered rows (file order breaks ties), positives have
    ``rating >= threshold``. A user with at least ``n_positive`` positives gets a validation set
    that starts at the ``n_positive``-th last positive and runs to the end; train is every row
    strictly before it. Users with fewer positives are all train. The source's
    ``.loc[:idx]`` / ``.loc[idx:]`` put the split row in both sets; this one does not.

    >>> df = pd.DataFrame({"user_id": [0] * 4, "item_id": [1, 2, 3, 4], "rating": [5, 1, 4, 5], "timestamp": range(4)})
    >>> train, val = last_positives_split(df, n_positive=2)
    >>> train.item_id.tolist(), val.item_id.tolist()
    ([1, 2], [3, 4])
    """
    df = sort_by_user_time(df)
    positive = (df["rating"] >= threshold).to_numpy()
    # number of positives at or after each row, per user
    rev_pos = df.assign(_p=positive)[::-1].groupby("user_id")["_p"].cumsum()[::-1].to_numpy()
    # the split row is a positive with exactly n_positive positives from it to the end
    split_row = positive & (rev_pos == n_positive)
    started = df.assign(_s=split_row).groupby("user_id")["_s"].cumsum().to_numpy() > 0
    return df[~started], df[started]


class IdCounts:
    """Mixin for data holders with ``user_map`` / ``item_map``: their sizes as n_users / n_items."""

    @property
    def n_users(self) -> int:
        return len(self.user_map)

    @property
    def n_items(self) -> int:
        return len(self.item_map)


@dataclass
class LeaveLastOutData(IdCounts):
    """The d2l 'seq-aware' implicit-feedback data of notebooks 03-05, with a validation split.

    train / test: frames with contiguous ids (test: one row per user, in user order);
    seen: (n_users, n_items) boolean matrix of training interactions (the items never ranked
    for that user); test_items: each user's held-out item, indexed by user id.
    Validation, carved from train by the same rule: fit = train without each user's latest
    training interaction, val_items = that interaction per user, seen_fit = fit's matrix.
    Choices (epochs, variants, a baseline's hyper-parameter) are made by training on ``fit`` and
    ranking ``val_items``; the chosen configuration is then trained on ``train`` and ranks
    ``test_items`` once.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    user_map: IdMap
    item_map: IdMap
    seen: np.ndarray
    test_items: np.ndarray
    fit: pd.DataFrame
    seen_fit: np.ndarray
    val_items: np.ndarray


def leave_last_out_data(ratings: pd.DataFrame) -> LeaveLastOutData:
    """Give ids from 0, hold out each user's latest interaction (test) and the one before (validation).

    Every user must have at least 3 interactions (MovieLens users have 20 or more).

    >>> df = pd.DataFrame({"user_id": [7, 7, 7, 9, 9, 9], "item_id": [1, 2, 3, 2, 3, 1], "timestamp": [1, 2, 3, 1, 2, 3]})
    >>> d = leave_last_out_data(df); d.test_items.tolist(), d.val_items.tolist(), d.seen_fit.astype(int).tolist()
    ([2, 0], [1, 2], [[1, 0, 0], [0, 1, 0]])
    """
    users, items = IdMap.fit(ratings["user_id"]), IdMap.fit(ratings["item_id"])
    train, test = leave_last_out(reindex(ratings, users, items))
    fit, val = leave_last_out(train)
    if len(test) != len(users) or len(val) != len(users) or fit["user_id"].nunique() != len(users):
        raise ValueError("leave-last-out with validation needs at least 3 interactions for every user")

    def matrix(df):
        m = np.zeros((len(users), len(items)), dtype=bool)
        m[df["user_id"].to_numpy(), df["item_id"].to_numpy()] = True
        return m

    return LeaveLastOutData(train, test, users, items, matrix(train), test["item_id"].to_numpy(),
                            fit, matrix(fit), val["item_id"].to_numpy())
