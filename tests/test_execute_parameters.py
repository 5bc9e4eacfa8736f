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
