"""labkit.data: checksums, cache/mirror/download order, bad inputs, parsers, synthetic data."""

import hashlib
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from labkit import data
from conftest import REAL_MIRROR, FakeResponse, synthetic_zip

needs_real_100k = pytest.mark.skipif(
    not (REAL_MIRROR / "ml-100k" / "u.data").is_file(),
    reason=f"real ML-100K not available (no offline mirror at {REAL_MIRROR})",
)


def _sums_with(monkeypatch, extra: dict):
    sums = dict(data.pinned_checksums())
    sums.update(extra)
    monkeypatch.setattr(data, "pinned_checksums", lambda *a, **k: sums)
    return sums


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


# ----------------------------------------------------------------- names and checksums


def test_unknown_dataset_lists_valid_names(isolated):
    with pytest.raises(ValueError, match="valid names are: ml-1m, ml-100k, synthetic, auto"):
        data.load("ml-20m")


def test_pinned_checksums_cover_every_parsed_file():
    sums = data.pinned_checksums()
    for name in data.REAL_DATASETS:
        assert f"{name}.zip" in sums
        for f in data.FILES[name].values():
            assert len(sums[f"{name}/{f}"]) == 64
    assert sums["ml-1m/ratings.dat"].startswith("506d64ca")


def test_corrupted_cache_file_names_file_and_remedy(isolated):
    folder = isolated / "cache" / "ml-100k"
    folder.mkdir(parents=True)
    for f in data.FILES["ml-100k"].values():
        (folder / f).write_text("not movielens\n")
    with pytest.raises(data.ChecksumError) as err:
        data.fetch("ml-100k")
    msg = str(err.value)
    assert "u.data" in msg and "corrupted or truncated" in msg and "Delete it" in msg


@needs_real_100k
def test_truncated_mirror_file_is_refused(isolated, monkeypatch):
    mirror = isolated / "mirror" / "ml-100k"
    mirror.mkdir(parents=True)
    for f in data.FILES["ml-100k"].values():
        shutil.copy(REAL_MIRROR / "ml-100k" / f, mirror / f)
    with open(mirror / "u.item", "r+b") as fh:
        fh.truncate(1000)
    monkeypatch.setenv("LABKIT_MIRROR", str(isolated / "mirror"))
    with pytest.raises(data.ChecksumError, match=r"u\.item.*LABKIT_MIRROR"):
        data.fetch("ml-100k")


def test_offline_with_nothing_cached_gives_one_clear_error(isolated):
    with pytest.raises(data.DataError) as err:
        data.fetch("ml-1m")
    msg = str(err.value)
    assert "https://files.grouplens.org/datasets/movielens/ml-1m.zip" in msg
    assert str(isolated / "cache" / "ml-1m") in msg
    assert "LABKIT_MIRROR" in msg and "synthetic" in msg
    assert not any((isolated / "cache").glob("*.zip*"))


# ----------------------------------------------------------------- downloads


def test_download_extracts_and_verifies(isolated, monkeypatch):
    body = synthetic_zip(isolated)
    with __import__("zipfile").ZipFile(__import__("io").BytesIO(body)) as zf:
        file_sums = {f"ml-100k/{f}": _sha(zf.read(f"ml-100k/{f}")) for f in data.FILES["ml-100k"].values()}
    _sums_with(monkeypatch, {"ml-100k.zip": _sha(body), **file_sums})
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: FakeResponse(body))
    folder = data.fetch("ml-100k")
    assert folder == isolated / "cache" / "ml-100k"
    assert sorted(p.name for p in folder.iterdir()) == sorted(data.FILES["ml-100k"].values())
    assert not list((isolated / "cache").rglob("*.part"))
    # a second call uses the cache, without the network
    monkeypatch.setattr(data.urllib.request, "urlopen", None)
    assert data.fetch("ml-100k") == folder


@pytest.mark.parametrize("how", ["connection reset", "short body"])
def test_interrupted_download_leaves_nothing_that_looks_complete(isolated, monkeypatch, how):
    body = synthetic_zip(isolated)
    _sums_with(monkeypatch, {"ml-100k.zip": _sha(body)})
    if how == "connection reset":
        response = FakeResponse(body, fail_after=len(body) // 2)
    else:  # the server closes early: fewer bytes than Content-Length announced
        response = FakeResponse(body[: len(body) // 2], length=len(body))
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: response)
    with pytest.raises(data.DataError):
        data.fetch("ml-100k")
    cache = isolated / "cache"
    assert not (cache / "ml-100k.zip").exists()
    assert not list(cache.rglob("*.part"))
    assert not (cache / "ml-100k" / "u.data").exists()


def test_corrupt_fresh_download_is_deleted(isolated, monkeypatch):
    body = synthetic_zip(isolated)  # checksum will not match the pinned official archive
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: FakeResponse(body))
    with pytest.raises(data.ChecksumError, match="ml-100k.zip"):
        data.fetch("ml-100k")
    assert not (isolated / "cache" / "ml-100k.zip").exists()


# ----------------------------------------------------------------- auto resolution


def test_auto_falls_back_loudly_to_synthetic(isolated, capsys):
    assert data.resolve("auto", default="ml-1m") == "synthetic"
    err = capsys.readouterr().err
    assert "'auto' -> 'synthetic'" in err and "ml-1m:" in err and "ml-100k:" in err and "download failed" in err


def test_auto_takes_mirror_ml100k_when_ml1m_missing(isolated, monkeypatch, capsys):
    mirror = data.write_synthetic(isolated / "mirror" / "ml-100k", n_users=25, n_items=40)
    _sums_with(monkeypatch, {f"ml-100k/{f}": data.sha256_of(mirror / f) for f in data.FILES["ml-100k"].values()})
    monkeypatch.setenv("LABKIT_MIRROR", str(isolated / "mirror"))
    assert data.resolve("auto", default="ml-1m") == "ml-100k"
    assert "'auto' -> 'ml-100k': the default 'ml-1m' could not be had" in capsys.readouterr().err
    assert data.resolve("auto", default="ml-100k") == "ml-100k"
    out = capsys.readouterr()
    assert out.out.strip() == "DATASET='auto' -> 'ml-100k'" and out.err == ""
    ml = data.load("ml-100k")
    assert ml.folder == isolated / "mirror" / "ml-100k" and len(ml.ratings) > 0


# ----------------------------------------------------------------- parsers


def test_ml1m_parsers_on_handmade_lines(tmp_path):
    (tmp_path / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n2::3068::4::978299000\n")
    (tmp_path / "movies.dat").write_bytes(
        "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Caf\xe9 \"X\" (1999)::Drama\n".encode("ISO-8859-1"))
    (tmp_path / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    r = data.read_ratings(tmp_path / "ratings.dat")
    assert r.columns.tolist() == ["user_id", "item_id", "rating", "timestamp"]
    assert (r.dtypes == "int64").all() and r.item_id.tolist() == [1193, 661, 3068]
    m = data.read_items(tmp_path / "movies.dat")
    assert m.title.tolist() == ["Toy Story (1995)", 'Café "X" (1999)']
    assert m.genres[0] == "Animation|Children's|Comedy"
    u = data.read_users(tmp_path / "users.dat")
    assert u.occupation.tolist() == ["K-12 student", "self-employed"] and u.age.dtype == "int64"
    assert u.zip_code.tolist() == ["48067", "70072"]


@needs_real_100k
def test_real_ml100k_parses_with_fixed_columns(monkeypatch, tmp_path):
    monkeypatch.setenv("LABKIT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LABKIT_MIRROR", str(REAL_MIRROR))
    ml = data.load("ml-100k")
    assert ml.ratings.shape == (100_000, 4) and (ml.ratings.dtypes == "int64").all()
    assert ml.ratings.user_id.nunique() == 943 and ml.ratings.item_id.nunique() == 1682
    assert ml.items.shape == (1682, 3) and ml.items.genres[0] == "Animation|Children's|Comedy"
    assert ml.users.shape == (943, 5) and ml.users.occupation[0] == "technician"
    assert ml.ratings.groupby("user_id").size().min() == 20


# ----------------------------------------------------------------- synthetic


def test_synthetic_is_deterministic_skewed_and_dense_enough(tmp_path):
    a = data.write_synthetic(tmp_path / "a", seed=3)
    b = data.write_synthetic(tmp_path / "b", seed=3)
    for f in data.FILES["synthetic"].values():
        assert (a / f).read_bytes() == (b / f).read_bytes()
    r = data.read_ratings(a / "u.data")
    per_user = r.groupby("user_id").size()
    assert per_user.min() >= 20
    counts = np.sort(r.item_id.value_counts().to_numpy())[::-1]
    assert counts[: len(counts) // 10].sum() > 0.25 * counts.sum()  # top 10% items: > 25% of ratings
    assert not r.duplicated(["user_id", "item_id"]).any()
    assert data.read_items(a / "u.item").shape[0] == 400


def test_load_synthetic_uses_the_same_parsers(isolated):
    ml = data.load("synthetic")
    assert ml.name == "synthetic"
    assert ml.ratings.columns.tolist() == ["user_id", "item_id", "rating", "timestamp"]
    assert ml.items.columns.tolist() == ["item_id", "title", "genres"]
    assert ml.users.columns.tolist() == ["user_id", "gender", "age", "occupation", "zip_code"]


# ----------------------------------------------------------------- tutorial files (notebook 07)


def test_tutorial_files_latest_ten_with_ties_to_test(tmp_path):
    # user 1: 13 ratings; the 10th latest (timestamp 30) is tied with an older-position row
    ts = [10, 20, 30, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120]
    ratings = pd.DataFrame({"user_id": 1, "item_id": np.arange(1, 14), "rating": 4, "timestamp": ts})
    ratings = pd.concat([ratings, pd.DataFrame({"user_id": 2, "item_id": [5, 6], "rating": 3, "timestamp": [1, 2]})])
    items = pd.DataFrame({"item_id": np.arange(1, 14), "title": "t", "genres": "Drama"})
    users = pd.DataFrame({"user_id": [1, 2], "gender": "F", "age": 25, "occupation": "other", "zip_code": "0"})
    paths = data.tutorial_files(data.MovieLens("x", tmp_path, ratings, items, users), tmp_path / "out")
    train, test = pd.read_csv(paths["ratings_train"]), pd.read_csv(paths["ratings_test"])
    assert list(train.columns) == ["UserID", "MovieID", "Rating", "Timestamp"]
    u0_test = test[test.UserID == 0]
    assert len(u0_test) == 11 and sorted(u0_test.Timestamp)[:2] == [30, 30]  # tie at the cut -> test
    assert train[train.UserID == 0].MovieID.tolist() == [0, 1]  # 0-based ids
    assert test[test.UserID == 1].MovieID.tolist() == [4, 5]  # fewer than 10 ratings: all test
    assert train.Timestamp.is_monotonic_increasing and test.Timestamp.is_monotonic_increasing
    assert pd.read_csv(paths["movies"]).columns.tolist() == ["MovieID", "Title", "Genres"]
    assert pd.read_csv(paths["users"]).UserID.tolist() == [0, 1]
