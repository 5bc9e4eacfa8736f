"""Grading (labkit.course): the trusted scorer's parts, and a toy course through real nbgrader and bubblewrap.

The toy round trip (a solution gets full marks, the untouched release zero, the competition's
re-run is scored on the hidden test outside the sandbox, the scores reach nbgrader's gradebook)
costs about 40 s on 2 busy cores. The red-team suite is tests/test_grading_attacks.py
(integration: `make test-grading`).
"""

import json
import os
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from labkit import competition, data
from labkit.course import checks, grading, sandbox

sys.path.insert(0, str(Path(__file__).parent))
import grading_toy as toy  # noqa: E402

SANDBOX = sandbox.unavailable()


def need_sandbox():
    """Skip (with the reason) where bubblewrap cannot run; in CI a missing sandbox is a failure."""
    if SANDBOX:
        if os.environ.get("CI"):
            pytest.fail(f"CI must grade in the sandbox: {SANDBOX}")
        pytest.skip(SANDBOX)


# --------------------------------------------------------------------------- the trusted side, no kernel


def test_merge_keeps_solutions_and_added_cells_and_restores_the_rest():
    source = nbformat.read(toy.toy_sources(Path(__import__("tempfile").mkdtemp()) / "s") / f"{toy.TOY}.ipynb",
                           as_version=4)
    student = nbformat.from_dict(json.loads(json.dumps(source)))
    student.cells[3].source = "def add(a, b):\n    return plus(a, b)"
    student.cells.insert(3, nbformat.v4.new_code_cell("def plus(a, b):\n    return a + b"))
    nb, notes = grading.merge(student, source)
    assert notes == [] and [c.source for c in nb.cells][3:5] == ["def plus(a, b):\n    return a + b",
                                                               "def add(a, b):\n    return plus(a, b)"]
    student.cells[5].source = "assert True"   # the check cell add_checks, edited
    nb, notes = grading.merge(student, source)
    assert nb.cells[5].source == source.cells[4].source and notes and "add_checks" in notes[0]


def test_an_untouched_release_has_no_edit_note(tmp_path):
    src = nbformat.read(toy.toy_sources(tmp_path / "s") / f"{toy.TOY}.ipynb", as_version=4)
    assert grading.merge(src, src)[1] == []


def test_outputs_are_read_as_plain_data_only(tmp_path):
    (tmp_path / "secret.txt").write_text(json.dumps({"x": {"json": "hidden"}}))   # a host file shaped like a result
    out = tmp_path / "out"
    out.mkdir()
    np.save(out / "probe-a-x.npy", np.arange(3))
    (out / "probe-a.json").write_text(json.dumps({"x": {"npy": "probe-a-x.npy"}, "y": {"json": [1, 2]}}))
    np.save(out / "probe-b-x.npy", np.array([object()], dtype=object), allow_pickle=True)   # a pickle
    (out / "probe-b.json").write_text(json.dumps({"x": {"npy": "probe-b-x.npy"}}))
    os.symlink(tmp_path / "secret.txt", out / "probe-c.json")                               # a link out
    os.mkfifo(out / "probe-d.json")                                                          # would block
    (out / "probe-e.json").write_text(json.dumps({"x": {"npy": "../secret.txt"}}))
    got = grading.load_probes(out)
    assert got["a"]["x"].tolist() == [0, 1, 2] and got["a"]["y"] == [1, 2]
    assert got["b"]["x"] is None and "c" not in got and "d" not in got and got["e"]["x"] is None
    assert grading._read_capped(out, "probe-a.json", 10) is None   # over the cap


def _solution(assignment, extra=""):
    """The instructor's solution functions of an exercise, run here."""
    nb = nbformat.read(grading.SOURCES / f"{assignment}.ipynb", as_version=4)
    scope = {}
    exec(nb.cells[1].source + "\n" + extra, scope)
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("solution"):
            exec(c.source, scope)
    return scope


def _probe_here(exercise, grade_id, scope, seed):
    """Run a probe in this process (as the sandbox would) and return what it wrote."""
    import tempfile

    from labkit.course import runner

    out = tempfile.mkdtemp()
    os.environ["LABKIT_PROBE_OUT"] = out
    try:
        exec(runner.PREAMBLE, scope)
        exec(runner.probe_cell(grade_id, exercise.probes[grade_id], seed, exercise.inputs), scope)
        return grading.load_probes(Path(out))
    finally:
        del os.environ["LABKIT_PROBE_OUT"]


@pytest.mark.parametrize("seed", range(8))
def test_judges_pass_the_solutions_on_every_seed_and_fail_wrong_answers(seed):
    ex = checks.EXERCISES["03_ranking_losses"]
    scope = {"np": np}
    exec("def bpr_loss(pos, neg):\n    return np.logaddexp(0.0, -(np.asarray(pos) - np.asarray(neg)))\n"
         "def hinge_loss(pos, neg, margin=1.0):\n    return np.maximum(margin - np.asarray(pos) + np.asarray(neg), 0.0)",
         scope)
    inputs = checks.inputs_of(ex, seed)
    for gid in ("bpr_checks", "hinge_checks"):
        assert ex.judges[gid](_probe_here(ex, gid, scope, seed), inputs, {}) is None
    exec("def bpr_loss(pos, neg):\n    return np.log1p(np.exp(-(pos - neg)))", scope)   # overflows at -1000
    assert "large gaps" in ex.judges["bpr_checks"](_probe_here(ex, "bpr_checks", scope, seed), inputs, {})
    ex = checks.EXERCISES["02_mask_and_gru"]
    scope = {"np": np}
    exec("def mask_seen(scores, seen):\n    return np.where(seen, -np.inf, np.asarray(scores, dtype=np.float64))", scope)
    assert ex.judges["mask_checks"](_probe_here(ex, "mask_checks", scope, seed), checks.inputs_of(ex, seed), {}) is None
    exec("def mask_seen(scores, seen):\n    scores[seen] = -np.inf\n    return scores", scope)   # edits its input
    assert "changed its input" in ex.judges["mask_checks"](_probe_here(ex, "mask_checks", scope, seed),
                                                           checks.inputs_of(ex, seed), {})


def test_leave_last_out_judge_on_random_frames():
    ex = checks.EXERCISES["01_leave_last_out"]
    scope = _solution("01_leave_last_out")
    ctx = checks._01_context({"DATASET": "synthetic"})
    scope["ratings"] = ctx["ratings"]
    for seed in range(5):
        for gid in ("task1_checks", "task2_checks"):
            assert ex.judges[gid](_probe_here(ex, gid, scope, seed), checks.inputs_of(ex, seed), ctx) is None, seed
    exec("def leave_last_out(df):\n    o = df.sort_values(['user_id', 'timestamp'])\n"
         "    t = o.groupby('user_id').tail(1)\n    return o.drop(index=t.index), t", scope)   # ties: the last, not the first
    reasons = {ex.judges["task1_checks"](_probe_here(ex, "task1_checks", scope, s), checks.inputs_of(ex, s), ctx)
               for s in range(5)}
    assert any(r and "differ" in r for r in reasons)


def test_two_tower_judges():
    pytest.importorskip("torch")
    ex = checks.EXERCISES["06_two_tower_negatives"]
    scope = _solution("06_two_tower_negatives")
    for seed in range(4):
        for gid in ("in_batch_checks", "logq_checks"):
            assert ex.judges[gid](_probe_here(ex, gid, scope, seed), checks.inputs_of(ex, seed), {}) is None


def _cell(assignment, grade_id):
    nb = nbformat.read(grading.SOURCES / f"{assignment}.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _trained_scores(rng, targets, seen, skill):
    """Scores that rank each row's target(s) higher the larger ``skill`` is (0: random)."""
    scores = rng.normal(size=seen.shape) + skill * targets
    return np.where(seen, rng.normal(size=seen.shape), scores).astype(np.float32)


def test_gru_judge_asks_for_training_not_for_beating_popularity():
    """02: a GRU that learned something passes whatever popularity scores; random scores do not."""
    from labkit import metrics

    ex = checks.EXERCISES["02_mask_and_gru"]
    rng = np.random.default_rng(0)
    n_rows, n_items = 300, 80
    seen = rng.random((n_rows, n_items)) < 0.2
    lists = [rng.choice(np.flatnonzero(~row), 3, replace=False) for row in seen]
    truth = metrics.truth_from_lists(lists, n_items)
    ctx = {"seed": 0, "seen": seen, "truth": truth, "shape": (n_rows, n_items), "epochs": 10}
    probe = {"layers": ["Embedding", "GRU", "Dense"], "loss": [5.0, 4.0]}
    for seed in range(3):
        inputs = checks.inputs_of(ex, seed)
        learned = {"gru_checks": dict(probe, scores=_trained_scores(rng, truth, seen, 1.0))}
        assert ex.judges["gru_checks"](learned, inputs, ctx) is None
        chance = {"gru_checks": dict(probe, scores=_trained_scores(rng, truth, seen, 0.0))}
        assert "does not beat random" in ex.judges["gru_checks"](chance, inputs, ctx)
        flat = {"gru_checks": dict(probe, scores=_trained_scores(rng, truth, seen, 1.0), loss=[5.0, 5.0])}
        assert "did not go down" in ex.judges["gru_checks"](flat, inputs, ctx)


def _validation_problem(rng_seed, seed, epochs, n_users=200, n_items=60):
    """A random leave-last-out validation problem: (seen, validation items, their 0/1 targets, the judges' ctx)."""
    rng = np.random.default_rng(rng_seed)
    seen = rng.random((n_users, n_items)) < 0.3
    val = np.array([rng.choice(np.flatnonzero(~row)) for row in seen])
    targets = np.zeros((n_users, n_items), bool)
    targets[np.arange(n_users), val] = True
    return seen, val, targets, {"val_items": val, "seen": seen, "shape": (n_users, n_items), "seed": seed, "epochs": epochs}


def test_caser_study_judge_checks_the_answer_and_the_runs():
    """05: the points need the right paired difference of L=8 vs L=3 and runs with their own settings."""
    from labkit import metrics, stats

    ex = checks.EXERCISES["05_caser_ablation"]
    seen, val, targets, ctx = _validation_problem(1, seed=3, epochs=3)

    def answer(skills=None, settings=None, swap=False, verdict=None):
        skills = skills or {}
        out = {"study_checks": {"names": sorted(checks._05_NAMES)}}
        for name, (L, h, v) in checks._05_SETTINGS.items():
            out[f"study_checks-{name}"] = {
                "scores": _trained_scores(np.random.default_rng(len(name)), targets, seen, skills.get(name, 2.0)),
                "settings": (settings or {}).get(name, {"L": L, "horizontal": h, "vertical": v, "epochs": 3})}
            out[f"study_checks-{name}"]["auc"] = metrics.hit_and_auc(out[f"study_checks-{name}"]["scores"], val,
                                                                     exclude=seen)["auc"]
        auc = {n: metrics.hit_and_auc_per_user(out[f"study_checks-{n}"]["scores"], val, exclude=seen)["auc"]
               for n in ("both, L=8", "both, L=3")}
        a, b = ("both, L=3", "both, L=8") if swap else ("both, L=8", "both, L=3")
        d = stats.paired_difference(auc[a], auc[b], seed=3)
        out["study_checks"].update(l8_vs_l3=[d.value, d.low, d.high], l8_vs_l3_verdict=verdict or stats.verdict(d))
        return out

    judge = ex.judges["study_checks"]
    assert judge(answer(), {}, ctx) is None
    assert judge(answer(skills={"both, L=8": 3.0}), {}, ctx) is None
    assert "l8_vs_l3 is not" in judge(answer(skills={"both, L=8": 3.0}, swap=True), {}, ctx)
    assert "verdict" in judge(answer(skills={"both, L=8": 3.0}, verdict="no clear difference"), {}, ctx)
    assert "did not learn" in judge(answer(skills={"vertical only, L=5": 0.0}), {}, ctx)
    wrong = {"horizontal only, L=5": {"L": 5, "horizontal": True, "vertical": True, "epochs": 3}}
    assert "not the result of run" in judge(answer(settings=wrong), {}, ctx)


def test_neumf_ablation_judge_checks_the_answer_not_a_quality_bar():
    """04: the points need the paired difference NeuMF - GMF and runs of the right models; a branch
    stuck at its start (a constant score, AUC 0.5: GMF and MLP with SEED = 1) costs nothing."""
    from labkit import metrics, stats

    ex = checks.EXERCISES["04_neumf_ablation"]
    seen, val, targets, ctx = _validation_problem(2, seed=1, epochs=10)
    n_users, n_items = ctx["shape"]

    def answer(stuck=(), model=None, swap=False):
        out = {"ablation_checks": {"names": ["GMF", "MLP", "NeuMF"]}}
        for n, name in enumerate(("GMF", "MLP", "NeuMF")):
            scores = (np.zeros((n_users, n_items), np.float32) if name in stuck
                      else _trained_scores(np.random.default_rng(n), targets, seen, 1.0 + n))
            out[f"ablation_checks-{name}"] = {"scores": scores,
                                              "settings": {"model": (model or {}).get(name, name), "epochs": 10}}
        auc = {n: metrics.hit_and_auc_per_user(out[f"ablation_checks-{n}"]["scores"], val, exclude=seen)["auc"]
               for n in ("NeuMF", "GMF")}
        a, b = ("GMF", "NeuMF") if swap else ("NeuMF", "GMF")
        d = stats.paired_difference(auc[a], auc[b], seed=1)
        out["ablation_checks"].update(neumf_vs_gmf=[d.value, d.low, d.high], neumf_vs_gmf_verdict=stats.verdict(d))
        return out

    judge = ex.judges["ablation_checks"]
    assert judge(answer(), {}, ctx) is None
    assert judge(answer(stuck=("GMF", "MLP")), {}, ctx) is None
    assert "neumf_vs_gmf is not" in judge(answer(swap=True), {}, ctx)
    assert "not the result of fit_and_evaluate" in judge(answer(model={"MLP": "NeuMF"}), {}, ctx)


# --------------------------------------------------------------------------- the toy course, sandboxed


@pytest.fixture(scope="module")
def toy_course(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grading")
    course = grading.build_course(tmp / "course", toy.toy_sources(tmp / "sources"), competition_data=None)
    problems = grading.release(course)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABKIT_DATA_DIR", str(tmp / "cache"))
        paths = data.tutorial_files(data.load("synthetic"), course / "competition" / "all")
    (course / "competition" / "training").mkdir()
    for name in competition.TRAINING_FILES:
        paths[name].rename(course / "competition" / "training" / f"{name}.csv")
    paths["ratings_test"].rename(course / "competition" / "ratings_test.csv")
    return course, problems


def submit(course, student, assignment, nb):
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{assignment}.ipynb")


def test_toy_round_trip_through_nbgrader_and_bubblewrap(toy_course):
    need_sandbox()
    course, problems = toy_course
    assert problems == {"*": []}
    read = lambda folder, a: nbformat.read(course / folder / a / f"{a}.ipynb", as_version=4)  # noqa: E731
    submit(course, "solution", toy.TOY, read("source", toy.TOY))
    submit(course, "untouched", toy.TOY, read("release", toy.TOY))
    submit(course, "solution", toy.COMP, read("source", toy.COMP))
    out = grading.grade(course, exercises=toy.EXERCISES, competition_assignment=toy.COMP, workers=2,
                        limits=sandbox.Limits(cell_timeout=60, notebook_timeout=240), log=lambda *a: None)
    rows = {(r["student"], r["assignment"]): r for r in out["rows"]}
    solved, untouched = rows["solution", toy.TOY], rows["untouched", toy.TOY]
    assert (solved["points"], solved["status"], solved["notes"]) == (5.0, "graded", []), solved
    assert untouched["points"] == 0.0 and {c["reason"] for c in untouched["checks"]} == {"NotImplementedError"}
    assert untouched["notes"] == [], "no false 'locked cells edited' note"
    assert rows["solution", toy.COMP]["points"] == 1.0
    (entry,) = out["leaderboard"]
    assert entry["submission"] == "solution" and entry["status"] == "ok" and entry["events"] > 0
    # the trusted scores are nbgrader's: its gradebook and its export
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_submission_notebook(toy.TOY, toy.TOY, "solution").score == 5.0
        assert gb.find_submission_notebook(toy.TOY, toy.TOY, "untouched").score == 0.0
    code, log = grading.run_nbgrader(course, ["export", "--to", str(course / "export.csv")])
    assert code == 0, log
    assert len(pd.read_csv(course / "export.csv")) == 2 * 2
    executed = (course / "autograded" / "solution" / toy.TOY / f"{toy.TOY}.ipynb").read_text()
    assert "labkit probe" not in executed and "HIDDEN" not in executed
    assert (course / "reports" / "grades.csv").is_file() and (course / "reports" / "leaderboard.csv").is_file()
    code, log = grading.run_nbgrader(course, ["generate_feedback", "--force", toy.TOY])   # nbgrader's feedback
    assert code == 0, log
    html = (course / "feedback" / "solution" / toy.TOY / f"{toy.TOY}.html").read_text()
    assert "Score: 5.0 / 5.0" in html and "add(DATA, DATA)" not in html


def test_no_sandbox_no_student_code(toy_course, monkeypatch):
    """Where bubblewrap cannot run, grading refuses unless told plainly that it is unsafe."""
    monkeypatch.setattr(sandbox, "unavailable", lambda: "bubblewrap is not installed (test)")
    with pytest.raises(RuntimeError, match="--unsafe-no-sandbox"):
        grading.Grader(toy_course[0], exercises=toy.EXERCISES)
    assert grading.main(["grade", str(toy_course[0])]) == 2


def test_a_course_without_its_release_is_one_line_not_a_traceback(tmp_path, capsys):
    """grade and collect before `make student`: exit 2 and a one-line reason on stderr."""
    course = tmp_path / "course"
    course.mkdir()
    assert grading.main(["grade", str(course)]) == 2
    assert grading.main(["collect", str(course), str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("gradebook.db does not exist" in line and "make student" in line for line in err), err
    assert err[0].startswith("grade: ") and err[1].startswith("collect: ")


@pytest.mark.integration
def test_one_submission_is_one_command_then_collect(toy_course, tmp_path):
    """grade-one (what a Slurm array task or a Kubernetes Job runs) and collect (once, after)."""
    need_sandbox()
    import subprocess

    course = toy_course[0]
    submit(course, "batch", toy.TOY, nbformat.read(course / "source" / toy.TOY / f"{toy.TOY}.ipynb", as_version=4))
    script = ("import sys; sys.path.insert(0, 'tests'); import grading_toy; from labkit.course import checks, grading; "
              "checks.EXERCISES.update(grading_toy.EXERCISES); sys.exit(grading.main(sys.argv[1:]))")
    result = tmp_path / "batch.json"
    done = subprocess.run([sys.executable, "-c", script, "grade-one", str(course), "batch", toy.TOY, "--seed", "7",
                           "--result", str(result)], cwd=grading.REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(result.read_text())["seed"] == 7
    assert grading.main(["collect", str(course), str(result)]) == 0
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_submission_notebook(toy.TOY, toy.TOY, "batch").score == 5.0
