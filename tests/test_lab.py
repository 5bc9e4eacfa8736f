"""What a student sees in JupyterLab, checked through a kernel (nbclient): progress, records, errors, metadata."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from labkit import kernel, report

ROOT = Path(__file__).resolve().parents[1]


def _run(cells, batch=False, allow_errors=False):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    env = {k: v for k, v in os.environ.items() if k != "LABKIT_BATCH"}
    if batch:
        env["LABKIT_BATCH"] = "1"
    client = NotebookClient(nb, kernel_name=report.KERNEL, timeout=120, allow_errors=allow_errors)
    client.execute(env=env)
    return nb


TRAIN = ("from labkit.frameworks import progress\n"
         "for run in (1, 2):\n    for epoch in range(1, 41):\n"
         "        bar = progress(range(5), total=5, desc=f'run {run} epoch {epoch}/40')\n"
         "        for i in bar:\n            if hasattr(bar, 'set_postfix_str'):\n                bar.set_postfix_str('loss 0.5', refresh=False)\n"
         "        print(f'run {run} epoch {epoch:2d}  loss 0.5000')")


def _merged(outputs):
    """Outputs as JupyterLab shows them: consecutive stream outputs of one stream are one output."""
    merged = []
    for o in outputs:
        if merged and o["output_type"] == "stream" and merged[-1]["output_type"] == "stream" and merged[-1]["name"] == o["name"]:
            merged[-1] = {**merged[-1], "text": merged[-1]["text"] + o["text"]}
        else:
            merged.append(o)
    return merged


RECORD = "print(f'num of users: {1943:,}')\nrecord('users', 1943)\nrecord('chosen_epochs', 5)"
ERROR = "data.load('ml-10m')"


@pytest.fixture(scope="module")
def interactive():
    """One notebook run as in JupyterLab (no LABKIT_BATCH): a training cell, records, a labkit error."""
    return _run(["from labkit import data, record", TRAIN, RECORD, ERROR], allow_errors=True)


def test_progress_is_one_text_display_per_cell_whatever_the_epochs(interactive):
    outputs = _merged(interactive["cells"][1]["outputs"])
    assert len(outputs) == 2, [o["output_type"] for o in outputs]   # the bar, then the epoch lines
    bar, lines = outputs
    assert set(bar["data"]) == {"text/plain"} and "run 2 epoch 40/40" in bar["data"]["text/plain"]
    assert lines["text"].count("\n") == 80 and lines["text"].endswith("run 2 epoch 40  loss 0.5000\n")


def test_progress_in_batch_mode_is_one_line_per_epoch():
    outputs = _merged(_run([TRAIN], batch=True)["cells"][0]["outputs"])
    assert [o["output_type"] for o in outputs] == ["stream"] and outputs[0]["text"].count("\n") == 80


def test_labkit_errors_are_short(interactive):
    error = interactive["cells"][3]["outputs"][0]
    assert error["ename"] == "ParameterError" and len(error["traceback"]) <= 4
    assert "unknown dataset 'ml-10m'" in error["traceback"][0]
    assert "data.load('ml-10m')" in error["traceback"][1]   # the student's line, not labkit's


def test_labkit_errors_still_fail_the_run():
    with pytest.raises(CellExecutionError) as info:
        _run(["from labkit import data", ERROR])
    assert "unknown dataset 'ml-10m'" in str(info.value)


def test_record_does_not_repeat_what_the_cell_printed(interactive):
    outputs = interactive["cells"][2]["outputs"]
    streams = [o for o in outputs if o["output_type"] == "stream"]   # a print may arrive in several chunks
    displays = [o for o in outputs if o["output_type"] != "stream"]
    assert "".join(o["text"] for o in streams) == "num of users: 1,943\n"
    assert [o["data"]["text/plain"] for o in displays] == ["", "chosen_epochs = 5"]
    assert [o["data"]["application/vnd.labkit.record+json"]["value"] for o in displays] == [1943, 5]


def test_the_course_kernel_reports_the_metadata_notebooks_store(interactive):
    assert interactive.metadata["language_info"] == kernel.LANGUAGE_INFO   # what JupyterLab writes on opening


@pytest.mark.integration
def test_a_plain_import_tensorflow_is_quiet():
    run = subprocess.run([sys.executable, "-c", "import tensorflow as tf; print(tf.__version__)"],
                         capture_output=True, text=True, check=True)
    assert run.stdout == "2.21.0\n" and run.stderr == ""


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "exercises").glob("*.ipynb")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_notebooks_open_unmodified(path):
    assert kernel.metadata_problems(json.loads(path.read_text())) == [], "run `make notebook-metadata`"


def test_normalise_changes_only_the_metadata(tmp_path):
    src = ROOT / "exercises" / "01_leave_last_out.ipynb"
    nb = json.loads(src.read_text())
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.12.1"}
    path = tmp_path / src.name
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")   # the committed files' style
    assert kernel.normalise(path) and not kernel.normalise(path)
    assert path.read_text() == src.read_text()


def test_record_hides_the_same_lines_when_cells_are_not_stored_in_the_history():
    """nbval re-runs cells with store_history=False: record must show what it shows under papermill."""
    import jupyter_client

    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="deeprec")

    def run(code):
        msg_id, shown = kc.execute(code, store_history=False), []
        while True:
            msg = kc.get_iopub_msg(timeout=120)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "display_data":
                shown.append(msg["content"]["data"]["text/plain"])
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return shown

    try:
        run("from labkit.results import record")
        for _ in range(2):   # unstored cells share one history entry: the second must not see the first's print
            assert run("print('num of users: 1,943'); record('users', 1943); record('chosen_epochs', 5)") == \
                ["", "chosen_epochs = 5"]
        assert run("record('users', 1943)") == ["users = 1943"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
