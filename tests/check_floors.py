"""Floors after a full run (``make run``): one test per floor, read back from build/report.json.

Not part of ``make test`` (it needs the full run); ``make run`` calls it after executing the
notebooks. A floor marked ``expected_fail`` in labkit.report.EXPECTATIONS is an xfail with its
measured reason, never a pass.
"""

import json
from pathlib import Path

import pytest

from labkit import report

REPORT = Path(__file__).resolve().parents[1] / "build" / "report.json"


def _cases():
    if not REPORT.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{REPORT} missing: run `make run`"))]
    cases = []
    for entry in json.loads(REPORT.read_text())["notebooks"]:
        if entry.get("skipped"):  # a framework this machine cannot have (MXNet on a Mac)
            cases.append(pytest.param(None, marks=pytest.mark.skip(reason=entry["skipped"]),
                                      id=f"{entry['notebook']}:skipped"))
        for floor in entry["floors"]:
            marks = [pytest.mark.xfail(reason=floor["expected_fail"], strict=False)] if floor["expected_fail"] else []
            cases.append(pytest.param((entry, floor), marks=marks, id=f"{entry['notebook']}:{floor['metric']}"))
        for fact in entry.get("facts", []):
            cases.append(pytest.param((entry, {"fact": fact}), id=f"{entry['notebook']}:fact:{fact['name']}"))
    return cases


@pytest.mark.parametrize("case", _cases())
def test_floor_after_full_run(case):
    entry, floor = case
    assert entry["error"] is None, f"{entry['notebook']} failed: {entry['error']}"
    if "fact" in floor:
        fact = floor["fact"]
        assert fact["value"] == fact["expected"], f"{fact['name']} on {entry['dataset']}"
        return
    value, bound = floor["value"], floor["bound"]
    assert value is not None and bound is not None, f"{floor['metric']} or its bound was not recorded"
    assert value >= bound, f"{floor['metric']} = {value:.4f} < {floor['at_least']} ({bound:.4f}) on {entry['dataset']}"
