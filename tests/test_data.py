"""labkit.data: checksums, cache/mirror/download order, bad inputs, parsers, synthetic data."""

import hashlib
import io
import multiprocessing
import os
import re
import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest

from labkit import data
from conftest import REAL_MIRROR, FakeResponse, synthetic_zip

needs_real_100k = pytest.mark.skipif(
    REAL_MIRROR is None or not (REAL_MIRROR / "ml-100k" / "u.data").is_file(),
    reason="real ML-100K not available: " + ("LABKIT_MIRROR is not set" if REAL_MIRROR is None else
                                             f"LABKIT_MIRROR={REAL_MIRROR} has no ml-100k/u.data"),
)


def _sums_with(monkeypatch, extra: dict):
    sums = dict(data.pinned_checksums())
    sums.update(extra)
    monkeypatch.setattr(data, "pinned_checksums", lambda *a, **k: sums)
    return sums


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _fake_mirror_100k(isolated, monkeypatch):
    """A mirror holding ml-100k only (synthetic files, their sums pinned for the test)."""
    mirror = data.write_synthetic(isolated / "mirror" / "ml-100k", n_users=25, n_items=40)
    _sums_with(monkeypatch, {f"ml-100k/{f}": data.sha256_of(mirror / f) for f in data.FILES["ml-100k"].values()})
    monkeypatch.setenv("LABKIT_MIRROR", str(isolated / "mirror"))
    return mirror


# ----------------------------------------------------------------- names and checksums


def test_unknown_dataset_lists_valid_names(isolated):
    with pytest.raises(ValueError, match="valid names are: ml-1m, ml-100k, synthetic, synthetic-1m, auto"):
        data.load("ml-20m")


def test_pinned_checksums_cover_every_parsed_file():
    sums = data.pinned_checksums()
    for name in data.REAL_DATASETS:
        assert f"{name}.zip" in sums
        for f in data.FILES[name].values():
            assert len(sums[f"{name}/{f}"]) == 64
    assert sums["ml-1m/ratings.dat"].startswith("506d64ca")


def test_corrupted_cache_file_is_moved_aside_and_named(isolated, capsys):
    folder = isolated / "cache" / "ml-100k"
    folder.mkdir(parents=True)
    for f in data.FILES["ml-100k"].values():
        (folder / f).write_text("not movielens\n")
    with pytest.raises(data.DataError) as err:   # offline, no mirror: nowhere else to get it from
        data.fetch("ml-100k")
    msg, stderr = str(err.value), capsys.readouterr().err
    assert "u.data, u.item, u.user were corrupted and moved aside" in msg and str(folder) in msg
    assert "corrupted or truncated" in stderr and f"moved it to {folder / 'u.data.corrupt'}" in stderr
    assert sorted(p.name for p in folder.iterdir()) == ["u.data.corrupt", "u.item.corrupt", "u.user.corrupt"]


def test_corrupted_cache_file_falls_back_to_a_good_mirror(isolated, monkeypatch, capsys):
    mirror = _fake_mirror_100k(isolated, monkeypatch)
    cache = isolated / "cache" / "ml-100k"
    shutil.copytree(mirror, cache)
    with open(cache / "u.data", "r+b") as fh:    # cut in the middle
        fh.truncate(fh.seek(0, 2) // 2)
    assert data.fetch("ml-100k") == mirror
    stderr = capsys.readouterr().err
    assert f"{cache / 'u.data'} is corrupted or truncated" in stderr and "taken from the mirror" in stderr
    assert not (cache / "u.data").exists() and (cache / "u.data.corrupt").is_file()
    assert len(data.load("ml-100k").ratings) == len(data.read_ratings(mirror / "u.data"))


def test_mirror_folder_missing_a_file_is_named(isolated, monkeypatch):
    mirror = _fake_mirror_100k(isolated, monkeypatch)
    (mirror / "u.item").unlink()
    with pytest.raises(data.DataError) as err:
        data.fetch("ml-100k")
    assert f"the mirror folder {mirror} lacks u.item" in str(err.value)
    assert "has no ml-100k" not in str(err.value)


def test_missing_ml1m_names_what_is_available_and_the_one_line_change(isolated, monkeypatch):
    mirror = _fake_mirror_100k(isolated, monkeypatch)    # a mirror with ml-100k only, no network
    with pytest.raises(data.DataError) as err:
        data.load("ml-1m")                            # notebook 01 as shipped: DATASET = "ml-1m"
    msg = str(err.value)
    assert f"ml-100k (in {mirror})" in msg and "synthetic" in msg
    assert 'DATASET = "ml-100k"' in msg and 'DATASET = "auto"' in msg
    assert "https://files.grouplens.org/datasets/movielens/ml-1m.zip" in msg
    assert str(isolated / "cache" / "ml-1m") in msg and "ratings.dat, movies.dat, users.dat" in msg
    assert f"LABKIT_MIRROR={isolated / 'mirror'} has no ml-1m/ folder" in msg
    assert not (isolated / "cache" / "ml-1m").exists()    # nothing downloaded or written


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
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
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


def test_corrupt_fresh_download_is_not_kept_and_says_so(isolated, monkeypatch):
    body = synthetic_zip(isolated)  # checksum will not match the pinned official archive
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: FakeResponse(body))
    with pytest.raises(data.ChecksumError) as err:
        data.fetch("ml-100k")
    msg = str(err.value)
    assert "The download of https://files.grouplens.org/datasets/movielens/ml-100k.zip is corrupted" in msg
    assert "nothing was kept" in msg and "Run again" in msg
    assert ".zip.zip" not in msg and "Delete it" not in msg
    assert not list((isolated / "cache").iterdir())


def test_corrupt_cached_archive_is_set_aside_and_downloaded_again(isolated, monkeypatch, capsys):
    body = synthetic_zip(isolated)
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        file_sums = {f"ml-100k/{f}": _sha(zf.read(f"ml-100k/{f}")) for f in data.FILES["ml-100k"].values()}
    _sums_with(monkeypatch, {"ml-100k.zip": _sha(body), **file_sums})
    archive = isolated / "cache" / "ml-100k.zip"
    archive.parent.mkdir()
    archive.write_bytes(body[:1000])
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: FakeResponse(body))
    assert data.fetch("ml-100k") == isolated / "cache" / "ml-100k"
    assert archive.read_bytes() == body and (isolated / "cache" / "ml-100k.zip.corrupt").is_file()
    assert "ml-100k.zip is corrupted or truncated" in capsys.readouterr().err


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


def _last_item_hits(ratings: pd.DataFrame, k: int = 10, every: int = 1) -> tuple[float, float]:
    """Hit@k of each user's last item (every ``every``-th user): popularity vs first-order
    transition counts from the item before it (ties counted in the item's favour, for both)."""
    r = ratings.sort_values(["user_id", "timestamp"], kind="stable")
    user, (ids, item) = r.user_id.to_numpy(), np.unique(r.item_id.to_numpy(), return_inverse=True)
    last = np.r_[user[1:] != user[:-1], True]
    pairs = (user[1:] == user[:-1]) & ~last[1:]         # consecutive training items
    n = len(ids)
    trans = np.bincount(item[:-1][pairs] * n + item[1:][pairs], minlength=n * n).reshape(n, n).astype(np.float32)
    pop = np.bincount(item[~last], minlength=n).astype(np.float32)
    target, before = item[last][::every], item[np.flatnonzero(last) - 1][::every]
    hits = []
    for scores in (np.broadcast_to(pop, (len(target), n)), trans[before] + 1e-6 * pop):
        rank = (scores > scores[np.arange(len(target)), target][:, None]).sum(axis=1)
        hits.append(float((rank < k).mean()))
    return hits[0], hits[1]


def test_synthetic_has_a_sequential_signal(isolated):
    popularity, transitions = _last_item_hits(data.load("synthetic").ratings)
    assert transitions > popularity + 0.2, (popularity, transitions)   # measured: 0.33 vs 0.79


def test_synthetic_1m_format_is_deterministic_per_seed(tmp_path):
    small = {"n_users": 200, "n_items": 300}
    a = data.write_synthetic(tmp_path / "a", "synthetic-1m", seed=3, **small)
    b = data.write_synthetic(tmp_path / "b", "synthetic-1m", seed=3, **small)
    c = data.write_synthetic(tmp_path / "c", "synthetic-1m", seed=4, **small)
    for f in [*data.FILES["synthetic-1m"].values(), data.MANIFEST]:
        assert (a / f).read_bytes() == (b / f).read_bytes()
    assert (a / "ratings.dat").read_bytes() != (c / "ratings.dat").read_bytes()
    assert data.read_ratings(a / "ratings.dat").groupby("user_id").size().min() >= 20


@pytest.fixture(scope="module")
def synthetic_1m(tmp_path_factory):
    """synthetic-1m loaded by name from an empty cache (written once for this module, ~3 s)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABKIT_DATA_DIR", str(tmp_path_factory.mktemp("cache")))
        mp.delenv("LABKIT_MIRROR", raising=False)
        yield data.load("synthetic-1m")


@pytest.mark.xdist_group("synthetic_1m")  # one worker writes it once (module fixture)
def test_synthetic_1m_has_ml1m_counts(synthetic_1m):
    ml = synthetic_1m
    assert ml.name == "synthetic-1m" and ml.folder.name == "synthetic-1m-0"
    r = ml.ratings
    assert len(r) == 1_000_209 and r.user_id.nunique() == 6_040 and r.item_id.nunique() == 3_706
    assert (r.dtypes == "int64").all() and not r.duplicated(["user_id", "item_id"]).any()
    per_user, per_item = r.groupby("user_id").size(), r.item_id.value_counts()
    assert per_user.min() >= 20 and per_user.max() == 2_314 and per_item.max() == 3_428
    assert per_user.mean() > 1.4 * per_user.median()              # heavy tail (ML-1M: 165.6 vs 96)
    top = np.sort(per_item.to_numpy())[::-1]
    assert top[: len(top) // 10].sum() > 0.35 * len(r)              # skewed popularity
    assert sorted(r.rating.unique()) == [1, 2, 3, 4, 5]
    assert r.user_id.min() == 1 and r.user_id.max() == 6_040
    # movies.dat: 3,883 movies, ids up to 3,952 with gaps, some never rated
    items = ml.items
    assert len(items) == 3_883 and items.item_id.max() == 3_952 and items.item_id.is_unique
    assert set(r.item_id) < set(items.item_id)
    assert items.title.str.fullmatch(r".+ \((19[1-9]\d|2000)\)").all()
    assert set("|".join(items.genres).split("|")) <= set(data.ML1M_GENRES)
    assert len(ml.users) == 6_040 and set(ml.users.age) <= {1, 18, 25, 35, 45, 50, 56}
    assert set(ml.users.occupation) <= set(data.ML1M_OCCUPATIONS)


@pytest.mark.xdist_group("synthetic_1m")
def test_synthetic_1m_files_are_ml1m_formats(synthetic_1m):
    folder = synthetic_1m.folder
    movies = (folder / "movies.dat").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        movies.decode("utf-8")                                       # ISO-8859-1, as ML-1M
    assert "Café" in movies.decode("ISO-8859-1") and any("é" in t for t in synthetic_1m.items.title)
    assert all(line.count("::") == 2 for line in movies.decode("ISO-8859-1").splitlines())
    users = (folder / "users.dat").read_text().splitlines()
    assert all(re.fullmatch(r"\d+::[MF]::(1|18|25|35|45|50|56)::(1?\d|20)::\d{5}(-\d{4})?", u) for u in users)
    first = (folder / "ratings.dat").read_text().split("\n", 1)[0]
    assert re.fullmatch(r"1::\d+::[1-5]::\d{9,10}", first)


@pytest.mark.xdist_group("synthetic_1m")
def test_synthetic_1m_has_a_sequential_signal(synthetic_1m):
    popularity, transitions = _last_item_hits(synthetic_1m.ratings, every=4)
    assert transitions > 2 * popularity, (popularity, transitions)   # measured: 0.08 vs 0.39


@pytest.mark.xdist_group("synthetic_1m")
def test_synthetic_1m_same_seed_same_bytes(synthetic_1m, tmp_path):
    again = data.write_synthetic(tmp_path / "again", "synthetic-1m", seed=0)
    for f in [*data.FILES["synthetic-1m"].values(), data.MANIFEST]:
        assert (again / f).read_bytes() == (synthetic_1m.folder / f).read_bytes(), f


@pytest.mark.parametrize("damage", ["cut at a line break", "emptied", "garbage", "no manifest", "old settings",
                                    "manifest emptied"])
def test_damaged_synthetic_cache_is_detected_and_rewritten(isolated, capsys, damage):
    good = data.load("synthetic")
    path = good.folder / "u.data"
    text = path.read_bytes()
    if damage == "cut at a line break":
        path.write_bytes(text[: text.index(b"\n", len(text) // 2) + 1])
    elif damage == "emptied":
        path.write_bytes(b"")
    elif damage == "garbage":    # pandas would fail to parse this as integers
        path.write_bytes(text[:5000] + b"\x00\xff not a rating\n" + text[5000:])
    elif damage == "no manifest":   # an interrupted writer, or an older labkit: rewritten quietly
        (good.folder / data.MANIFEST).unlink()
        path.write_bytes(text[:100])
    elif damage == "old settings":
        manifest = good.folder / data.MANIFEST
        manifest.write_text(manifest.read_text().replace("generator", "generator 1 ", 1))
    else:
        (good.folder / data.MANIFEST).write_bytes(b"")
    capsys.readouterr()
    again = data.load("synthetic")
    assert path.read_bytes() == text
    pd.testing.assert_frame_equal(again.ratings, good.ratings)
    stderr = capsys.readouterr().err
    if damage == "no manifest":
        assert stderr == ""
    else:
        assert f"the synthetic set in {good.folder} is damaged" in stderr and "writing it again" in stderr
    assert data.synthetic_problem(good.folder) is None


def _fill_cache(cache, barrier, results, k):
    """One of two processes: load the synthetic set and write the tutorial files into ``cache``."""
    try:
        os.environ["LABKIT_DATA_DIR"] = str(cache)
        barrier.wait(timeout=60)        # both start at the same moment
        ml = data.load("synthetic")
        paths = data.tutorial_files(ml, data.data_dir() / "tutorial-synthetic")
        results.put((k, len(ml.ratings), [data.sha256_of(p) for p in paths.values()]))
    except BaseException:
        import traceback

        results.put((k, "failed", traceback.format_exc()))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method")
def test_two_processes_fill_one_empty_cache(tmp_path, monkeypatch):
    """Both succeed, with identical, complete files, whoever renames first (several rounds)."""
    monkeypatch.delenv("LABKIT_MIRROR", raising=False)
    reference = data.write_synthetic(tmp_path / "reference")
    files = data.FILES["synthetic"]
    ml = data.MovieLens("synthetic", reference, data.read_ratings(reference / files["ratings"]),
                        data.read_items(reference / files["items"]), data.read_users(reference / files["users"]))
    tutorial = [data.sha256_of(p) for p in data.tutorial_files(ml, tmp_path / "tutorial").values()]
    ctx = multiprocessing.get_context("fork")
    for round_ in range(10):       # the old fixed .part names failed in most runs of 10 rounds
        cache = tmp_path / f"cache{round_}"
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_fill_cache, args=(cache, barrier, results, k)) for k in range(2)]
        for p in procs:
            p.start()
        got = sorted(results.get(timeout=120) for _ in procs)
        for p in procs:
            p.join(timeout=60)
        assert got == [(0, len(ml.ratings), tutorial), (1, len(ml.ratings), tutorial)], got
        folder = cache / "synthetic-0"
        assert data.synthetic_problem(folder) is None
        for f in files.values():
            assert (folder / f).read_bytes() == (reference / f).read_bytes()
        assert [data.sha256_of(cache / "tutorial-synthetic" / f"{n}.csv") for n in
                ("ratings_train", "ratings_test", "users", "movies")] == tutorial
        assert not [p.name for p in cache.rglob("*") if p.name.endswith(".part")]


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
