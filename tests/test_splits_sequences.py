"""labkit.splits and labkit.sequences on hand-checked examples (several from seed 000's slides)."""

import numpy as np
import pandas as pd
import pytest

from labkit import sequences, splits


def seed000_user():
    """Seed 000's example: user 0 watched items 1..11 in that order."""
    return pd.DataFrame({"user_id": 0, "item_id": np.arange(1, 12), "rating": 4, "timestamp": np.arange(11)})


def test_seed000_split_9_train_2_test():
    train, test = splits.ratio_split_per_user(seed000_user(), 0.8)
    assert train[["user_id", "item_id"]].to_numpy().tolist() == [[0, i] for i in range(1, 10)]
    assert test[["user_id", "item_id"]].to_numpy().tolist() == [[0, 10], [0, 11]]


def test_ratio_split_rounds_half_to_even_like_python():
    # 5 * 0.5 = 2.5 -> Python's round gives 2 (the seed uses round)
    df = pd.DataFrame({"user_id": 0, "item_id": range(5), "timestamp": range(5)})
    train, _ = splits.ratio_split_per_user(df, 0.5)
    assert len(train) == round(2.5) == 2


def test_seed000_windows_feed5_target3():
    df = seed000_user()
    d = sequences.window_dataset(df, feed_len=5, target_len=3, n_neg=10, seed=0)
    # raw item ids 1..11 become 0..10; shift back by one to compare with the slides
    x = d.x_train.copy()
    x[:, 1:] += 1
    assert x.tolist() == [[0, 1, 2, 3, 4, 5], [0, 2, 3, 4, 5, 6]]  # trn_users, trn_feed_sequences
    assert (d.targets_train[:, :3] + 1).tolist() == [[6, 7, 8], [7, 8, 9]]  # trn_positive_targets
    assert d.targets_train.shape == (2, 13)
    assert (d.x_test[:, 1:] + 1).tolist() == [[5, 6, 7, 8, 9]]  # test_feed_sequences
    assert [(t + 1).tolist() for t in d.test_targets] == [[10, 11]]  # test_targets


def test_window_negatives_match_seed_per_user_randint_loop():
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"user_id": np.repeat([3, 1, 2], [20, 25, 30]),
                       "item_id": rng.integers(1, 60, size=75), "timestamp": rng.integers(0, 1000, size=75)})
    d = sequences.window_dataset(df, seed=42)
    # the seed's loop: one np.random.randint call per user, in user order, global generator
    np.random.seed(42)
    train_lengths = [round(n * 0.8) for n in (25, 30, 20)]  # users 1, 2, 3
    per_user = [np.random.randint(d.n_items, size=(n - 8 + 1, 10)) for n in train_lengths]
    assert np.array_equal(d.targets_train[:, 3:], np.concatenate(per_user))


def test_users_shorter_than_a_window_give_no_instances_and_no_error():
    users = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    items = np.arange(12)
    u, w = sequences.sliding_windows(users, items, 8)
    assert u.tolist() == [1, 1] and w[0].tolist() == list(range(3, 11))
    u, w = sequences.sliding_windows(np.array([0, 0]), np.array([1, 2]), 8)
    assert u.shape == (0,) and w.shape == (0, 8)


def test_sample_negatives_excluding_seen():
    seen = sequences.seen_matrix([0, 0, 0, 1], [0, 1, 2, 3], 2, 5)
    rng = np.random.RandomState(0)
    neg = sequences.sample_negatives(rng, 5, (200, 4), users=np.repeat([0, 1], 100), seen=seen)
    assert set(np.unique(neg[:100])) <= {3, 4} and 3 not in neg[100:]
    with pytest.raises(ValueError, match="seen every item"):
        sequences.sample_negatives(rng, 2, (1, 1), users=[0], seen=np.ones((1, 2), bool))


def test_caser_instances_are_windows_of_L_plus_1():
    u, seq, tgt = sequences.caser_instances([0] * 8 + [1] * 3, list(range(8)) + [20, 21, 22], 5)
    assert u.tolist() == [0, 0, 0]
    assert seq.tolist() == [[0, 1, 2, 3, 4], [1, 2, 3, 4, 5], [2, 3, 4, 5, 6]]
    assert tgt.tolist() == [5, 6, 7]


def test_leave_last_out_tie_goes_to_first_in_file_order():
    df = pd.DataFrame({"user_id": [2, 1, 1, 1, 2], "item_id": [9, 4, 5, 6, 8], "timestamp": [7, 1, 3, 3, 7]})
    train, test = splits.leave_last_out(df)
    assert test[["user_id", "item_id"]].to_numpy().tolist() == [[1, 5], [2, 9]]
    assert sorted(train.item_id) == [4, 6, 8]


def test_global_time_split_ties_at_boundary_go_to_test():
    df = pd.DataFrame({"user_id": [1, 2, 1, 2, 1], "item_id": [1, 1, 2, 2, 1], "timestamp": [1, 2, 3, 3, 3]})
    # position int(5 * 0.6) = 3 holds timestamp 3: all three rows at 3 go to test
    train, test = splits.global_time_split(df, 0.4, drop_cold_users=False, drop_cold_items=False)
    assert train.timestamp.tolist() == [1, 2] and test.timestamp.tolist() == [3, 3, 3]
    train, test = splits.global_time_split(df, 0.4)
    assert test.item_id.tolist() == [1]  # item 2 is cold (never in train): its two rows are dropped


def test_last_positives_split_has_no_shared_row():
    df = pd.DataFrame({"user_id": [0] * 8 + [1] * 3, "item_id": range(11),
                       "rating": [5, 4, 2, 5, 4, 4, 1, 5, 5, 5, 5], "timestamp": range(11)})
    train, val = splits.last_positives_split(df, n_positive=5, threshold=4)
    assert val.item_id.tolist() == [1, 2, 3, 4, 5, 6, 7]  # all rows from user 0's 5th-last positive on
    assert train.item_id.tolist() == [0, 8, 9, 10]  # user 1 has 3 positives: all train
    assert not set(train.index) & set(val.index)


def test_min_count_is_single_pass_and_ids_are_contiguous():
    df = pd.DataFrame({"user_id": [1, 1, 2, 3, 3, 3], "item_id": [10, 11, 10, 12, 13, 10]})
    kept = splits.min_count_filter(df, 2)
    assert kept.user_id.tolist() == [1, 1, 3, 3, 3]
    users, items = splits.IdMap.fit(kept.user_id), splits.IdMap.fit(kept.item_id)
    enc = splits.reindex(kept, users, items)
    assert enc.user_id.tolist() == [0, 0, 1, 1, 1] and enc.item_id.tolist() == [0, 1, 2, 3, 0]
    with pytest.raises(KeyError, match="99"):
        items.encode([99])


def test_leave_last_out_data_collects_seen_test_and_validation_items():
    df = pd.DataFrame({"user_id": [5, 5, 5, 8, 8, 8], "item_id": [30, 10, 20, 10, 40, 30],
                       "timestamp": [1, 2, 3, 1, 9, 5]})
    d = splits.leave_last_out_data(df)
    assert (d.n_users, d.n_items) == (2, 4)  # items 10, 20, 30, 40 -> 0..3
    assert d.test_items.tolist() == [1, 3]  # user 5's latest: item 20; user 8's: item 40 (t=9)
    assert d.val_items.tolist() == [0, 2]   # the latest before those: item 10 (t=2); item 30 (t=5)
    assert d.seen.astype(int).tolist() == [[1, 0, 1, 0], [1, 0, 1, 0]]
    assert d.seen_fit.astype(int).tolist() == [[0, 0, 1, 0], [1, 0, 0, 0]]
    assert len(d.fit) == 2 and not d.seen_fit[np.arange(2), d.val_items].any()
    with pytest.raises(ValueError, match="at least 3"):
        splits.leave_last_out_data(pd.DataFrame({"user_id": [1, 1], "item_id": [1, 2], "timestamp": [1, 2]}))


def test_pairwise_triples_never_draw_a_seen_item():
    rng = np.random.default_rng(0)
    seen = rng.random((50, 30)) < 0.5
    users, items = np.nonzero(seen)
    for _ in range(3):
        u, i, j = sequences.pairwise_triples(users, items, seen, rng)
        assert np.array_equal(u, users) and np.array_equal(i, items)
        assert not seen[u, j].any()
