"""Ranking metrics over all users at once, from a score matrix or from top-k lists.

Shapes: ``scores`` is (n_users, n_items); ``truth`` is a boolean (n_users, n_items) matrix of
relevant items (see ``truth_matrix``); ``topk`` is an int (n_users, k) array of item ids, best
first, ``-1`` where a user has fewer than k candidates. Row r of every array is the same user.

Definitions (``hits_i`` = 1 if the item at rank i, counted from 0, is relevant; ``T`` = the
user's truth set; ``n_rec`` = the number of real recommendations, ``min(k, candidates)``):

* precision@k = sum(hits) / n_rec  (seed 000 divides by ``len(predictions[:k])``);
* recall@k = sum(hits) / |T|;
* AP@k = sum_i hits_i * precision@(i+1) / min(|T|, k)  (seed 000); MAP@k is its mean;
* NDCG@k = DCG / IDCG with binary gains, DCG = sum_i hits_i / log2(i + 2), IDCG the DCG of
  min(k, |T|) hits at the top (RePlay); with one target it is seed 002's 1 / log2(2 + rank);
* hit rate@k = 1 if any hit (RePlay's HitRate; d2l's hit for one test item);
* AUC (d2l) = (n_cand - 1 - rank) / (n_cand - 1) for the single test item, rank counted from 0
  among the user's candidates (items not in training);
* coverage@k = distinct recommended items that occur in train / distinct train items (RePlay).

Users with an empty truth set get NaN per-user values and are left out of every mean.

Ties favour no item. ``topk`` breaks ties between equal scores at random (seeded, so the same
call gives the same lists); ``hit_and_auc`` uses the expected rank under a random tie-break, so
a model that gives every item the same score gets AUC 0.5 and hit@k = k / candidates exactly.
d2l's evaluator, which puts the lower item id first among ties, is kept behind
``d2l_compatible=True`` (and ``topk(..., ties="low_id")``) for comparing with its published
numbers like for like. Strictly, d2l orders tied candidates by the iteration order of the Python
set ``set(range(num_users)) - set(train items)`` (Python's sort is stable); see
``candidate_ranks`` for where that is not the lower id first.
NaN scores rank below every number; -inf and +inf are ordinary extremes; only ``exclude``
removes items from the candidates.

Shapes are checked: arrays that should describe the same users (rows) or items (columns) but do
not, item ids outside ``range(n_items)`` and mismatched ``exclude`` matrices raise ValueError
rather than broadcasting into a wrong number.
"""

from __future__ import annotations

import numpy as np

NO_ITEM = -1


def _matrix(name: str, a) -> np.ndarray:
    """``a`` as a 2-D array, or ValueError naming it."""
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (users, ...) array, not shape {a.shape}")
    return a


def _same_users(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    """ValueError unless ``a`` and ``b`` have the same number of users (rows)."""
    if len(a) != len(b):
        raise ValueError(f"{name_a} has {len(a)} users (rows) but {name_b} has {len(b)}: "
                         f"row r of both must be the same user")


def _exclude(exclude, shape) -> np.ndarray | None:
    """``exclude`` as a boolean array of ``shape`` (None stays None), or ValueError."""
    if exclude is None:
        return None
    exclude = np.asarray(exclude)
    if exclude.shape != tuple(shape):
        raise ValueError(f"exclude must have the shape of the scores {tuple(shape)}, not {exclude.shape}")
    return exclude.astype(bool, copy=False)


def _item_ids(name: str, ids, n_items: int, allow_missing: bool = False) -> np.ndarray:
    """``ids`` as an int array of ids in ``range(n_items)`` (or ``NO_ITEM`` if ``allow_missing``), or ValueError."""
    ids = np.asarray(ids)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        as_int = ids.astype(np.int64) if np.issubdtype(ids.dtype, np.number) else None
        if as_int is None or not np.array_equal(as_int, ids):
            raise ValueError(f"{name} must hold integer item ids, not {ids.dtype}")
        ids = as_int
    ids = ids.astype(np.int64, copy=False)
    low = NO_ITEM if allow_missing else 0
    if ids.size and (ids.min() < low or ids.max() >= n_items):
        bad = ids[(ids < low) | (ids >= n_items)]
        raise ValueError(f"{name} holds ids outside range({n_items}) (the items): {np.unique(bad)[:5].tolist()}")
    return ids


def truth_matrix(users, items, n_users: int, n_items: int) -> np.ndarray:
    """Return a boolean (n_users, n_items) matrix with True at each (user, item) pair given.

    >>> truth_matrix([0, 0, 1], [1, 2, 0], 2, 3).astype(int).tolist()
    [[0, 1, 1], [1, 0, 0]]
    """
    users, items = np.asarray(users, dtype=int), np.asarray(items, dtype=int)
    if users.shape != items.shape:
        raise ValueError(f"users and items must be parallel arrays, not shapes {users.shape} and {items.shape}")
    m = np.zeros((n_users, n_items), dtype=bool)
    m[users, items] = True
    return m


def truth_from_lists(lists, n_items: int) -> np.ndarray:
    """Return the truth matrix whose row r marks the items of ``lists[r]``.

    >>> truth_from_lists([[2], [0, 1]], 3).astype(int).tolist()
    [[0, 0, 1], [1, 1, 0]]
    """
    rows = np.repeat(np.arange(len(lists)), [len(x) for x in lists])
    cols = np.concatenate([np.asarray(x, dtype=int) for x in lists]) if len(lists) else np.array([], int)
    return truth_matrix(rows, cols, len(lists), n_items)


_EXCLUDED = np.iinfo(np.int64).min      # order key of an excluded item: never a candidate
_NAN_KEY = _EXCLUDED + 1                 # order key of a NaN score: below -inf, still a candidate


def order_keys(scores, exclude=None) -> np.ndarray:
    """Return int64 keys that sort like ``scores`` (NaN lowest, -0.0 == 0.0), excluded items below all.

    Equal scores give equal keys, so ties stay ties. ``topk`` uses them when scores hold NaN
    (or -inf together with ``exclude``), where plain floats cannot keep those cases apart.

    >>> k = order_keys(np.array([[1.5, -np.inf, np.nan, 0.0, -0.0, np.inf, -2.0]]))
    >>> np.argsort(k[0], kind="stable").tolist(), bool(k[0, 3] == k[0, 4])
    ([2, 1, 6, 3, 4, 0, 5], True)
    """
    s = np.array(scores, dtype=np.float64)            # a copy: never modify the caller's scores
    s += 0.0                                          # turns -0.0 into 0.0: the same score
    nan = np.isnan(s)
    keys = s.view(np.int64)
    keys ^= (keys >> 63) & np.int64(0x7FFFFFFFFFFFFFFF)   # negative floats: reverse their bit order
    np.copyto(keys, _NAN_KEY, where=nan)
    if exclude is not None:
        np.copyto(keys, _EXCLUDED, where=np.asarray(exclude, dtype=bool))
    return keys


def _selection_keys(block, exclude):
    """Return (keys, floor): keys that order candidates like the scores; items with key <= floor are excluded.

    Plain floats (the scores themselves, excluded items set to -inf) when that is unambiguous,
    which is the fast path; ``order_keys`` otherwise.
    """
    block = np.asarray(block)
    if np.issubdtype(block.dtype, np.floating) and not np.isnan(block).any():
        if exclude is None:
            return block, None
        if not np.isneginf(block).any():
            keys = block.copy()
            np.copyto(keys, -np.inf, where=exclude)
            return keys, -np.inf
    return order_keys(block, exclude), _EXCLUDED


def _shortlist(keys: np.ndarray, k: int, block: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Return (columns, their keys), padded per row, of every item that can be among a row's k largest keys.

    The k-th largest of the row's block maxima (blocks of ``block`` items) is a lower bound of
    the row's k-th largest key, so items below it can be dropped before the exact selection.
    Padding: column ``n_items`` with the lowest key of the dtype (a row whose bound is that lowest
    key keeps all its items, so padding never competes with a real item).
    """
    n, m = keys.shape
    n_blocks = m // block
    if n_blocks <= 2 * k:
        return np.broadcast_to(np.arange(m), keys.shape), keys
    low = -np.inf if keys.dtype.kind == "f" else _EXCLUDED
    maxima = keys[:, :n_blocks * block].reshape(n, n_blocks, block).max(axis=2)
    if m > n_blocks * block:
        maxima = np.concatenate([maxima, keys[:, n_blocks * block:].max(axis=1, keepdims=True)], axis=1)
    bound = np.partition(maxima, maxima.shape[1] - k, axis=1)[:, maxima.shape[1] - k]
    keep = keys >= bound[:, None]
    counts = keep.sum(axis=1)
    rows, cols = np.nonzero(keep)
    slot = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    out_cols = np.full((n, counts.max()), m, dtype=np.int64)
    out_keys = np.full((n, counts.max()), low, dtype=keys.dtype)
    out_cols[rows, slot] = cols
    out_keys[rows, slot] = keys[rows, cols]
    return out_cols, out_keys


def topk(scores: np.ndarray, k: int, exclude: np.ndarray | None = None, ties: str = "random",
         seed: int = 0, chunk: int = 1024) -> np.ndarray:
    """Return the (n_users, k) item ids with the highest scores, best first.

    ``exclude`` (boolean, same shape as ``scores``) removes items from the candidates, e.g. each
    user's training items; nothing else does (NaN scores rank last, +-inf are ordinary extremes).
    When fewer than k candidates remain (or k > n_items) the row is padded with -1.
    Ties: ``"random"`` (default) orders equal scores at random, seeded by ``seed``, so no item id
    is favoured and the same call returns the same lists; ``"low_id"`` puts the lower id first
    (d2l's order). It selects with ``argpartition`` and sorts only the k chosen items, in chunks
    of users to bound memory.

    >>> topk(np.array([[0.1, 0.9, 0.5, 0.7]]), 3).tolist()
    [[1, 3, 2]]
    >>> topk(np.array([[0.1, 0.9, 0.5]]), 5, exclude=np.array([[False, True, False]])).tolist()
    [[2, 0, -1, -1, -1]]
    >>> topk(np.array([[np.inf, 1.0, np.nan, 0.5]]), 4).tolist()
    [[0, 1, 3, 2]]
    >>> topk(np.zeros((1, 6)), 3, ties="low_id").tolist()
    [[0, 1, 2]]
    """
    if ties not in ("random", "low_id"):
        raise ValueError(f"ties must be 'random' or 'low_id', not {ties!r}")
    scores = _matrix("scores", scores)
    exclude = _exclude(exclude, scores.shape)
    n_users, n_items = scores.shape
    out = np.full((n_users, k), NO_ITEM, dtype=np.int64)
    kk = min(k, n_items)
    if kk <= 0:
        return out
    rng = np.random.default_rng(seed)
    for lo in range(0, n_users, chunk):
        keys, floor = _selection_keys(scores[lo:lo + chunk], None if exclude is None else exclude[lo:lo + chunk])
        n = len(keys)
        cols, keys = _shortlist(keys, kk)       # drop items that cannot reach the top kk (fast path)
        width = keys.shape[1]
        rows = np.arange(n)[:, None]
        part = np.argpartition(keys, width - kk, axis=1)[:, width - kk:]   # the kk largest keys
        cut = keys[rows, part].min(axis=1, keepdims=True)
        n_above = (keys > cut).sum(axis=1)
        short = kk - n_above                                   # places left for items tied at the cut
        ambiguous = np.flatnonzero((keys == cut).sum(axis=1) > short)
        if len(ambiguous):
            # fill those places with tied items drawn at random (or the lowest ids)
            k_amb, cut_amb = keys[ambiguous], cut[ambiguous]
            at_cut = k_amb == cut_amb
            priority = (rng.random(k_amb.shape) if ties == "random"
                        else np.broadcast_to(cols[ambiguous], k_amb.shape).astype(np.float64))
            priority[~at_cut] = np.inf
            need = short[ambiguous]
            first = np.argpartition(priority, need.max() - 1, axis=1)[:, :need.max()]
            first = np.take_along_axis(first, np.argsort(np.take_along_axis(priority, first, axis=1), axis=1), axis=1)
            chosen = k_amb > cut_amb
            chosen[np.arange(len(ambiguous))[:, None], first] |= np.arange(need.max())[None, :] < need[:, None]
            part[ambiguous] = np.nonzero(chosen)[1].reshape(len(ambiguous), kk)
        # order the kk chosen items: by key, best first; equal keys at random (or lower id first)
        chosen_keys, chosen_cols = keys[rows, part], np.broadcast_to(cols, keys.shape)[rows, part]
        tiebreak = rng.random(part.shape) if ties == "random" else -chosen_cols
        order = np.lexsort((tiebreak, chosen_keys), axis=1)[:, ::-1]
        best = np.take_along_axis(chosen_cols, order, axis=1)
        if floor is not None:
            best = np.where(np.take_along_axis(chosen_keys, order, axis=1) > floor, best, NO_ITEM)
        out[lo:lo + n, :kk] = best
    return out


def hits(topk_items: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Return a boolean (n_users, k) array: True where the recommended item is in the user's truth.

    >>> hits(np.array([[2, 0, -1]]), np.array([[True, False, True]])).tolist()
    [[True, True, False]]
    """
    topk_items, truth = _matrix("topk_items", topk_items), _matrix("truth", truth)
    _same_users("topk_items", topk_items, "truth", truth)
    topk_items = _item_ids("topk_items", topk_items, truth.shape[1], allow_missing=True)
    truth = truth.astype(bool, copy=False)
    rows = np.arange(len(topk_items))[:, None]
    valid = topk_items != NO_ITEM
    return truth[rows, np.where(valid, topk_items, 0)] & valid


def _per_user(values: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Set NaN where the truth set is empty (those users are excluded from means)."""
    values = values.astype(np.float64)
    values[truth.sum(axis=1) == 0] = np.nan
    return values


def precision_at_k(topk_items, truth) -> np.ndarray:
    """Per-user precision@k = hits / number of real recommendations (seed 000).

    >>> precision_at_k(np.array([[3, 1, 0, 2]]), truth_matrix([0, 0], [1, 2], 1, 5)).tolist()
    [0.5]
    """
    h = hits(topk_items, truth)
    n_rec = np.maximum((topk_items != NO_ITEM).sum(axis=1), 1)
    return _per_user(h.sum(axis=1) / n_rec, truth)


def recall_at_k(topk_items, truth) -> np.ndarray:
    """Per-user recall@k = hits / |truth| (seed 000).

    >>> recall_at_k(np.array([[3, 1]]), truth_matrix([0, 0, 0], [1, 2, 4], 1, 5)).round(4).tolist()
    [0.3333]
    """
    h = hits(topk_items, truth)
    return _per_user(h.sum(axis=1) / np.maximum(truth.sum(axis=1), 1), truth)


def average_precision_at_k(topk_items, truth) -> np.ndarray:
    """Per-user AP@k = sum of precision at each hit / min(|truth|, k) (seed 000's ``compute_ap``).

    >>> average_precision_at_k(np.array([[1, 3, 2]]), truth_matrix([0, 0], [1, 2], 1, 4)).round(4).tolist()
    [0.8333]
    """
    h = hits(topk_items, truth).astype(np.float64)
    k = topk_items.shape[1]
    prec_at_i = np.cumsum(h, axis=1) / np.arange(1, k + 1)
    denom = np.maximum(np.minimum(truth.sum(axis=1), k), 1)
    return _per_user((h * prec_at_i).sum(axis=1) / denom, truth)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(k) + 2.0)


def ndcg_at_k(topk_items, truth) -> np.ndarray:
    """Per-user NDCG@k with binary gains and IDCG over min(k, |truth|) (RePlay's NDCG).

    >>> ndcg_at_k(np.array([[0, 1]]), truth_matrix([0], [1], 1, 3)).round(4).tolist()
    [0.6309]
    """
    h = hits(topk_items, truth)
    k = topk_items.shape[1]
    disc = _discounts(k)
    dcg = (h * disc).sum(axis=1)
    idcg = np.concatenate([[0.0], np.cumsum(disc)])[np.minimum(truth.sum(axis=1), k)]
    return _per_user(dcg / np.where(idcg > 0, idcg, 1.0), truth)


def hit_rate_at_k(topk_items, truth) -> np.ndarray:
    """Per-user hit rate@k: 1.0 if any recommended item is relevant, else 0.0 (RePlay's HitRate).

    >>> hit_rate_at_k(np.array([[0, 1], [2, 0]]), truth_matrix([0, 1], [1, 1], 2, 3)).tolist()
    [1.0, 0.0]
    """
    return _per_user(hits(topk_items, truth).any(axis=1), truth)


def mean(per_user: np.ndarray) -> float:
    """Return the mean over users with a defined value (NaN = empty truth set, excluded).

    >>> mean(np.array([1.0, np.nan, 0.0]))
    0.5
    """
    per_user = np.asarray(per_user, dtype=np.float64)
    valid = ~np.isnan(per_user)
    return float(per_user[valid].mean()) if valid.any() else float("nan")


METRICS = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "map": average_precision_at_k,
    "ndcg": ndcg_at_k,
    "hit_rate": hit_rate_at_k,
}


def per_user_topk(topk_items, truth, metrics=("precision", "recall", "map", "ndcg", "hit_rate")) -> dict:
    """Return ``{f"{name}@{k}": per-user values}`` (NaN for users with an empty truth set).

    >>> per_user_topk(np.array([[1, 0], [2, 0]]), truth_matrix([0, 1], [1, 1], 2, 3), ("hit_rate",))
    {'hit_rate@2': array([1., 0.])}
    """
    k = topk_items.shape[1]
    return {f"{m}@{k}": METRICS[m](topk_items, truth) for m in metrics}


def evaluate_topk(topk_items, truth, metrics=("precision", "recall", "map", "ndcg", "hit_rate")) -> dict:
    """Return ``{f"{name}@{k}": mean over users}`` for the named metrics, plus ``users`` evaluated.

    >>> evaluate_topk(np.array([[1, 0]]), truth_matrix([0], [1], 1, 3), ("precision", "hit_rate"))
    {'precision@2': 0.5, 'hit_rate@2': 1.0, 'users': 1}
    """
    k = topk_items.shape[1]
    out = {f"{m}@{k}": mean(METRICS[m](topk_items, truth)) for m in metrics}
    out["users"] = int((truth.sum(axis=1) > 0).sum())
    return out


def truth_and_seen(part, history, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (users, truth, seen) for evaluating on the interactions ``part`` after training on ``history``
    (both with user_id and item_id columns): the sorted users of ``part``, and their rows of the boolean
    (n_users, n_items) matrices of ``part`` (what to find) and of ``history`` (what not to recommend again).

    >>> import pandas as pd
    >>> users, truth, seen = truth_and_seen(pd.DataFrame({"user_id": [1], "item_id": [2]}),
    ...                                     pd.DataFrame({"user_id": [0, 1], "item_id": [0, 1]}), 2, 3)
    >>> users.tolist(), truth.tolist(), seen.tolist()
    ([1], [[False, False, True]], [[False, True, False]])
    """
    users = np.sort(part.user_id.unique())
    truth = truth_matrix(part.user_id, part.item_id, n_users, n_items)[users]
    seen = truth_matrix(history.user_id, history.item_id, n_users, n_items)[users]
    return users, truth, seen


def rank_of(topk_items: np.ndarray, rows, items) -> np.ndarray:
    """Return the 0-based position of ``items[j]`` in ``topk_items[rows[j]]``, or -1 if absent.

    Used for event-level metrics where one user has several target events (seed 002).

    >>> rank_of(np.array([[5, 7, 9]]), [0, 0], [9, 4]).tolist()
    [2, -1]
    """
    topk_items = _matrix("topk_items", topk_items)
    rows, items = np.asarray(rows), np.asarray(items)
    if rows.shape != items.shape or rows.ndim != 1:
        raise ValueError(f"rows and items must be parallel 1-D arrays, not shapes {rows.shape} and {items.shape}")
    if rows.size and (rows.min() < 0 or rows.max() >= len(topk_items)):
        raise ValueError(f"rows must index the {len(topk_items)} rows of topk_items")
    match = topk_items[rows] == items[:, None]
    return np.where(match.any(axis=1), match.argmax(axis=1), -1)


def by_user(values, users) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (user ids, each user's mean of ``values``, each user's number of values).

    For event-level metrics (one value per event, several events per user): the mean over
    events equals the users' means weighted by their counts, which is what a bootstrap over
    users needs (``stats.bootstrap(means, weights=counts)``).

    >>> by_user([1.0, 0.0, 1.0], [7, 7, 3])
    (array([3, 7]), array([1. , 0.5]), array([1, 2]))
    """
    values, users = np.asarray(values, dtype=np.float64), np.asarray(users)
    if values.shape != users.shape or values.ndim != 1:
        raise ValueError(f"values and users must be parallel 1-D arrays, not shapes {values.shape} and {users.shape}")
    ids, inverse, counts = np.unique(users, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=values, minlength=len(ids))
    return ids, sums / counts, counts


def per_event(topk_items: np.ndarray, users, items) -> dict:
    """Return ``{"ndcg@k": ..., "recall@k": ...}``, one value per event (``users[j]`` watched ``items[j]``):
    the single-target NDCG of the item's place in the user's top-k list (``single_target_ndcg``), and 1.0
    if it is in the list at all, else 0.0 (k: the lists' length).

    >>> {m: v.round(4).tolist() for m, v in per_event(np.array([[5, 7, 9]]), [0, 0], [9, 4]).items()}
    {'ndcg@3': [0.5, 0.0], 'recall@3': [1.0, 0.0]}
    """
    k = np.asarray(topk_items).shape[1]
    ranks = rank_of(topk_items, np.asarray(users), np.asarray(items))
    return {f"ndcg@{k}": single_target_ndcg(ranks), f"recall@{k}": (ranks >= 0).astype(float)}


def single_target_ndcg(ranks: np.ndarray) -> np.ndarray:
    """Return seed 002's per-event NDCG: 1 / log2(2 + rank) for a hit at ``rank``, 0 for rank -1.

    >>> single_target_ndcg(np.array([0, 2, -1])).round(4).tolist()
    [1.0, 0.5, 0.0]
    """
    ranks = np.asarray(ranks)
    return np.where(ranks >= 0, 1.0 / np.log2(2.0 + np.maximum(ranks, 0)), 0.0)


def coverage_at_k(topk_items, train_items) -> float:
    """Return distinct recommended items that occur in train / distinct train items (RePlay's Coverage).

    >>> coverage_at_k(np.array([[0, 1], [1, 9]]), [0, 1, 2, 3])
    0.5
    """
    topk_items = _matrix("topk_items", topk_items)
    train = np.unique(np.asarray(train_items))
    recommended = np.unique(topk_items[topk_items != NO_ITEM])
    return float(np.isin(recommended, train).sum() / len(train))


def candidate_ranks(scores: np.ndarray, test_items, exclude: np.ndarray | None = None,
                    d2l_compatible: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (higher, tied, n_candidates) for each user's single test item among that user's candidates.

    Candidates are all items except ``exclude`` (each user's training items). ``higher`` counts
    the candidates scored above the test item, ``tied`` the other candidates with the same score
    (NaN scores rank below every number and tie with each other). A test item that is not a
    candidate gets ``higher = -1``. With ``d2l_compatible=True`` the candidate pool is d2l's
    buggy ``range(num_users)`` (items with an id >= n_users are never candidates) and ties go to
    the lower id: ``higher`` then also counts tied candidates with a lower id and ``tied`` is 0.

    Where this can differ from d2l: d2l ranks ``list(set(range(num_users)) - set(train items))``
    with a stable sort, so tied candidates keep that set's iteration order, which CPython makes
    ascending only while the set's hash table is larger than its largest id; a set of few
    candidates spread over a wide id range wraps around (ids modulo the table size: candidates
    {5, 17, 19} iterate as 17, 19, 5). That happens to users whose training items cover most
    of ``range(num_users)``: on CPython 3.11, for random training sets, from about 68% of it
    with 943 users and 80% with 6,040. On ML-100K's leave-last-out split every user's d2l
    candidate list is ascending (checked; the heaviest user covers 67% of ``range(943)``), so
    this flag reproduces d2l exactly there; on ML-1M (not checked) a user would need about
    4,800 training items. Only users whose test item ties with another candidate can get a
    different hit@k or AUC; without ties the two agree exactly (tests/test_metrics.py checks
    both against d2l's code).

    >>> candidate_ranks(np.array([[0.9, 0.1, 0.5, 0.5]]), [3], exclude=np.array([[True, 0, 0, 0]], bool))
    (array([0]), array([1]), array([3]))
    """
    scores = _matrix("scores", np.asarray(scores, dtype=np.float64))
    n_users, n_items = scores.shape
    test_items = _item_ids("test_items", test_items, n_items)
    if test_items.ndim != 1:
        raise ValueError(f"test_items must hold one item per user (1-D), not shape {test_items.shape}")
    _same_users("scores", scores, "test_items", test_items)
    exclude = _exclude(exclude, scores.shape)
    cand = np.ones_like(scores, dtype=bool) if exclude is None else ~exclude
    if d2l_compatible:
        cand[:, n_users:] = False
    rows = np.arange(n_users)
    keys = order_keys(scores)                                # NaN lowest, comparisons exact
    k_test = keys[rows, test_items][:, None]
    others = cand.copy()
    others[rows, test_items] = False
    higher = (others & (keys > k_test)).sum(axis=1)
    tied = (others & (keys == k_test)).sum(axis=1)
    if d2l_compatible:
        higher = higher + (others & (keys == k_test) & (np.arange(n_items) < test_items[:, None])).sum(axis=1)
        tied = np.zeros_like(tied)
    higher = np.where(cand[rows, test_items], higher, -1)
    return higher, tied, cand.sum(axis=1)


def hit_and_auc_per_user(scores: np.ndarray, test_items, exclude: np.ndarray | None = None, k=10,
                         d2l_compatible: bool = False) -> dict[str, np.ndarray]:
    """Return per-user ``{"hit@k": ..., "auc": ...}`` arrays for one held-out test item per user.

    hit@k: the probability that the test item ranks in the top k of the user's candidates (items
    not in ``exclude``) when ties are broken at random: 1 or 0 without ties. AUC: the share of
    the other candidates ranked below the test item, ties counting half (the ROC definition):
    (n_cand - 1 - higher - tied / 2) / (n_cand - 1). A test item that is not a candidate scores 0
    on both, as in d2l. ``d2l_compatible=True`` uses d2l's candidates and puts the lower id first
    among ties, which is d2l's order except for users whose training items cover most of
    ``range(n_users)`` (see ``candidate_ranks``). ``k`` may be an int or a tuple of ints.
    ``scores``, ``exclude`` (n_users, n_items) and ``test_items`` (n_users,) must describe the
    same users, and test items must be ids in ``range(n_items)``: ValueError otherwise.

    >>> out = hit_and_auc_per_user(np.zeros((1, 5)), [2], k=1)   # a constant model
    >>> out["hit@1"].tolist(), out["auc"].tolist()
    ([0.2], [0.5])
    """
    higher, tied, n_cand = candidate_ranks(scores, test_items, exclude, d2l_compatible)
    found = higher >= 0
    out = {f"hit@{kk}": np.where(found, np.clip((kk - higher) / (tied + 1), 0.0, 1.0), 0.0)
           for kk in np.atleast_1d(k)}
    out["auc"] = np.where(found, (n_cand - 1 - higher - tied / 2) / np.maximum(n_cand - 1, 1), 0.0)
    return out


def hit_and_auc(scores: np.ndarray, test_items, exclude: np.ndarray | None = None, k=10,
                d2l_compatible: bool = False) -> dict:
    """Return d2l's ``{"hit@k", "auc"}`` as means over users (see ``hit_and_auc_per_user``).

    ``d2l_compatible=True``: d2l's candidates and tie order, which differs from d2l's only for
    users whose training items cover most of ``range(n_users)`` and whose test item is tied
    (see ``candidate_ranks``).

    >>> s = np.array([[0.2, 0.9, 0.5], [0.3, 0.2, 0.1]])
    >>> hit_and_auc(s, [2, 0], k=1)
    {'hit@1': 0.5, 'auc': 0.75}
    """
    return {name: float(v.mean()) for name, v in
            hit_and_auc_per_user(scores, test_items, exclude, k, d2l_compatible).items()}


def popularity_scores(train_items, n_items: int) -> np.ndarray:
    """Return each item's number of training interactions, the popularity baseline's score.

    Broadcast it over users (``np.broadcast_to(pop, (n_users, n_items))``) to rank, optionally
    with each user's seen items excluded.

    >>> popularity_scores([2, 0, 2, 2], 4).tolist()
    [1.0, 0.0, 3.0, 0.0]
    """
    return np.bincount(np.asarray(train_items, dtype=int), minlength=n_items).astype(np.float64)


def popularity_topk(train_items, n_users: int, n_items: int, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Return the popularity baseline's (n_users, k) top-k lists: most popular training items first.

    With ``exclude`` (users x items, e.g. each user's training items) every user gets the most
    popular items they have not seen.

    >>> popularity_topk([2, 0, 2, 1, 1, 2], 2, 3, 2, exclude=np.array([[0, 0, 1], [0, 0, 0]], bool)).tolist()
    [[1, 0], [2, 1]]
    """
    pop = popularity_scores(train_items, n_items)
    if len(pop) != n_items:
        raise ValueError(f"train_items holds ids outside range({n_items})")
    return topk(np.broadcast_to(pop, (n_users, n_items)), k, exclude=exclude)


def score_all_pairs(score_fn, n_users: int, n_items: int, batch_size: int = 65536) -> np.ndarray:
    """Return the (n_users, n_items) matrix of ``score_fn(user_ids, item_ids)`` over every pair.

    ``score_fn`` takes two equal-length int arrays and returns a score per pair (any framework,
    converted with ``np.asarray``); pairs go through it in batches of ``batch_size``. Use it for
    models that only score given (user, item) pairs, such as NeuMF or Caser.

    >>> score_all_pairs(lambda u, i: u * 10 + i, 2, 3).tolist()
    [[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]]
    """
    users = np.repeat(np.arange(n_users), n_items)
    items = np.tile(np.arange(n_items), n_users)
    out = np.empty(n_users * n_items, dtype=np.float64)
    for lo in range(0, len(users), batch_size):
        batch = np.asarray(score_fn(users[lo:lo + batch_size], items[lo:lo + batch_size])).reshape(-1)
        if len(batch) != len(users[lo:lo + batch_size]):
            raise ValueError(f"score_fn returned {len(batch)} scores for {len(users[lo:lo + batch_size])} pairs")
        out[lo:lo + batch_size] = batch
    return out.reshape(n_users, n_items)
