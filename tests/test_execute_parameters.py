"""labkit.report.execute refuses parameters a notebook does not define (papermill only warns)."""

import nbformat
import pytest

from labkit import report


def _notebook(path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('DATASET = "ml-1m"\nSEED = 0')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("print(DATASET)")]
    nb.metadata["kernelspec"] = {"name": report.KERNEL, "language": "python", "display_name": "Python 3"}
    nbformat.write(nb, path)
    return path


def test_misspelt_parameter_is_refused_before_executing(tmp_path):
    nb = _notebook(tmp_path / "99_x.ipynb")
    out = tmp_path / "out" / "99_x.ipynb"
    with pytest.raises(ValueError) as err:
        report.execute(nb, out, {"DATSET": "synthetic", "SEED": 1})
    assert str(err.value) == ("99_x.ipynb has no parameter 'DATSET': its parameters cell defines DATASET, SEED. "
                              "Check the spelling.")
    assert not out.exists()          # nothing was executed


def test_notebook_without_parameters_cell_takes_none(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, tmp_path / "98_y.ipynb")
    with pytest.raises(ValueError, match="has no parameter 'X': its parameters cell defines nothing"):
        report.execute(tmp_path / "98_y.ipynb", tmp_path / "out.ipynb", {"X": 2})


def test_known_parameters_still_run(tmp_path):
    out = tmp_path / "out.ipynb"
    report.execute(_notebook(tmp_path / "97_z.ipynb"), out, {"DATASET": "synthetic"}, timeout=120)
    printed = nbformat.read(out, as_version=4).cells[-1].outputs[0]["text"]
    assert printed.strip() == "synthetic"


def test_the_quick_ml1m_pass_sets_only_parameters_its_notebooks_define():
    """`make run-1m-quick` would be refused at run time otherwise (a renamed parameter, say)."""
    for stem, params in report.QUICK_1M.items():
        assert stem in report.ML1M_NOTEBOOKS
        assert set(params) <= report.parameter_names(report.NOTEBOOK_DIR / f"{stem}.ipynb"), stem


def test_a_full_synthetic_1m_pass_is_kept_with_date_and_commit_and_shown(tmp_path):
    folder = tmp_path / "synthetic-1m"
    entries = [{**report.summarise(stem, tmp_path / "missing.ipynb", 12.5), "seconds_per_epoch":
                {"lstm/seconds_per_epoch": 30.25} if stem.startswith("02") else {}}
               for stem in report.ML1M_NOTEBOOKS]
    json_path, _ = report.write_report(entries, folder)
    store = tmp_path / "benchmarks.json"
    kept = report.keep_benchmark(json_path, store)
    assert kept["commit"] and kept["date"] and [n["wall_s"] for n in kept["notebooks"]] == [12.5] * 3
    # a later quick pass in the same folder: the section shows both, the quick one labelled as such
    report.write_report(entries, folder, preset="quick")
    text = "\n".join(report.synthetic_1m_section(folder, store))
    assert "two epochs of the faithful model" in text and f"commit {kept['commit']}" in text
    assert "| 02_lstm_sequential | 12 | lstm 30.25 |" in text
