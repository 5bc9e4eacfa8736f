"""Exercises through nbgrader, graded so that a submission can neither cheat nor harm.

nbgrader stays the instructor's tool: ``build_course`` writes a course folder, nbgrader generates
the release (``release``), collects, keeps the gradebook, writes feedback and exports. What nbgrader
cannot do safely, running students' code and deciding their points, happens here:

* each submission runs in its own bubblewrap sandbox (``labkit.course.sandbox``): the release's
  notebook with the student's solution cells (and cells the student added), executed by
  ``labkit.course.runner`` with a **probe** after each check cell (``labkit.course.checks``). The
  probe calls the student's functions on inputs drawn from a seed chosen for this grading run and
  writes what they returned as plain data. No hidden test, solution or hidden file enters;
* outside, in this trusted process, the **judge** of each check computes the expected answers on
  the same inputs, compares, and gives the points with the reason for each lost check;
* the gradebook (nbgrader's API), ``reports/grades.csv``/``.json`` and ``reports/leaderboard.csv``
  are written here only, from what each sandbox returned (size-capped, JSON or ``.npy`` without
  pickle); the course folder is never visible to student code.

Commands (``make course``, ``make student``, ``make grade`` wrap them)::

    python -m labkit.course course course/          # the course folder (+ competition files)
    python -m labkit.course release course/         # nbgrader generate_assignment, every exercise
    python -m labkit.course grade course/           # every submission, in parallel; reports, leaderboard
    python -m labkit.course grade-one course/ alice 03_ranking_losses --result r.json   # one (batch systems)
    python -m labkit.course collect course/ results/*.json                               # then merge them
"""

from __future__ import annotations

import argparse
import base64
import csv
import fnmatch
import io
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import checks as checks_module
from . import sandbox
from .review import HIDDEN, nbgrader_meta, review

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
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
    return f'''# nbgrader configuration of the course, written by `python -m labkit.course course`.
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
    (kept if present, unless ``force_config``), and, unless
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
    training = course / "competition" / "training"
    if competition_data and not (training / "ratings_train.csv").is_file():
        from labkit import data
        from labkit.competition import TRAINING_FILES

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



# --------------------------------------------------------------------------- the notebook to run


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
        os.chmod(os.path.dirname(path), 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
        func(path)

    if Path(folder).exists():
        shutil.rmtree(folder, onerror=retry)


def _ignored(rel: Path) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in rel.parts for pattern in IGNORE)


def snapshot(course: Path) -> dict[str, bytes]:
    """Return the course files grading depends on, as bytes: config, gradebook, ``source/``, ``release/``.

    Taken once, before any submission runs; every submission is graded from this copy, and the
    files are verified (and restored if changed) at the end.
    """
    course = Path(course)
    if not (course / "gradebook.db").is_file():
        raise FileNotFoundError(f"{course / 'gradebook.db'} does not exist: generate the release first "
                                f"(make student, or nbgrader generate_assignment in {course})")
    files = {"nbgrader_config.py": (course / "nbgrader_config.py").read_bytes(),
             "gradebook.db": (course / "gradebook.db").read_bytes()}
    for folder in ("source", "release"):
        if (course / folder).is_dir():
            files.update({f"{folder}/{rel}": data for rel, data in _read_tree(course / folder).items()})
    return files


def _parameters(source_nb) -> dict:
    """The values of the source notebook's ``parameters`` cell (the instructor's code, run here)."""
    for cell in source_nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            scope: dict = {}
            exec(cell.source, scope)   # noqa: S102 (the instructor's own cell)
            return {k: v for k, v in scope.items() if k.isupper() and isinstance(v, (int, float, str, bool))}
    return {}


def merge(submitted_nb, released_nb, overrides: dict | None = None):
    """Return (the notebook to run, notes): the release's cells in the release's order, each solution
    cell as the student wrote it, the student's added cells where they put them, and every other
    cell (read-only and check cells) as released: edits to them are replaced and named in a note.
    ``overrides`` (parameter: value) are set in a cell after the ``parameters`` cell."""
    import nbformat

    released = {nbgrader_meta(c).get("grade_id"): c for c in released_nb.cells if nbgrader_meta(c).get("grade_id")}
    theirs, added, after, used = {}, {}, None, set()
    for cell in submitted_nb.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        if gid in released and gid not in used:
            used.add(gid)
            theirs[gid] = cell
            after = gid
        elif cell.cell_type == "code":   # an added cell (or a copied one): the student's code, no check
            added.setdefault(after, []).append(nbformat.v4.new_code_cell(cell.source))
    cells, edited = [nbformat.from_dict(c) for c in added.get(None, [])], []
    for cell in released_nb.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        mine = theirs.get(gid)
        if gid and nbgrader_meta(cell).get("solution") and mine is not None:
            cells.append(nbformat.v4.new_code_cell(mine.source, metadata=cell.metadata)
                         if cell.cell_type == "code" else nbformat.from_dict(cell))
        else:
            if gid and cell.cell_type == "code" and mine is not None \
                    and HIDDEN.sub("", mine.source).strip() != HIDDEN.sub("", cell.source).strip():
                edited.append(gid)
            copy = nbformat.from_dict(json.loads(json.dumps(cell)))
            if copy.cell_type == "code":
                copy.outputs, copy.execution_count = [], None
            cells.append(copy)
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []) and overrides:
            cells.append(nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in overrides.items()),
                                                   metadata={"labkit_probe": True}))
        cells += added.get(gid, []) if gid else []
    nb = nbformat.v4.new_notebook(metadata=released_nb.metadata, cells=cells)
    notes = [f"edits to read-only or check cells were replaced by the instructor's version: {', '.join(edited)}"] \
        if edited else []
    return nb, notes


# --------------------------------------------------------------------------- reading what a sandbox returned


def _read_capped(folder: Path, name: str, cap: int) -> bytes | None:
    """Bytes of the regular file ``folder/name`` (no link followed, no FIFO waited on), or None."""
    if "/" in name or name in (".", "..") or "\0" in name:
        return None
    try:
        fd = os.open(Path(folder) / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > cap:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(cap + 1)[:cap]
    finally:
        os.close(fd)


def load_probes(outbox: Path, cap: int = 128 * 1024 ** 2) -> dict[str, dict]:
    """``{key: {name: value}}`` from the probe files: JSON values as JSON, arrays with ``np.load``
    (``allow_pickle=False``); a file that cannot be read as such is left out."""
    import numpy as np

    out = {}
    for entry in sorted(os.listdir(outbox)):
        if not (entry.startswith("probe-") and entry.endswith(".json")):
            continue
        key = entry[len("probe-"):-len(".json")]
        raw = _read_capped(outbox, entry, 16 * 1024 ** 2)
        try:
            manifest = json.loads(raw) if raw is not None else None
        except ValueError:
            manifest = None
        if not isinstance(manifest, dict):
            continue
        if "error" in manifest:
            out[key] = {"error": str(manifest["error"])[:300]}
            continue
        values = {}
        for name, how in manifest.items():
            if not isinstance(how, dict):
                continue
            if "json" in how:
                values[name] = how["json"]
            elif "npy" in how:
                data = _read_capped(outbox, f"probe-{key}-{name}.npy", cap)
                try:
                    values[name] = np.load(io.BytesIO(data), allow_pickle=False) if data is not None else None
                except (ValueError, OSError, EOFError):
                    values[name] = None
        out[key] = values
    return out


# --------------------------------------------------------------------------- one submission


def _datasets(names) -> dict[str, Path]:
    """The local folders (cache or mirror, verified) of the datasets an exercise may read."""
    from labkit import data

    found = {}
    for name in names:
        try:
            folder = data._find_local(name, data.pinned_checksums())[0]
        except Exception:   # noqa: BLE001 (a dataset that cannot be had is simply not offered)
            folder = None
        if folder is not None:
            found[name] = Path(folder).resolve()
    return found


def _sandbox_env(threads: int, competition: bool, datasets: bool) -> dict[str, str]:
    env = {"PATH": f"{Path(sys.prefix)}/bin:/usr/local/bin:/usr/bin:/bin", "HOME": "/scratch/home",
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "MPLBACKEND": "Agg", "LABKIT_BATCH": "1",
           "LABKIT_PROBE_OUT": "/out", "LABKIT_NO_DOWNLOAD": "1", "LABKIT_DATA_DIR": "/scratch/data",
           "JUPYTER_RUNTIME_DIR": "/scratch/runtime", "IPYTHONDIR": "/scratch/ipython",
           "MPLCONFIGDIR": "/scratch/mpl", "XDG_CACHE_HOME": "/scratch/cache", "TMPDIR": "/scratch/tmp",
           "PYTHONDONTWRITEBYTECODE": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
    if datasets and not competition:
        env["LABKIT_MIRROR"] = "/datasets"
    if competition:
        env["LABKIT_TUTORIAL_DIR"] = "/competition/training"
    return env


def grade_submission(files: dict[str, bytes], folder: Path, student: str, assignment: str, exercise,
                     limits: sandbox.Limits, seed: int, params: dict, context: dict | None,
                     training: dict[str, bytes] | None = None, sandboxed: bool = True, threads: int = 1,
                     kernel: str = KERNEL) -> dict:
    """Run one submission in its sandbox and judge what it returned; return a plain-data result.

    ``files``: the course snapshot; ``exercise``: its ``checks.Exercise``; ``params``: the notebook's
    parameters with the grader's overrides; ``context``: the judges' trusted data. The result:
    ``student``, ``assignment``, ``status``, ``checks`` [{grade_id, points, max_points, reason}],
    ``review``, ``notes``, ``seed``, ``seconds``, ``memory_peak``, ``executed`` (the executed notebook,
    text, for feedback), ``submission`` (the competition file, base64, or None), ``log`` (tail).
    """
    import nbformat

    start = time.monotonic()
    source_nb = nbformat.reads(files[f"source/{assignment}/{assignment}.ipynb"].decode(), as_version=4)
    maxima = {nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c).get("points", 0))
              for c in source_nb.cells if nbgrader_meta(c).get("grade")}
    result = {"student": student, "assignment": assignment, "notebook": assignment, "status": "graded",
              "checks": [], "review": [], "notes": [], "seed": seed, "seconds": None, "memory_peak": None,
              "executed": None, "submission": None, "log": "", "max": maxima}

    def fail_all(status, why):
        result["status"] = status
        result["checks"] = [{"grade_id": g, "points": 0.0, "max_points": m, "reason": why} for g, m in maxima.items()]
        result["seconds"] = round(time.monotonic() - start, 1)
        return result

    path = Path(folder) / f"{assignment}.ipynb"
    if not path.is_file():
        return fail_all("missing", "notebook not submitted")
    try:
        raw = _read_capped(Path(folder), path.name, 64 * 1024 ** 2)
        if raw is None:
            raise ValueError("not a regular file of at most 64 MiB")
        submitted_nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
        submitted_nb.cells   # noqa: B018 (a JSON file that is not a notebook has none)
    except Exception as exc:   # invalid JSON, or not a notebook
        return fail_all("invalid notebook",
                        f"invalid notebook JSON: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}")
    try:
        result["review"] = review(submitted_nb, source_nb)
    except Exception as exc:   # noqa: BLE001 (the review is an extra signal; it never costs points)
        result["review"] = [f"review failed: {type(exc).__name__}: {exc}"]
    released_raw = files.get(f"release/{assignment}/{assignment}.ipynb")
    if released_raw is None:
        return fail_all("failed", "no release of this assignment: run make student")
    released_nb = nbformat.reads(released_raw.decode(), as_version=4)
    overrides = {k: v for k, v in params.items() if k != "training"}
    overrides = {k: v for k, v in overrides.items() if _parameters(source_nb).get(k, object()) != v}
    to_run, notes = merge(submitted_nb, released_nb, overrides)
    result["notes"] += notes

    work = Path(tempfile.mkdtemp(prefix="labkit-grade-"))
    try:
        inbox, outbox = work / "in", work / "out"
        (inbox / "files").mkdir(parents=True)
        outbox.mkdir()
        os.chmod(outbox, 0o777)
        for p in sorted(Path(folder).rglob("*")):   # the submission's own files (not the ignored ones)
            rel = p.relative_to(folder)
            if p.is_file() and not p.is_symlink() and not _ignored(rel) and rel.name != path.name:
                (inbox / "files" / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(p, inbox / "files" / rel)
        nbformat.write(to_run, inbox / "notebook.ipynb")
        shutil.copyfile(Path(__file__).with_name("runner.py"), inbox / "runner.py")
        binds, hide = [Path(sys.prefix), Path(sys.base_prefix).resolve(), REPO_ROOT / "labkit"], [REPO_ROOT / "labkit" / "course"]
        if (REPO_ROOT / "data" / "checksums.sha256").is_file():   # labkit.data's pinned checksums
            binds.append(REPO_ROOT / "data" / "checksums.sha256")
        binds = list(dict.fromkeys(p.resolve() for p in binds))
        datasets = {} if exercise.competition else _datasets(exercise.datasets)
        if training is not None:
            _write_tree(work / "training", training)
        spec = {"notebook": "/in/notebook.ipynb", "files": "/in/files", "workdir": "/scratch/work", "out": "/out",
                "cell_timeout": limits.cell_timeout, "kernel": kernel, "seed": seed, "inputs": exercise.inputs,
                "probes": exercise.probes}
        env = _sandbox_env(threads, exercise.competition, bool(datasets))
        if sandboxed:
            (inbox / "spec.json").write_text(json.dumps(spec))
            extra = []
            for name, where in datasets.items():
                extra += ["--ro-bind", str(where), f"/datasets/{name}"]
            if training is not None:
                extra += ["--ro-bind", str(work / "training"), "/competition/training"]
            cmd = sandbox.command([str(Path(sys.prefix) / "bin" / "python"), "/in/runner.py", "/in/spec.json"],
                                  inbox, outbox, binds, env, limits, hide)
            cmd = cmd[:cmd.index("--chdir")] + extra + cmd[cmd.index("--chdir"):]
            run = sandbox.run(cmd, outbox, limits)
        else:   # --unsafe-no-sandbox: the same runner on this machine, with the instructor's rights
            scratch = work / "scratch"
            for sub in ("work", "home", "tmp", "data"):
                (scratch / sub).mkdir(parents=True)
            local = {k: v.replace("/scratch", str(scratch)).replace("/out", str(outbox)) for k, v in env.items()}
            local["PATH"] = env["PATH"]
            if datasets:
                (work / "datasets").mkdir()
                for name, where in datasets.items():
                    (work / "datasets" / name).symlink_to(where)
                local["LABKIT_MIRROR"] = str(work / "datasets")
            if training is not None:
                local["LABKIT_TUTORIAL_DIR"] = str(work / "training")
            spec.update(notebook=str(inbox / "notebook.ipynb"), files=str(inbox / "files"),
                        workdir=str(scratch / "work"), out=str(outbox))
            (inbox / "spec.json").write_text(json.dumps(spec))
            run = sandbox.run([sys.executable, str(inbox / "runner.py"), str(inbox / "spec.json")], outbox, limits,
                              sandboxed=False, cwd=scratch, env=local)
        result["log"] = run["log"][-4000:]
        result["memory_peak"] = run["memory_peak"]
        result["cpu_seconds"] = run["cpu_seconds"]
        result["limits"] = run["limits"]
        result["sandboxed"] = sandboxed

        raw = _read_capped(outbox, "status.json", 16 * 1024 ** 2)
        try:
            status = json.loads(raw) if raw else {}
            status = status if isinstance(status, dict) else {}
        except ValueError:
            status = {}
        executed = _read_capped(outbox, "executed.ipynb", 64 * 1024 ** 2)
        if executed:
            try:
                nb = nbformat.reads(executed.decode("utf-8", "replace"), as_version=4)
                nb.cells = [c for c in nb.cells if not c.get("metadata", {}).get("labkit_probe")]
                result["executed"] = nbformat.writes(nb)
            except Exception:   # noqa: BLE001 (the executed notebook is for feedback only)
                result["executed"] = None
        probes = load_probes(outbox)
        if run["killed"]:
            failure = run["killed"]
        elif run["oom"]:
            failure = f"memory limit of {limits.memory / sandbox.GiB:g} GiB reached (the kernel was killed)"
        elif status.get("dead"):
            failure = "kernel died (the notebook's process exited or crashed)"
        elif run["returncode"]:
            failure = f"the run ended with exit code {run['returncode']}"
        else:
            failure = None
        cells = [c for c in status.get("cells", []) if isinstance(c, dict)]
        for gid, top in maxima.items():
            reason = None
            if gid not in exercise.judges:
                reason = "no probe for this check (labkit.course.checks)"
            elif gid not in probes and not any(k.startswith(gid + "-") for k in probes):
                probe_cell = [c for c in cells if c.get("probe") and cells.index(c) > 0
                              and cells[cells.index(c) - 1].get("grade_id") == gid]
                err = probe_cell[0].get("error") if probe_cell else None
                reason = (f"timeout after {limits.cell_timeout} s" if err and err.startswith("CellTimeoutError")
                          else err or failure or "the check did not run")
            elif "error" in probes.get(gid, {}):
                reason = probes[gid]["error"]
                if reason.startswith("KeyboardInterrupt"):
                    reason = f"timeout after {limits.cell_timeout} s"
            else:
                try:
                    reason = exercise.judges[gid](probes, checks_module.inputs_of(exercise, seed), context or {})
                except Exception as exc:   # noqa: BLE001 (outputs of the wrong kind or missing)
                    reason = f"the check could not use what your code returned ({type(exc).__name__})"
            if reason and not reason.startswith("timeout") and reason != failure:
                before = _error_before(cells, gid)
                if before and before.split(":")[0].split(" ")[0] != reason.split(":")[0]:
                    reason += f" (after {before})"
            result["checks"].append({"grade_id": gid, "points": 0.0 if reason else top, "max_points": top,
                                     "reason": reason or ""})
        if failure:
            result["notes"].append(failure)
            if not any(c["points"] for c in result["checks"]):
                result["status"] = "failed"
        if exercise.competition and probes.get(exercise.submission, {}).get("file") is not None:
            data = probes[exercise.submission]["file"]
            result["submission"] = base64.b64encode(bytes(data.astype("uint8").tobytes())).decode()
    finally:
        _rmtree(work)
    result["seconds"] = round(time.monotonic() - start, 1)
    return result


def _error_before(cells: list[dict], gid: str) -> str | None:
    """The first error of a cell run since the check before ``gid`` (e.g. the solution cell's MemoryError)."""
    at = next((n for n, c in enumerate(cells) if c.get("grade_id") == gid and not c.get("probe")), None)
    if at is None:
        return None
    start = max([n for n, c in enumerate(cells[:at]) if c.get("probe") and n > 0] or [0])
    for c in cells[start:at]:   # the solution, added and read-only cells before the check (not the check)
        if c.get("error") and not c.get("probe"):
            where = f"in cell '{c['grade_id']}'" if c.get("grade_id") else "in an added cell"
            return f"{c['error'][:200]} {where}"
    return None


def score(result: dict) -> list[dict]:
    """Report rows (one per notebook) of a graded submission: ``student``, ``assignment``, ``notebook``,
    ``status``, ``points``, ``max_points``, ``checks``, ``review``, ``notes``, ``seconds``, ``seed``."""
    points = float(sum(c["points"] for c in result["checks"]))
    return [{"student": result["student"], "assignment": result["assignment"], "notebook": result["notebook"],
             "status": result["status"], "points": points,
             "max_points": float(sum(c["max_points"] for c in result["checks"])), "checks": result["checks"],
             "review": result["review"], "notes": result["notes"], "seconds": result["seconds"],
             "seed": result.get("seed"), "memory_peak": result.get("memory_peak"),
             "cpu_seconds": result.get("cpu_seconds")}]


# --------------------------------------------------------------------------- a class


def submissions(course: Path, students=None, names=None) -> list[tuple[str, str, Path]]:
    """Return (student, assignment, folder) for every ``submitted/<student>/<assignment>/`` folder."""
    out = []
    for sdir in sorted(p for p in (Path(course) / "submitted").glob("*") if p.is_dir()):
        for adir in sorted(p for p in sdir.glob("*") if p.is_dir()):
            if (not students or sdir.name in students) and (not names or adir.name in names):
                out.append((sdir.name, adir.name, adir))
    return out


class Grader:
    """What grading a course needs, read once before any submission runs (``prepare``)."""

    def __init__(self, course: Path, exercises: dict | None = None, limits: sandbox.Limits | None = None,
                 seed: int | None = None, overrides: dict | None = None, sandboxed: bool = True,
                 workers: int | None = None, competition_assignment: str = COMPETITION, kernel: str = KERNEL):
        self.course = Path(course).resolve()
        self.exercises = checks_module.EXERCISES if exercises is None else exercises
        self.limits = limits or sandbox.Limits()
        self.seed = secrets.randbelow(2 ** 31) if seed is None else int(seed)
        self.overrides = dict(overrides or {})
        self.sandboxed = sandboxed
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.competition_assignment = competition_assignment
        self.kernel = kernel
        if sandboxed:
            why = sandbox.unavailable()
            if why:
                raise RuntimeError(f"no sandbox: {why}. Students' code is not run without one; to run it anyway "
                                   "with your own rights (unsafe), pass --unsafe-no-sandbox")
        self.files = snapshot(self.course)
        training_dir = self.course / "competition" / "training"
        from labkit.competition import TRAINING_FILES

        self.training = ({f"{n}.csv": (training_dir / f"{n}.csv").read_bytes() for n in TRAINING_FILES}
                         if (training_dir / "ratings_train.csv").is_file() else None)
        test = self.course / "competition" / "ratings_test.csv"
        self.test_bytes = test.read_bytes() if test.is_file() else None
        self._contexts, self._lock = {}, threading.Lock()

    def params(self, assignment: str) -> dict:
        import nbformat

        source = nbformat.reads(self.files[f"source/{assignment}/{assignment}.ipynb"].decode(), as_version=4)
        params = _parameters(source)
        params.update({k: v for k, v in self.overrides.items() if k in params})
        if "DATASET" in params and params["DATASET"] == "auto":
            default = re.search(r'default="([^"]+)"', "\n".join(c.source for c in source.cells if c.cell_type == "code"))
            params["DATASET"] = checks_module.dataset_name(params, default.group(1) if default else "ml-100k")
        return params

    def context(self, assignment: str) -> dict | None:
        exercise = self.exercises[assignment]
        with self._lock:
            if assignment not in self._contexts:
                params = self.params(assignment)
                if exercise.competition:
                    params["training"] = self.training
                self._contexts[assignment] = (exercise.context(params) if exercise.context
                                              and (not exercise.competition or self.training) else None)
            return self._contexts[assignment]

    def grade_one(self, student: str, assignment: str, folder: Path) -> dict:
        """Grade one submission; never raises (the grader's own failure becomes that row's reason)."""
        try:
            if f"source/{assignment}/{assignment}.ipynb" not in self.files:
                return {"student": student, "assignment": assignment, "notebook": "-", "status": "unknown assignment",
                        "checks": [], "review": [], "notes": [f"no assignment {assignment!r} in source/: nothing graded"],
                        "seed": self.seed, "seconds": None, "executed": None, "submission": None, "log": ""}
            if assignment not in self.exercises:
                raise KeyError(f"no probes for {assignment} in labkit.course.checks")
            exercise = self.exercises[assignment]
            training = self.training if exercise.competition else None
            return grade_submission(self.files, folder, student, assignment, exercise, self.limits, self.seed,
                                    self.params(assignment), self.context(assignment), training, self.sandboxed,
                                    threads=max(1, (os.cpu_count() or 1) // self.workers), kernel=self.kernel)
        except Exception as exc:   # noqa: BLE001 (one submission's failure never stops the class)
            import nbformat

            why = f"grader error: {type(exc).__name__}: {exc}"
            raw = self.files.get(f"source/{assignment}/{assignment}.ipynb")
            maxima = {}
            if raw:
                nb = nbformat.reads(raw.decode(), as_version=4)
                maxima = {nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c).get("points", 0))
                          for c in nb.cells if nbgrader_meta(c).get("grade")}
            return {"student": student, "assignment": assignment, "notebook": assignment, "status": "failed",
                    "checks": [{"grade_id": g, "points": 0.0, "max_points": m, "reason": why} for g, m in maxima.items()],
                    "review": [], "notes": [why], "seed": self.seed, "seconds": None, "executed": None,
                    "submission": None, "log": ""}

    def grade_all(self, todo, log=print) -> list[dict]:
        def one(item):
            student, assignment, folder = item
            r = self.grade_one(student, assignment, folder)
            rows = score(r) if r["checks"] or r["status"] != "unknown assignment" else []
            points = ", ".join(f"{x['points']:g}/{x['max_points']:g} {x['status']}" for x in rows) or r["status"]
            log(f"{student:<16} {assignment:<28} {points}  ({r.get('seconds')} s)")
            return r

        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(one, todo))


def merge_gradebook(db: Path, results: list[dict]) -> None:
    """Write the trusted scores into nbgrader's gradebook ``db`` (auto_score per check; the reason as
    the check's comment); a notebook with review findings is flagged for the instructor."""
    from nbgrader.api import Gradebook, MissingEntry

    _venv_on_path()
    with Gradebook(f"sqlite:///{db}") as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")   # SQLAlchemy 2.1 warns about nbgrader's own session handling
        for r in results:
            if r["status"] == "unknown assignment":
                continue
            gb.update_or_create_student(r["student"])
            gb.update_or_create_submission(r["assignment"], r["student"])
            try:
                nb = gb.find_submission_notebook(r["notebook"], r["assignment"], r["student"])
            except MissingEntry:
                continue
            by_id = {c["grade_id"]: c for c in r["checks"]}
            for grade in nb.grades:
                check = by_id.get(grade.name)
                grade.auto_score = check["points"] if check else 0.0
                grade.manual_score = None
                grade.needs_manual_grade = False
            for comment in nb.comments:
                if comment.name in by_id:
                    comment.auto_comment = by_id[comment.name]["reason"] or None
            nb.flagged = bool(r["review"])
            gb.db.commit()


def collect(course: Path, results: list[dict], files: dict[str, bytes] | None = None, test_bytes: bytes | None = None,
            training: dict[str, bytes] | None = None, competition_assignment: str = COMPETITION, log=print) -> dict:
    """Write what the sandboxes returned: executed notebooks to ``autograded/``, the scores to the
    gradebook, ``reports/`` and the leaderboard. Course files changed since ``files`` was taken
    (nothing a sandbox can reach) are restored and named. Returns {"rows", "leaderboard", "restored"}."""
    import pandas as pd

    from labkit import competition

    course = Path(course).resolve()
    restored = []
    for rel, data in (files or {}).items():
        if rel == "gradebook.db":
            continue
        path = course / rel
        if not path.is_file() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            restored.append(rel)
    if restored:
        log("WARNING: course files changed during grading were restored: " + ", ".join(restored))
    for r in results:
        if r["status"] == "unknown assignment":
            continue
        dest = course / "autograded" / r["student"] / r["assignment"]
        _rmtree(dest)
        dest.mkdir(parents=True)
        if r.get("executed"):
            (dest / f"{r['notebook']}.ipynb").write_text(r["executed"])
    rows = [row for r in results for row in (score(r) if r["status"] != "unknown assignment" else [
        {"student": r["student"], "assignment": r["assignment"], "notebook": "-", "status": r["status"], "points": 0.0,
         "max_points": 0.0, "checks": [], "review": [], "notes": r["notes"], "seconds": None, "seed": r.get("seed"),
         "memory_peak": None}])]
    board = []
    comp = [r for r in results if r["assignment"] == competition_assignment]
    if comp and test_bytes is not None and training is not None:
        test = pd.read_csv(io.BytesIO(test_bytes))
        users = pd.read_csv(io.BytesIO(training["users.csv"])).UserID
        items = pd.read_csv(io.BytesIO(training["movies.csv"])).MovieID
        entries = {}
        for r in comp:
            if r.get("submission") is None:
                board.append({"submission": r["student"], "status": "invalid",
                              "problems": [f"{r['student']}: the re-run wrote no {SUBMISSION}"]})
            else:
                entries[r["student"]] = base64.b64decode(r["submission"])
        board = competition.leaderboard(entries, test, users, items) + board
    all_rows, _ = write_reports(course / REPORTS, rows, board, competition_assignment)
    if len(all_rows) > len(rows):
        log(f"{course / REPORTS}: this run's {len(rows)} rows, and {len(all_rows) - len(rows)} kept from earlier runs")
    part = course / ".gradebook.db.part"
    part.write_bytes((course / "gradebook.db").read_bytes() if files is None else files["gradebook.db"])
    try:
        merge_gradebook(part, results)
        os.replace(part, course / "gradebook.db")
    except Exception as exc:   # noqa: BLE001 (the reports are written; say what the gradebook lacks)
        log(f"WARNING: the gradebook was not updated: {type(exc).__name__}: {exc}")
    return {"rows": rows, "leaderboard": board, "restored": restored}


def grade(course: Path, students=None, names=None, limits: sandbox.Limits | None = None, workers: int | None = None,
          seed: int | None = None, overrides: dict | None = None, sandboxed: bool = True, exercises: dict | None = None,
          competition_assignment: str = COMPETITION, log=print) -> dict:
    """Grade every submission of ``course/submitted/`` (or the chosen students/assignments) in parallel
    sandboxes, then write the gradebook, reports and leaderboard. Returns ``collect``'s dict plus ``seed``.

    Example::

        grade(Path("course"), workers=4)
    """
    grader = Grader(course, exercises, limits, seed, overrides, sandboxed, workers, competition_assignment)
    todo = submissions(grader.course, students, names)
    if not todo:
        log(f"no submissions in {grader.course / 'submitted'} (expected submitted/<student>/<assignment>/)")
    log(f"grading {len(todo)} submissions, {grader.workers} at a time, seed {grader.seed}; sandbox: "
        + (grader.limits.describe() if sandboxed else "NONE (--unsafe-no-sandbox)"))
    results = grader.grade_all(todo, log)
    out = collect(grader.course, results, grader.files, grader.test_bytes, grader.training, competition_assignment, log)
    out["seed"] = grader.seed
    return out


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


def _limits(args) -> sandbox.Limits:
    limits = sandbox.Limits()
    if args.cell_timeout:
        limits.cell_timeout = args.cell_timeout
    else:   # the course's nbgrader_config.py
        found = re.search(r"c\.Execute\.timeout\s*=\s*(\d+)", (Path(args.course) / "nbgrader_config.py").read_text()
                          if (Path(args.course) / "nbgrader_config.py").is_file() else "")
        limits.cell_timeout = int(found.group(1)) if found else CELL_TIMEOUT
    limits.notebook_timeout = args.notebook_timeout
    limits.memory = int(args.memory * sandbox.GiB)
    return limits


def _overrides(pairs) -> dict:
    out = {}
    for pair in pairs or []:
        key, _, value = pair.partition("=")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.course", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("course", help="write or refresh the nbgrader course folder")
    c.add_argument("course", type=Path)
    c.add_argument("--competition-data", default="auto",
                   help="dataset of the competition's files: auto (ML-1M, else ML-100K), ml-1m, ml-100k, or none")
    c.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT)
    c.add_argument("--force-config", action="store_true", help="rewrite nbgrader_config.py")
    r = sub.add_parser("release", help="nbgrader generate_assignment for every assignment of the course")
    r.add_argument("course", type=Path)

    def grading_options(p):
        p.add_argument("--cell-timeout", type=int, help="seconds per cell (default: the course's nbgrader_config.py)")
        p.add_argument("--notebook-timeout", type=float, default=NOTEBOOK_TIMEOUT, help="seconds per submission")
        p.add_argument("--memory", type=float, default=sandbox.Limits.memory / sandbox.GiB, help="GiB per submission")
        p.add_argument("--seed", type=int, help="the probes' seed (default: drawn for this run, printed)")
        p.add_argument("--set", action="append", metavar="NAME=VALUE",
                       help="override a notebook parameter, e.g. --set DATASET=ml-100k (repeatable)")
        p.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="run students' code WITHOUT a sandbox, with your rights (only where bubblewrap is missing "
                            "and you trust every submission)")

    g = sub.add_parser("grade", help="grade course/submitted/ in parallel sandboxes; reports and leaderboard")
    g.add_argument("course", type=Path)
    g.add_argument("--student", action="append", help="only this student (repeatable)")
    g.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    g.add_argument("--workers", type=int, help="submissions graded at once (default: the CPU count)")
    grading_options(g)
    one = sub.add_parser("grade-one", help="grade one submission into a result file (for batch systems); "
                                           "then `collect`")
    one.add_argument("course", type=Path)
    one.add_argument("student")
    one.add_argument("assignment")
    one.add_argument("--result", type=Path, required=True, help="where to write the result (JSON)")
    grading_options(one)
    col = sub.add_parser("collect", help="write the results of grade-one runs into the gradebook and reports")
    col.add_argument("course", type=Path)
    col.add_argument("results", type=Path, nargs="+")
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
    if args.command == "collect":
        try:
            grader_files = snapshot(args.course)
            results = [json.loads(p.read_text()) for p in args.results]
        except FileNotFoundError as exc:   # no release yet, a result file missing: one line, no traceback
            print(f"collect: {exc}", file=sys.stderr)
            return 2
        training_dir = Path(args.course) / "competition" / "training"
        from labkit.competition import TRAINING_FILES

        training = ({f"{n}.csv": (training_dir / f"{n}.csv").read_bytes() for n in TRAINING_FILES}
                    if (training_dir / "ratings_train.csv").is_file() else None)
        test = Path(args.course) / "competition" / "ratings_test.csv"
        out = collect(args.course, results, grader_files, test.read_bytes() if test.is_file() else None, training)
    else:
        try:
            if args.command == "grade-one":
                grader = Grader(args.course, limits=_limits(args), seed=args.seed, overrides=_overrides(args.set),
                                sandboxed=not args.unsafe_no_sandbox, workers=1)
                folder = grader.course / "submitted" / args.student / args.assignment
                result = grader.grade_one(args.student, args.assignment, folder)
                args.result.write_text(json.dumps(result))
                print(score_table(score(result)) if result["checks"] else result["status"])
                return 0
            out = grade(args.course, args.student, args.assignment, _limits(args), args.workers, args.seed,
                        _overrides(args.set), sandboxed=not args.unsafe_no_sandbox)
        except (RuntimeError, FileNotFoundError) as exc:   # no sandbox, no release yet: one line, no traceback
            print(f"{args.command}: {exc}", file=sys.stderr)
            return 2
    from labkit.competition import format_leaderboard

    print("\n" + score_table(out["rows"]))
    if out["leaderboard"]:
        print("\nleaderboard (re-run on the training files, NDCG@10 on the test period):")
        print(format_leaderboard(out["leaderboard"]))
    print(f"\nreports: {Path(args.course) / REPORTS}/grades.csv, grades.json, leaderboard.csv; "
          f"executed notebooks: {Path(args.course) / 'autograded'}/")
    return 0
