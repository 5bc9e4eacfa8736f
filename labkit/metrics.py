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
Ties in scores are broken by the lower item id, always (a stable sort), as d2l's ``sorted``
over ascending candidate ids does.
"""

from __future__ import annotations

import numpy as np

NO_ITEM = -1


def truth_matrix(users, items, n_users: int, n_items: int) -> np.ndarray:
    """Return a boolean (n_users, n_items) matrix with True at each (user, item) pair given.

    >>> truth_matrix([0, 0, 1], [1, 2, 0], 2, 3).astype(int).tolist()
    [[0, 1, 1], [1, 0, 0]]
    """
    m = np.zeros((n_users, n_items), dtype=bool)
    m[np.asarray(users, dtype=int), np.asarray(items, dtype=int)] = True
    return m


def truth_from_lists(lists, n_items: int) -> np.ndarray:
    """Return the truth matrix whose row r marks the items of ``lists[r]``.

    >>> truth_from_lists([[2], [0, 1]], 3).astype(int).tolist()
    [[0, 0, 1], [1, 1, 0]]
    """
    rows = np.repeat(np.arange(len(lists)), [len(x) for x in lists])
    cols = np.concatenate([np.asarray(x, dtype=int) for x in lists]) if len(lists) else np.array([], int)
    return truth_matrix(rows, cols, len(lists), n_items)


def topk(scores: np.ndarray, k: int, exclude: np.ndarray | None = None, chunk: int = 2048) -> np.ndarray:
    """Return the (n_users, k) item ids with the highest scores, best first; ties go to the lower id.

    ``exclude`` (boolean, same shape as ``scores``) removes items from the candidates, e.g. each
    user's training items. When fewer than k candidates remain (or k > n_items) the row is padded
    with -1. Users are processed in chunks to bound memory.

    >>> topk(np.array([[0.1, 0.9, 0.5, 0.9]]), 3).tolist()
    [[1, 3, 2]]
    >>> topk(np.array([[0.1, 0.9, 0.5]]), 5, exclude=np.array([[False, True, False]])).tolist()
    [[2, 0, -1, -1, -1]]
    """
    scores = np.asarray(scores)
    n_users, n_items = scores.shape
    out = np.full((n_users, k), NO_ITEM, dtype=np.int64)
    kk = min(k, n_items)
    for lo in range(0, n_users, chunk):
        block = -scores[lo:lo + chunk].astype(np.float64)
        if exclude is not None:
            block[exclude[lo:lo + chunk]] = np.inf
        order = np.argsort(block, axis=1, kind="stable")[:, :kk]
        valid = np.isfinite(np.take_along_axis(block, order, axis=1))
        out[lo:lo + chunk, :kk] = np.where(valid, order, NO_ITEM)
    return out


def hits(topk_items: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Return a boolean (n_users, k) array: True where the recommended item is in the user's truth.

    >>> hits(np.array([[2, 0, -1]]), np.array([[True, False, True]])).tolist()
    [[True, True, False]]
    """
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


def evaluate_topk(topk_items, truth, metrics=("precision", "recall", "map", "ndcg", "hit_rate")) -> dict:
    """Return ``{f"{name}@{k}": mean over users}`` for the named metrics, plus ``users`` evaluated.

    >>> evaluate_topk(np.array([[1, 0]]), truth_matrix([0], [1], 1, 3), ("precision", "hit_rate"))
    {'precision@2': 0.5, 'hit_rate@2': 1.0, 'users': 1}
    """
    k = topk_items.shape[1]
    out = {f"{m}@{k}": mean(METRICS[m](topk_items, truth)) for m in metrics}
    out["users"] = int((truth.sum(axis=1) > 0).sum())
    return out


def rank_of(topk_items: np.ndarray, rows, items) -> np.ndarray:
    """Return the 0-based position of ``items[j]`` in ``topk_items[rows[j]]``, or -1 if absent.

    Used for event-level metrics where one user has several target events (seed 002).

    >>> rank_of(np.array([[5, 7, 9]]), [0, 0], [9, 4]).tolist()
    [2, -1]
    """
    rows, items = np.asarray(rows), np.asarray(items)
    match = topk_items[rows] == items[:, None]
    return np.where(match.any(axis=1), match.argmax(axis=1), -1)


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
    train = np.unique(np.asarray(train_items))
    recommended = np.unique(topk_items[topk_items != NO_ITEM])
    return float(np.isin(recommended, train).sum() / len(train))


def candidate_ranks(scores: np.ndarray, test_items, exclude: np.ndarray | None = None,
                    d2l_compatible: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Return (rank, n_candidates) of each user's single test item among that user's candidates.

    Candidates are all items except ``exclude`` (each user's training items). The rank counts,
    from 0, the candidates scored higher plus those scored equal with a lower id. With
    ``d2l_compatible=True`` the candidate pool is d2l's buggy ``range(num_users)``: items with an
    id >= n_users are never candidates, and a test item among them gets rank -1 (a miss).

    >>> candidate_ranks(np.array([[0.9, 0.1, 0.5, 0.5]]), [3], exclude=np.array([[True, 0, 0, 0]], bool))
    (array([1]), array([3]))
    """
    scores = np.asarray(scores, dtype=np.float64)
    n_users, n_items = scores.shape
    test_items = np.asarray(test_items)
    cand = np.ones_like(scores, dtype=bool) if exclude is None else ~np.asarray(exclude, dtype=bool)
    if d2l_compatible:
        cand[:, n_users:] = False
    rows = np.arange(n_users)
    s_test = scores[rows, test_items][:, None]
    ids = np.arange(n_items)
    before = cand & ((scores > s_test) | ((scores == s_test) & (ids < test_items[:, None])))
    rank = before.sum(axis=1)
    rank = np.where(cand[rows, test_items], rank, -1)
    return rank, cand.sum(axis=1)


def hit_and_auc(scores: np.ndarray, test_items, exclude: np.ndarray | None = None, k=10,
                d2l_compatible: bool = False) -> dict:
    """Return d2l's ``{"hit@k", "auc"}`` means over users, one held-out test item per user.

    ``k`` may be an int or a tuple of ints (one ``hit@k`` each).
    hit@k: the test item ranks in the top k of the user's candidates (items not in ``exclude``);
    AUC: (n_cand - 1 - rank) / (n_cand - 1); a test item that is not a candidate scores 0 for both.

    >>> s = np.array([[0.2, 0.9, 0.5], [0.3, 0.2, 0.1]])
    >>> hit_and_auc(s, [2, 0], k=1)
    {'hit@1': 0.5, 'auc': 0.75}
    """
    rank, n_cand = candidate_ranks(scores, test_items, exclude, d2l_compatible)
    found = rank >= 0
    out = {f"hit@{kk}": float((found & (rank < kk)).mean()) for kk in np.atleast_1d(k)}
    out["auc"] = float(np.where(found, (n_cand - 1 - rank) / np.maximum(n_cand - 1, 1), 0.0).mean())
    return out


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
        out[lo:lo + batch_size] = np.asarray(score_fn(users[lo:lo + batch_size], items[lo:lo + batch_size])).reshape(-1)
    return out.reshape(n_users, n_items)
