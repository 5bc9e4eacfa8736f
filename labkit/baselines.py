"""Strong simple baselines: popularity, item-kNN, EASE and item-to-item transition counts.

Each function returns a (n_users, n_items) score matrix (float32) from training interactions,
to be ranked like a model's scores (``labkit.metrics.topk`` or ``hit_and_auc``), excluding each
user's training items where the protocol allows. The reproducibility studies of the field
(Ferrari Dacrema et al. 2019; Rendle et al. 2020) found such baselines beating many published
neural models, so every lesson puts its model beside them.

* popularity: an item's number of training interactions, the same for every user;
* item-kNN: ``X S`` with S the cosine similarity of the items' user columns (diagonal 0),
  optionally keeping each item's ``neighbours`` most similar items (Sarwar et al. 2001);
* EASE: ``X B`` with B the closed-form ridge regression of each item on all others, diagonal
  forced to 0: P = (XᵀX + λI)⁻¹, B = I - P diag(1/diag(P)) (Steck 2019); λ is chosen on
  validation;
* transitions: T[i, j] = how often item j directly follows item i in a user's time-ordered
  training items; a user's score for j sums T[i, j] over their most recent items.

``X`` is the (n_users, n_items) 0/1 matrix of training interactions (``interactions``). A
boolean or integer matrix (such as ``LeaveLastOutData.seen``) is converted to float32 first:
numpy's boolean matrix product is a logical one (any co-occurrence counts as 1), which would
make EASE and item-kNN silently wrong.
"""

from __future__ import annotations

import numpy as np

from .metrics import popularity_scores  # noqa: F401  (re-exported: the popularity baseline)


def as_matrix(X) -> np.ndarray:
    """Return X as a 2-D float matrix: boolean or integer input becomes float32 (0/1 -> 0.0/1.0).

    Every baseline calls it, so ``X.T @ X`` counts co-occurrences instead of numpy's logical
    product of booleans. Raises ValueError for anything but a 2-D matrix.

    >>> as_matrix(np.array([[True, False]])).dtype
    dtype('float32')
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D (users, items) matrix, not shape {X.shape}")
    return X if np.issubdtype(X.dtype, np.floating) else X.astype(np.float32)


def interactions(users, items, n_users: int, n_items: int) -> np.ndarray:
    """Return the dense float32 (n_users, n_items) 0/1 matrix X of training interactions.

    >>> interactions([0, 0, 1], [2, 0, 0], 2, 3).tolist()
    [[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    X = np.zeros((n_users, n_items), dtype=np.float32)
    X[np.asarray(users, dtype=int), np.asarray(items, dtype=int)] = 1.0
    return X


def popularity(X: np.ndarray) -> np.ndarray:
    """Return every user's popularity scores: each item's number of interactions in X.

    >>> popularity(np.array([[1, 0, 1], [1, 0, 0]], np.float32)).tolist()
    [[2.0, 0.0, 1.0], [2.0, 0.0, 1.0]]
    """
    X = as_matrix(X)
    return np.broadcast_to(X.sum(axis=0, dtype=np.float32), X.shape)


def gram(X: np.ndarray) -> np.ndarray:
    """Return XᵀX in float64: item-item co-occurrence counts, which EASE and item-kNN start from.

    Compute it once and pass it to ``ease_weights`` when trying several λ. A boolean X counts
    like its 0/1 floats (``as_matrix``).

    >>> gram(np.array([[1, 1, 0], [1, 0, 1]], np.float32)).tolist()
    [[2.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 1.0]]
    >>> gram(np.array([[1, 1], [1, 1]], bool)).tolist()
    [[2.0, 2.0], [2.0, 2.0]]
    """
    X = as_matrix(X)
    return (X.T @ X).astype(np.float64)


def item_similarity(X: np.ndarray, neighbours: int | None = None) -> np.ndarray:
    """Return the (n_items, n_items) cosine similarity of items' user columns, diagonal 0.

    With ``neighbours``, each column keeps only its ``neighbours`` largest entries (the item's
    nearest neighbours), the rest set to 0. Items nobody interacted with have similarity 0.

    >>> item_similarity(np.array([[1, 1, 0], [1, 0, 1]], np.float32)).astype(float).round(3).tolist()
    [[0.0, 0.707, 0.707], [0.707, 0.0, 0.0], [0.707, 0.0, 0.0]]
    """
    G = gram(X)
    norms = np.sqrt(np.diag(G))
    norms[norms == 0] = 1.0
    S = G / norms[:, None] / norms[None, :]
    np.fill_diagonal(S, 0.0)
    if neighbours is not None and neighbours < len(S) - 1:
        weakest = np.argpartition(S, len(S) - neighbours, axis=0)[:len(S) - neighbours]
        np.put_along_axis(S, weakest, 0.0, axis=0)
    return S.astype(np.float32)


def itemknn(X: np.ndarray, neighbours: int | None = None) -> np.ndarray:
    """Return item-kNN scores ``X S`` (cosine similarity; see ``item_similarity``).

    >>> itemknn(np.array([[1, 0, 0], [1, 1, 0]], np.float32)).astype(float).round(3).tolist()
    [[0.0, 0.707, 0.0], [0.707, 0.707, 0.0]]
    """
    X = as_matrix(X)
    return X @ item_similarity(X, neighbours)


def ease_weights(X: np.ndarray, lam: float, G: np.ndarray | None = None) -> np.ndarray:
    """Return EASE's (n_items, n_items) item-item weights B for regularisation ``lam`` (diagonal 0).

    ``G`` is ``gram(X)`` if already computed.

    >>> B = ease_weights(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], np.float32), 1.0)
    >>> bool(np.allclose(np.diag(B), 0)), B.shape
    (True, (3, 3))
    """
    A = gram(X) if G is None else G.copy()
    A[np.diag_indices_from(A)] += lam
    P = np.linalg.inv(A)
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    return B.astype(np.float32)


def ease(X: np.ndarray, lam: float, G: np.ndarray | None = None) -> np.ndarray:
    """Return EASE scores ``X B`` (see ``ease_weights``; ``G`` = ``gram(X)`` if already computed).

    >>> X = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1], [1, 0, 0]], np.float32)
    >>> ease(X, 0.5)[3].argmax()   # the user with item 0 only: item 1 co-occurs with it most
    1
    """
    X = as_matrix(X)
    return X @ ease_weights(X, lam, G)


def transition_counts(users, items, n_items: int) -> np.ndarray:
    """Return T (n_items, n_items): T[i, j] = times item j directly follows item i in one user's sequence.

    ``users`` and ``items`` are parallel arrays sorted by (user, time).

    >>> transition_counts([0, 0, 0, 1, 1], [2, 0, 2, 2, 0], 3).astype(int).tolist()
    [[0, 0, 1], [0, 0, 0], [2, 0, 0]]
    """
    users, items = np.asarray(users), np.asarray(items)
    follows = users[1:] == users[:-1]
    pairs = items[:-1][follows] * n_items + items[1:][follows]
    return np.bincount(pairs, minlength=n_items * n_items).reshape(n_items, n_items).astype(np.float32)


def transitions(T: np.ndarray, recent) -> np.ndarray:
    """Return transition scores: for each row of ``recent`` items, the sum of their rows of T.

    ``recent`` is (n_users, L): each user's L most recent training items (e.g. the model's input
    sequence), so an item scores high when it often followed what the user just watched.

    >>> T = np.array([[0, 3, 1], [0, 0, 2], [1, 0, 0]], np.float32)
    >>> transitions(T, [[0, 1], [2, 2]]).tolist()
    [[0.0, 3.0, 3.0], [2.0, 0.0, 0.0]]
    """
    recent = np.asarray(recent, dtype=int)
    scores = np.zeros((len(recent), T.shape[1]), dtype=np.float32)
    for position in range(recent.shape[1]):
        scores += T[recent[:, position]]
    return scores


def recent_transitions(T: np.ndarray, users, items, n_users: int, n: int) -> np.ndarray:
    """Return (n_users, n_items) transition scores, row u for user u, from each user's last ``n`` items.

    ``users`` and ``items`` are parallel arrays sorted by (user, time) (e.g. a training frame);
    row u sums T's rows of user u's ``n`` most recent items, as ``transitions`` does, so rows
    stay aligned with user ids whatever the users' history lengths: a user with fewer than
    ``n`` items is scored from all of them, a user with none gets a row of zeros (every item
    tied). ``short_users`` lists the users with fewer than ``n``.

    >>> T = np.array([[0, 3, 1], [0, 0, 2], [1, 0, 0]], np.float32)
    >>> recent_transitions(T, [0, 0, 0, 2], [2, 0, 1, 2], 3, 2).tolist()   # user 2: one item; user 1: none
    [[0.0, 3.0, 3.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    """
    users, items = np.asarray(users, dtype=int), np.asarray(items, dtype=int)
    if users.shape != items.shape or users.ndim != 1:
        raise ValueError(f"users and items must be parallel 1-D arrays, not shapes {users.shape} and {items.shape}")
    if len(users) and (np.diff(users) < 0).any():
        raise ValueError("users must be sorted (rows sorted by user, then time)")
    scores = np.zeros((n_users, T.shape[1]), dtype=np.float32)
    last = np.r_[users[1:] != users[:-1], True] if len(users) else np.zeros(0, bool)
    ends = np.flatnonzero(last)                      # each user's last row
    for back in range(n):
        rows = ends - back
        ok = rows >= 0
        ok[ok] = users[rows[ok]] == users[ends[ok]]   # still the same user
        scores[users[ends[ok]]] += T[items[rows[ok]]]
    return scores


def short_users(users, n_users: int, n: int) -> np.ndarray:
    """Return the ids in ``range(n_users)`` with fewer than ``n`` rows in ``users`` (none counts as 0).

    >>> short_users([0, 0, 0, 2], 3, 2).tolist()
    [1, 2]
    """
    return np.flatnonzero(np.bincount(np.asarray(users, dtype=int), minlength=n_users)[:n_users] < n)


def score_matrices(X: np.ndarray, lambdas=(), users=None) -> dict:
    """Return ``{name: (len(users), n_items) scores}`` of popularity, item-kNN and EASE (one per λ).

    ``X`` is the 0/1 interaction matrix of all training users (it defines the item statistics);
    ``users`` selects the rows to score (default: all). EASE's entries are named ``"EASE λ=<λ>"``.

    >>> X = interactions([0, 0, 1, 2], [0, 1, 1, 2], 3, 3)
    >>> sorted(score_matrices(X, [10.0], users=[1]))
    ['EASE λ=10', 'item-kNN', 'popularity']
    """
    X = as_matrix(X)
    rows = X if users is None else X[np.asarray(users)]
    out = {"popularity": np.broadcast_to(X.sum(axis=0, dtype=np.float32), rows.shape),
           "item-kNN": rows @ item_similarity(X)}
    G = gram(X) if len(lambdas) else None
    out.update({f"EASE λ={lam:g}": rows @ ease_weights(X, lam, G) for lam in lambdas})
    return out


def bias_predictions(train_users, train_items, train_ratings, users, items, damping: float = 10.0) -> np.ndarray:
    """Return the bias baseline's rating predictions μ + b_u + b_i for the pairs (``users[j]``, ``items[j]``).

    From the training ratings: μ their mean, b_i each item's summed deviation from μ over its number
    of ratings plus ``damping``, b_u the same for each user's deviations from μ + b_i (Koren 2008's
    shrunk baseline estimates); an item or user without training ratings gets 0.

    >>> bias_predictions([0, 0, 1], [0, 1, 0], [4.0, 2.0, 5.0], users=[1, 2], items=[1, 0], damping=0.0).tolist()
    [2.5, 4.5]
    """
    import pandas as pd

    train_items, train_users = pd.Series(np.asarray(train_items)), pd.Series(np.asarray(train_users))
    ratings = pd.Series(np.asarray(train_ratings))
    mu = ratings.mean()
    b_i = (ratings - mu).groupby(train_items).sum() / (ratings.groupby(train_items).size() + damping)
    residual = ratings - mu - train_items.map(b_i)
    b_u = residual.groupby(train_users).sum() / (ratings.groupby(train_users).size() + damping)
    return (mu + pd.Series(np.asarray(items)).map(b_i).fillna(0) + pd.Series(np.asarray(users)).map(b_u).fillna(0)).to_numpy()


def chosen_scores(X: np.ndarray, lam: float, knn: dict | None = None, users=None) -> dict:
    """Return ``{"popularity", "item-kNN", "EASE"}``: (len(users), n_items) scores of popularity, item-kNN
    with ``knn``'s neighbours and shrinkage (``labkit.tune.item_similarity_shrunk``; plain cosine when
    None) and EASE with ``lam``, from the interactions ``X`` of all training users (``users``: the
    rows to score, default all).

    >>> X = interactions([0, 0, 1, 2], [0, 1, 1, 2], 3, 3)
    >>> {name: s.shape for name, s in chosen_scores(X, 10.0, {"neighbours": 2, "shrinkage": 1.0}, users=[1]).items()}
    {'popularity': (1, 3), 'item-kNN': (1, 3), 'EASE': (1, 3)}
    """
    from .tune import item_similarity_shrunk

    X = as_matrix(X)
    rows = X if users is None else X[np.asarray(users)]
    return {"popularity": np.broadcast_to(X.sum(axis=0, dtype=np.float32), rows.shape),
            "item-kNN": rows @ (item_similarity(X) if knn is None else item_similarity_shrunk(X, **knn)),
            "EASE": rows @ ease_weights(X, lam)}


def choose_on_validation(X: np.ndarray, score, lambdas, knn_grid: dict, users=None) -> dict:
    """Choose EASE's λ, item-kNN's neighbours x shrinkage and the strongest baseline on validation.

    ``X``: the interactions of the validation run's training part (all users); ``score(scores, seen)``
    returns the validation metric (higher is better) of a score matrix whose rows are ``users``
    (default all), ranking only items outside ``seen`` (``X[users] > 0``). EASE's λ is the best of
    ``lambdas``, item-kNN's configuration the best point of the grid ``knn_grid`` (``{"neighbours":
    [...], "shrinkage": [...]}``; the first best on ties, in grid order); the strongest baseline is the
    best of popularity of unseen items, the chosen item-kNN and the chosen EASE.

    Returns ``{"lambda", "knn", "validation": {baseline: metric}, "ease": {λ: metric}, "best", "trials":
    {baseline: configurations tried}, "scores": {"popularity", "item-kNN", "EASE"}}``, the last the
    validation score matrices of the chosen baselines (``tune.record_baselines`` reads "lambda",
    "knn" and "trials").

    >>> X = interactions([0, 0, 1, 1, 2, 2, 3], [0, 1, 0, 1, 1, 2, 2], 4, 3)
    >>> top_is_1 = lambda scores, seen: float(np.mean(np.where(seen, -np.inf, scores).argmax(axis=1) == 1))
    >>> base = choose_on_validation(X, top_is_1, [1.0, 10.0], {"neighbours": [1, 2], "shrinkage": [0.0]})
    >>> base["lambda"], base["knn"], base["trials"]
    (1.0, {'neighbours': 2, 'shrinkage': 0.0}, {'popularity': 1, 'item-kNN': 2, 'EASE': 2})
    >>> base["validation"], base["best"]
    ({'popularity (unseen)': 0.25, 'item-kNN': 0.25, 'EASE': 0.25}, 'popularity (unseen)')
    """
    from .tune import configurations, item_similarity_shrunk

    X = as_matrix(X)
    rows = X if users is None else X[np.asarray(users)]
    seen = rows > 0
    G = gram(X)
    ease_scores = {lam: rows @ ease_weights(X, lam, G) for lam in lambdas}
    ease_metric = {lam: score(s, seen) for lam, s in ease_scores.items()}
    grid = configurations(knn_grid, n=int(np.prod([len(v) for v in knn_grid.values()])))
    knn_metric = [score(rows @ item_similarity_shrunk(X, **c), seen) for c in grid]
    lam, knn = max(lambdas, key=ease_metric.get), grid[int(np.argmax(knn_metric))]
    scores = {"popularity": np.broadcast_to(X.sum(axis=0, dtype=np.float32), rows.shape),
              "item-kNN": rows @ item_similarity_shrunk(X, **knn), "EASE": ease_scores[lam]}
    validation = {"popularity (unseen)": score(scores["popularity"], seen), "item-kNN": max(knn_metric),
                  "EASE": ease_metric[lam]}
    return {"lambda": lam, "knn": knn, "validation": validation, "ease": ease_metric,
            "best": max(validation, key=validation.get),
            "trials": {"popularity": 1, "item-kNN": len(grid), "EASE": len(lambdas)}, "scores": scores}


def leave_last_out(d, lambdas=(50.0, 200.0, 500.0, 1000.0), sequence_length: int | None = None,
                   k=(10, 50), select: str = "hit@10") -> dict:
    """Every baseline on a leave-last-out split (``labkit.splits.LeaveLastOutData``), tuned on validation.

    Popularity, item-kNN, EASE (λ from ``lambdas``) and, with ``sequence_length`` L, transition
    counts from each user's last L items. Each is fitted on ``d.fit`` and ranks ``d.val_items``
    (EASE's λ and the strongest baseline, by ``select``, are chosen there), then refitted on
    ``d.train`` and ranks ``d.test_items`` once. Items in the user's training data are never
    ranked, so popularity is popularity of unseen items here. Returns ``{"validation": {name:
    means}, "test": {name: per-user arrays}, "lambda": λ, "best": name, "short_users": {"validation":
    ids, "test": ids}}``. Every per-user array has one entry per user id, and no user is dropped:
    ``short_users`` are the users with fewer than L items in ``d.fit`` (validation) or ``d.train``
    (test), whose transition scores use the items they have (``recent_transitions``; empty
    without ``sequence_length``). A model that needs L items (e.g. Caser with
    ``sequences.last_items``) cannot score those users: compare it on the others only.

    Example::

        base = baselines.leave_last_out(splits.leave_last_out_data(ml.ratings), sequence_length=5)
        base["best"], stats.estimates(base["test"])
    """
    from .metrics import hit_and_auc_per_user

    def fitted(part, seen, lams):
        out = score_matrices(seen.astype(np.float32), lams)
        if sequence_length:
            users, items = part["user_id"].to_numpy(), part["item_id"].to_numpy()
            out["transitions"] = recent_transitions(transition_counts(users, items, seen.shape[1]),
                                                    users, items, seen.shape[0], sequence_length)
        return out

    def short(part):
        if not sequence_length:
            return np.zeros(0, dtype=np.int64)
        return short_users(part["user_id"].to_numpy(), d.seen.shape[0], sequence_length)

    def evaluate(scores, seen, targets):
        return hit_and_auc_per_user(scores, targets, exclude=seen, k=k)

    validation = {name: {m: float(v.mean()) for m, v in evaluate(s, d.seen_fit, d.val_items).items()}
                  for name, s in fitted(d.fit, d.seen_fit, lambdas).items()}
    lam = max(lambdas, key=lambda lam: validation[f"EASE λ={lam:g}"][select])
    candidates = {n: v[select] for n, v in validation.items() if not n.startswith("EASE")}
    candidates["EASE"] = validation[f"EASE λ={lam:g}"][select]
    test = {("EASE" if n.startswith("EASE") else n): evaluate(s, d.seen, d.test_items)
            for n, s in fitted(d.train, d.seen, [lam]).items()}
    return {"validation": validation, "test": test, "lambda": lam, "best": max(candidates, key=candidates.get),
            "short_users": {"validation": short(d.fit), "test": short(d.train)}}
