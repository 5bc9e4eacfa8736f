"""A toy course for the grading tests (no MovieLens needed): two exercises, their probes and judges."""

import io
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd

from labkit import competition
from labkit.course import checks, grading

TOY, COMP = "01_toy", "02_toy_competition"


def code(source, grade_id, kind, points=None):
    """A code cell with nbgrader metadata: kind is "solution", "grade" or "locked"."""
    meta = {"grade": kind == "grade", "grade_id": grade_id, "locked": kind != "solution",
            "schema_version": 3, "solution": kind == "solution"}
    if points is not None:
        meta["points"] = points
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})


def toy_sources(folder: Path) -> Path:
    folder.mkdir()
    spec = {"kernelspec": {"name": grading.KERNEL, "display_name": "course", "language": "python"}}
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


TOY_INPUTS = '''
def make_inputs(seed):
    import numpy as np
    rng = np.random.default_rng(seed)
    return {"a": rng.normal(size=int(rng.integers(3, 9))), "b": rng.normal(size=1)[0], "x": int(rng.integers(-9, 9)),
            "y": int(rng.integers(-9, 9))}
'''


def _judge_add(out, inputs, ctx):
    got = out["add_checks"]["out"]
    return None if checks._close(got, inputs["a"] + inputs["b"]) and checks._close(out["add_checks"]["one"], 3) \
        else "add differs from a + b on random inputs"


def _judge_mul(out, inputs, ctx):
    return None if out["mul_checks"]["out"] == inputs["x"] * inputs["y"] else "mul differs from a * b on random integers"


def _comp_context(params):
    return {"users": pd.read_csv(io.BytesIO(params["training"]["users.csv"])).UserID}


def _judge_comp(out, inputs, ctx):
    try:
        lists = competition.read_submission(np.asarray(out["checks"]["file"]).astype(np.uint8).tobytes())
    except competition.SubmissionError as exc:
        return str(exc)
    return None if len(lists) == len(ctx["users"]) else "not one row per user"


EXERCISES = {
    TOY: checks.Exercise(TOY_INPUTS, {
        "add_checks": '_in = make_inputs(PROBE_SEED)\n'
                      '_labkit_probe("add_checks", out=np.asarray(add(_in["a"], _in["b"]), dtype=float), '
                      'one=float(add(1, 2)))',
        "mul_checks": '_in = make_inputs(PROBE_SEED)\n_labkit_probe("mul_checks", out=int(mul(_in["x"], _in["y"])))'},
        {"add_checks": _judge_add, "mul_checks": _judge_mul}),
    COMP: checks.Exercise("def make_inputs(seed):\n    return {}\n", {
        "checks": '_labkit_probe("checks", file=np.frombuffer(open(SUBMISSION, "rb").read(), dtype=np.uint8))'},
        {"checks": _judge_comp}, _comp_context, competition=True, submission="checks"),
}
