"""labkit.metrics: hand-checked values, the sources' own definitions as references, edge cases."""

import math

import numpy as np
import pytest

from labkit import metrics as M


# --- the sources' per-user definitions, written out plainly, used as references -------------

def seed000_precision(pred, targets, k):
    pred = pred[:k]
    return len(set(pred) & set(targets)) / len(pred)


def seed000_recall(pred, targets, k):
    return len(set(pred[:k]) & set(targets)) / len(targets)


def seed000_ap(pred, targets, k):
    pred = pred[:k]
    score, n_hits = 0.0, 0
    for i, p in enumerate(pred):
        if p in targets:
            n_hits += 1
            score += n_hits / (i + 1)
    return score / min(len(targets), k)


def d2l_hit_and_auc(ranked, test_item, k):
    hits_k = [i for i, v in enumerate(ranked[:k]) if v == test_item]
    hits_all = [i for i, v in enumerate(ranked) if v == test_item]
    top = len(ranked) - 1
    return len(hits_k), (top - hits_all[0]) / top if hits_all else 0.0


# --- hand-checked -----------------------------------------------------------------------------

def test_precision_recall_ap_by_hand():
    topk = np.array([[3, 1, 7, 2, 9]])
    truth = M.truth_matrix([0, 0, 0], [1, 2, 5], 1, 10)
    assert M.precision_at_k(topk, truth)[0] == pytest.approx(2 / 5)
    assert M.recall_at_k(topk, truth)[0] == pytest.approx(2 / 3)
    # hits at ranks 2 and 4 (1-based): (1/2 + 2/4) / min(3, 5)
    assert M.average_precision_at_k(topk, truth)[0] == pytest.approx((0.5 + 0.5) / 3)


def test_seed002_single_target_ndcg_and_recall():
    topk = np.array([[4, 8, 15, 16, 23, 42, 7, 9, 11, 13]])
    ranks = M.rank_of(topk, [0, 0, 0], [4, 16, 99])
    assert ranks.tolist() == [0, 3, -1]
    assert M.single_target_ndcg(ranks) == pytest.approx([1.0, 1 / math.log2(5), 0.0])
    assert (ranks >= 0).astype(float).tolist() == [1.0, 1.0, 0.0]  # the source's recall@10 per event
    # with a single target, RePlay's NDCG gives the same number
    assert M.ndcg_at_k(topk, M.truth_matrix([0], [16], 1, 50))[0] == pytest.approx(1 / math.log2(5))


def test_d2l_hit_and_auc_small_ranking():
    scores = np.array([[9.0, 0.5, 0.8, 0.1, 0.7, 0.3]])
    train = M.truth_matrix([0], [0], 1, 6)
    # candidates 1..5 ranked: 2 (.8), 4 (.7), 1 (.5), 5 (.3), 3 (.1) -> test item 4 at rank 1
    out = M.hit_and_auc(scores, [4], exclude=train, k=(1, 2))
    assert out == {"hit@1": 0.0, "hit@2": 1.0, "auc": pytest.approx(3 / 4)}
    assert d2l_hit_and_auc([2, 4, 1, 5, 3], 4, 2) == (1, 3 / 4)


def test_d2l_compatible_flag_reproduces_range_num_users_bug():
    # 2 users, 4 items: d2l ranks only items 0..1, so test items 2 and 3 can never be hit
    scores = np.array([[0.1, 0.2, 0.9, 0.0], [0.5, 0.1, 0.2, 0.3]])
    ok = M.hit_and_auc(scores, [2, 0], k=1)
    bug = M.hit_and_auc(scores, [2, 0], k=1, d2l_compatible=True)
    assert ok == {"hit@1": 1.0, "auc": 1.0}
    assert bug["hit@1"] == 0.5 and bug["auc"] == 0.5  # user 0's item 2 is a miss with AUC 0


def test_replay_ndcg_hit_rate_coverage_small_case():
    topk = np.array([[0, 1, 2], [1, 5, 9]])
    truth = M.truth_matrix([0, 0, 1], [1, 3, 7], 2, 10)
    # user 0: hit at rank 1 -> DCG 1/log2(3); IDCG over min(3, 2) = 2 -> 1 + 1/log2(3)
    ndcg = M.ndcg_at_k(topk, truth)
    assert ndcg[0] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert ndcg[1] == 0.0
    assert M.hit_rate_at_k(topk, truth).tolist() == [1.0, 0.0]
    # recommended {0, 1, 2, 5, 9}; in train {0, 1, 2, 5}; train has 8 items
    assert M.coverage_at_k(topk, train_items=range(8)) == 0.5


# --- edge cases -------------------------------------------------------------------------------

def test_k_larger_than_item_count():
    scores = np.array([[0.3, 0.1, 0.2]])
    topk = M.topk(scores, 5)
    assert topk.tolist() == [[0, 2, 1, -1, -1]]
    truth = M.truth_matrix([0], [1], 1, 3)
    assert M.precision_at_k(topk, truth)[0] == pytest.approx(1 / 3)  # seed: divides by len(pred)
    assert M.recall_at_k(topk, truth)[0] == 1.0
    assert M.hit_and_auc(scores, [1], k=50)["hit@50"] == 1.0


def test_empty_truth_sets_are_excluded_from_means():
    topk = np.array([[0, 1], [0, 1]])
    truth = M.truth_matrix([0], [0], 2, 3)  # user 1 has no relevant item
    assert np.isnan(M.recall_at_k(topk, truth)[1])
    out = M.evaluate_topk(topk, truth)
    assert out["users"] == 1 and out["recall@2"] == 1.0 and out["precision@2"] == 0.5


def test_ties_favour_no_item_in_topk():
    scores = np.zeros((2, 6))
    scores[1, [4, 2]] = 1.0
    # d2l's order, on request: the lower id first among equal scores
    assert M.topk(scores, 3, ties="low_id").tolist() == [[0, 1, 2], [2, 4, 0]]
    excl = np.zeros((2, 6), bool)
    excl[0, 0] = True
    assert M.topk(scores, 2, exclude=excl, ties="low_id").tolist() == [[1, 2], [2, 4]]
    # by default ties are broken at random, seeded: same call, same lists; another seed, other lists
    a, b = M.topk(scores, 3), M.topk(scores, 3)
    assert np.array_equal(a, b)
    assert sorted(a[1, :2]) == [2, 4] and a[1, 2] in (0, 1, 3, 5)
    draws = np.stack([M.topk(np.zeros((1, 6)), 1, seed=s)[0, 0] for s in range(600)])
    counts = np.bincount(draws, minlength=6)
    assert counts.min() > 60, counts            # each of the 6 items about 100 times, none favoured


def test_constant_model_gets_auc_half_and_hit_k_over_candidates():
    rng = np.random.default_rng(2024)   # not topk's own seed 0: the data must not share its random stream
    n_users, n_items = 500, 40
    scores = np.ones((n_users, n_items))
    seen = rng.random((n_users, n_items)) < 0.5
    test_items = rng.integers(n_items, size=n_users)
    seen[np.arange(n_users), test_items] = False
    n_cand = n_items - seen.sum(axis=1)
    per_user = M.hit_and_auc_per_user(scores, test_items, exclude=seen, k=(1, 5))
    assert np.allclose(per_user["auc"], 0.5)
    assert np.allclose(per_user["hit@5"], np.minimum(5 / n_cand, 1))
    assert np.allclose(per_user["hit@1"], 1 / n_cand)
    # d2l's order instead rewards low ids: a constant model looks better than chance
    d2l = M.hit_and_auc(scores, test_items, exclude=seen, k=5, d2l_compatible=True)
    assert d2l["auc"] != pytest.approx(0.5)
    # top-k lists of a constant model: hit@5 = 5 / candidates in expectation
    top = M.topk(scores, 5, exclude=seen)
    truth = M.truth_matrix(np.arange(n_users), test_items, n_users, n_items)
    observed = M.hit_rate_at_k(top, truth).mean()
    expected = np.mean(np.minimum(5 / n_cand, 1))
    assert abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / n_users)


def test_ties_in_hit_and_auc_count_half():
    scores = np.array([[0.9, 0.5, 0.5, 0.5, 0.1]])
    higher, tied, n_cand = M.candidate_ranks(scores, [2])
    assert (higher.tolist(), tied.tolist(), n_cand.tolist()) == ([1], [2], [5])
    out = M.hit_and_auc_per_user(scores, [2], k=(1, 2, 3))
    # rank 1, 2 or 3 with probability 1/3 each
    assert out["hit@1"][0] == 0 and out["hit@2"][0] == pytest.approx(1 / 3) and out["hit@3"][0] == pytest.approx(2 / 3)
    assert out["auc"][0] == pytest.approx((4 - 1 - 1) / 4)
    # d2l: the lower id wins the tie, so item 2 sits at rank 2 (after 0 and 1)
    higher, tied, _ = M.candidate_ranks(scores, [2], d2l_compatible=True)
    assert (higher.tolist(), tied.tolist()) == ([-1], [0])   # d2l never ranks item 2 here: only 1 user
    assert M.hit_and_auc(np.tile(scores, (5, 1)), [2] * 5, k=2, d2l_compatible=True) == {"hit@2": 0.0, "auc": 0.5}


def _reference_topk(scores, k, exclude):
    """Plain Python: candidates by score, best first; NaN last; ties by the lower id."""
    out = []
    for u, row in enumerate(scores):
        cand = [i for i in range(len(row)) if exclude is None or not exclude[u, i]]
        key = lambda i: (0, 0.0) if np.isnan(row[i]) else (1, row[i])
        ranked = sorted(cand, key=lambda i: (key(i)[0], key(i)[1], -i), reverse=True)[:k]
        out.append(ranked + [-1] * (k - len(ranked)))
    return np.array(out)


@pytest.mark.parametrize("case", range(12))
def test_topk_matches_a_plain_sort(case):
    rng = np.random.default_rng(case)
    n_users, n_items = 30, int(rng.integers(3, 300))
    scores = rng.integers(0, 4 if case % 2 else 10**6, size=(n_users, n_items)).astype(float)
    special = rng.random(scores.shape)
    scores[special < 0.05] = np.nan
    scores[(special > 0.05) & (special < 0.08)] = np.inf
    scores[(special > 0.08) & (special < 0.11)] = -np.inf
    scores[(special > 0.11) & (special < 0.13)] = -0.0
    exclude = (rng.random(scores.shape) < 0.3) if case % 3 else None
    if case == 5:
        exclude[:5] = True                      # users with no candidate at all
    k = int(rng.integers(1, 25))
    ref = _reference_topk(scores, k, exclude)
    assert np.array_equal(M.topk(scores, k, exclude, ties="low_id"), ref)
    # random ties: the same scores at every rank, only the order inside a tie may differ
    got = M.topk(scores, k, exclude)
    assert np.array_equal(got == -1, ref == -1)
    value = lambda ids: np.where(ids >= 0, np.take_along_axis(np.nan_to_num(scores, nan=-7e300), np.maximum(ids, 0), 1), 0)
    assert np.array_equal(value(got), value(ref))
    for u in range(n_users):
        real = got[u][got[u] >= 0]
        assert len(set(real)) == len(real) and (exclude is None or not exclude[u, real].any())


def test_topk_nan_last_infinities_ordinary_exclude_only_removes():
    assert M.topk(np.array([[np.inf, 1.0, 0.5]]), 2).tolist() == [[0, 1]]      # the example
    assert M.topk(np.array([[np.nan, -np.inf, 2.0]]), 3).tolist() == [[2, 1, 0]]
    excl = np.array([[False, True, False]])
    assert M.topk(np.array([[-np.inf, 5.0, np.nan]]), 3, exclude=excl).tolist() == [[0, 2, -1]]
    scores = np.array([[1.0, 2.0]])
    M.topk(scores, 1, exclude=np.array([[True, False]]))
    assert scores.tolist() == [[1.0, 2.0]]                                      # input untouched


def test_vectorised_equals_the_sources_loops_on_random_data():
    rng = np.random.default_rng(0)
    n_users, n_items, k = 40, 30, 10
    scores = rng.normal(size=(n_users, n_items))
    train = rng.random((n_users, n_items)) < 0.2
    truth = (rng.random((n_users, n_items)) < 0.15) & ~train
    truth[np.arange(n_users), rng.integers(n_items, size=n_users)] = True
    truth &= ~train
    truth[truth.sum(1) == 0, 0] = True
    top = M.topk(scores, k)
    for u in range(n_users):
        pred = list(np.argsort(-scores[u], kind="stable"))
        targets = set(np.flatnonzero(truth[u]))
        assert M.precision_at_k(top, truth)[u] == pytest.approx(seed000_precision(pred, targets, k))
        assert M.recall_at_k(top, truth)[u] == pytest.approx(seed000_recall(pred, targets, k))
        assert M.average_precision_at_k(top, truth)[u] == pytest.approx(seed000_ap(pred, targets, k))
    test_items = rng.integers(n_items, size=n_users)
    train[np.arange(n_users), test_items] = False
    out = M.hit_and_auc(scores, test_items, exclude=train, k=k)
    ref = []
    for u in range(n_users):
        ranked = [i for i in np.argsort(-scores[u], kind="stable") if not train[u, i]]
        ref.append(d2l_hit_and_auc(ranked, test_items[u], k))
    assert out[f"hit@{k}"] == pytest.approx(np.mean([h for h, _ in ref]))
    assert out["auc"] == pytest.approx(np.mean([a for _, a in ref]))


def test_score_all_pairs_matches_a_dot_product_model():
    rng = np.random.default_rng(2)
    P, Q = rng.normal(size=(7, 3)), rng.normal(size=(11, 3))
    scores = M.score_all_pairs(lambda u, i: (P[u] * Q[i]).sum(axis=1), 7, 11, batch_size=10)
    assert np.allclose(scores, P @ Q.T)


def test_popularity_topk_excluding_seen():
    seen = M.truth_matrix([0, 0], [2, 1], 2, 4)
    top = M.popularity_topk([2, 2, 2, 1, 1, 3], 2, 4, 3, exclude=seen)
    assert top.tolist() == [[3, 0, -1], [2, 1, 3]]


def test_scores_and_test_items_for_different_users_are_refused():
    with pytest.raises(ValueError, match="1 users .* test_items has 3"):
        M.hit_and_auc(np.array([[0.9, 0.1, 0.5]]), [0, 1, 2], k=1)
    with pytest.raises(ValueError, match="test_items has 1"):
        M.hit_and_auc_per_user(np.zeros((2, 3)), [0], k=1)
    with pytest.raises(ValueError, match="exclude must have the shape"):
        M.candidate_ranks(np.zeros((2, 3)), [0, 1], exclude=np.zeros((1, 3), bool))
    with pytest.raises(ValueError, match="outside range"):
        M.hit_and_auc(np.zeros((1, 3)), [3])
    with pytest.raises(ValueError, match="outside range"):
        M.hit_and_auc(np.zeros((1, 3)), [-1])           # would wrap to the last item
    with pytest.raises(ValueError, match="integer"):
        M.hit_and_auc(np.zeros((1, 3)), [0.5])
    assert M.hit_and_auc(np.array([[0.1, 0.9, 0.5]]), np.array([1.0]), k=1) == {"hit@1": 1.0, "auc": 1.0}


def test_topk_metrics_refuse_lists_and_truth_for_different_users():
    truth = M.truth_matrix([0, 1], [1, 2], 2, 3)
    top = np.array([[1, 0]])                          # one user's list against two users' truth
    for fn in list(M.METRICS.values()) + [M.hits]:
        with pytest.raises(ValueError, match="1 users .* truth has 2"):
            fn(top, truth)
    with pytest.raises(ValueError, match="same user"):
        M.evaluate_topk(top, truth)
    with pytest.raises(ValueError, match="outside range"):
        M.hits(np.array([[5, 0], [1, 2]]), truth)     # item 5 of a 3-item truth matrix
    with pytest.raises(ValueError, match="outside range"):
        M.hits(np.array([[-2, 0], [1, 2]]), truth)    # only -1 (no item) is allowed below 0
    with pytest.raises(ValueError, match="exclude must have the shape"):
        M.topk(np.zeros((2, 3)), 1, exclude=np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match="parallel"):
        M.truth_matrix([0], [1, 2], 1, 3)
    with pytest.raises(ValueError, match="parallel"):
        M.by_user([1.0, 0.0], [7])
    with pytest.raises(ValueError, match="parallel"):
        M.rank_of(np.array([[1, 2]]), [0, 0], [1])
    with pytest.raises(ValueError, match="rows must index"):
        M.rank_of(np.array([[1, 2]]), [1], [1])
    with pytest.raises(ValueError, match="returned 1 scores"):
        M.score_all_pairs(lambda u, i: 0.0, 2, 3)


def d2l_evaluate_ranking(scores, test_items, candidates, num_users, k):
    """d2l's ``evaluate_ranking`` (§16.6) with the network's scores given: its candidates are
    ``list(set(range(num_users)) - set(train items))`` in that set's iteration order, sorted by
    score with Python's stable ``sorted(..., reverse=True)``."""
    all_items = set([i for i in range(num_users)])
    hit_rate, auc = [], []
    for u in range(num_users):
        neg_items = list(all_items - set(candidates[u]))
        ranked = [i for i, _ in sorted(zip(neg_items, scores[u, neg_items]), key=lambda t: t[1], reverse=True)]
        h, a = d2l_hit_and_auc(ranked, test_items[u], k)
        hit_rate.append(h)
        auc.append(a)
    return hit_rate, auc


def test_d2l_compatible_ties_go_to_the_lower_id_where_d2l_uses_set_order():
    num_users, n_items = 20, 25
    heavy = [i for i in range(num_users) if i not in (5, 17, 19)] + [21, 22]   # user 0 saw 17 of range(20)
    train = [heavy] + [[u, 20] for u in range(1, num_users)]
    test_items = np.array([5] + [(u + 3) % num_users for u in range(1, num_users)])
    exclude = M.truth_from_lists(train, n_items)
    scores = np.zeros((num_users, n_items))            # every candidate tied
    scores[:, 0] = 1.0                                # except item 0: not tied
    ours = M.hit_and_auc_per_user(scores, test_items, exclude=exclude, k=1, d2l_compatible=True)
    hit, auc = d2l_evaluate_ranking(scores, test_items, train, num_users, 1)
    # light users: the set iterates in ascending id order, so d2l puts the lower id first too
    assert list(set(range(num_users)) - set(train[1])) == sorted(set(range(num_users)) - set(train[1]))
    assert ours["hit@1"][1:].tolist() == hit[1:] and np.allclose(ours["auc"][1:], auc[1:])
    # user 0's three candidates 5, 17, 19 (all tied): CPython's set iterates them as 17, 19, 5 (ids
    # modulo its 8-slot table), so d2l ranks the test item 5 last; ours, lower id first, ranks it first
    assert list(set(range(num_users)) - set(heavy)) == [17, 19, 5]
    assert (hit[0], auc[0]) == (0, 0.0) and (ours["hit@1"][0], ours["auc"][0]) == (1.0, 1.0)
    # without ties the two evaluators agree for every user, heavy or not
    distinct = np.random.default_rng(0).permutation(num_users * n_items).reshape(num_users, n_items).astype(float)
    ours = M.hit_and_auc_per_user(distinct, test_items, exclude=exclude, k=3, d2l_compatible=True)
    hit, auc = d2l_evaluate_ranking(distinct, test_items, train, num_users, 3)
    assert ours["hit@3"].tolist() == hit and np.allclose(ours["auc"], auc)
