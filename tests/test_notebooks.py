"""Every lesson notebook: committed clean, and executed in smoke mode with its records checked.

Smoke parameters come from each notebook's metadata (``metadata.labkit.smoke``), so a new
notebook is picked up without touching this file. Executed copies land in ``build/smoke/``;
``make test`` then re-runs them under nbval to check that the marked cells reproduce.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labkit import data, kernel, report, results

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "build" / "smoke"
NOTEBOOKS = report.discover()
IDS = [p.stem for p in NOTEBOOKS]
WITH_FACTS = [p for p in NOTEBOOKS if report.EXPECTATIONS.get(p.stem, {}).get("facts")]


def executions(paths):
    """Parameters for the tests that read a smoke execution: marked ``notebook`` (``make unit`` leaves
    them out) and grouped per notebook, so that under pytest-xdist (``--dist loadgroup``) one worker
    executes each notebook once and the workers share the notebooks. A notebook that reads the
    others' executions (08: a ``BUILD_DIR`` parameter) is also marked ``after_lessons``: ``make test``
    runs it once the others are done."""
    def marks(p):
        after = [pytest.mark.after_lessons] if "BUILD_DIR" in report.parameter_names(p) else []
        return [pytest.mark.notebook, pytest.mark.xdist_group(p.stem), *after]

    return [pytest.param(p, id=p.stem, marks=marks(p)) for p in paths]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_clean(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert not [c for c in code if c.get("outputs") or c.get("execution_count")], "outputs committed"
    assert nb["metadata"]["kernelspec"]["name"] == report.KERNEL
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    if "data.load(" in path.read_text():
        assert "DATASET" in report.parameter_names(path), "a notebook that loads data takes DATASET"
    smoke = report.notebook_metadata(path).get("smoke")
    assert isinstance(smoke, dict) and set(smoke) <= report.parameter_names(path)
    assert nb["cells"][0]["cell_type"] == "markdown", "a notebook opens with its lesson intro"
    # the metadata JupyterLab writes on opening (the course kernel's) is already there: opening does not modify it
    assert kernel.metadata_problems(nb) == [], "run `make notebook-metadata`"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if not p.stem.startswith("08_")],
                         ids=[p.stem for p in NOTEBOOKS if not p.stem.startswith("08_")])
def test_lesson_text_has_no_test_vocabulary(path):
    nb = json.loads(path.read_text())
    prose = " ".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown").lower()
    code = " ".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "nbval" not in prose and "floor" not in prose, "tests' vocabulary belongs in the report, not the lesson"
    assert "NBVAL_" not in code, "mark checked cells with the nbval-check-output tag, not a comment"


@pytest.fixture(scope="session")
def executed():
    """Run each notebook once per test session (per xdist worker; lazily) and keep the result.

    Session-scoped: a worker interleaves tests of several modules, and a module-scoped cache would
    be torn down in between and the notebook executed again."""
    cache = {}

    def run(path):
        from labkit.frameworks import lesson_unavailable

        why = lesson_unavailable(path)  # needs a framework this machine cannot have (MXNet on a Mac)
        if why:
            pytest.skip(why)
        if path not in cache:
            out = SMOKE / path.name
            params = report.notebook_metadata(path)["smoke"]
            error = None
            # A lesson that does not need MXNet runs with it hidden (as on a Mac): this run also checks that
            # it runs without it, so `make test-without-mxnet` need not execute it again. nbval re-runs it
            # with MXNet present.
            hide = "mxnet" not in report.notebook_metadata(path).get("requires", [])
            saved = os.environ.get("LABKIT_HIDE_MXNET")
            if hide:
                os.environ["LABKIT_HIDE_MXNET"] = "1"
            # papermill rewrites its output file as cells run: execute into a file of this process and
            # move it into place whole, so that a reader never sees a half-written notebook
            partial = out.with_name(f".{out.stem}.{os.getpid()}.ipynb")
            try:
                report.execute(path, partial, params, timeout=1800)
            except Exception as exc:  # papermill's execution error: report the failing cell
                error = f"{type(exc).__name__}: {exc}"
            finally:
                if partial.exists():
                    os.replace(partial, out)
                if hide and saved is None:
                    os.environ.pop("LABKIT_HIDE_MXNET")
                elif hide:
                    os.environ["LABKIT_HIDE_MXNET"] = saved
            cache[path] = (out, error)
        return cache[path]

    return run


@pytest.mark.parametrize("path", executions(NOTEBOOKS))
def test_smoke_run_records_sane_metrics(path, executed):
    out, error = executed(path)
    assert error is None, error
    records = results.read_records(out)
    assert records, "the notebook recorded nothing"
    if "data.load(" in path.read_text():
        assert records.get("dataset") in data.DATASETS, "the notebook must record which dataset ran"
    missing = [k for k in report.EXPECTATIONS.get(path.stem, {}).get("headline", []) if k not in records]
    assert not missing, f"headline records missing: {missing}"
    for name, value in records.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert math.isfinite(value), f"{name} = {value}"
            if ("@" in name or name.endswith("auc")) and "_vs_" not in name:
                assert 0.0 <= value <= 1.0, f"{name} = {value} is not a rate"


@pytest.mark.parametrize("path", executions(NOTEBOOKS))
def test_smoke_run_outputs_are_tidy_and_keep_their_figures(path, executed):
    out, error = executed(path)
    if error:
        pytest.skip("the smoke run failed; see test_smoke_run_records_sane_metrics")
    nb = json.loads(out.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    text = "\n".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                     for c in code for o in c.get("outputs", []))
    for noise in ("E0000 ", "I0000 ", "W0000 ", "absl::InitializeLog", "cpu_feature_guard", "0%|", "it/s]"):
        assert noise not in text, f"log or progress-bar noise in the outputs: {noise!r}"
    plots = [c for c in code if "plt.show()" in "".join(c["source"])]
    without = [n for n, c in enumerate(plots) if not any("image/png" in o.get("data", {}) for o in c.get("outputs", []))]
    assert not without, f"{len(without)} of {len(plots)} plotting cells have no figure in the executed notebook"


@pytest.mark.parametrize("path", executions(NOTEBOOKS))
def test_smoke_run_reproduces_under_nbval(path, executed):
    """nbval re-runs the executed notebook (with MXNet present, in batch mode) and compares the outputs of
    the cells tagged ``nbval-check-output``: the same seed prints the same results. It runs here, in the
    notebook's own group, so that under pytest-xdist the re-runs share the workers with everything else
    (``make nbval`` runs the same on every notebook in ``build/smoke``)."""
    out, error = executed(path)
    if error:
        pytest.skip("the smoke run failed; see test_smoke_run_records_sane_metrics")
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "LABKIT_HIDE_MXNET")}
    env["LABKIT_BATCH"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-q", "--nbval-lax",
         "--nbval-kernel-name", report.KERNEL, "--nbval-cell-timeout", "900", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"nbval on {out.name}:\n{proc.stdout[-6000:]}{proc.stderr[-2000:]}"
    assert " passed" in proc.stdout.splitlines()[-1], proc.stdout[-2000:]


@pytest.mark.parametrize("path", executions(WITH_FACTS))
def test_smoke_run_matches_known_facts_of_real_data(path, executed):
    out, error = executed(path)
    if error:
        pytest.skip("the smoke run failed; see test_smoke_run_records_sane_metrics")
    records = results.read_records(out)
    facts = report.EXPECTATIONS[path.stem]["facts"]
    if records["dataset"] not in facts:
        pytest.skip(f"ran on {records['dataset']!r}, not real MovieLens (no mirror or download): "
                    "real-data facts not checked")
    expected = facts[records["dataset"]]
    assert {k: records.get(k) for k in expected} == expected
