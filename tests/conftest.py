"""Shared fixtures: an isolated data folder, no mirror, and a fake network."""

import io
import urllib.error
import zipfile
from pathlib import Path

import pytest

from labkit import data

# The longest work first, so that pytest-xdist's workers end together (`make test`): each lesson's group
# (its smoke run and nbval, the longest lessons first), then the tests that mostly wait (the package
# index, sandboxes, fresh interpreters), then the rest in file order.
SLOW_FIRST = ["[07_funk_svd]", "[06_two_tower]", "[02_lstm_sequential]", "[04_neumf]", "[03_ranking_losses]",
              "[05_caser]", "[01b_baselines]", "[01_data_preparation]", "requirements_resolve", "toy_round_trip",
              "seed_everything_makes_each_framework_repeat", "hidden_mxnet_skips", "make_lab", "tests/test_gpu_path.py"]


def pytest_collection_modifyitems(config, items):
    def rank(item):
        return next((i for i, key in enumerate(SLOW_FIRST) if key in item.nodeid), len(SLOW_FIRST))

    items.sort(key=rank)  # stable: each group's tests and the rest keep their order


# The offline MovieLens mirror the tests that need real data read: $LABKIT_MIRROR (CI sets it), read
# here at import, before fixtures such as `isolated` unset it. None when unset.
REAL_MIRROR = data.mirror_dir()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty cache folder, no mirror, and a network that is down (DNS failure)."""
    monkeypatch.setenv("LABKIT_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LABKIT_MIRROR", raising=False)

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known (test: offline)")

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    return tmp_path


class FakeResponse(io.BytesIO):
    """A urlopen() response serving ``body``; with ``fail_after`` it breaks mid-transfer."""

    def __init__(self, body: bytes, fail_after: int | None = None, length: int | None = None):
        super().__init__(body)
        self.fail_after = fail_after
        self.headers = {"Content-Length": str(length if length is not None else len(body))}

    def read(self, n=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError("test: connection reset mid-download")
        return super().read(n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def synthetic_zip(tmp_path: Path, name: str = "ml-100k") -> bytes:
    """A zip laid out like GroupLens' archive, holding synthetic files in ML-100K format."""
    folder = data.write_synthetic(tmp_path / "zipsrc", n_users=25, n_items=40, seed=1)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in data.FILES["ml-100k"].values():
            zf.write(folder / f, f"{name}/{f}")
    return buf.getvalue()
