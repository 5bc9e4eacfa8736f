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


def test_tied_scores_give_deterministic_lowest_id_first():
    scores = np.zeros((2, 6))
    scores[1, [4, 2]] = 1.0
    assert M.topk(scores, 3).tolist() == [[0, 1, 2], [2, 4, 0]]
    excl = np.zeros((2, 6), bool)
    excl[0, 0] = True
    assert M.topk(scores, 2, exclude=excl).tolist() == [[1, 2], [2, 4]]
    # in d2l's ranking, a tie is broken the same way (stable sort over ascending ids)
    rank, n_cand = M.candidate_ranks(scores, [3, 0])
    assert rank.tolist() == [3, 2] and n_cand.tolist() == [6, 6]


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


def test_evaluation_scales_to_ml1m_sizes_quickly():
    import time

    rng = np.random.default_rng(1)
    scores = rng.random((6040, 3706), dtype=np.float32)
    truth = rng.random((6040, 3706)) < 0.01
    start = time.perf_counter()
    M.evaluate_topk(M.topk(scores, 10), truth)
    assert time.perf_counter() - start < 20  # a matrix operation, not a per-user loop


def test_score_all_pairs_matches_a_dot_product_model():
    rng = np.random.default_rng(2)
    P, Q = rng.normal(size=(7, 3)), rng.normal(size=(11, 3))
    scores = M.score_all_pairs(lambda u, i: (P[u] * Q[i]).sum(axis=1), 7, 11, batch_size=10)
    assert np.allclose(scores, P @ Q.T)


def test_popularity_topk_excluding_seen():
    seen = M.truth_matrix([0, 0], [2, 1], 2, 4)
    top = M.popularity_topk([2, 2, 2, 1, 1, 3], 2, 4, 3, exclude=seen)
    assert top.tolist() == [[3, 0, -1], [2, 1, 3]]
