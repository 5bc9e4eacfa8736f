"""labkit.report's like-for-like column (issue 19): the faithful 06 two-tower keeps the movies a user
already rated, so 06 compares it with plain popularity, which keeps them too; the report must set it
beside plain popularity, and the tuned two-tower (seen movies masked) beside popularity of unseen items."""

from pathlib import Path

import pytest

from labkit import report


def _entry_06(tmp_path: Path) -> dict:
    """A report entry of 06 built from a tiny fake records dict (no notebook is executed)."""
    values = {"two_tower": 0.030, "two_tower_tuned": 0.050, "popularity": 0.041, "popularity_unseen": 0.062,
              "itemknn": 0.055, "ease": 0.070}
    records = {"dataset": "ml-100k", "best_baseline": "ease"}
    intervals = {}
    for prefix, v in values.items():
        for metric in ("ndcg@10", "hit_rate@10"):
            records[f"{prefix}/{metric}"] = v
            intervals[f"{prefix}/{metric}"] = [v - 0.01, v + 0.01]
    for a, b, diff in (("two_tower", "popularity", -0.011), ("two_tower_tuned", "popularity_unseen", -0.012),
                       ("two_tower_tuned", "ease", -0.020)):
        records[f"{a}_vs_{b}/ndcg@10"] = diff
        intervals[f"{a}_vs_{b}/ndcg@10"] = [diff - 0.005, diff + 0.005]
    entry = report.summarise("06_two_tower", tmp_path / "not-run.ipynb", 1.0)
    entry.update(records=records, intervals=intervals, dataset="ml-100k", status="ok", error=None)
    return entry


def test_faithful_06_is_set_beside_plain_popularity_like_for_like(tmp_path):
    rows = {(r["model"], r["metric"]): r for r in report.comparison_rows([_entry_06(tmp_path)])}
    faithful, tuned = rows["two_tower", "ndcg@10"], rows["two_tower_tuned", "ndcg@10"]
    # the faithful model: plain popularity's value and interval, named like for like
    assert faithful["unseen_name"] == "popularity"
    assert faithful["unseen"] == pytest.approx((0.041, 0.031, 0.051))
    assert "like for like" in faithful["unseen_label"]
    assert faithful["verdicts"] == {"popularity": "loses to"}
    # the tuned model skips seen movies: popularity of unseen items, not called like for like
    assert tuned["unseen_name"] == "popularity_unseen"
    assert tuned["unseen"] == pytest.approx((0.062, 0.052, 0.072))
    assert "like for like" not in tuned["unseen_label"]
    assert tuned["best_name"] == "ease" and tuned["best"] == pytest.approx((0.070, 0.060, 0.080))


def test_report_table_prints_the_like_for_like_column(tmp_path):
    _, md = report.write_report([_entry_06(tmp_path)], tmp_path)
    lines = md.read_text().splitlines()
    faithful = next(l for l in lines if l.startswith("| 06_two_tower | ml-100k | two-tower (faithful), ndcg@10 |"))
    tuned = next(l for l in lines if l.startswith("| 06_two_tower | ml-100k | two-tower, tuned"))
    assert faithful.split(" | ")[4] == "0.0410 [0.0310, 0.0510] (popularity, like for like)"
    assert tuned.split(" | ")[4] == "0.0620 [0.0520, 0.0720]"
