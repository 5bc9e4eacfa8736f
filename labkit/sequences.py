"""Training instances built from time-ordered interactions: sliding windows, negatives, Caser windows.

Inputs are arrays of (user, item) rows already sorted by (user, time) with contiguous ids,
as ``labkit.splits`` produces them. Everything is vectorised over all users at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import splits


def _user_positions(users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (position of each row inside its user's run, length of that run), users sorted."""
    users = np.asarray(users)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    lengths = np.diff(np.r_[starts, len(users)])
    run_start = np.repeat(starts, lengths)
    return np.arange(len(users)) - run_start, np.repeat(lengths, lengths)


def sliding_windows(users, items, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (window users, window items) for every run of ``window`` consecutive rows of one user.

    ``users`` and ``items`` are parallel arrays sorted by (user, time). The result has one row per
    window start, shape ``(n_windows,)`` and ``(n_windows, window)``, windows in order. A user
    with fewer than ``window`` rows gives no window (and no error), unlike numpy's
    ``sliding_window_view`` that seed 000 calls per user.

    >>> u, w = sliding_windows([0] * 9, range(1, 10), 8)
    >>> u.tolist(), w.tolist()
    ([0, 0], [[1, 2, 3, 4, 5, 6, 7, 8], [2, 3, 4, 5, 6, 7, 8, 9]])
    """
    users, items = np.asarray(users), np.asarray(items)
    pos, length = _user_positions(users)
    starts = np.flatnonzero(pos <= length - window)
    return users[starts], items[starts[:, None] + np.arange(window)]


def last_items(users, items, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (users, their last ``n`` items) for each user with at least ``n`` rows.

    >>> last_items([0, 0, 0, 1], [5, 6, 7, 8], 2)
    (array([0]), array([[6, 7]]))
    """
    users, items = np.asarray(users), np.asarray(items)
    pos, length = _user_positions(users)
    ends = np.flatnonzero((pos == length - 1) & (length >= n))
    return users[ends], items[ends[:, None] - np.arange(n - 1, -1, -1)]


def sample_negatives(rng: np.random.RandomState | np.random.Generator, n_items: int, shape,
                     users=None, seen: np.ndarray | None = None) -> np.ndarray:
    """Return item ids drawn uniformly from ``range(n_items)`` with the given ``shape``.

    Without ``seen``, this is seed 000's ``np.random.randint(n_items, size=shape)``: negatives may
    hit the user's own items. With ``seen`` (a users x items boolean matrix) and ``users`` (the
    user of each row), draws that hit a seen item are redrawn until none does.

    >>> rng = np.random.RandomState(0)
    >>> sample_negatives(rng, 5, (1, 3), users=[0], seen=np.array([[1, 1, 0, 0, 0]], bool)).min() >= 2
    True
    """
    draw = rng.randint if isinstance(rng, np.random.RandomState) else rng.integers
    out = draw(0, n_items, size=shape)
    if seen is None:
        return out
    row_users = np.broadcast_to(np.asarray(users).reshape(-1, *([1] * (len(out.shape) - 1))), out.shape)
    if seen[np.unique(row_users)].all(axis=1).any():
        raise ValueError("a user has seen every item: no negative can be drawn")
    bad = seen[row_users, out]
    while bad.any():
        out[bad] = draw(0, n_items, size=int(bad.sum()))
        bad = seen[row_users, out]
    return out


def seen_matrix(users, items, n_users: int, n_items: int) -> np.ndarray:
    """Return a dense boolean (n_users, n_items) matrix, True where a (user, item) pair occurs.

    >>> seen_matrix([0, 1], [2, 0], 2, 3).astype(int).tolist()
    [[0, 0, 1], [1, 0, 0]]
    """
    m = np.zeros((n_users, n_items), dtype=bool)
    m[np.asarray(users), np.asarray(items)] = True
    return m


@dataclass
class WindowData(splits.IdCounts):
    """Notebook 01's arrays (seed 000), ready for the LSTM of notebook 02.

    x_train: (n, 1 + feed_len) user id then the feed items; targets_train: (n, target_len +
    n_neg) positive targets then negatives; x_test: (n_test_users, 1 + feed_len) each user's last
    feed_len training items; test_targets: list of arrays (each user's test items);
    train / test: the split frames with contiguous ids; user_map / item_map: the id maps.
    """

    x_train: np.ndarray
    targets_train: np.ndarray
    x_test: np.ndarray
    test_targets: list
    train: pd.DataFrame
    test: pd.DataFrame
    user_map: splits.IdMap
    item_map: splits.IdMap


def window_dataset(ratings: pd.DataFrame, feed_len: int = 5, target_len: int = 3, n_neg: int = 10,
                   ratio: float = 0.8, seed: int | None = 0,
                   rng: np.random.RandomState | None = None) -> WindowData:
    """Build seed 000's training and test arrays from a ratings frame, vectorised.

    Steps: sort by (user, time); ids from 0 (sorted raw ids); per-user ``ratio`` split; every
    window of ``feed_len + target_len`` training items gives one instance; ``n_neg`` uniform
    negatives per instance (drawn in one call with ``np.random.RandomState(seed)``, or the given
    ``rng``; the same stream as the seed's per-user calls); each user's last ``feed_len``
    training items feed the test. Users with fewer than ``feed_len`` training items or no test
    item are left out of the test arrays.

    >>> df = pd.DataFrame({"user_id": [0] * 11, "item_id": range(1, 12), "timestamp": range(11)})
    >>> d = window_dataset(df, seed=0)
    >>> d.x_train[:, :6].tolist(), d.x_test.tolist(), [t.tolist() for t in d.test_targets]
    ([[0, 0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5]], [[0, 4, 5, 6, 7, 8]], [[9, 10]])
    """
    rng = np.random.RandomState(seed) if rng is None else rng
    ratings = splits.sort_by_user_time(ratings)
    user_map = splits.IdMap.fit(ratings["user_id"])
    item_map = splits.IdMap.fit(ratings["item_id"])
    df = splits.reindex(ratings, user_map, item_map)
    return _windows(df, user_map, item_map, feed_len, target_len, n_neg, ratio, rng)


def _windows(df, user_map, item_map, feed_len, target_len, n_neg, ratio, rng) -> WindowData:
    """``window_dataset`` on a frame already sorted by (user, time) and encoded with the maps."""
    train, test = splits.ratio_split_per_user(df, ratio)
    tu, ti = train["user_id"].to_numpy(), train["item_id"].to_numpy()
    w_users, windows = sliding_windows(tu, ti, feed_len + target_len)
    negatives = sample_negatives(rng, len(item_map), (len(w_users), n_neg))
    x_train = np.concatenate([w_users[:, None], windows[:, :feed_len]], axis=1)
    targets_train = np.concatenate([windows[:, feed_len:], negatives], axis=1)

    test_users, feeds = last_items(tu, ti, feed_len)
    has_test = np.isin(test_users, test["user_id"].to_numpy())
    test_users, feeds = test_users[has_test], feeds[has_test]
    grouped = test.groupby("user_id")["item_id"]
    targets_by_user = dict(zip(grouped.groups.keys(), (g.to_numpy() for _, g in grouped)))
    return WindowData(
        x_train=x_train,
        targets_train=targets_train,
        x_test=np.concatenate([test_users[:, None], feeds], axis=1),
        test_targets=[targets_by_user[u] for u in test_users],
        train=train,
        test=test,
        user_map=user_map,
        item_map=item_map,
    )


def validation_windows(wd: WindowData, feed_len: int = 5, target_len: int = 3, n_neg: int = 10,
                       ratio: float = 0.8, seed: int | None = 0) -> WindowData:
    """Return the validation version of ``wd``: the same protocol applied to its training part.

    Each user's training items are split again by ``ratio`` in time order: the first part gives
    the training windows, the last part is the validation target set (``test_targets`` of the
    result), fed by the last ``feed_len`` items before it. Ids and maps are those of ``wd``.
    Train on the result, choose (e.g. the number of epochs) on its targets, then train the
    chosen configuration on ``wd`` and evaluate its test once.

    >>> df = pd.DataFrame({"user_id": [0] * 20, "item_id": range(20), "timestamp": range(20)})
    >>> v = validation_windows(window_dataset(df))
    >>> v.x_test.tolist(), [t.tolist() for t in v.test_targets]
    ([[0, 8, 9, 10, 11, 12]], [[13, 14, 15]])
    """
    return _windows(wd.train, wd.user_map, wd.item_map, feed_len, target_len, n_neg, ratio,
                    np.random.RandomState(seed))


def caser_instances(users, items, L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return Caser's (user, previous ``L`` items, next item) training instances.

    ``users``/``items`` sorted by (user, time), typically the leave-last-out train part. Every
    window of ``L + 1`` consecutive items of a user gives one instance. (d2l's ``SeqDataset``
    also emits the whole sequence of a user shorter than ``L + 1``; such users give no instance
    here.)

    >>> u, seq, tgt = caser_instances([0] * 7, range(7), 5)
    >>> u.tolist(), seq.tolist(), tgt.tolist()
    ([0, 0], [[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]], [5, 6])
    """
    w_users, windows = sliding_windows(users, items, L + 1)
    return w_users, windows[:, :L], windows[:, L]


def pairwise_triples(users, items, seen: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return BPR's (user, positive, negative) triples: one fresh negative per interaction.

    The negative of each row is drawn uniformly among the items that user never interacted
    with (``seen``: users x items boolean, the training interactions), as d2l's ``PRDataset``
    does; call it once per epoch for new negatives.

    >>> seen = seen_matrix([0, 0], [0, 1], 1, 3)
    >>> pairwise_triples([0, 0], [0, 1], seen, np.random.default_rng(0))[2].tolist()
    [2, 2]
    """
    users, items = np.asarray(users), np.asarray(items)
    neg = sample_negatives(rng, seen.shape[1], (len(users),), users=users, seen=seen)
    return users, items, neg
