"""Exercises through nbgrader: build the course folder, and grade so that nothing is lost.

The exercise sources (``exercises/NN_topic.ipynb``) are nbgrader notebooks with solutions. This
module adds only what nbgrader lacks:

* ``build_course`` writes a ready nbgrader course folder (``source/<assignment>/<assignment>.ipynb``,
  ``nbgrader_config.py`` with the course's kernel, cell timeout and ignore rules) and the
  competition's files; nbgrader itself generates the release (``nbgrader generate_assignment``);
* ``grade`` runs ``nbgrader autograde`` once per submission in a scratch copy of the course (the
  gradebook and config as they were when the run started), under a wall-clock limit, and
  collects the scores, the reason for every lost check and the executed notebook back; a broken,
  looping or crashing notebook costs only its own points, and no student code runs where it
  could change the instructor's files or another student's grading. Student cells are reviewed
  first (``labkit.review``); findings withhold the points until an instructor clears them. The
  competition's submissions come from the re-run of exercise 07 on the training files alone and
  are scored, after every kernel has exited, on an in-memory copy of ``ratings_test.csv``.

Commands (run from the repository; ``make course``, ``make student``, ``make grade`` wrap them)::

    python -m labkit.exercises course course/          # the course folder (+ competition files)
    python -m labkit.exercises release course/         # nbgrader generate_assignment, every exercise
    python -m labkit.exercises grade course/           # autograde submitted/, reports, leaderboard
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from .review import nbgrader_meta, review

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCES = REPO_ROOT / "exercises"
COURSE_ID = "deeprec"
KERNEL = "deeprec"
COMPETITION = "07_funk_svd_bpr"          # the assignment re-run for the leaderboard
SUBMISSION = "submission_bpr_mf.csv"     # the file its notebook writes
CELL_TIMEOUT = 600        # s per cell: the slowest solution cell (06's comparison) took 125 s on 2 busy cores
NOTEBOOK_TIMEOUT = 1800   # s per submission (wall clock, kernel start and every cell)
# files that never ship in a release nor reach autograded/: generated data, caches, checkpoints
IGNORE = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.csv", "*.part", "*.zip", "*.npy",
          "*.npz", "*.pkl", "*.pt", "*.params", "*.keras", "*.h5", "*.log", ".nbgrader.log", "data"]
CLEARED_FILE = "review_cleared.txt"
REPORTS = "reports"


def assignments(sources: Path = SOURCES) -> list[str]:
    """Return the assignment names: the stems of ``NN_*.ipynb`` in ``sources``.

    >>> assignments()[0]
    '01_leave_last_out'
    """
    return [p.stem for p in sorted(Path(sources).glob("[0-9][0-9]_*.ipynb"))]


def config_text(cell_timeout: int = CELL_TIMEOUT) -> str:
    """Return the course's ``nbgrader_config.py``.

    >>> "c.Execute.timeout = 600" in config_text()
    True
    """
    return f'''# nbgrader configuration of the course, written by `python -m labkit.exercises course`.
c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.course_id = "{COURSE_ID}"
# generated files (submissions, caches, checkpoints) never ship in a release or reach autograded/
c.CourseDirectory.ignore = {IGNORE!r}
# the course's kernel (the pinned stack); every notebook runs in it
c.Execute.kernel_name = "{KERNEL}"
# seconds per cell: the slowest solution cell (06's comparison) took 125 s on 2 busy CPU cores; a cell
# past the limit is interrupted and fails, the rest of the notebook still runs
c.Execute.timeout = {int(cell_timeout)}
c.Execute.interrupt_on_timeout = True
# a deleted check cell is put back (and runs) instead of scoring nothing
c.OverwriteCells.add_missing_cells = True
'''


def build_course(course: Path, sources: Path = SOURCES, competition_data: str | None = "auto",
                 cell_timeout: int = CELL_TIMEOUT, force_config: bool = False, log=print) -> Path:
    """Write (or refresh) an nbgrader course folder from the exercise sources; return its path.

    Copies every source to ``source/<assignment>/<assignment>.ipynb``, writes ``nbgrader_config.py``
    (kept if present, unless ``force_config``), an empty ``review_cleared.txt``, and, unless
    ``competition_data`` is None, the competition's files from that dataset (``auto``: ML-1M if
    it can be had, else ML-100K): ``competition/training/`` (``ratings_train.csv``, ``users.csv``,
    ``movies.csv``) and ``competition/ratings_test.csv``. The gradebook, submissions and grades
    already there are left alone.

    Example::

        build_course(Path("course"))   # then: cd course && nbgrader generate_assignment 01_leave_last_out
    """
    course = Path(course)
    for name in assignments(sources):
        dest = course / "source" / name
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(sources) / f"{name}.ipynb", dest / f"{name}.ipynb")
    config = course / "nbgrader_config.py"
    if force_config or not config.exists():
        config.write_text(config_text(cell_timeout))
    cleared = course / CLEARED_FILE
    if not cleared.exists():
        cleared.write_text("# Submissions cleared after review, one per line: <student_id> <assignment>\n")
    training = course / "competition" / "training"
    if competition_data and not (training / "ratings_train.csv").is_file():
        from . import data
        from .competition import TRAINING_FILES

        ml = data.load(competition_data, default="ml-1m")
        with tempfile.TemporaryDirectory() as tmp:
            paths = data.tutorial_files(ml, Path(tmp))
            training.mkdir(parents=True, exist_ok=True)
            for name in TRAINING_FILES:
                shutil.move(paths[name], training / f"{name}.csv")
            shutil.move(paths["ratings_test"], course / "competition" / "ratings_test.csv")
        (course / "competition" / "DATASET").write_text(ml.name + "\n")
        log(f"competition files from {ml.name}: {training}/ and {course / 'competition' / 'ratings_test.csv'}")
    return course


# --------------------------------------------------------------------------- running nbgrader


def _venv_on_path() -> None:
    """Put this Python's bin folder first on PATH: nbgrader's gradebook runs the ``alembic`` command."""
    bindir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def _kill_tree(pid: int) -> None:
    """Kill a process and every process it started (nbgrader starts kernels in their own sessions)."""
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)


def run_nbgrader(course: Path, args: list[str], env: dict | None = None,
                 timeout: float | None = None) -> tuple[int | None, str]:
    """Run ``nbgrader <args>`` in ``course``; return (exit code, None after a timeout; its output).

    Example::

        code, log = run_nbgrader(Path("course"), ["generate_assignment", "--force", "01_leave_last_out"])
    """
    _venv_on_path()
    env = dict(os.environ if env is None else env, PATH=os.environ["PATH"])
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc.pid)
            proc.wait()
            code = None
        out.seek(0)
        return code, out.read().decode("utf-8", "replace")


def log_problems(log: str) -> list[str]:
    """Return nbgrader's WARNING, ERROR and CRITICAL log lines (and Python tracebacks' last lines).

    >>> log_problems("[X | INFO] fine\\n[AutogradeApp | WARNING] No submitted file: a.ipynb\\n")
    ['[AutogradeApp | WARNING] No submitted file: a.ipynb']
    """
    return [line for line in log.splitlines() if re.search(r"\| (WARNING|ERROR|CRITICAL)\]", line)]


def release(course: Path, names: list[str] | None = None) -> dict[str, list[str]]:
    """Run ``nbgrader generate_assignment --force`` for each assignment; return its warnings/errors.

    Raises RuntimeError with nbgrader's output when it fails.

    Example::

        release(Path("course"))   # course/release/<assignment>/<assignment>.ipynb
    """
    course = Path(course)
    problems = {}
    for name in names or ["*"]:   # "*": every assignment of source/ in one nbgrader run
        code, log = run_nbgrader(course, ["generate_assignment", "--force", name])
        if code != 0:
            raise RuntimeError(f"nbgrader generate_assignment {name} failed (exit {code}):\n{log}")
        problems[name] = log_problems(log)
    return problems


# --------------------------------------------------------------------------- grading


def _ignored(rel: Path) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in rel.parts for pattern in IGNORE)


def _read_tree(folder: Path) -> dict[str, bytes]:
    """``{relative path: bytes}`` of every file under ``folder``."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def _write_tree(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = Path(folder) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _rmtree(folder: Path) -> None:
    def retry(func, path, _):
        os.chmod(path, 0o700)
        os.chmod(os.path.dirname(path), 0o700)
        func(path)

    if Path(folder).exists():
        shutil.rmtree(folder, onerror=retry)


def snapshot(course: Path) -> dict[str, bytes]:
    """Return the course files grading depends on, as bytes: config, gradebook, ``source/``.

    Taken once, before any student code runs; every submission is graded from this copy.
    """
    course = Path(course)
    if not (course / "gradebook.db").is_file():
        raise FileNotFoundError(f"{course / 'gradebook.db'} does not exist: generate the release first "
                                f"(make student, or nbgrader generate_assignment in {course})")
    files = {"nbgrader_config.py": (course / "nbgrader_config.py").read_bytes(),
             "gradebook.db": (course / "gradebook.db").read_bytes()}
    files.update({f"source/{rel}": data for rel, data in _read_tree(course / "source").items()})
    return files


def _environment(scratch: Path, root: Path, hide: list[str], competition: bool) -> dict[str, str]:
    """The environment of nbgrader and the kernel: no variable naming a hidden path; for the
    competition no MovieLens (empty cache, no mirror, no download), only the training files."""
    env = {k: v for k, v in os.environ.items() if not any(h and h in v for h in hide)}
    env["PWD"] = str(root)
    env.pop("OLDPWD", None)
    if competition:
        env.pop("LABKIT_MIRROR", None)
        env["LABKIT_DATA_DIR"] = str(scratch / "no-data")
        env["LABKIT_NO_DOWNLOAD"] = "1"
        env["LABKIT_TUTORIAL_DIR"] = str(scratch / "training")
    return env


def _reasons(nb, cell_timeout) -> dict[str, str]:
    """``{grade_id: why}`` for the check cells of an autograded notebook that show an error."""
    out, timed_out = {}, None
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        meta = nbgrader_meta(cell)
        timeout = any(o.get("ename") == "CellTimeoutError" for o in errors)
        if meta.get("grade") and errors:
            if timeout:
                why = f"timeout after {cell_timeout} s" if cell_timeout else "timeout"
            else:
                e = errors[-1]
                why = f"{e.get('ename')}: {e.get('evalue', '')}".strip().rstrip(":")
                why = why if len(why) <= 300 else why[:297] + "..."
                if timed_out:
                    why += f" (after a timeout in {timed_out})"
            out[meta["grade_id"]] = why
        if timeout and not timed_out:
            timed_out = f"cell '{meta['grade_id']}'" if meta.get("grade_id") else "an added cell"
    return out


def _read_scores(db: Path, assignment: str, student: str, notebooks: list[str]) -> dict:
    """Scores of one submission in a (scratch) gradebook, as plain data."""
    from nbgrader.api import Gradebook, MissingEntry

    _venv_on_path()
    out = {"timestamp": None, "notebooks": {}}
    with Gradebook(f"sqlite:///{db}") as gb:
        for name in notebooks:
            entry = {"grades": {}, "comments": {}, "late_penalty": None}
            try:
                sub = gb.find_submission_notebook(name, assignment, student)
            except MissingEntry:
                out["notebooks"][name] = entry
                continue
            out["timestamp"] = sub.assignment.timestamp
            entry["grades"] = {g.name: (g.auto_score, g.needs_manual_grade) for g in sub.grades}
            entry["comments"] = {c.name: c.auto_comment for c in sub.comments}
            entry["late_penalty"] = sub.late_submission_penalty
            out["notebooks"][name] = entry
    return out


def autograde_submission(files: dict[str, bytes], folder: Path, student: str, assignment: str,
                         cell_timeout: int | None = None, notebook_timeout: float = NOTEBOOK_TIMEOUT,
                         training: dict[str, bytes] | None = None, hide: list[str] = (),
                         submission_file: str = SUBMISSION) -> dict:
    """Autograde one submission folder with nbgrader in a scratch course built from ``files``.

    ``files`` is the course snapshot (``snapshot``); ``training`` the competition's training files
    (name -> bytes), given only for the competition's assignment; ``hide``: strings (paths) no
    environment variable of nbgrader and the kernel may contain. Returns a dict: ``student``,
    ``assignment``, ``notebooks`` (per notebook: ``status``, ``max`` {grade_id: points}, ``reasons``
    {grade_id: why it failed}, ``failure`` (why the whole notebook failed, if it did), ``review``
    (findings), ``notes``), ``scores`` (nbgrader's, for the gradebook), ``autograded`` (the executed
    folder's files), ``submission`` (the competition file the re-run wrote, or None), ``seconds``,
    ``log`` (nbgrader's output). ``score`` turns it into report rows.
    """
    import nbformat

    start = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="labkit-grade-"))
    root = scratch / "course"
    result = {"student": student, "assignment": assignment, "notebooks": {}, "scores": None,
              "autograded": {}, "submission": None, "log": ""}
    try:
        _write_tree(root, {"nbgrader_config.py": files["nbgrader_config.py"], "gradebook.db": files["gradebook.db"]})
        prefix = f"source/{assignment}/"
        sources = {rel[len(prefix):]: data for rel, data in files.items() if rel.startswith(prefix)}
        # autograde takes the notebooks from the gradebook; only other source files go to scratch
        _write_tree(root / "source" / assignment, {r: d for r, d in sources.items() if not r.endswith(".ipynb")})
        (root / "source" / assignment).mkdir(parents=True, exist_ok=True)
        submitted = root / "submitted" / student / assignment
        submitted.mkdir(parents=True)
        for path in sorted(Path(folder).rglob("*")):
            rel = path.relative_to(folder)
            if path.is_file() and not _ignored(rel):
                (submitted / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, submitted / rel)
        if training is not None:
            _write_tree(scratch / "training", training)
            (scratch / "no-data").mkdir()

        names = _notebooks(files, assignment)
        valid = []
        for name in names:
            entry = result["notebooks"][name] = {"status": "graded", "review": [], "notes": [],
                                                 "max": _max_scores(files, assignment, name)}
            path = submitted / f"{name}.ipynb"
            if not path.is_file():
                entry["status"], entry["failure"] = "missing", "notebook not submitted"
                continue
            try:
                nb = nbformat.read(path, as_version=4)
                nb.cells   # noqa: B018 (a JSON file that is not a notebook has none)
            except Exception as exc:   # invalid JSON, or not a notebook
                entry["status"] = "invalid notebook"
                entry["failure"] = f"invalid notebook JSON: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                path.unlink()   # nbgrader would fail on it; a missing notebook scores 0 and the rest runs
                continue
            entry["review"] = review(nb, nbformat.reads(sources[f"{name}.ipynb"].decode(), as_version=4))
            valid.append(name)

        if valid:
            args = ["autograde", assignment, "--student", student, "--force"]
            if cell_timeout:
                args.append(f"--Execute.timeout={int(cell_timeout)}")
            env = _environment(scratch, root, list(hide), training is not None)
            code, log = run_nbgrader(root, args, env=env, timeout=notebook_timeout)
            result["log"] = log
            used = re.search(r"Timeout waiting for execute reply \((\d+)s\)", log)
            timeout_s = int(used.group(1)) if used else cell_timeout
            if code is None:
                failure = f"timeout after {notebook_timeout:g} s for the whole notebook (killed)"
            elif "DeadKernelError" in log or "Kernel died" in log:
                failure = "kernel died (the notebook's process exited or crashed)"
            elif "UnresponsiveKernelError" in log or "kernel became unresponsive" in log:
                failure = "kernel unresponsive after a timeout"
            elif code != 0 or "There was an error processing assignment" in log:
                tail = [line for line in log.splitlines() if line.strip()][-1:] or [""]
                failure = f"nbgrader failed (exit {code}): {tail[0].strip()[:200]}"
            else:
                failure = None
            edited = sorted(set(re.findall(r"Attribute 'checksum' for cell (\S+) has changed", log)))
            autograded = root / "autograded" / student / assignment
            result["autograded"] = _read_tree(autograded) if autograded.is_dir() else {}
            if training is not None and (autograded / submission_file).is_file():
                result["submission"] = (autograded / submission_file).read_bytes()
            try:
                result["scores"] = _read_scores(root / "gradebook.db", assignment, student, valid)
            except Exception as exc:   # e.g. nbgrader killed while writing: the notebooks score 0
                failure = failure or f"no scores in the gradebook: {type(exc).__name__}: {exc}"
            for name in valid:
                entry = result["notebooks"][name]
                if edited:
                    entry["notes"].append("locked cells edited, restored by nbgrader: " + ", ".join(edited))
                if failure:
                    entry["status"], entry["failure"] = "failed", failure
                    continue
                path = autograded / f"{name}.ipynb"
                if not path.is_file():
                    entry["status"], entry["failure"] = "failed", "no autograded notebook (see the log)"
                    continue
                entry["reasons"] = _reasons(nbformat.read(path, as_version=4), timeout_s)
        result["seconds"] = round(time.monotonic() - start, 1)
        return result
    finally:
        _rmtree(scratch)


def _cleared(course: Path) -> set[tuple[str, str]]:
    path = Path(course) / CLEARED_FILE
    if not path.is_file():
        return set()
    pairs = set()
    for line in path.read_text().splitlines():
        parts = line.split("#")[0].split()
        if len(parts) == 2:
            pairs.add((parts[0], parts[1]))
    return pairs


def score(result: dict, cleared: set = frozenset()) -> list[dict]:
    """Turn one autograded submission into report rows, one per notebook (points withheld on review).

    Each row: ``student``, ``assignment``, ``notebook``, ``status``, ``points``, ``max_points``,
    ``auto_points`` (what the checks gave), ``checks`` [{grade_id, points, max_points, reason}],
    ``review`` (findings), ``notes``, ``nbgrader_log`` (its WARNING/ERROR lines), ``seconds``.
    """
    rows = []
    scores = (result.get("scores") or {}).get("notebooks", {})
    for name, entry in result["notebooks"].items():
        grades = scores.get(name, {}).get("grades", {})
        maxima = entry["max"]
        checks, auto = [], 0.0
        for gid, top in maxima.items():
            got = (grades.get(gid) or (None, None))[0] or 0.0
            auto += got
            reason = "" if got >= top else (entry.get("failure") or entry.get("reasons", {}).get(gid)
                                              or "no points (no error recorded)")
            checks.append({"grade_id": gid, "points": got, "max_points": top, "reason": reason})
        status = entry["status"]
        flagged = bool(entry["review"]) and (result["student"], result["assignment"]) not in cleared
        for check in checks:
            if flagged and check["points"]:
                check["points"], check["reason"] = 0.0, "withheld until an instructor clears the review"
        if status == "graded" and entry["review"]:
            status = "needs review" if flagged else "cleared after review"
        rows.append({"student": result["student"], "assignment": result["assignment"], "notebook": name,
                     "status": status, "points": 0.0 if flagged else auto,
                     "max_points": float(sum(maxima.values())), "auto_points": auto, "checks": checks,
                     "review": entry["review"],
                     "notes": entry["notes"] + ([entry["failure"]] if entry.get("failure") else []),
                     "nbgrader_log": log_problems(result.get("log", "")), "seconds": result.get("seconds")})
    return rows


def _notebooks(files: dict[str, bytes], assignment: str) -> list[str]:
    """The notebook names of an assignment in the snapshot (``source/<assignment>/<name>.ipynb``)."""
    prefix = f"source/{assignment}/"
    return sorted(Path(r).stem for r in files if r.startswith(prefix) and r.endswith(".ipynb")
                  and "/" not in r[len(prefix):])


def _max_scores(files: dict[str, bytes], assignment: str, notebook: str) -> dict[str, float]:
    """``{grade_id: points}`` of a notebook's checks, from its source in the snapshot."""
    import nbformat

    nb = nbformat.reads(files[f"source/{assignment}/{notebook}.ipynb"].decode(), as_version=4)
    return {nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c).get("points", 0))
            for c in nb.cells if nbgrader_meta(c).get("grade")}


def merge_gradebook(db: Path, results: list[dict], cleared: set) -> None:
    """Write the submissions' scores into the gradebook ``db`` (nbgrader's own tables).

    A notebook that needs review gets a manual score of 0 on every check (points withheld) and is
    flagged; once cleared, the manual scores are removed and the automatic ones count.
    """
    from nbgrader.api import Gradebook

    _venv_on_path()
    with Gradebook(f"sqlite:///{db}") as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")   # SQLAlchemy 2.1 warns about nbgrader's own session handling
        for result in results:
            s, a = result["student"], result["assignment"]
            scores = result.get("scores") or {"timestamp": None, "notebooks": {}}
            gb.update_or_create_student(s)
            gb.update_or_create_submission(a, s, **({"timestamp": scores["timestamp"]} if scores["timestamp"] else {}))
            for name, entry in result["notebooks"].items():
                nb = gb.find_submission_notebook(name, a, s)
                sc = scores["notebooks"].get(name, {"grades": {}, "comments": {}, "late_penalty": None})
                flagged = bool(entry["review"]) and (s, a) not in cleared
                for grade in nb.grades:
                    auto, manual_needed = sc["grades"].get(grade.name, (0.0, False))
                    grade.auto_score = auto or 0.0
                    grade.needs_manual_grade = bool(manual_needed) or flagged
                    if flagged:
                        grade.manual_score = 0.0
                    elif nb.flagged:   # cleared since the last run: the automatic score counts
                        grade.manual_score = None
                for comment in nb.comments:
                    if comment.name in sc["comments"]:
                        comment.auto_comment = sc["comments"][comment.name]
                nb.late_submission_penalty = sc["late_penalty"]
                nb.flagged = flagged
            gb.db.commit()


def submissions(course: Path, students=None, names=None) -> list[tuple[str, str, Path]]:
    """Return (student, assignment, folder) for every ``submitted/<student>/<assignment>/`` folder."""
    out = []
    for sdir in sorted(p for p in (Path(course) / "submitted").glob("*") if p.is_dir()):
        for adir in sorted(p for p in sdir.glob("*") if p.is_dir()):
            if (not students or sdir.name in students) and (not names or adir.name in names):
                out.append((sdir.name, adir.name, adir))
    return out


def grade(course: Path, students=None, names=None, cell_timeout: int | None = None,
          notebook_timeout: float = NOTEBOOK_TIMEOUT, ratings_test: Path | None = None,
          training_dir: Path | None = None, competition_assignment: str = COMPETITION,
          submission_file: str = SUBMISSION, log=print) -> dict:
    """Autograde every submission of ``course/submitted/`` (or the chosen students/assignments).

    Each runs in a scratch copy of the course taken at the start (``autograde_submission``); one
    failure never stops the run. Afterwards, with no student code running: scores go into the
    gradebook, executed notebooks into ``autograded/``, the reports into ``reports/`` (grades.csv,
    grades.json, leaderboard.csv), and any change a notebook made to ``source/`` or the config is
    undone. Returns ``{"rows": [...], "leaderboard": [...], "restored": [...]}``.

    Example::

        grade(Path("course"))
    """
    import pandas as pd

    from . import competition

    course = Path(course).resolve()
    files = snapshot(course)
    cleared = _cleared(course)
    training_dir = Path(training_dir or course / "competition" / "training").resolve()
    ratings_test = Path(ratings_test or course / "competition" / "ratings_test.csv").resolve()
    # the competition's files, read before any student code runs; the leaderboard uses these copies
    training = ({f"{n}.csv": (training_dir / f"{n}.csv").read_bytes() for n in competition.TRAINING_FILES}
                if (training_dir / "ratings_train.csv").is_file() else None)
    test_bytes = ratings_test.read_bytes() if ratings_test.is_file() else None
    test = pd.read_csv(io.BytesIO(test_bytes)) if test_bytes is not None else None
    kept = {course / rel: data for rel, data in files.items() if rel != "gradebook.db"}
    kept.update({training_dir / name: data for name, data in (training or {}).items()})
    if test_bytes is not None:
        kept[ratings_test] = test_bytes
    hide = [str(course), str(ratings_test), str(training_dir)]
    todo = submissions(course, students, names)
    if not todo:
        log(f"no submissions in {course / 'submitted'} (expected submitted/<student>/<assignment>/)")
    results, unknown = [], []
    for student, assignment, folder in todo:
        if not _notebooks(files, assignment):
            log(f"{student:<16} {assignment:<28} unknown assignment (no source/{assignment}/): skipped")
            unknown.append((student, assignment))
            continue
        is_comp = assignment == competition_assignment
        if is_comp and training is None:
            log(f"note: no training files in {training_dir}: {assignment} runs without the competition re-run")
        try:
            r = autograde_submission(files, folder, student, assignment, cell_timeout, notebook_timeout,
                                     training if is_comp else None, hide, submission_file)
        except Exception as exc:   # the grader's own failure on one submission never stops the run
            failure = f"grader error: {type(exc).__name__}: {exc}"
            r = {"student": student, "assignment": assignment, "scores": None, "autograded": {}, "submission": None,
                 "log": "", "seconds": None,
                 "notebooks": {name: {"status": "failed", "review": [], "notes": [], "failure": failure,
                                      "max": _max_scores(files, assignment, name)}
                               for name in _notebooks(files, assignment)}}
        results.append(r)
        row_points = [f"{x['points']:g}/{x['max_points']:g} {x['status']}" for x in score(r, cleared)]
        log(f"{student:<16} {assignment:<28} {', '.join(row_points)}  ({r.get('seconds', 0)} s)")

    # ---- no student code runs from here on
    restored = []
    for path, data in kept.items():
        if not path.is_file() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            restored.append(str(path.relative_to(course)) if path.is_relative_to(course) else str(path))
    if restored:
        log("WARNING: course files changed during grading were restored: " + ", ".join(restored))
    for r in results:
        dest = course / "autograded" / r["student"] / r["assignment"]
        _rmtree(dest)
        _write_tree(dest, r["autograded"])

    rows = [row for r in results for row in score(r, cleared)]
    rows += [{"student": s, "assignment": a, "notebook": "-", "status": "unknown assignment", "points": 0.0,
              "max_points": 0.0, "auto_points": 0.0, "checks": [], "review": [], "nbgrader_log": [], "seconds": None,
              "notes": [f"no assignment {a!r} in source/: nothing graded"]} for s, a in unknown]
    board = []
    if test is not None and training is not None:
        users = pd.read_csv(io.BytesIO(training["users.csv"])).UserID
        items = pd.read_csv(io.BytesIO(training["movies.csv"])).MovieID
        entries = {}
        for r in results:
            if r["assignment"] != competition_assignment:
                continue
            flagged = any(row["status"] == "needs review" for row in score(r, cleared))
            if flagged:
                board.append({"submission": r["student"], "status": "needs review", "problems": []})
            elif r["submission"] is None:
                board.append({"submission": r["student"], "status": "invalid",
                              "problems": [f"{r['student']}: the re-run wrote no {submission_file}"]})
            else:
                entries[r["student"]] = r["submission"]
        board = competition.leaderboard(entries, test, users, items) + board
    all_rows, all_board = write_reports(course / REPORTS, rows, board, competition_assignment)
    if len(all_rows) > len(rows):
        log(f"{course / REPORTS}: this run's {len(rows)} rows, and {len(all_rows) - len(rows)} kept from earlier runs")

    part = course / ".gradebook.db.part"
    part.write_bytes(files["gradebook.db"])   # the gradebook as it was, plus this run's scores
    for r in results:
        try:
            merge_gradebook(part, [r], cleared)
        except Exception as exc:   # the reports are written; say which scores the gradebook lacks
            log(f"WARNING: {r['student']}/{r['assignment']} not written to the gradebook: {type(exc).__name__}: {exc}")
    os.replace(part, course / "gradebook.db")
    return {"rows": rows, "leaderboard": board, "restored": restored}


def write_reports(folder: Path, rows: list[dict], board: list[dict], competition_assignment: str = COMPETITION):
    """Write ``grades.csv`` (one row per notebook), ``grades.json`` (everything) and ``leaderboard.csv``.

    Rows of earlier runs (in ``grades.json``) for submissions not graded this time are kept, so
    grading one student again keeps everyone else in the reports. Returns (rows, board) as written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "grades.json").is_file():
        earlier = json.loads((folder / "grades.json").read_text())
        done = {(r["student"], r["assignment"]) for r in rows}
        rows = [r for r in earlier.get("grades", []) if (r["student"], r["assignment"]) not in done] + rows
        rows.sort(key=lambda r: (r["student"], r["assignment"], r["notebook"]))
        rerun = {s for s, a in done if a == competition_assignment}
        board = board + [r for r in earlier.get("leaderboard", []) if r["submission"] not in rerun]
        board.sort(key=lambda r: (r["status"] != "ok", -r.get("ndcg@10", 0.0), str(r["submission"])))
    (folder / "grades.json").write_text(json.dumps({"grades": rows, "leaderboard": board}, indent=1, default=str))
    with open(folder / "grades.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "assignment", "notebook", "points", "max_points", "status", "lost", "review", "notes"])
        for r in rows:
            lost = "; ".join(f"{c['grade_id']}: {c['reason']}" for c in r["checks"] if c["reason"])
            w.writerow([r["student"], r["assignment"], r["notebook"], f"{r['points']:g}", f"{r['max_points']:g}",
                        r["status"], lost, " | ".join(r["review"]), " | ".join(r["notes"])])
    with open(folder / "leaderboard.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rank", "student", "status", "ndcg@10", "recall@10", "events", "problems"])
        rank = 0
        for row in board:
            rank += row["status"] == "ok"
            w.writerow([rank if row["status"] == "ok" else "", row["submission"], row["status"],
                        row.get("ndcg@10", ""), row.get("recall@10", ""), row.get("events", ""),
                        " | ".join(row.get("problems", []))])
    return rows, board


def score_table(rows: list[dict]) -> str:
    """Return a plain-text table: one line per notebook, its lost checks and review findings below.

    >>> print(score_table([{"student": "al", "notebook": "01_x", "points": 2.0, "max_points": 5.0, "status": "graded",
    ...                     "checks": [{"grade_id": "t1", "reason": "AssertionError: x"}], "review": []}]))
    student          notebook                   points        status
    al               01_x                         2.0 / 5.0   graded
                       t1: AssertionError: x
    """
    lines = [f"{'student':<16} {'notebook':<26} {'points':<13} status"]
    for r in rows:
        lines.append(f"{r['student']:<16} {r['notebook']:<26} {r['points']:>5.1f} / {r['max_points']:<5.1f} "
                     f"{r['status']}")
        lines += [f"{'':<18} {c['grade_id']}: {c['reason']}" for c in r["checks"] if c["reason"]]
        lines += [f"{'':<18} review: {f}" for f in r["review"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.exercises", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("course", help="write or refresh the nbgrader course folder")
    c.add_argument("course", type=Path)
    c.add_argument("--competition-data", default="auto",
                   help="dataset of the competition's files: auto (ML-1M, else ML-100K), ml-1m, ml-100k, or none")
    c.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT)
    c.add_argument("--force-config", action="store_true", help="rewrite nbgrader_config.py")
    r = sub.add_parser("release", help="nbgrader generate_assignment for every assignment of the course")
    r.add_argument("course", type=Path)
    g = sub.add_parser("grade", help="autograde course/submitted/, write reports and the leaderboard")
    g.add_argument("course", type=Path)
    g.add_argument("--student", action="append", help="only this student (repeatable)")
    g.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    g.add_argument("--cell-timeout", type=int, help="seconds per cell (default: the course's nbgrader_config.py)")
    g.add_argument("--notebook-timeout", type=float, default=NOTEBOOK_TIMEOUT, help="seconds per submission")
    g.add_argument("--ratings-test", type=Path, help="default: <course>/competition/ratings_test.csv")
    g.add_argument("--training-dir", type=Path, help="default: <course>/competition/training")
    args = parser.parse_args(argv)
    if args.command == "course":
        data = None if args.competition_data == "none" else args.competition_data
        build_course(args.course, competition_data=data, cell_timeout=args.cell_timeout,
                     force_config=args.force_config)
        print(f"course folder: {args.course} (assignments: {', '.join(assignments())})")
        return 0
    if args.command == "release":
        for name, problems in release(args.course).items():
            print("\n".join(problems) or f"released: {Path(args.course) / 'release'}/")
        return 0
    out = grade(args.course, args.student, args.assignment, args.cell_timeout, args.notebook_timeout,
                args.ratings_test, args.training_dir)
    from .competition import format_leaderboard

    print("\n" + score_table(out["rows"]))
    if out["leaderboard"]:
        print("\nleaderboard (re-run on the training files, NDCG@10 on the test period):")
        print(format_leaderboard(out["leaderboard"]))
    print(f"\nreports: {Path(args.course) / REPORTS}/grades.csv, grades.json, leaderboard.csv; "
          f"executed notebooks: {Path(args.course) / 'autograded'}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
