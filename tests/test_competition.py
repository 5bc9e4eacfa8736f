"""labkit.competition: submission format, validation and scoring on hand-checked cases."""

import math

import pandas as pd
import pytest

from labkit import competition

USERS, ITEMS = range(3), range(20)


def lines(*rows):
    return ("UserID,MovieIDs\n" + "".join(r + "\n" for r in rows)).encode()


def ten(start=0):
    return " ".join(str(i) for i in range(start, start + 10))


def test_submission_round_trip_and_scores(tmp_path):
    path = competition.write_submission([0, 1], [[10, 11, 12], [20, 21, 22]], tmp_path / "s.csv")
    assert competition.read_submission(path) == {0: [10, 11, 12], 1: [20, 21, 22]}
    test = pd.DataFrame({"UserID": [0, 0, 1, 1, 2], "MovieID": [12, 99, 20, 21, 5],
                         "Rating": [5, 4, 2, 4, 5], "Timestamp": 0})
    # positive events: (0,12) rank 2, (0,99) miss, (1,21) rank 1, (2,5) user missing -> miss
    out = competition.score_submission(path, test)
    assert out["events"] == 4
    assert out["recall@10"] == pytest.approx(2 / 4)
    assert out["ndcg@10"] == pytest.approx((1 / math.log2(4) + 1 / math.log2(3)) / 4)


@pytest.mark.parametrize("content, message", [
    (b"user,items\n0,1 2\n", "bad.csv: row 1: expected the header UserID,MovieIDs"),
    (b"", "bad.csv: row 1: expected the header"),
    (lines("0,1 2", "1,3,4"), "bad.csv: row 3: expected 2 fields (UserID,MovieIDs), found 3"),
    (lines("zero,1 2"), "bad.csv: row 2: UserID 'zero' is not an integer"),
    (lines("0,1 2.5"), "bad.csv: row 2: MovieID '2.5' is not an integer"),
    (lines("0,1e+19 2"), "bad.csv: row 2: MovieID '1e+19' is not an integer"),
    (lines("0,1 2", "1,3", "0,3"), "bad.csv: row 4: user 0 is listed twice (also row 2)"),
    (lines("0," + ten() + " 10"), "bad.csv: row 2: user 0 has 11 MovieIDs, at most 10 allowed"),
    (b"UserID,MovieIDs\n0,\xff\xfe\n", "bad.csv: not UTF-8 text"),
])
def test_malformed_files_name_file_row_and_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(competition.SubmissionError) as err:
        competition.read_submission(path)
    assert str(err.value).startswith(message)
    assert len(str(err.value).splitlines()) == 1


def problems(*rows):
    return competition.submission_problems(competition.read_submission(lines(*rows), name="s.csv"), USERS, ITEMS,
                                           name="s.csv")


def test_a_clean_submission_has_no_problems():
    assert problems(f"0,{ten()}", f"1,{ten(5)}", f"2,{ten(10)}") == []


def test_unknown_and_huge_ids_are_reported_without_overflow():
    huge = "12345678901234567890"
    out = problems(f"0,{huge} 1 2 3 4 5 6 7 8 9", f"1,{ten(5)}", f"2,{ten(10)}", f"7,{ten()}")
    assert "s.csv: row 5: UserID 7 is not in users.csv (1 row with unknown users)" in out
    assert f"s.csv: row 2: MovieID {huge} is not in movies.csv (1 row with unknown MovieIDs)" in out
    test = pd.DataFrame({"UserID": [0, 1], "MovieID": [1, 5], "Rating": [5, 5]})
    scores = competition.score_events(competition.read_submission(lines(f"0,{huge} 1", f"1,{ten(5)}")), test)
    assert scores["recall@10"] == 1.0 and scores["events"] == 2


def test_one_based_ids_are_reported():
    out = problems(f"1,{ten(1)}", f"2,{ten(2)}", f"3,{ten(11)}")
    assert "s.csv: UserIDs look 1-based (raw MovieLens ids): the tutorial's ids start at 0, subtract 1" in out
    assert "s.csv: MovieIDs look 1-based (raw MovieLens ids): the tutorial's ids start at 0, subtract 1" in out


def test_repeated_movies_short_lists_and_missing_users_are_reported():
    out = problems("0,1 2 3 4 5 6 7 8 9 1", "2,3 4")
    assert out == [
        "s.csv: row 2: MovieID 1 listed twice for user 0 (1 row with repeated movies)",
        "s.csv: row 3: user 2 has 2 MovieIDs, 10 expected (1 row with fewer than 10)",
        "s.csv: 1 user of users.csv without a row (e.g. 1): they score 0 on their test events",
    ]


def test_missing_users_score_zero_visibly():
    test = pd.DataFrame({"UserID": [0, 1], "MovieID": [3, 4], "Rating": [5, 5]})
    board = competition.leaderboard({"alice": lines(f"0,{ten()}")}, test, users=[0, 1], items=ITEMS)
    assert board[0]["recall@10"] == 0.5 and board[0]["events"] == 2
    assert any("without a row" in p for p in board[0]["problems"])


def test_leaderboard_lists_invalid_files_and_goes_on():
    test = pd.DataFrame({"UserID": [0, 1, 2], "MovieID": [3, 4, 5], "Rating": [5, 5, 5]})
    subs = {"bob": lines(f"0,{ten()}", f"1,{ten()}", f"2,{ten()}"),
            "carol": lines("0,3 9"),
            "dave": lines("0,99999999999999999999999 3"),
            "eve": b"UserID;MovieIDs\n0;3\n"}
    board = competition.leaderboard(subs, test, USERS, ITEMS)
    assert [(r["submission"], r["status"]) for r in board] == [
        ("bob", "ok"), ("carol", "ok"), ("dave", "ok"), ("eve", "invalid")]
    assert board[0]["recall@10"] == 1.0 and board[3]["problems"] == [
        "eve: row 1: expected the header UserID,MovieIDs, found ['UserID;MovieIDs']"]
    text = competition.format_leaderboard(board)
    assert "  1. bob" in text and "invalid" in text and "MovieID 99999999999999999999999" in text


def test_training_files_come_from_the_graders_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_TUTORIAL_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="lacks"):
        competition.training_files()
    for name in competition.TRAINING_FILES:
        (tmp_path / f"{name}.csv").write_text("x\n")
    assert competition.training_files() == {n: tmp_path / f"{n}.csv" for n in competition.TRAINING_FILES}


def test_training_files_from_movielens(isolated, monkeypatch):
    monkeypatch.delenv("LABKIT_TUTORIAL_DIR", raising=False)
    paths = competition.training_files("synthetic")
    assert sorted(paths) == ["movies", "ratings_train", "users"]
    assert (paths["ratings_train"].parent / "ratings_test.csv").is_file()   # at home: MovieLens is public
