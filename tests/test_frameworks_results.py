"""labkit.frameworks (shim, seeding), labkit.results (record / read back), labkit.report (floors)."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from labkit import report, results
from labkit.frameworks import unavailable

ROOT = Path(__file__).resolve().parents[1]
needs_mxnet = pytest.mark.skipif(unavailable("mxnet") is not None, reason=str(unavailable("mxnet")))


def test_numpy_bool_shim_lives_in_one_place():
    hits = [p for p in list((ROOT / "labkit").rglob("*.py")) + list((ROOT / "notebooks").glob("*.ipynb"))
            if "np.bool = " in p.read_text()]
    assert [p.relative_to(ROOT).as_posix() for p in hits] == ["labkit/frameworks.py"]


def _fresh(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=ROOT).stdout.strip()


@needs_mxnet
def test_import_mxnet_works_in_a_fresh_interpreter():
    out = _fresh("from labkit import import_mxnet; mx = import_mxnet(); "
                 "print(mx.__version__, mx.nd.array([1, 2]).sum().asscalar())")
    assert out == "1.9.1 3.0"


@needs_mxnet
def test_seed_everything_makes_each_framework_repeat():
    code = """
import random, numpy as np, torch, tensorflow as tf
from labkit import seed_everything, import_mxnet
mx = import_mxnet()
def draw():
    return (random.random(), float(np.random.rand()), float(torch.rand(1)),
            float(tf.random.uniform(())), float(mx.nd.random.uniform(shape=(1,)).asscalar()))
seed_everything(7); a = draw(); seed_everything(7); b = draw(); seed_everything(8); c = draw()
print(a == b, all(x != y for x, y in zip(a, c)))
"""
    assert _fresh(code).splitlines()[-1] == "True True"


def test_seed_everything_does_not_import_frameworks():
    out = _fresh("import sys; from labkit import seed_everything; seed_everything(1); "
                 "print(any(m in sys.modules for m in ('torch', 'tensorflow', 'mxnet')))")
    assert out == "False"


def _notebook_with_records(path: Path, code: str) -> Path:
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    NotebookClient(nb, kernel_name=report.KERNEL, timeout=120).execute()
    nbformat.write(nb, path)
    return path


def test_record_round_trip_through_an_executed_notebook(tmp_path):
    nb = _notebook_with_records(tmp_path / "r.ipynb", "import numpy as np\nfrom labkit import record\n"
                                "record('dataset', 'ml-100k')\nrecord('hit@10', np.float32(0.25))\n"
                                "record('users', np.int64(943))\nrecord('users', 944)")
    assert results.read_records(nb) == {"dataset": "ml-100k", "hit@10": 0.25, "users": 944}
    outputs = json.loads(nb.read_text())["cells"][0]["outputs"]
    assert ["".join(o["data"]["text/plain"]) for o in outputs] == [
        "dataset = ml-100k", "hit@10 = 0.2500", "users = 943", "users = 944"]  # nothing else shown
    assert results.notebook_errors(nb) == []


def test_floors_compare_with_numbers_and_with_other_records(monkeypatch):
    monkeypatch.setitem(report.EXPECTATIONS, "99_x", {"floors": [
        {"metric": "model/hit@10", "at_least": "popularity/hit@10"},
        {"metric": "model/auc", "at_least": 0.753},
        {"metric": "model/ndcg@10", "at_least": 0.5, "expected_fail": "known gap"},
    ]})
    rows = report.check_floors("99_x", {"dataset": "ml-100k", "model/hit@10": 0.2, "popularity/hit@10": 0.1,
                                        "model/auc": 0.7, "model/ndcg@10": 0.1})
    assert [r["ok"] for r in rows] == [True, False, False]
    assert report.check_floors("99_x", {"dataset": "ml-1m"})[0]["ok"] is False  # a missing record never passes
    # floors are about real MovieLens: synthetic data has none
    assert report.check_floors("99_x", {"dataset": "synthetic-1m", "model/auc": 0.1}) == []


def test_report_marks_missed_floor_and_failure(tmp_path, monkeypatch):
    monkeypatch.setitem(report.EXPECTATIONS, "99_x", {"floors": [{"metric": "m", "at_least": 1.0}]})
    nb = _notebook_with_records(tmp_path / "99_x.ipynb", "from labkit import record\nrecord('dataset', 'ml-100k')\nrecord('m', 0.5)")
    entry = report.summarise("99_x", nb, 1.0)
    assert entry["status"] == "floor missed" and entry["dataset"] == "ml-100k"
    (tmp_path / "s").mkdir()
    synthetic = _notebook_with_records(tmp_path / "s" / "99_x.ipynb", "from labkit import record\nrecord('dataset', 'synthetic')\nrecord('m', 0.5)")
    assert report.summarise("99_x", synthetic, 1.0)["status"] == "ok (synthetic data: no floors)"
    assert report.summarise("99_x", tmp_path / "none.ipynb", None, "boom")["status"] == "failed"
    _, md = report.write_report([entry], tmp_path)
    text = md.read_text()
    assert "| [99_x](full/99_x.ipynb) | ml-100k |  | 1 |  | floor missed | 0/1 |" in text
    assert "MISSED" in text


def test_report_tables_read_intervals_and_compute_verdicts(tmp_path, monkeypatch):
    monkeypatch.setitem(report.EXPECTATIONS, "99_x", {
        "title": "x", "model": "m", "rows": ["popularity", "ease"], "unseen": "popularity",
        "metrics": ["hit@10"], "seed": {"m/hit@10": 0.3}, "seed_dataset": "ml-1m", "floors": [], "headline": ["m/hit@10"]})
    code = ("import numpy as np\nfrom labkit import stats, record\nfrom labkit.results import show\n"
            "record('dataset', 'ml-100k')\nrecord('best_baseline', 'ease')\n"
            "pu = {'M': {'hit@10': np.r_[np.ones(40), np.zeros(60)]}, 'P': {'hit@10': np.r_[np.ones(10), np.zeros(90)]},"
            " 'E': {'hit@10': np.r_[np.zeros(55), np.ones(45)]}}\n"
            "show(stats.estimates(pu), stats.differences(pu, [('M', 'P'), ('M', 'E')]), {'M': 'm', 'P': 'popularity', 'E': 'ease'})")
    nb = _notebook_with_records(tmp_path / "99_x.ipynb", code)
    outputs = json.loads(nb.read_text())["cells"][0]["outputs"]
    assert len(outputs) == 3  # two records, then the table once (show ending a cell returns nothing to display)
    entry = report.summarise("99_x", nb, 1.0)
    table = {r["name"]: r for r in report.protocol_table(entry)}
    assert list(table) == ["m", "popularity", "ease"] and table["ease"]["best"]
    value, low, high = table["m"]["cells"]["hit@10"]
    assert value == 0.4 and low < 0.4 < high
    verdicts = {v["other"]: v["verdict"] for v in report.verdict_rows(entry)}
    assert verdicts == {"popularity": "beats", "ease": "no clear difference"}
    (row,) = report.comparison_rows([entry])
    assert row["best_name"] == "ease" and row["verdicts"] == verdicts and row["source"] == 0.3
    md = "\n".join(report.protocol_markdown(entry))
    assert "EASE (strongest baseline on validation)" in md and "**beats**" in md and "source (ml-1m)" in md


def test_compare_reports_ignores_timings_and_rounds(tmp_path):
    def write(name, value, seconds):
        path = tmp_path / name
        path.write_text(json.dumps({"notebooks": [{"notebook": "02_x", "records": {
            "dataset": "ml-100k", "m": value, "seconds_per_epoch": seconds}}]}))
        return path

    a = write("a.json", 0.123456, 3.0)
    assert report.compare(a, write("b.json", 0.123461, 9.0)) == []  # equal at 4 decimals, timing ignored
    assert report.compare(a, write("c.json", 0.1236, 3.0)) == ["02_x m: 0.1235 vs 0.1236"]


def test_parameter_values_prefers_injected(tmp_path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("DATASET = 'ml-1m'\nEPOCHS = 10\nA, B = 1, 2")
    params.metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell("DATASET = 'auto'")
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells = [params, injected]
    nbformat.write(nb, tmp_path / "p.ipynb")
    assert report.parameter_values(tmp_path / "p.ipynb") == {"DATASET": "auto", "EPOCHS": 10, "A": 1, "B": 2}
    assert report.parameter_names(tmp_path / "p.ipynb") == {"DATASET", "EPOCHS", "A", "B"}


def test_the_report_reads_the_same_verdict_as_the_notebook():
    """A difference the notebook's sign test withholds (4 of 4 differing users) must not read "beats" in
    the report, which sees only what was recorded."""
    import numpy as np

    from labkit import report, results, stats

    a, b = np.zeros(40), np.zeros(40)
    a[:4] = 1.0                      # 4 users differ, all in favour of a
    d = stats.paired_difference(a, b, seed=0)
    assert d.low > 0 and stats.verdict(d) == "no clear difference"
    entry = results._entry("a_vs_b/hit@10", d)
    rows = report.verdict_rows({"records": {entry["name"]: entry["value"]},
                                "intervals": {entry["name"]: tuple(entry["ci"])},
                                "tests": {entry["name"]: entry["test"]}})
    assert [r["verdict"] for r in rows] == ["no clear difference"]
    assert report.verdict_of(tuple(entry["ci"])) == "beats"    # what the interval alone would have said
