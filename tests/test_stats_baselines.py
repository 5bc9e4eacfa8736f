"""labkit.stats (bootstrap intervals, paired differences, verdicts) and labkit.baselines, checked
against plain definitions on small cases."""

import numpy as np
import pandas as pd
import pytest

from labkit import baselines as B
from labkit import results, stats


# --- stats -------------------------------------------------------------------------------------

def test_bootstrap_interval_has_the_width_theory_predicts():
    rng = np.random.default_rng(5)
    values = (rng.random(400) < 0.3).astype(float)
    e = stats.bootstrap(values, n_resamples=2000)
    assert e.value == values.mean() and e.low < e.value < e.high
    se = np.sqrt(e.value * (1 - e.value) / len(values))
    assert (e.high - e.low) == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert stats.bootstrap(values, n_resamples=2000) == e            # seeded: the same call, the same interval
    assert stats.bootstrap(values, seed=1) != stats.bootstrap(values, seed=2)


def test_bootstrap_skips_nan_users_and_weights_events():
    per_user = np.array([1.0, 0.0, np.nan, 0.5])
    events = np.array([1, 3, 2, 4])
    e = stats.bootstrap(per_user, weights=events)
    # mean over events: (1*1 + 0*3 + 0.5*4) / (1 + 3 + 4)
    assert e.value == pytest.approx(3 / 8)
    assert np.isnan(stats.bootstrap([np.nan, np.nan]).value)           # no user with a value
    with pytest.raises(ValueError, match="one value per user"):
        stats.bootstrap(per_user, weights=events[:1])                   # would broadcast one weight to all
    with pytest.raises(ValueError, match="one value per user"):
        stats.paired_difference(per_user, per_user, weights=events[:3])
    with pytest.raises(ValueError, match="1-D"):
        stats.bootstrap(np.ones((2, 3)))


def test_paired_difference_uses_the_same_users():
    rng = np.random.default_rng(0)
    user_effect = rng.random(300)
    a = user_effect + 0.02                     # a is always a little better than b on the same user
    b = user_effect
    d = stats.paired_difference(a, b)
    assert d.value == pytest.approx(0.02) and d.low == pytest.approx(0.02) and stats.verdict(d) == "beats"
    # unpaired intervals overlap almost entirely: only pairing shows the difference
    ea, eb = stats.bootstrap(a), stats.bootstrap(b)
    assert ea.low < eb.high
    same = stats.paired_difference(b, b)
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0) and stats.verdict(same) == "no clear difference"
    with pytest.raises(ValueError, match="same users"):
        stats.paired_difference(a, b[:10])


def test_verdicts_follow_the_interval_only():
    assert stats.verdict(stats.Estimate(0.001, 0.0005, 0.002)) == "beats"
    assert stats.verdict(stats.Estimate(0.1, -0.001, 0.2)) == "no clear difference"
    assert stats.verdict(stats.Estimate(-0.1, -0.2, -0.05)) == "loses to"


def test_sign_test_is_the_exact_binomial_tail():
    import math
    for plus, minus in [(4, 0), (0, 4), (1, 0), (0, 0), (15, 5), (7, 7), (300, 240), (2, 9)]:
        n, m = plus + minus, min(plus, minus)
        exact = min(1.0, 2 * sum(math.comb(n, i) for i in range(m + 1)) / 2 ** n)
        assert stats.sign_test(plus, minus) == pytest.approx(exact, rel=1e-9), (plus, minus)


def test_a_handful_of_users_gives_no_verdict_on_a_binary_metric():
    # 4 of 4 users that differ favour A: the bootstrap interval lies above 0, the sign test says p = 0.125
    a, b = np.r_[np.ones(4), np.zeros(20)], np.zeros(24)
    d = stats.paired_difference(a, b)
    assert d.low > 0 and d.n_differing == 4 and d.p_value == pytest.approx(0.125)
    assert stats.verdict(d) == "no clear difference"
    assert stats.verdict(stats.paired_difference(b, a)) == "no clear difference"
    assert "p = 0.125" in stats.sentence("A", "B", "hit@10", d)
    one = stats.paired_difference([1.0], [0.0])                 # one user alone: interval [1, 1]
    assert (one.low, one.high) == (1.0, 1.0) and stats.verdict(one) == "no clear difference"
    # enough users that differ: 6 of 6 is p = 0.031 < 0.05, and the interval agrees
    six = stats.paired_difference(np.r_[np.ones(6), np.zeros(60)], np.zeros(66))
    assert six.p_value == pytest.approx(1 / 32) and stats.verdict(six) == "beats"
    assert stats.verdict(stats.paired_difference(np.zeros(66), np.r_[np.ones(6), np.zeros(60)])) == "loses to"
    # 1-vs-0 against 0-vs-1: 30 users favour A, 12 favour B out of 400
    a = np.r_[np.ones(30), np.zeros(12), np.ones(50), np.zeros(308)]
    b = np.r_[np.zeros(30), np.ones(12), np.ones(50), np.zeros(308)]
    d = stats.paired_difference(a, b)
    assert d.n_differing == 42 and d.p_value == pytest.approx(stats.sign_test(30, 12)) and stats.verdict(d) == "beats"


def test_a_handful_of_users_gives_no_verdict_on_a_continuous_metric():
    rng = np.random.default_rng(6)
    base = rng.random(40)
    few = base.copy()
    few[:stats.MIN_DIFFERING - 1] += 0.3                    # 9 users better, the rest equal
    d = stats.paired_difference(few, base)
    assert d.low > 0 and d.p_value is None and d.n_differing == 9
    assert stats.verdict(d) == "no clear difference" and "only 9 users differ" in stats.sentence("A", "B", "auc", d)
    enough = base.copy()
    enough[:stats.MIN_DIFFERING] += 0.3
    assert stats.verdict(stats.paired_difference(enough, base)) == "beats"
    # event-weighted 0/1 means are not a 0/1 metric over users: the count rule applies
    w = np.r_[np.full(20, 2.0), np.ones(20)]
    dw = stats.paired_difference(np.r_[np.ones(5), np.zeros(35)], np.zeros(40), weights=w)
    assert dw.p_value is None and dw.n_differing == 5 and stats.verdict(dw) == "no clear difference"


def test_verdicts_need_a_95_percent_interval():
    narrow = stats.Estimate(0.02, 0.01, 0.03, level=0.5)
    assert stats.verdict(narrow) == "no clear difference"
    assert stats.verdict(stats.Estimate(-0.02, -0.03, -0.01, level=0.5)) == "no clear difference"
    assert stats.verdict(narrow, min_level=0.5) == "beats"
    assert "50% interval" in stats.sentence("A", "B", "hit@10", narrow)
    rng = np.random.default_rng(7)
    a = (rng.random(500) < 0.3).astype(float)
    b = a.copy()
    a[:40], b[:40] = 1.0, 0.0                                # 40 users favour A, none B
    assert stats.verdict(stats.paired_difference(a, b, level=0.5)) == "no clear difference"
    strict = stats.paired_difference(a, b, level=0.99)
    assert stats.verdict(strict) == "beats" and "99% interval" in stats.sentence("A", "B", "hit@10", strict)
    assert stats.sentence("A", "B", "hit@10", stats.paired_difference(a, b)).startswith("A beats B on hit@10 (")


def test_results_table_and_records():
    per_user = {"M": {"hit@10": np.r_[np.ones(40), np.zeros(60)]},
                "base": {"hit@10": np.r_[np.ones(20), np.zeros(80)]}}
    table, records = results.results_table(stats.estimates(per_user), stats.differences(per_user, [("M", "base")]),
                                           {"M": "m", "base": "b"})
    assert list(table.index) == ["M", "base", "M − base"]
    assert table.loc["M − base", "hit@10"].endswith("beats")
    assert records["m_vs_b/hit@10"].value == pytest.approx(0.2)


# --- baselines ----------------------------------------------------------------------------------

def test_ease_equals_per_item_ridge_regression_without_self():
    rng = np.random.default_rng(1)
    X = (rng.random((30, 6)) < 0.4).astype(np.float32)
    lam = 2.0
    W = B.ease_weights(X, lam)
    for j in range(6):
        others = [i for i in range(6) if i != j]
        Xo = X[:, others].astype(float)
        b = np.linalg.solve(Xo.T @ Xo + lam * np.eye(5), Xo.T @ X[:, j])
        assert np.allclose(W[others, j], b, atol=1e-5) and W[j, j] == 0
    assert np.allclose(B.ease(X, lam), X @ W, atol=1e-5)
    assert np.allclose(B.ease(X, lam, B.gram(X)), B.ease(X, lam))


def test_itemknn_is_cosine_between_item_columns():
    rng = np.random.default_rng(2)
    X = (rng.random((20, 5)) < 0.5).astype(np.float32)
    X[:, 4] = 0                                      # an item nobody saw
    S = B.item_similarity(X)
    for i in range(5):
        for j in range(5):
            ni, nj = np.linalg.norm(X[:, i]), np.linalg.norm(X[:, j])
            expected = 0.0 if i == j or ni == 0 or nj == 0 else X[:, i] @ X[:, j] / ni / nj
            assert S[i, j] == pytest.approx(expected, abs=1e-6)
    top2 = B.item_similarity(X, neighbours=2)
    assert ((top2 > 0).sum(axis=0) <= 2).all()
    for j in range(5):                               # the kept ones are each column's largest
        assert set(np.flatnonzero(top2[:, j])) <= set(np.argsort(-S[:, j])[:2])
    assert np.allclose(B.itemknn(X), X @ S)


def test_transition_counts_follow_each_users_sequence_only():
    users = [0, 0, 0, 1, 1]
    items = [1, 2, 1, 2, 0]                  # user 0: 1 -> 2 -> 1; user 1: 2 -> 0; no 1 -> 2 across users
    T = B.transition_counts(users, items, 3)
    expected = np.zeros((3, 3))
    expected[1, 2] = expected[2, 1] = expected[2, 0] = 1
    assert np.array_equal(T, expected)
    assert B.transitions(T, [[1, 2]]).tolist() == [[1.0, 1.0, 1.0]]


def test_popularity_is_the_same_for_every_user():
    X = B.interactions([0, 1, 1, 2], [0, 0, 2, 0], 3, 3)
    assert B.popularity(X).tolist() == [[3.0, 0.0, 1.0]] * 3


def test_boolean_interaction_matrices_count_like_floats():
    # numpy's bool @ bool is a logical product: a co-occurrence count of 2 would read as True (1)
    rng = np.random.default_rng(3)
    X = rng.random((40, 7)) < 0.5                    # a boolean matrix, like LeaveLastOutData.seen
    Xf = X.astype(np.float32)
    assert np.array_equal(B.gram(X), Xf.T.astype(float) @ Xf) and B.gram(X).max() > 1
    assert np.allclose(B.item_similarity(X), B.item_similarity(Xf))
    assert np.allclose(B.itemknn(X, neighbours=3), B.itemknn(Xf, neighbours=3))
    assert np.allclose(B.ease_weights(X, 5.0), B.ease_weights(Xf, 5.0))
    assert np.allclose(B.ease(X, 5.0), B.ease(Xf, 5.0))
    assert np.allclose(B.popularity(X), B.popularity(Xf))
    for (name, s), (_, sf) in zip(B.score_matrices(X, [5.0]).items(), B.score_matrices(Xf, [5.0]).items()):
        assert np.allclose(s, sf), name
    X8 = X.astype(np.int8)                           # integers are converted too (no int8 overflow)
    assert np.array_equal(B.gram(X8), B.gram(Xf))
    with pytest.raises(ValueError, match="2-D"):
        B.gram(np.ones(3))


def _ratings_with_a_short_user():
    # users 0, 1, 2 with 9 interactions each; user 1 with 4 (train 3, fit 2): shorter than L = 5
    rng = np.random.default_rng(4)
    rows = []
    for user, n in enumerate([9, 4, 9, 9]):
        for t, item in enumerate(rng.permutation(12)[:n]):
            rows.append((user, int(item), t))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def test_leave_last_out_transitions_keep_users_with_short_histories_aligned():
    from labkit import metrics, splits

    d = splits.leave_last_out_data(_ratings_with_a_short_user())
    L = 5
    base = B.leave_last_out(d, lambdas=(1.0,), sequence_length=L)
    assert base["short_users"]["test"].tolist() == [1] and base["short_users"]["validation"].tolist() == [1]
    # the plain definition, user by user: T from d.train, summed over the user's last (up to) L items
    T = B.transition_counts(d.train.user_id, d.train.item_id, d.n_items)
    scores = np.zeros((d.n_users, d.n_items))
    for user, part in d.train.groupby("user_id"):
        scores[user] = T[part.item_id.to_numpy()[-L:]].sum(axis=0)
    expected = metrics.hit_and_auc_per_user(scores, d.test_items, exclude=d.seen, k=(10, 50))
    for metric, values in base["test"]["transitions"].items():
        assert len(values) == d.n_users and np.allclose(values, expected[metric]), metric
    assert all(len(v) == d.n_users for by_metric in base["test"].values() for v in by_metric.values())
    assert B.leave_last_out(d, lambdas=(1.0,))["short_users"]["test"].tolist() == []


def test_recent_transitions_rows_are_user_ids():
    T = np.arange(9, dtype=np.float32).reshape(3, 3)
    # user 0: items 1, 2; user 1: none; user 2: items 0, 1, 2 (last two count)
    got = B.recent_transitions(T, [0, 0, 2, 2, 2], [1, 2, 0, 1, 2], 3, 2)
    assert got.tolist() == [(T[1] + T[2]).tolist(), [0.0, 0.0, 0.0], (T[1] + T[2]).tolist()]
    assert B.short_users([0, 0, 2, 2, 2], 3, 2).tolist() == [1]
    with pytest.raises(ValueError, match="sorted"):
        B.recent_transitions(T, [2, 0], [1, 1], 3, 2)


def test_choose_on_validation_picks_what_a_plain_search_picks():
    """λ, item-kNN's configuration and the strongest baseline are the argmax of the validation metric
    over plain recomputations (labkit.baselines.ease, tune.item_similarity_shrunk), first best on ties."""
    from labkit import metrics, tune

    rng = np.random.default_rng(3)
    X = (rng.random((60, 25)) < 0.2).astype(np.float32)
    target = rng.integers(0, 25, size=60)
    users = np.arange(0, 60, 2)

    def hit10(scores, seen):
        top = metrics.topk(scores, 10, exclude=seen, seed=0)
        return float((top == target[users][:, None]).any(axis=1).mean())

    lambdas, grid = [1.0, 10.0, 100.0], {"neighbours": [3, 10], "shrinkage": [0.0, 5.0]}
    base = B.choose_on_validation(X, hit10, lambdas, grid, users=users)
    seen = X[users] > 0
    ease = [hit10(B.ease(X, lam)[users], seen) for lam in lambdas]
    configs = tune.configurations(grid, n=4)
    knn = [hit10(X[users] @ tune.item_similarity_shrunk(X, **c), seen) for c in configs]
    assert base["lambda"] == lambdas[int(np.argmax(ease))] and base["ease"] == dict(zip(lambdas, ease))
    assert base["knn"] == configs[int(np.argmax(knn))]
    validation = {"popularity (unseen)": hit10(B.popularity(X)[users], seen), "item-kNN": max(knn), "EASE": max(ease)}
    assert base["validation"] == validation and base["best"] == max(validation, key=validation.get)
    assert base["trials"] == {"popularity": 1, "item-kNN": 4, "EASE": 3}
    chosen = B.chosen_scores(X, base["lambda"], base["knn"], users)
    for name in ("popularity", "item-kNN", "EASE"):
        np.testing.assert_allclose(chosen[name], base["scores"][name], rtol=1e-5)
