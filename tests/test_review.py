"""labkit.course.review: tampering in students' cells is found and quoted; honest code is not flagged."""

import nbformat
import pytest

from labkit.course import review


def cell(source, grade_id=None, kind=None, points=None):
    c = nbformat.v4.new_code_cell(source)
    if kind:
        c.metadata["nbgrader"] = {"grade": kind == "grade", "grade_id": grade_id, "locked": kind != "solution",
                                  "schema_version": 3, "solution": kind == "solution"}
        if points:
            c.metadata["nbgrader"]["points"] = points
    return c


SOURCE = nbformat.v4.new_notebook(cells=[
    cell("import numpy as np\nfrom labkit import metrics", "imports", "locked"),
    cell("scores = np.arange(5.0)\npopularity = {'ndcg': 0.1}\ndef reference(x):\n    return metrics.topk(x, 2)",
         "setup", "locked"),
    cell("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION", "task", "solution"),
    cell("mine = {'ndcg': float(f(1))}", "evaluate", "locked"),
    cell("assert np.allclose(f(scores), scores)\nassert mine['ndcg'] > popularity['ndcg']\n"
         "assert all(reference(scores) >= 0)\n### BEGIN HIDDEN TESTS\nassert f(2) == 2\n### END HIDDEN TESTS",
         "task_checks", "grade", 2),
])


def submission(solution, added=None, at=2):
    """The source with the solution cell replaced, and optionally a student cell added at ``at``."""
    nb = nbformat.reads(nbformat.writes(SOURCE), as_version=4)
    nb.cells[2].source = solution
    if added is not None:
        nb.cells.insert(at, nbformat.v4.new_code_cell(added))
    return nb


HONEST = "def f(x):\n    scores = [x]   # a local name\n    return x"


@pytest.mark.parametrize("code, why", [
    ("get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)", "hooks (set_custom_exc)"),
    ("get_ipython().input_transformers_cleanup.append(lambda lines: [])", "hooks (input_transformers_cleanup)"),
    ("ip = get_ipython()\nip.input_transformers_post.append(lambda lines: [])", "hooks (input_transformers_post)"),
    ("get_ipython().ast_transformers.append(object())", "hooks (ast_transformers)"),
    ("get_ipython().events.register('pre_run_cell', print)", "event hook (events.register)"),
    ("np.allclose = lambda *a, **k: True", "changes np.allclose"),
    ("np.testing.assert_allclose = print", "changes np.testing.assert_allclose"),
    ("setattr(np, 'allclose', lambda *a, **k: True)", "setattr on np"),
    ("import numpy\nnumpy.allclose = None", "changes numpy.allclose"),
    ("import builtins\nbuiltins.all = lambda xs: True", "changes builtins.all"),
    ("__builtins__.all = lambda xs: True", "uses __builtins__"),
    ("all = lambda xs: True", "rebinds all"),
    ("popularity = {'ndcg': -1}", "rebinds popularity"),
    ("def f(x):\n    global popularity\n    popularity = {'ndcg': -1}\n    return x", "rebinds popularity"),
    ("popularity['ndcg'] = -1", "changes popularity['ndcg']"),
    ("popularity.update(ndcg=-1)", "modifies popularity in place"),
    ("reference = lambda x: x", "rebinds reference"),
    ("import fakenumpy as np", "rebinds np"),
    ("metrics.topk = lambda x, k: x", "changes metrics.topk"),
    ("exec('np.allclose = None')", "dynamically (exec())"),
    ("globals()['np'] = None", "dynamically (globals())"),
    ("np.__dict__['allclose'] = None", "(__dict__)"),
    ("%config InteractiveShell.ast_node_interactivity = 'none'", "the magic %config"),
    ("import ctypes", "imports ctypes"),
])
def test_tampering_is_flagged_and_quoted(code, why):
    for nb in (submission(HONEST, added=code), submission(HONEST + "\n" + code)):
        findings = review.review(nb, SOURCE)
        assert len(findings) >= 1 and any(why in f for f in findings), findings
        last = code.splitlines()[-1].strip()
        assert any(f"`{line.strip()}`" in f for f in findings for line in code.splitlines()), (findings, last)


@pytest.mark.parametrize("code", [
    HONEST,
    "import numpy as np\nfrom labkit import metrics\ndef f(x):\n    return np.asarray(x)",
    "def f(x):\n    out = np.zeros(3)\n    out[0] = 1\n    return x",
    "class Model:\n    def __init__(self):\n        self.scores = 1\ndef f(x):\n    return x",
    "%time y = 1\ndef f(x):\n    return x",
    "!echo hello\ndef f(x):\n    return x",
    "def f(x):\n    items = list(range(3))\n    items.append(4)\n    return x",
])
def test_honest_code_is_not_flagged(code):
    assert review.review(submission(code), SOURCE) == []
    assert review.review(submission(HONEST, added="helper = 3\nresult = helper * 2"), SOURCE) == []


def test_only_what_later_instructor_cells_read_is_protected():
    # after the last check, rebinding popularity cannot change a grade
    assert review.review(submission(HONEST, added="popularity = None", at=5), SOURCE) == []
    assert review.review(submission(HONEST, added="mine = {'ndcg': 9}", at=2), SOURCE) == []   # recomputed later
    assert review.review(submission(HONEST, added="mine = {'ndcg': 9}", at=4), SOURCE) != []  # read by the check


def test_instructor_cells_are_skipped_but_edits_and_deletions_are_not():
    nb = submission(HONEST)
    nb.cells[4].source = nb.cells[4].source.split("### BEGIN HIDDEN TESTS")[0]   # as released
    assert review.review(nb, SOURCE) == []
    nb.cells[3].source = "np.allclose = lambda *a, **k: True"   # an edited locked cell (nbgrader restores it)
    assert any("cell 'evaluate'" in f for f in review.review(nb, SOURCE))
    del nb.cells[3]
    assert review.review(nb, SOURCE)[-1].startswith("the instructor's cells 'evaluate' are missing")


def test_a_copied_grade_id_does_not_hide_a_cell():
    nb = submission(HONEST, added="np.allclose = None")
    nb.cells[2].metadata["nbgrader"] = dict(SOURCE.cells[1].metadata["nbgrader"])   # claims to be 'setup'
    assert any("np.allclose" in f for f in review.review(nb, SOURCE))


def test_free_names_follow_statement_order():
    import ast

    tree = ast.parse("toy = make()\ntrain = split(toy)\nassert check(train, ratings)\nfor x in xs:\n    y = x")
    assert review.free_names(tree) == {"make", "split", "check", "ratings", "xs"}
