"""labkit.competition: submission format and scoring on hand-checked cases."""

import math

import numpy as np
import pandas as pd
import pytest

from labkit import competition


def test_submission_round_trip_and_scores(tmp_path):
    path = competition.write_submission([0, 1], [[10, 11, 12], [20, 21, 22]], tmp_path / "s.csv")
    assert {u: v.tolist() for u, v in competition.read_submission(path).items()} == {0: [10, 11, 12], 1: [20, 21, 22]}
    test = pd.DataFrame({"UserID": [0, 0, 1, 1, 2], "MovieID": [12, 99, 20, 21, 5],
                         "Rating": [5, 4, 2, 4, 5], "Timestamp": 0})
    # positive events: (0,12) rank 2, (0,99) miss, (1,21) rank 1, (2,5) user missing -> miss
    out = competition.score_submission(path, test)
    assert out["events"] == 4
    assert out["recall@10"] == pytest.approx(2 / 4)
    assert out["ndcg@10"] == pytest.approx((1 / math.log2(4) + 1 / math.log2(3)) / 4)


def test_malformed_submissions_are_refused(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("user,items\n0,1 2\n")
    with pytest.raises(ValueError, match="expected columns UserID,MovieIDs"):
        competition.read_submission(bad)
    bad.write_text("UserID,MovieIDs\n0,1 2\n0,3\n")
    with pytest.raises(ValueError, match="listed twice"):
        competition.read_submission(bad)
    bad.write_text("UserID,MovieIDs\n0," + " ".join(map(str, range(11))) + "\n")
    with pytest.raises(ValueError, match="at most 10"):
        competition.read_submission(bad)
