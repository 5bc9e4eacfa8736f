"""MovieLens 100K and 1M: find, download, verify and parse; plus two synthetic look-alikes.

Datasets by name (the ``DATASET`` parameter of every notebook):

* ``ml-1m``, ``ml-100k``: the real MovieLens files from GroupLens;
* ``synthetic``: a small generated set in ML-100K's formats (300 users, 400 items, ~21,000 ratings),
  for smoke tests and for working without any real data;
* ``synthetic-1m``: a generated set in ML-1M's formats with ML-1M's counts (6,040 users, 3,706 rated
  items out of 3,883 movies with ids up to 3,952, 1,000,209 ratings), to run the ML-1M notebooks at
  full size where ML-1M cannot be had; it is read by the ML-1M parsers;
* ``auto``: the notebook's default if it can be had, else ``ml-100k``, else ``synthetic`` (never
  ``synthetic-1m``), announced on stderr when it falls back.

Where a real dataset's files come from, in this order:

1. the cache, ``data/<name>/`` in the repository (or ``$LABKIT_DATA_DIR/<name>/``);
2. an offline mirror, ``$LABKIT_MIRROR/<name>/``, holding the official files unchanged
   (CI points it at ``../shared/movielens``);
3. a download of the official zip archive from GroupLens, with a progress bar.

Every real file is checked against the sha256 kept in ``data/checksums.sha256`` before it is
parsed. A corrupted file in the cache is moved aside (to ``<file>.corrupt``, said on stderr) and
the dataset is taken from the mirror or downloaded again; a corrupted file in the mirror is an
error naming it (the mirror is yours to fix). Synthetic sets are written with a
``manifest.sha256`` (written last) and checked against it on every load; a damaged or incomplete
one is written again, said on stderr.

Everything is written atomically: to a temporary file with a unique name in the destination folder,
renamed (``os.replace``) onto its name only when complete and verified, so a half-written file never
looks finished and two processes filling one cache at the same time do not trip over each other.
MovieLens may not be redistributed: nothing here is ever committed.

The parsers return DataFrames with fixed column names and dtypes, whichever dataset:

* ratings: ``user_id`` int64, ``item_id`` int64, ``rating`` int64, ``timestamp`` int64,
  in file order, raw (1-based) ids;
* items: ``item_id`` int64, ``title`` str, ``genres`` str (``"Action|Comedy"``);
* users: ``user_id`` int64, ``gender`` str, ``age`` int64, ``occupation`` str, ``zip_code`` str.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import secrets
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import LabkitError, ParameterError

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKSUM_FILE = REPO_ROOT / "data" / "checksums.sha256"
BASE_URL = "https://files.grouplens.org/datasets/movielens/"

# The synthetic look-alikes: file format and sizes ("synthetic-1m" has ML-1M's counts and time span).
SYNTHETIC_PRESETS = {
    "synthetic": {"fmt": "ml-100k", "n_users": 300, "n_items": 400, "n_ratings": 21_000,
                  "min_per_user": 20, "max_per_user": 120, "max_per_item": None,
                  "n_movies": 400, "max_item_id": 400, "time_range": [874_724_710, 893_286_638]},
    "synthetic-1m": {"fmt": "ml-1m", "n_users": 6_040, "n_items": 3_706, "n_ratings": 1_000_209,
                     "min_per_user": 20, "max_per_user": 2_314, "max_per_item": 3_428,
                     "n_movies": 3_883, "max_item_id": 3_952, "time_range": [956_703_932, 1_046_454_590]},
}
MANIFEST = "manifest.sha256"

REAL_DATASETS = ("ml-1m", "ml-100k")
DATASETS = REAL_DATASETS + tuple(SYNTHETIC_PRESETS)
DATASET_CHOICES = DATASETS + ("auto",)

# The files each dataset's parsers read, relative to the dataset folder.
FILES = {
    "ml-100k": {"ratings": "u.data", "items": "u.item", "users": "u.user"},
    "ml-1m": {"ratings": "ratings.dat", "items": "movies.dat", "users": "users.dat"},
}
for _name, _preset in SYNTHETIC_PRESETS.items():   # synthetic sets use the formats they imitate
    FILES[_name] = FILES[_preset["fmt"]]

ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]
ML1M_GENRES = ML100K_GENRES[1:]
# ML-1M stores occupations as codes; its README gives the names.
ML1M_OCCUPATIONS = [
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
]
ML100K_OCCUPATIONS = [
    "administrator", "artist", "doctor", "educator", "engineer", "entertainment", "executive",
    "healthcare", "homemaker", "lawyer", "librarian", "marketing", "none", "other", "programmer",
    "retired", "salesman", "scientist", "student", "technician", "writer",
]


class DataError(LabkitError, RuntimeError):
    """A dataset could not be found, downloaded or verified; the message says what to do.

    In a notebook it shows as its message and the cell line that asked for the data (``LabkitError``).

    ``reason`` holds the short cause (e.g. ``"download failed: ..."``) for one-line summaries.
    """

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


class ChecksumError(DataError):
    """A data file's sha256 differs from the pinned one (corrupted or truncated)."""


# --------------------------------------------------------------------------- locations


def data_dir() -> Path:
    """Return the cache folder: ``$LABKIT_DATA_DIR`` if set, else ``<repo>/data``.

    >>> data_dir() == Path(os.environ.get("LABKIT_DATA_DIR") or REPO_ROOT / "data")
    True
    """
    return Path(os.environ.get("LABKIT_DATA_DIR") or REPO_ROOT / "data")


def mirror_dir() -> Path | None:
    """Return the offline mirror folder named by ``$LABKIT_MIRROR``, or None when unset.

    >>> mirror_dir() == (Path(os.environ["LABKIT_MIRROR"]) if os.environ.get("LABKIT_MIRROR") else None)
    True
    """
    value = os.environ.get("LABKIT_MIRROR")
    return Path(value).expanduser() if value else None


def check_name(name: str, allowed=DATASET_CHOICES) -> str:
    """Return ``name`` if it is a known dataset name, else raise ParameterError (a ValueError) listing the valid ones.

    >>> check_name("synthetic-1m")
    'synthetic-1m'
    """
    if name not in allowed:
        raise ParameterError(f"unknown dataset {name!r}; valid names are: {', '.join(allowed)}")
    return name


# --------------------------------------------------------------------------- checksums


def pinned_checksums(path: Path = CHECKSUM_FILE) -> dict[str, str]:
    """Return ``{"ml-100k/u.data": sha256, ...}`` read from ``data/checksums.sha256``.

    >>> pinned_checksums()["ml-100k/u.data"][:8]
    '06416e59'
    """
    sums = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            digest, rel = line.split(maxsplit=1)
            sums[rel.strip()] = digest.lower()
    return sums


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file, read in chunks.

    >>> import tempfile; p = Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"abc")
    >>> sha256_of(p)[:12]
    'ba7816bf8f01'
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def official_url(key: str) -> str:
    """Return the GroupLens archive that holds ``key`` (``"ml-1m/ratings.dat"`` or ``"ml-1m.zip"``).

    >>> official_url("ml-100k/u.data")
    'https://files.grouplens.org/datasets/movielens/ml-100k.zip'
    """
    return BASE_URL + (key if key.endswith(".zip") else key.split("/")[0] + ".zip")


def verify_file(path: Path, key: str, sums: dict[str, str] | None = None) -> Path:
    """Return ``path`` if its sha256 matches the pinned one for ``key`` (e.g. ``"ml-1m/ratings.dat"``).

    Raises ChecksumError naming the file otherwise (callers add what to do, which depends on
    where the file lies).

    >>> import tempfile; p = Path(tempfile.mkdtemp()) / "u.data"; _ = p.write_text("oops")
    >>> verify_file(p, "ml-100k/u.data")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    labkit.data.ChecksumError: .../u.data is corrupted or truncated: ...
    """
    sums = pinned_checksums() if sums is None else sums
    expected = sums.get(key)
    if expected is None:
        raise DataError(f"no pinned sha256 for {key!r} in {CHECKSUM_FILE}")
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumError(
            f"{path} is corrupted or truncated: its sha256 is {actual}, expected {expected} "
            f"(the official {key}, from {official_url(key)})."
        )
    return path


# --------------------------------------------------------------------------- writing files


def write_atomically(dest: Path, chunks, sha256: str | None = None) -> Path:
    """Write an iterable of byte strings to ``dest`` atomically and return ``dest``.

    The bytes go to a temporary file with a unique name in ``dest``'s folder, which is renamed
    onto ``dest`` (``os.replace``, atomic) only when complete, so readers see either the old file
    or the whole new one, and concurrent writers never share a temporary file. With ``sha256``,
    the bytes are checked first: on a mismatch ChecksumError is raised and nothing is kept.

    >>> import tempfile; d = Path(tempfile.mkdtemp())
    >>> write_atomically(d / "x.txt", [b"a", b"bc"]).read_bytes(), sorted(p.name for p in d.iterdir())
    (b'abc', ['x.txt'])
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{dest.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
    h = hashlib.sha256()
    try:
        with open(part, "xb") as out:
            for block in chunks:
                out.write(block)
                h.update(block)
        if sha256 is not None and h.hexdigest() != sha256:
            raise ChecksumError(f"the bytes meant for {dest} have sha256 {h.hexdigest()}, expected {sha256}; "
                                "nothing was kept.")
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return dest


def _set_aside(path: Path, problem: Exception, then: str) -> Path:
    """Move a corrupted cache file out of the way (to ``<file>.corrupt``), say so on stderr; return where."""
    bad = path.with_name(path.name + ".corrupt")
    try:
        os.replace(path, bad)
    except FileNotFoundError:   # another process moved it first
        pass
    print(f"labkit: {problem} It was in the cache: moved it to {bad} (delete that file when you like); "
          f"{then}", file=sys.stderr)
    return bad


# --------------------------------------------------------------------------- download


def download(url: str, dest: Path, timeout: float = 30.0, sha256: str | None = None) -> Path:
    """Download ``url`` to ``dest`` with a progress bar (JupyterLab's, or none in batch runs) and return ``dest``.

    Written atomically (see ``write_atomically``): an interrupted or short download, or one whose
    sha256 differs from ``sha256``, leaves nothing behind.

    Example::

        download(BASE_URL + "ml-100k.zip", data_dir() / "ml-100k.zip", sha256=pinned_checksums()["ml-100k.zip"])
    """
    from tqdm.auto import tqdm

    from .frameworks import batch_mode

    def blocks():
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            got = 0
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}",
                      disable=batch_mode()) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    got += len(block)
                    bar.update(len(block))
                    yield block
            if total is not None and got != total:
                raise DataError(f"download of {url} stopped after {got} of {total} bytes")
            if batch_mode():
                print(f"downloaded {url} ({got / 1e6:.1f} MB)")

    return write_atomically(dest, blocks(), sha256)


def _find_local(name: str, sums: dict[str, str]) -> tuple[Path | None, list[str]]:
    """Return (a folder holding every verified file of ``name`` from the cache or mirror, or None;
    notes on what was wrong where). Corrupted cache files are set aside; a corrupted mirror file
    raises ChecksumError."""
    needed = list(FILES[name].values())
    notes = []
    cache = data_dir() / name
    present = [f for f in needed if (cache / f).is_file()]
    good, bad = [], []
    for f in present:
        try:
            good.append(verify_file(cache / f, f"{name}/{f}", sums).name)
        except ChecksumError as exc:
            bad.append(f)
            _set_aside(cache / f, exc, f"{name} is now taken from the mirror or downloaded again.")
    if bad:
        notes.append(f"the cached {', '.join(bad)} {'was' if len(bad) == 1 else 'were'} corrupted and "
                     f"moved aside ({', '.join(f + '.corrupt' for f in bad)} in {cache})")
    if len(good) == len(needed):
        return cache, notes
    if good:
        notes.append(f"the cache folder {cache} holds {', '.join(good)} but lacks "
                     f"{', '.join(f for f in needed if f not in good)}")
    mirror = mirror_dir()
    if mirror is None:
        notes.append("LABKIT_MIRROR is not set")
    elif not (mirror / name).is_dir():
        notes.append(f"LABKIT_MIRROR={mirror} has no {name}/ folder")
    else:
        missing = [f for f in needed if not (mirror / name / f).is_file()]
        if missing:
            notes.append(f"the mirror folder {mirror / name} lacks {', '.join(missing)}")
        else:
            for f in needed:
                try:
                    verify_file(mirror / name / f, f"{name}/{f}", sums)
                except ChecksumError as exc:
                    raise ChecksumError(
                        f"{exc} It is in the offline mirror (LABKIT_MIRROR={mirror}): replace it with the "
                        f"official file, or unset LABKIT_MIRROR to use the cache and downloads instead.") from None
            return mirror / name, notes
    return None, notes


def _available_now(exclude: str = "") -> list[tuple[str, str]]:
    """Return ``[(name, where), ...]`` for the datasets that can be had without a download."""
    here = []
    sums = pinned_checksums()
    for name in REAL_DATASETS:
        if name != exclude:
            try:
                folder, _ = _find_local(name, sums)
            except DataError:
                folder = None
            if folder is not None:
                here.append((name, f"in {folder}"))
    return here + [("synthetic", "generated, ML-100K's formats, small"),
                   ("synthetic-1m", "generated, ML-1M's formats and size")]


def _unavailable(name: str, reason: str, notes: list[str]) -> DataError:
    """The one error for a real dataset that cannot be had: why, how to get it, what to use instead."""
    here = _available_now(exclude=name)
    message = (
        f"MovieLens {name} is not available: {reason}"
        + "".join(f"; {note}" for note in notes)
        + f". To get it, download {official_url(name + '.zip')} and unzip it so that "
        f"{', '.join(FILES[name].values())} lie in {data_dir() / name}/, or point LABKIT_MIRROR at a folder "
        f"holding {name}/ with the official files. Available now without a download: "
        + "; ".join(f"{n} ({where})" for n, where in here)
        + f". To use one, change the parameters cell to DATASET = \"{here[0][0]}\", or to DATASET = \"auto\" "
        "(the notebook's default when it can be had, else ml-100k, else synthetic)."
    )
    return DataError(message, reason)


def fetch(name: str, allow_download: bool = True) -> Path:
    """Return a folder holding the verified files of a real dataset (``ml-1m`` or ``ml-100k``).

    Looks in the cache, then the mirror, then downloads the official zip (unless ``allow_download``
    is False or ``$LABKIT_NO_DOWNLOAD`` is set: the grader's competition re-run sets it), verifies
    it and extracts the files the parsers need into the cache. A corrupted cache file (or cached
    archive) is moved to ``<file>.corrupt`` and fetched again, said on stderr.

    Example::

        fetch("ml-100k") / "u.data"     # e.g. PosixPath('<repo>/data/ml-100k/u.data')
    """
    check_name(name, REAL_DATASETS)
    sums = pinned_checksums()
    folder, notes = _find_local(name, sums)
    if folder is not None:
        return folder
    if not allow_download or os.environ.get("LABKIT_NO_DOWNLOAD"):
        raise _unavailable(name, "not in the cache or the mirror, downloads off", notes)

    # download the archive (verified before it takes its name), extract what is needed
    url, archive = official_url(f"{name}.zip"), data_dir() / f"{name}.zip"
    if archive.is_file():
        try:
            verify_file(archive, f"{name}.zip", sums)
        except ChecksumError as exc:
            _set_aside(archive, exc, f"downloading {name}.zip again.")
    if not archive.is_file():
        try:
            download(url, archive, sha256=sums[f"{name}.zip"])
        except ChecksumError as exc:
            raise ChecksumError(
                f"The download of {url} is corrupted ({exc}) Run again; if it happens again, something "
                f"between you and GroupLens alters the file: download {url} in a browser, check its sha256, "
                f"and unzip it so that {', '.join(FILES[name].values())} lie in {data_dir() / name}/."
            ) from None
        except (urllib.error.URLError, OSError, TimeoutError, DataError) as exc:
            raise _unavailable(name, f"not in the cache or the mirror, and the download failed: {exc}",
                               notes) from None
    cache = data_dir() / name
    with zipfile.ZipFile(archive) as zf:
        for f in FILES[name].values():
            with zf.open(f"{name}/{f}") as src:
                write_atomically(cache / f, iter(lambda: src.read(1 << 20), b""), sums[f"{name}/{f}"])
    return cache


def available(name: str) -> bool:
    """Return True if a dataset can be had without a download (real: cache or mirror, verified).

    >>> available("synthetic-1m"), isinstance(available("ml-100k"), bool)
    (True, True)
    """
    check_name(name, DATASETS)
    if name in SYNTHETIC_PRESETS:
        return True
    try:
        return _find_local(name, pinned_checksums())[0] is not None
    except DataError:
        return False


# --------------------------------------------------------------------------- parsers


def _read_dat(path: Path, names: list[str], encoding: str = "utf-8", dtype=str) -> pd.DataFrame:
    """Read a ``::``-separated ML-1M file (pandas' multi-character separator is slow)."""
    text = Path(path).read_bytes().decode(encoding).replace("::", "\t")
    return pd.read_csv(io.StringIO(text), sep="\t", header=None, names=names, dtype=dtype,
                       quoting=csv.QUOTE_NONE, keep_default_na=False)


def read_ratings(path: Path) -> pd.DataFrame:
    """Parse ``u.data`` (tab-separated) or ``ratings.dat`` (``::``) into the ratings frame.

    Returns columns user_id, item_id, rating, timestamp (all int64) in file order.

    >>> read_ratings(synthetic_folder("synthetic") / "u.data").columns.tolist()
    ['user_id', 'item_id', 'rating', 'timestamp']
    """
    path = Path(path)
    names = ["user_id", "item_id", "rating", "timestamp"]
    if path.suffix == ".dat":
        return _read_dat(path, names, dtype="int64")
    return pd.read_csv(path, sep="\t", header=None, names=names, dtype="int64")


def read_items(path: Path) -> pd.DataFrame:
    """Parse ``u.item`` or ``movies.dat`` (both ISO-8859-1) into item_id, title, genres.

    ``genres`` is a ``|``-joined string in both datasets ("" when none is flagged).

    >>> read_items(synthetic_folder("synthetic") / "u.item").columns.tolist()
    ['item_id', 'title', 'genres']
    """
    path = Path(path)
    if path.suffix == ".dat":
        df = _read_dat(path, ["item_id", "title", "genres"], encoding="ISO-8859-1")
        df["item_id"] = df["item_id"].astype("int64")
        return df
    raw = pd.read_csv(path, sep="|", header=None, encoding="ISO-8859-1", dtype=str, keep_default_na=False)
    flags = raw.iloc[:, 5:5 + len(ML100K_GENRES)].astype(int).to_numpy().astype(bool)
    genres = ["|".join(g for g, on in zip(ML100K_GENRES, row) if on) for row in flags]
    return pd.DataFrame({"item_id": raw[0].astype("int64"), "title": raw[1], "genres": genres})


def read_users(path: Path) -> pd.DataFrame:
    """Parse ``u.user`` or ``users.dat`` into user_id, gender, age, occupation, zip_code.

    ML-1M's occupation codes become the names its README gives (``"programmer"``, ...).

    >>> read_users(synthetic_folder("synthetic") / "u.user").dtypes["age"]
    dtype('int64')
    """
    path = Path(path)
    cols = ["user_id", "gender", "age", "occupation", "zip_code"]
    if path.suffix == ".dat":
        df = _read_dat(path, cols, encoding="ISO-8859-1")
        df["occupation"] = [ML1M_OCCUPATIONS[int(c)] for c in df["occupation"]]
    else:
        df = pd.read_csv(path, sep="|", header=None, dtype=str, keep_default_na=False,
                         names=["user_id", "age", "gender", "occupation", "zip_code"])
    df = df[cols].copy()
    df["user_id"] = df["user_id"].astype("int64")
    df["age"] = df["age"].astype("int64")
    return df


# --------------------------------------------------------------------------- synthetic


def synthetic_spec(name: str = "synthetic", **overrides) -> dict:
    """Return the sizes and format of a synthetic preset (``SYNTHETIC_PRESETS``), with overrides.

    Overriding ``n_users`` or ``n_items`` scales the rest: ``n_ratings`` keeps the preset's
    ratings per user (at most the mean of ``min_per_user`` and ``max_per_user``), and every
    movie is rated, with ids 1..n_items.

    >>> s = synthetic_spec("synthetic-1m"); (s["fmt"], s["n_users"], s["n_ratings"], s["max_item_id"])
    ('ml-1m', 6040, 1000209, 3952)
    """
    check_name(name, tuple(SYNTHETIC_PRESETS))
    preset = SYNTHETIC_PRESETS[name]
    spec = dict(preset, **{k: v for k, v in overrides.items() if v is not None})
    unknown = set(overrides) - set(preset)
    if unknown:
        raise ValueError(f"unknown synthetic setting(s) {sorted(unknown)}; valid: {sorted(preset)}")
    spec["max_per_user"] = min(spec["max_per_user"], spec["n_items"])
    resized = spec["n_users"] != preset["n_users"] or spec["n_items"] != preset["n_items"]
    if resized and "n_ratings" not in overrides:
        per_user = preset["n_ratings"] / preset["n_users"]
        spec["n_ratings"] = int(spec["n_users"] * min(per_user, (spec["min_per_user"] + spec["max_per_user"]) / 2))
    if resized:
        spec["n_movies"] = spec["max_item_id"] = spec["n_items"]
        spec["max_per_item"] = None
    return spec


def _ratings_per_user(rng, n: int, total: int, lo: int, hi: int) -> np.ndarray:
    """Heavy-tailed (log-normal) ratings per user: exactly ``total``, each in [lo, hi], one user at hi."""
    if not (n - 1) * lo + hi <= total <= n * hi:
        raise ValueError(f"{total} ratings cannot be spread over {n} users with {lo}..{hi} each")
    x = rng.lognormal(0.0, 1.0, n)
    top, rest = int(np.argmax(x)), np.delete(x, int(np.argmax(x)))
    target, a_lo, a_hi = total - hi, 0.0, hi / rest.min()
    for _ in range(100):   # bisection: the scale at which the capped counts add up to the target
        a = (a_lo + a_hi) / 2
        a_lo, a_hi = (a, a_hi) if np.minimum(lo + a * rest, hi).sum() < target else (a_lo, a)
    want = np.minimum(lo + a * rest, hi)
    counts = np.floor(want).astype(np.int64)
    by_remainder = np.argsort(counts - want, kind="stable")     # largest fractional part first
    counts[by_remainder[counts[by_remainder] < hi][: target - counts.sum()]] += 1
    return np.insert(counts, top, hi)


def synthetic_ratings(spec: dict, seed: int = 0) -> pd.DataFrame:
    """Generate the ratings of a synthetic set: user_id, item (0-based index), rating, timestamp.

    * users: a heavy-tailed (log-normal) number of ratings each, between ``min_per_user`` and
      ``max_per_user``, one user at the maximum, ``n_ratings`` in all;
    * items: skewed popularity (log-normal weights), every one of the ``n_items`` rated at least
      once; with ``max_per_item`` the most popular item has exactly that many ratings;
    * sequence: items lie on a hidden circular order; each user likes a window of it and watches
      their items in that order (with a little noise), so consecutive items are related and a
      user's next item lies a little further along: a signal sequence models can learn;
    * timestamps: sessions, each user's history spread over their own share of ``time_range``
      (most short, a few long), strictly increasing per user; ratings 1-5 in ML-1M's
      proportions, higher for popular items and for items inside the user's window.

    Rows are grouped by user and in time order. Vectorised; same spec and seed, same frame.

    >>> r = synthetic_ratings(synthetic_spec("synthetic", n_users=30, n_items=50), seed=1)
    >>> len(r), r.groupby("user_id").size().min() >= 20, r.item.nunique()
    (1050, True, 50)
    """
    rng = np.random.default_rng(seed)
    n_users, n_items = spec["n_users"], spec["n_items"]
    per_user = _ratings_per_user(rng, n_users, spec["n_ratings"], spec["min_per_user"], spec["max_per_user"])
    popularity = np.exp(1.6 * np.minimum(rng.standard_normal(n_items), 2.6))
    position = rng.permutation(n_items)                    # each item's place on the hidden circle
    centre = rng.integers(n_items, size=n_users)           # the middle of each user's window
    width = 0.08 * n_items
    dist = np.arange(n_items)
    affinity = np.exp(-0.5 * (np.minimum(dist, n_items - dist) / width) ** 2)   # by circular distance

    # The most popular item goes to exactly max_per_item users (heavier users more likely).
    top = int(np.argmax(popularity))
    has_top = np.zeros(n_users, dtype=bool)
    if spec["max_per_item"]:
        has_top[np.argsort(rng.standard_exponential(n_users) / per_user, kind="stable")[: spec["max_per_item"]]] = True
        popularity[top] = 0.0
    slots = per_user - has_top

    # Weighted sampling without replacement for all users at once (exponential keys / weight, the
    # k smallest), in chunks of users with similar k so that a partial sort suffices.
    users, items = [np.flatnonzero(has_top)], [np.full(has_top.sum(), top)]
    by_slots = np.argsort(slots, kind="stable")
    for chunk in np.array_split(by_slots, max(1, n_users // 256)):
        k = slots[chunk]
        weight = popularity[None, :] * (1.0 + 4.0 * affinity[(position[None, :] - centre[chunk, None]) % n_items])
        with np.errstate(divide="ignore"):
            keys = rng.standard_exponential(weight.shape) / weight
        kmax = int(k.max())
        part = np.argpartition(keys, kmax - 1, axis=1)[:, :kmax] if kmax < n_items else np.argsort(keys, axis=1)
        part = np.take_along_axis(part, np.argsort(np.take_along_axis(keys, part, axis=1), axis=1), axis=1)
        rows, cols = np.nonzero(np.arange(kmax)[None, :] < k[:, None])
        users.append(chunk[rows])
        items.append(part[rows, cols])
    users, items = np.concatenate(users), np.concatenate(items)
    order = np.argsort(users, kind="stable")
    users, items = users[order], items[order]

    # Every item rated: each unrated item replaces the most-rated item (not the top one) of a heavy user.
    counts = np.bincount(items, minlength=n_items)
    starts = np.concatenate([[0], np.cumsum(per_user)])
    heavy = np.argsort(-per_user, kind="stable")
    for j, u in zip(np.flatnonzero(counts == 0), np.resize(heavy, int((counts == 0).sum()))):
        rows = np.arange(starts[u], starts[u + 1])
        row = rows[np.argmax(np.where(items[rows] == top, -1, counts[items[rows]]))]
        counts[items[row]] -= 1
        items[row], counts[j] = j, 1
    if spec["max_per_item"] and np.sort(counts)[-2] >= spec["max_per_item"]:
        raise ValueError("an item other than the most popular reached max_per_item; lower the popularity skew")

    # Watch order: from a little before the user's window onwards along the circle, with noise.
    along = (position[items] - centre[users] + 2 * width) % n_items + rng.normal(0.0, 0.01 * n_items, len(items))
    order = np.lexsort((along, users))
    items = items[order]
    near = affinity[(position[items] - centre[users]) % n_items]

    # Timestamps: sessions (short gaps, ~30 times longer between sessions), each user's history
    # stretched over their own share of time_range (most short, a few long); strictly increasing.
    start, end = spec["time_range"]
    first_row, within = starts[:-1], np.arange(len(items)) - np.repeat(starts[:-1], per_user)
    gaps = rng.standard_exponential(len(items)) * np.where(rng.random(len(items)) < 0.04, 30.0, 1.0)
    gaps[first_row] = 0.0
    offset = np.cumsum(gaps)
    offset -= np.repeat(offset[first_row], per_user)
    share = rng.beta(0.7, 2.0, n_users) * (end - start - per_user) / np.maximum(offset[starts[1:] - 1], 1e-9)
    offset = np.floor(offset * np.repeat(share, per_user)).astype(np.int64) + within
    first = start + np.floor(rng.random(n_users) * (end - start - offset[starts[1:] - 1])).astype(np.int64)
    timestamps = np.repeat(first, per_user) + offset

    # Ratings 1-5 in ML-1M's proportions: item quality (partly popularity), user bias, taste.
    log_pop = np.log(np.maximum(popularity, popularity[popularity > 0].min()))
    quality = 0.5 * (log_pop - log_pop.mean()) / log_pop.std() + 0.5 * rng.standard_normal(n_items)
    score = quality[items] + rng.normal(0.0, 0.5, n_users)[users] + 0.8 * near + rng.standard_normal(len(items))
    cuts = np.quantile(score, np.cumsum([0.056, 0.108, 0.261, 0.349]))
    ratings = 1 + np.searchsorted(cuts, score, side="right")
    return pd.DataFrame({"user_id": users + 1, "item": items, "rating": ratings, "timestamp": timestamps})


_TITLE_WORDS = (
    ["Silent", "Last", "Little", "Lost", "Golden", "Dark", "Long", "Secret", "Wild", "Broken", "Blue",
     "Hidden", "Crazy", "Sweet", "Cold", "Red"],
    ["River", "Night", "City", "Garden", "Road", "Summer", "Island", "Kingdom", "Dream", "Mirror",
     "Storm", "Letter", "Station", "Harbour", "Voyage", "Winter"],
    ["Café", "Señor", "Fräulein", "Château", "Amélie"],   # ISO-8859-1, as in MovieLens' titles
)


def _movies(rng, n: int) -> tuple[list[str], np.ndarray]:
    """Titles "Name (Year)" in MovieLens' styles and a (n, 18) genre-flag matrix (ML-1M's genres)."""
    adjective, noun, latin = _TITLE_WORDS
    a, b, c = (rng.integers(len(w), size=n) for w in _TITLE_WORDS)
    years = 2000 - np.minimum(rng.geometric(0.07, size=n) - 1, 81)
    titles = []
    for k in range(n):
        t = f"{adjective[a[k]]} {noun[b[k]]}"
        if k % 7 == 3:
            t = f"{noun[b[k]]}, The"
        elif k % 23 == 5:
            t = f"{latin[c[k]]} {noun[b[k]]}"
        elif k % 31 == 7:
            t = f"{t} 2"
        elif k % 41 == 11:
            t = f"{t} (a.k.a. {noun[c[k]]})"
        titles.append(f"{t} ({years[k]})")
    genre_weight = np.array([5, 3, 1, 1.5, 7, 2, 0.8, 9, 1, 0.3, 2, 0.8, 0.6, 2.5, 1.5, 3, 0.8, 0.4])
    n_genres = 1 + rng.binomial(2, 0.35, size=n)
    ranks = np.argsort(np.argsort(rng.standard_exponential((n, len(genre_weight))) / genre_weight, axis=1), axis=1)
    return titles, ranks < n_genres[:, None]


def write_synthetic(folder: Path, name: str = "synthetic", seed: int = 0, **overrides) -> Path:
    """Write a synthetic dataset in the file formats of the set it imitates; return the folder.

    ``name`` picks the preset (``SYNTHETIC_PRESETS``): ``"synthetic"`` writes ML-100K's files
    (``u.data``, ``u.item``, ``u.user``), ``"synthetic-1m"`` ML-1M's (``ratings.dat``, ``movies.dat``
    ISO-8859-1 with "Title (Year)" and "Genre|Genre", ``users.dat`` with ML-1M's age and
    occupation codes) with ML-1M's counts, movie ids up to 3,952 with gaps and some movies
    unrated. ``overrides`` change sizes (``n_users=30, n_items=50``; see ``synthetic_spec``).
    The ratings come from ``synthetic_ratings``. Every file is written atomically, then
    ``manifest.sha256`` (their sha256 and the settings) last. Same settings and seed, same bytes.

    >>> import tempfile; d = write_synthetic(Path(tempfile.mkdtemp()), n_users=30, n_items=150)
    >>> read_ratings(d / "u.data").groupby("user_id").size().min() >= 20
    True
    """
    spec = synthetic_spec(name, **overrides)
    folder = Path(folder)
    rng = np.random.default_rng([seed, 1])   # side information: a stream apart from the ratings'
    ratings = synthetic_ratings(spec, seed)
    n_items, n_movies, top_id = spec["n_items"], spec["n_movies"], spec["max_item_id"]
    # movie ids 1..max_item_id with gaps, n_movies of them; n_items of those were rated
    ids = np.arange(1, top_id + 1)
    if n_movies < top_id:
        ids = np.sort(np.concatenate([[1, top_id], rng.choice(np.arange(2, top_id), n_movies - 2, replace=False)]))
    rated = np.sort(rng.choice(n_movies, n_items, replace=False)) if n_items < n_movies else np.arange(n_movies)
    ratings["item_id"] = ids[rated][ratings.pop("item").to_numpy()]
    titles, flags = _movies(rng, n_movies)
    n_users = spec["n_users"]
    gender = np.where(rng.random(n_users) < 0.72, "M", "F")
    zips = [f"{z:05d}" for z in rng.integers(1000, 99999, n_users)]

    if spec["fmt"] == "ml-1m":   # grouped by user, each user's rows in no particular order, as ML-1M
        rows = ratings.iloc[np.lexsort((rng.random(len(ratings)), ratings.user_id.to_numpy()))]
        line = "%d::%d::%d::%d\n"
        genres = ["|".join(g for g, on in zip(ML1M_GENRES, row) if on) for row in flags]
        items = [f"{i}::{t}::{g}\n" for i, t, g in zip(ids, titles, genres)]
        age = rng.choice([1, 18, 25, 35, 45, 50, 56], n_users, p=[.04, .18, .35, .20, .09, .08, .06])
        occupation = rng.integers(len(ML1M_OCCUPATIONS), size=n_users)
        zips = [z + (f"-{rng.integers(1000, 9999)}" if k % 97 == 5 else "") for k, z in enumerate(zips)]
        sep, user_columns = "::", (gender, age, occupation, zips)
    else:                        # ML-100K: u.data in no particular order, genre flags in u.item
        rows = ratings.iloc[rng.permutation(len(ratings))]
        line = "%d\t%d\t%d\t%d\n"
        flags = np.concatenate([~flags.any(axis=1, keepdims=True), flags], axis=1).astype(int)
        items = [f"{i}|{t}|01-Jan-{t[-5:-1]}||http://example.invalid/{i}|" + "|".join(map(str, f)) + "\n"
                 for i, t, f in zip(ids, titles, flags)]
        age = rng.integers(7, 74, n_users)
        occupation = rng.choice(ML100K_OCCUPATIONS, n_users)
        sep, user_columns = "|", (age, gender, occupation, zips)
    columns = (rows[c].tolist() for c in ("user_id", "item_id", "rating", "timestamp"))
    texts = {FILES[name]["ratings"]: "".join([line % r for r in zip(*columns)]),
             FILES[name]["items"]: "".join(items),
             FILES[name]["users"]: "".join(sep.join(map(str, row)) + "\n"
                                           for row in zip(range(1, n_users + 1), *user_columns))}
    manifest = _manifest_header(name, seed, spec)
    for f, text in texts.items():
        raw = text.encode("ISO-8859-1")
        write_atomically(folder / f, [raw])
        manifest += f"{hashlib.sha256(raw).hexdigest()}  {f}\n"
    write_atomically(folder / MANIFEST, [manifest.encode()])
    return folder


def _manifest_header(name: str, seed: int, spec: dict) -> str:
    """The manifest's first line: the settings and a hash of the generator's code, so that a set
    written by other settings or another version of the generator is written again."""
    import inspect

    code = "".join(inspect.getsource(f) for f in (_ratings_per_user, synthetic_ratings, _movies, write_synthetic))
    version = hashlib.sha256((code + repr(_TITLE_WORDS)).encode()).hexdigest()[:12]
    return f"# labkit synthetic data, generator {version}: {name} seed {seed} {json.dumps(spec, sort_keys=True)}\n"


def synthetic_problem(folder: Path, name: str = "synthetic", seed: int = 0) -> str | None:
    """Return what is wrong with a synthetic set in ``folder`` (None if its manifest vouches for it).

    >>> synthetic_problem(Path("/nonexistent"))
    'no manifest.sha256'
    """
    manifest = Path(folder) / MANIFEST
    if not manifest.is_file():
        return f"no {MANIFEST}"
    lines = manifest.read_text(errors="replace").splitlines(keepends=True)
    if not lines or lines[0] != _manifest_header(name, seed, synthetic_spec(name)):
        return f"{MANIFEST} is for other settings or another version of the generator"
    listed = {f.strip(): digest for digest, f in (line.split(maxsplit=1) for line in lines[1:] if " " in line)}
    for f in FILES[name].values():
        if f not in listed:
            return f"{MANIFEST} does not list {f}"
        if not (Path(folder) / f).is_file():
            return f"{f} is missing"
        if sha256_of(Path(folder) / f) != listed[f]:
            return f"{f} differs from what was written (truncated or edited)"
    return None


def synthetic_folder(name: str = "synthetic", seed: int = 0) -> Path:
    """Return the folder of a synthetic set (``data/<name>-<seed>/``), written on first use.

    Its files are checked against its manifest on every call. A set without a manifest (never
    finished, or from an older labkit) is written again; a damaged one too, said on stderr.

    >>> (synthetic_folder("synthetic") / "u.data").is_file()
    True
    """
    folder = data_dir() / f"{name}-{seed}"
    problem = synthetic_problem(folder, name, seed)
    if problem:
        if (folder / MANIFEST).is_file():   # no manifest: never finished (or an older labkit); quietly
            print(f"labkit: the synthetic set in {folder} is damaged ({problem}); writing it again.",
                  file=sys.stderr)
        write_synthetic(folder, name, seed)
    return folder


# --------------------------------------------------------------------------- loading


@dataclass
class MovieLens:
    """One loaded dataset: its name, the folder it came from, and the three frames."""

    name: str
    folder: Path
    ratings: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame

    def __repr__(self) -> str:
        return (f"MovieLens({self.name!r}: {len(self.ratings):,} ratings, "
                f"{self.ratings.user_id.nunique():,} users, {self.ratings.item_id.nunique():,} items, "
                f"from {self.folder})")


def resolve(name: str, default: str = "ml-1m", allow_download: bool = True, verbose: bool = True) -> str:
    """Turn ``name`` into a concrete dataset name and say which one was chosen.

    ``auto`` means ``default`` if it can be had (cache, mirror, or download), else ``ml-100k``,
    else ``synthetic`` (never ``synthetic-1m``: ask for it by name). Falling back is announced on
    stderr with the reasons, never silent.

    >>> resolve("ml-100k", verbose=False)
    'ml-100k'
    """
    check_name(name)
    if name != "auto":
        return name
    check_name(default, DATASETS)
    order = [default] + [n for n in ("ml-100k", "synthetic") if n != default]
    reasons = []
    for candidate in order:
        if candidate in SYNTHETIC_PRESETS:
            chosen = candidate
            break
        try:
            fetch(candidate, allow_download=allow_download)
            chosen = candidate
            break
        except ChecksumError:
            raise
        except DataError as exc:
            reasons.append(f"{candidate}: {exc.reason}")
    if verbose:
        if chosen == default:
            print(f"DATASET='auto' -> {chosen!r}")
        else:  # stderr: shown in red in Jupyter and in CI logs
            print(f"*** DATASET='auto' -> {chosen!r}: the default {default!r} could not be had ("
                  + "; ".join(reasons) + f"). Results are for {chosen}, not {default}. ***", file=sys.stderr)
    return chosen


def load(name: str = "auto", default: str = "ml-1m", allow_download: bool = True) -> MovieLens:
    """Load a dataset by name and return a MovieLens.

    ``name`` is one of ``DATASET_CHOICES``: ``ml-1m``, ``ml-100k``, ``synthetic``, ``synthetic-1m``
    or ``auto`` (see ``resolve``); ``default`` is the notebook's own dataset, used by ``auto``.
    Synthetic sets are written on first use (``synthetic-1m`` takes a few seconds) and read by
    the parsers of the format they imitate.

    >>> ml = load("synthetic"); ml.ratings.columns.tolist()
    ['user_id', 'item_id', 'rating', 'timestamp']
    """
    name = resolve(name, default=default, allow_download=allow_download)
    if name in SYNTHETIC_PRESETS:
        folder = synthetic_folder(name)
    else:
        folder = fetch(name, allow_download=allow_download)
    files = FILES[name]
    return MovieLens(
        name=name,
        folder=folder,
        ratings=read_ratings(folder / files["ratings"]),
        items=read_items(folder / files["items"]),
        users=read_users(folder / files["users"]),
    )


# --------------------------------------------------------------------------- tutorial files (notebook 07)


def tutorial_files(ml: MovieLens, folder: Path, n_test: int = 10) -> dict[str, Path]:
    """Write the Funk-SVD tutorial's four CSV files from a loaded dataset; return their paths.

    * ``ratings_train.csv`` / ``ratings_test.csv``: UserID, MovieID, Rating, Timestamp, sorted by
      Timestamp (stable: file order breaks ties). The test file holds each user's ``n_test``
      latest ratings; ratings tied with the cut (same timestamp as the ``n_test``-th latest) go to
      test too, so a user can have a few more than ``n_test`` test rows.
    * ``users.csv``: UserID, Gender, Age, Occupation, ZipCode; ``movies.csv``: MovieID, Title, Genres.

    Ids are 0-based (raw id - 1), as in the tutorial, so MovieIDs keep the dataset's gaps.
    Each file is written atomically (see ``write_atomically``).

    >>> import tempfile; paths = tutorial_files(load("synthetic"), Path(tempfile.mkdtemp()))
    >>> sorted(paths)
    ['movies', 'ratings_test', 'ratings_train', 'users']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    r = ml.ratings.rename(columns={"user_id": "UserID", "item_id": "MovieID", "rating": "Rating",
                                   "timestamp": "Timestamp"})
    r = r.assign(UserID=r.UserID - 1, MovieID=r.MovieID - 1).sort_values("Timestamp", kind="stable")
    # the n_test-th latest timestamp of each user: everything at or after it is test
    newest_first = r.sort_values(["UserID", "Timestamp"], ascending=[True, False], kind="stable")
    at_cut = newest_first[newest_first.groupby("UserID").cumcount() == n_test - 1]
    nth_latest = pd.Series(at_cut["Timestamp"].to_numpy(), index=at_cut["UserID"].to_numpy())
    cut = r["UserID"].map(nth_latest).fillna(-np.inf)   # users with < n_test ratings: all test
    is_test = r["Timestamp"].to_numpy() >= cut.to_numpy()
    users = ml.users.rename(columns={"user_id": "UserID", "gender": "Gender", "age": "Age",
                                     "occupation": "Occupation", "zip_code": "ZipCode"})
    movies = ml.items.rename(columns={"item_id": "MovieID", "title": "Title", "genres": "Genres"})
    frames = {
        "ratings_train": r[~is_test], "ratings_test": r[is_test],
        "users": users.assign(UserID=users.UserID - 1), "movies": movies.assign(MovieID=movies.MovieID - 1),
    }
    paths = {}
    for name, frame in frames.items():
        paths[name] = folder / f"{name}.csv"
        write_atomically(paths[name], [frame.to_csv(index=False).encode("utf-8")])
    return paths
