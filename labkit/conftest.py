"""pytest's doctest collection of labkit: ``labkit/gluon.py`` imports MXNet, so where MXNet cannot be
had (macOS on Apple Silicon, Windows, or ``LABKIT_HIDE_MXNET=1``) it is not collected, and the
session header says why."""

from labkit.frameworks import unavailable

_WHY = unavailable("mxnet")
collect_ignore = ["gluon.py"] if _WHY else []


def pytest_report_header(config):
    return [f"labkit/gluon.py doctests not collected: {_WHY}"] if _WHY else []
