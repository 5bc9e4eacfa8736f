"""The grader around nbgrader, on a toy course (no MovieLens needed): broken, looping, crashing and
cheating notebooks cost only their own points, every notebook is listed with its reasons, student
code cannot change what later submissions are graded against, and the competition's re-run sees
the training files only.

Runs real nbgrader (generate_assignment, autograde) in the course's kernel: about 3 minutes on
2 cores (one nbgrader process and one kernel per submission).
"""

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from labkit import competition, data, exercises
from test_review import cell as code  # a code cell with nbgrader metadata

nbgrader = pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -r requirements.txt)")
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel  # noqa: E402

try:
    KernelSpecManager().get_kernel_spec(exercises.KERNEL)
except NoSuchKernel:
    pytest.skip(f"the course's Jupyter kernel {exercises.KERNEL!r} is not installed (make venv)",
                allow_module_level=True)

TOY, COMP = "01_toy", "02_toy_competition"
CELL_TIMEOUT = 8


def toy_sources(folder: Path) -> Path:
    folder.mkdir()
    spec = {"kernelspec": {"name": exercises.KERNEL, "display_name": "course", "language": "python"}}
    nb = nbformat.v4.new_notebook(metadata=spec, cells=[
        nbformat.v4.new_markdown_cell("# Toy exercise"),
        code("import numpy as np", "imports", "locked"),
        code("DATA = np.arange(5.0)", "settings", "locked"),
        code("def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION", "add", "solution"),
        code("assert np.allclose(add(1, 2), 3)\n### BEGIN HIDDEN TESTS\nassert np.allclose(add(DATA, DATA), 2 * DATA)\n"
             "### END HIDDEN TESTS", "add_checks", "grade", 2),
        code("def mul(a, b):\n    ### BEGIN SOLUTION\n    return a * b\n    ### END SOLUTION", "mul", "solution"),
        code("assert mul(2, 3) == 6\n### BEGIN HIDDEN TESTS\nassert mul(-1, 4) == -4\n### END HIDDEN TESTS",
             "mul_checks", "grade", 3),
    ])
    nbformat.write(nb, folder / f"{TOY}.ipynb")
    nb = nbformat.v4.new_notebook(metadata=spec, cells=[
        code("from pathlib import Path\nimport pandas as pd\nfrom labkit import competition", "imports", "locked"),
        code('SUBMISSION = "submission.csv"\nPath(SUBMISSION).unlink(missing_ok=True)', "settings", "locked"),
        code('paths = competition.training_files("synthetic")\nratings = pd.read_csv(paths["ratings_train"])\n'
             'users = pd.read_csv(paths["users"]).UserID', "load", "locked"),
        code("### BEGIN SOLUTION\ntop = ratings.MovieID.value_counts().index[:10].tolist()\n"
             "competition.write_submission(users, [top] * len(users), SUBMISSION)\n### END SOLUTION",
             "predict", "solution"),
        code("assert Path(SUBMISSION).is_file()\n### BEGIN HIDDEN TESTS\n"
             "assert len(competition.read_submission(SUBMISSION)) == len(users)\n### END HIDDEN TESTS",
             "checks", "grade", 1),
    ])
    nbformat.write(nb, folder / f"{COMP}.ipynb")
    return folder


def submit(course, student, assignment, nb=None, raw=None, extra=None):
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True)
    path = folder / f"{assignment}.ipynb"
    if raw is not None:
        path.write_text(raw)
    else:
        nbformat.write(nb, path)
    for name, text in (extra or {}).items():
        (folder / name).write_text(text)


def edited(nb, grade_id, source=None, before=None, after=None):
    """A copy of ``nb`` with the cell ``grade_id`` given a new source, and/or student cells around it."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    n = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    if source is not None:
        nb.cells[n].source = source
    if after:
        nb.cells.insert(n + 1, nbformat.v4.new_code_cell(after))
    if before:
        nb.cells.insert(n, nbformat.v4.new_code_cell(before))
    return nb


CHEATS = {   # student -> (cell edited, new source or None, cell added before it, the line the review must quote)
    "cheat_custom_exc": ("add", None, "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)",
                         "set_custom_exc"),
    "cheat_transformer": ("add", None, "get_ipython().input_transformers_cleanup.append(lambda lines: [])",
                          "input_transformers_cleanup"),
    "cheat_allclose": ("add", "def add(a, b):\n    return 0\nnp.allclose = lambda *a, **k: True", None,
                       "np.allclose = lambda"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A toy course, released by nbgrader, with one submission per case, graded once."""
    tmp = tmp_path_factory.mktemp("grading")
    course = exercises.build_course(tmp / "course", toy_sources(tmp / "sources"), competition_data=None)
    problems = exercises.release(course)
    source = nbformat.read(course / "source" / TOY / f"{TOY}.ipynb", as_version=4)
    released = nbformat.read(course / "release" / TOY / f"{TOY}.ipynb", as_version=4)

    # the competition's files, from the synthetic dataset; the hidden test lies in the course folder
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABKIT_DATA_DIR", str(tmp / "cache"))
        paths = data.tutorial_files(data.load("synthetic"), course / "competition" / "all")
    (course / "competition" / "training").mkdir()
    for name in competition.TRAINING_FILES:
        paths[name].rename(course / "competition" / "training" / f"{name}.csv")
    paths["ratings_test"].rename(course / "competition" / "ratings_test.csv")
    (course / "competition" / "all").rmdir()
    test_bytes = (course / "competition" / "ratings_test.csv").read_bytes()

    # a: rewrites the instructor's files (relative path inside scratch, and the real course by path)
    fake = edited(source, "add_checks", source="pass")
    rewrite = (f"import nbformat, pathlib\nfake = nbformat.reads({json.dumps(nbformat.writes(fake))}, as_version=4)\n"
               f"for p in ['../../../source/{TOY}/{TOY}.ipynb', {str(course / 'source' / TOY / (TOY + '.ipynb'))!r}]:\n"
               f"    pathlib.Path(p).parent.mkdir(parents=True, exist_ok=True)\n"
               f"    nbformat.write(fake, p)\n"
               f"pathlib.Path({str(course / 'gradebook.db')!r}).write_text('garbage')\n"
               f"pathlib.Path({str(course / 'nbgrader_config.py')!r}).write_text('c = get_config()\\n')")
    submit(course, "a_rewriter", TOY, edited(released, "add", before=rewrite))
    submit(course, "b_untouched", TOY, released)
    submit(course, "c_solution", TOY, source)
    submit(course, "d_helper_cell", TOY, edited(released, "add", source="def add(a, b):\n    return plus(a, b)",
                                                before="def plus(a, b):\n    return a + b"))
    submit(course, "e_invalid_json", TOY, raw='{"cells": [oops')
    submit(course, "f_loop", TOY, edited(source, "add", source="def add(a, b):\n    while True:\n        pass"))
    submit(course, "g_crash", TOY, edited(source, "mul", source="import os\nos._exit(1)"))
    for student, (gid, new, before, _) in CHEATS.items():
        submit(course, student, TOY, edited(released, gid, source=new, before=before))
    # the competition: honest; a probe that records what it sees and overwrites the hidden test file;
    # a stale file from home (built from the test period) must not count; one that writes a bad id
    comp_source = nbformat.read(course / "source" / COMP / f"{COMP}.ipynb", as_version=4)
    submit(course, "c_solution", COMP, comp_source,
           extra={"submission.csv": "UserID,MovieIDs\n0,1 2 3 4 5 6 7 8 9 10\n"})
    probe = (
        "import json, os, labkit.data\n"
        "seen = {'files': sorted(os.listdir(os.environ['LABKIT_TUTORIAL_DIR'])), 'env': dict(os.environ),\n"
        "        'cwd': os.getcwd(), 'data_dir': sorted(os.listdir(os.environ['LABKIT_DATA_DIR']))}\n"
        "try:\n    labkit.data.fetch('ml-100k')\n    seen['fetch'] = 'ok'\n"
        "except labkit.data.DataError as exc:\n    seen['fetch'] = exc.reason\n"
        "json.dump(seen, open('probe.json', 'w'))\n"
        f"open({str(course / 'competition' / 'ratings_test.csv')!r}, 'w').write('UserID,MovieID,Rating,Timestamp\\n')")
    submit(course, "p_probe", COMP, edited(comp_source, "predict", before=probe))
    submit(course, "z_bad_id", COMP, edited(comp_source, "predict", source=(
        "Path(SUBMISSION).write_text('UserID,MovieIDs\\n' + ''.join(f'{u},12345678901234567890 1 2 3 4 5 6 7 8 9\\n'\n"
        "                                                      for u in users))")))

    submit(course, "q_lost", "99_no_such_assignment", released)
    logs = []
    out = exercises.grade(course, cell_timeout=CELL_TIMEOUT, notebook_timeout=240,
                          competition_assignment=COMP, submission_file="submission.csv", log=logs.append)
    return {"course": course, "out": out, "rows": {(r["student"], r["assignment"]): r for r in out["rows"]},
            "problems": problems, "source": source, "logs": logs, "test_bytes": test_bytes}


def row(graded, student, assignment=TOY):
    return graded["rows"][(student, assignment)]


def test_release_is_clean(graded):
    assert graded["problems"] == {"*": []}, "nbgrader generate_assignment reported warnings or errors"
    released = (graded["course"] / "release" / TOY / f"{TOY}.ipynb").read_text()
    assert "return a + b" not in released and "HIDDEN TESTS" not in released and "add(DATA, DATA)" not in released
    assert not list((graded["course"] / "release").rglob("*.csv"))


def test_every_submission_is_listed_and_reported(graded):
    expected = {(s, TOY) for s in ["a_rewriter", "b_untouched", "c_solution", "d_helper_cell", "e_invalid_json",
                                   "f_loop", "g_crash", *CHEATS]}
    expected |= {(s, COMP) for s in ["c_solution", "p_probe", "z_bad_id"]}
    expected.add(("q_lost", "99_no_such_assignment"))
    assert set(graded["rows"]) == expected
    assert row(graded, "q_lost", "99_no_such_assignment")["status"] == "unknown assignment"
    report = json.loads((graded["course"] / "reports" / "grades.json").read_text())
    assert {(r["student"], r["assignment"]) for r in report["grades"]} == expected
    table = pd.read_csv(graded["course"] / "reports" / "grades.csv")
    assert len(table) == len(expected)


def test_solution_full_marks_untouched_zero(graded):
    solved, untouched = row(graded, "c_solution"), row(graded, "b_untouched")
    assert (solved["points"], solved["status"]) == (5.0, "graded") and not solved["review"]
    assert untouched["points"] == 0.0 and untouched["max_points"] == 5.0
    assert {c["reason"] for c in untouched["checks"]} == {"NotImplementedError"}


def test_helper_in_an_added_cell_counts(graded):
    r = row(graded, "d_helper_cell")
    assert (r["points"], r["status"], r["review"]) == (2.0, "graded", []), r
    assert [c["reason"] for c in r["checks"] if c["grade_id"] == "mul_checks"] == ["NotImplementedError"]


def test_invalid_json_costs_only_its_own_points(graded):
    r = row(graded, "e_invalid_json")
    assert r["status"] == "invalid notebook" and r["points"] == 0.0 and r["max_points"] == 5.0
    assert all(c["reason"].startswith("invalid notebook JSON") for c in r["checks"])


def test_endless_loop_times_out_in_its_cell_and_the_rest_still_counts(graded):
    r = row(graded, "f_loop")
    reasons = {c["grade_id"]: c["reason"] for c in r["checks"]}
    assert reasons == {"add_checks": f"timeout after {CELL_TIMEOUT} s", "mul_checks": ""}, r
    assert r["points"] == 3.0


def test_dead_kernel_is_reported(graded):
    r = row(graded, "g_crash")
    assert r["status"] == "failed" and r["points"] == 0.0
    assert all(c["reason"].startswith("kernel died") for c in r["checks"])


@pytest.mark.parametrize("student", list(CHEATS))
def test_cheats_are_flagged_and_withheld(graded, student):
    r = row(graded, student)
    assert r["status"] == "needs review" and r["points"] == 0.0, r
    assert any(CHEATS[student][3] in line for line in r["review"]), r["review"]


def test_cheats_would_have_scored(graded):
    """The cheats work on nbgrader alone: what the review withholds is real."""
    assert row(graded, "cheat_allclose")["auto_points"] == 2.0
    assert row(graded, "cheat_transformer")["auto_points"] == 5.0


def test_withheld_points_are_in_the_gradebook(graded):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded['course'] / 'gradebook.db'}") as gb:
        flagged = gb.find_submission_notebook(TOY, TOY, "cheat_allclose")
        assert flagged.flagged and flagged.score == 0.0
        assert gb.find_submission_notebook(TOY, TOY, "c_solution").score == 5.0
        assert gb.find_submission_notebook(TOY, TOY, "f_loop").score == 3.0


def test_executed_notebooks_are_kept(graded):
    executed = graded["course"] / "autograded" / "f_loop" / TOY / f"{TOY}.ipynb"
    nb = nbformat.read(executed, as_version=4)
    assert any(o.get("ename") == "CellTimeoutError" for c in nb.cells for o in c.get("outputs", []))


def test_student_code_cannot_change_what_others_are_graded_against(graded):
    course = graded["course"]
    assert row(graded, "b_untouched")["points"] == 0.0   # graded after a_rewriter
    assert nbformat.read(course / "source" / TOY / f"{TOY}.ipynb", as_version=4) == graded["source"]
    assert {f"source/{TOY}/{TOY}.ipynb", "nbgrader_config.py"} <= set(graded["out"]["restored"])
    assert any("restored" in line for line in graded["logs"])
    code, log = exercises.run_nbgrader(course, ["export", "--to", str(course / "export.csv")])
    assert code == 0, log
    students = {s for s, a in graded["rows"] if a != "99_no_such_assignment"}
    assert len(pd.read_csv(course / "export.csv")) == 2 * len(students)


def test_competition_rerun_sees_training_files_only(graded):
    course = graded["course"]
    seen = json.loads((course / "autograded" / "p_probe" / COMP / "probe.json").read_text())
    assert seen["files"] == ["movies.csv", "ratings_train.csv", "users.csv"]
    assert seen["data_dir"] == [] and seen["fetch"].endswith("downloads off")
    assert "LABKIT_MIRROR" not in seen["env"]
    assert not [k for k, v in seen["env"].items() if str(course) in v or "ratings_test" in v]
    assert str(course) not in seen["cwd"]


def test_leaderboard_scores_the_rerun_on_the_hidden_test(graded):
    board = {r["submission"]: r for r in graded["out"]["leaderboard"]}
    assert board["c_solution"]["status"] == "ok" and board["c_solution"]["problems"] == []
    # the stale file from home (one row) did not count: the re-run wrote one row per user
    assert board["c_solution"]["events"] > 0
    # the probe overwrote the hidden file on disk; the leaderboard used the copy read before
    assert board["p_probe"]["ndcg@10"] == board["c_solution"]["ndcg@10"] > 0
    assert board["z_bad_id"]["status"] == "ok"
    assert any("MovieID 12345678901234567890 is not in movies.csv" in p for p in board["z_bad_id"]["problems"])
    assert (graded["course"] / "competition" / "ratings_test.csv").read_bytes() == graded["test_bytes"]   # restored
    saved = pd.read_csv(graded["course"] / "reports" / "leaderboard.csv")
    assert set(saved.student) == {"c_solution", "p_probe", "z_bad_id"}


def test_clearing_a_review_releases_the_points_and_a_notebook_timeout_kills(graded, tmp_path):
    course = graded["course"]
    with open(course / exercises.CLEARED_FILE, "a") as f:
        f.write(f"cheat_allclose {TOY}\n")
    out = exercises.grade(course, students=["cheat_allclose"], names=[TOY], cell_timeout=60, notebook_timeout=240,
                          log=lambda *a: None)
    (r,) = out["rows"]
    assert (r["status"], r["points"]) == ("cleared after review", 2.0)
    report = json.loads((course / "reports" / "grades.json").read_text())
    assert len(report["grades"]) == len(graded["rows"]), "the other submissions stay in the reports"
    assert {x["submission"] for x in report["leaderboard"]} == {"c_solution", "p_probe", "z_bad_id"}
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(TOY, TOY, "cheat_allclose")
        assert not nb.flagged and nb.score == 2.0
        assert gb.find_submission_notebook(TOY, TOY, "c_solution").score == 5.0   # others kept

    # a loop that ignores interrupts: the whole notebook is killed, its kernel too
    pid_file = tmp_path / "kernel.pid"
    source = graded["source"]
    stubborn = edited(source, "add", before=(f"import os, signal\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
                                             "signal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"))
    submit(course, "y_stubborn", TOY, stubborn)
    out = exercises.grade(course, students=["y_stubborn"], cell_timeout=60, notebook_timeout=20,
                          log=lambda *a: None)
    (r,) = out["rows"]
    assert r["status"] == "failed" and r["points"] == 0.0
    assert all(c["reason"] == "timeout after 20 s for the whole notebook (killed)" for c in r["checks"])
    import psutil

    assert not psutil.pid_exists(int(pid_file.read_text())), "the kernel of a killed notebook must not survive"
