"""Red team: hostile submissions graded by the real grader (nbgrader's release, bubblewrap, probes, judges).

One small hostile notebook per class of attack, built here on the toy exercise, graded in one run
beside an honest victim and the untouched release. Each must get no point it did not earn, and
nobody else's grade, file or record may change. Integration (about 3-4 minutes on 2 cores):
`make test-grading`.
"""

import base64
import hashlib
import json
import os
import sys
from pathlib import Path

import nbformat
import psutil
import pytest

from labkit.course import grading, sandbox

sys.path.insert(0, str(Path(__file__).parent))
import grading_toy as toy  # noqa: E402
from test_grading import need_sandbox  # noqa: E402

pytestmark = pytest.mark.integration
TOY = toy.TOY
WRONG_ADD = "def add(a, b):\n    return 0"
HONEST_ADD = "def add(a, b):\n    return a + b"
REPO = grading.REPO_ROOT
MARK = "4242"   # in the command line of every process a submission leaves behind


def hostile(released, add=None, mul=None, before=None):
    """The release with the add/mul solution cells replaced and a student cell added before add."""
    nb = nbformat.from_dict(json.loads(json.dumps(released)))
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "add" and add is not None:
            cell.source = add
        if gid == "mul" and mul is not None:
            cell.source = mul
    if before:
        at = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "add")
        nb.cells.insert(at, nbformat.v4.new_code_cell(before))
    return nb


def attacks(course):
    patch = "import numpy\nnumpy.allclose = lambda *a, **k: True\nnumpy.asarray = lambda x, dtype=None: numpy.array(3.0)"
    watched = [course / "submitted" / "victim" / TOY / f"{TOY}.ipynb", course / "gradebook.db",
               course / "reports" / "grades.csv", course / "reports" / "leaderboard.csv",
               course / "release" / TOY / f"{TOY}.ipynb", course / "source" / TOY / f"{TOY}.ipynb",
               REPO / "labkit" / "metrics.py", REPO / "labkit" / "course" / "grading.py",
               Path(sys.prefix) / "pyvenv.cfg", Path(psutil.__file__)]
    secrets = [course / "source" / TOY / f"{TOY}.ipynb", course / "gradebook.db",
               course / "competition" / "ratings_test.csv", REPO / "exercises" / "01_leave_last_out.ipynb",
               REPO / "labkit" / "course" / "checks.py", Path(__file__)]
    return {
        # patching by any route: an alias, names built at run time, importlib, exec of base64
        "patching": dict(add=WRONG_ADD, before=(
            "m = np\nm.allclose = lambda *a, **k: True\nm.array_equal = m.allclose\n"          # an alias
            'setattr(np, "all" + "close", lambda *a, **k: True)\n'                             # built names
            'setattr(getattr(np, "test" + "ing"), "assert_allclose", print)\n'
            'import importlib\nimportlib.import_module("num" + "py").isclose = lambda *a, **k: True\n'
            f"import base64\nexec(base64.b64decode({base64.b64encode(patch.encode()).decode()!r}))")),
        # tracing: rewrite what the probe is about to save, and profile every call
        "trace": dict(add=WRONG_ADD, mul="def mul(a, b):\n    return 0", before=(
            "import sys\ndef tracer(frame, event, arg):\n"
            "    if event == 'call' and frame.f_code.co_name == '_labkit_probe':\n"
            "        frame.f_locals['values'].update(out=3.0, one=3.0)\n"
            "    return None\n"
            "sys.settrace(tracer)\nimport threading; threading.settrace(tracer)\nsys.setprofile(lambda *a: None)")),
        # an object equal to anything (nothing patched at all)
        "lookalike": dict(add="class Any:\n    def __eq__(self, other): return True\n    __ne__ = lambda s, o: False\n"
                              "    def __array__(self, dtype=None, copy=None): return np.zeros(0)\n"
                              "    def __float__(self): return 3.0\n    def __int__(self): return 12345\n"
                              "def add(a, b):\n    return Any()", mul="def mul(a, b):\n    return Any()"),
        # reading hidden data through the file system and /proc
        "escape": dict(add=WRONG_ADD, before=(
            "import os, json\nfound = {}\n"
            f"for p in {[str(s) for s in secrets]!r}:\n"
            "    try:\n        found[p] = open(p, 'rb').read(50).decode('latin-1')\n    except OSError as e:\n"
            "        pass\n"
            "procs = {}\nfor pid in os.listdir('/proc'):\n    if pid.isdigit():\n        try:\n"
            "            procs[pid] = open(f'/proc/{pid}/cmdline').read().replace('\\0', ' ') + ' | ' + "
            "open(f'/proc/{pid}/environ').read().replace('\\0', ' ')\n        except OSError:\n            pass\n"
            "print('SEEN=' + json.dumps({'files': found, 'procs': procs, 'cwd': os.getcwd(), 'env': dict(os.environ)}))\n"
            # writing outside: other students, the records, the course, the environment, labkit
            "wrote = []\n"
            f"for p in {[str(w) for w in watched]!r}:\n"
            "    try:\n        with open(p, 'ab') as f:\n            f.write(b'')\n        wrote.append(p)\n"
            "    except OSError:\n        pass\n"
            f"for p in {[str(course / 'reports' / 'leaderboard.csv'), str(course / 'gradebook.db')]!r}:\n"
            "    try:\n        os.makedirs(os.path.dirname(p), exist_ok=True)\n        open(p, 'w').write('rank 1')\n"
            "        wrote.append(p)\n    except OSError:\n        pass\n"
            "print('WROTE=' + json.dumps(wrote))\n"
            # processes that outlive the kernel (and would rewrite grades later)
            "import subprocess, sys\n"
            f"subprocess.Popen(['sleep', '{MARK}'], start_new_session=True)\n"
            f"subprocess.Popen([sys.executable, '-c', 'import os, time\\nif os.fork() == 0:\\n    os.setsid()\\n"
            f"    time.sleep({MARK})'], start_new_session=True)")),
        # memory: the checks that passed before keep their points
        "memory": dict(add=HONEST_ADD, mul="import numpy as np\nhog = [np.ones(2 ** 28) for _ in range(100)]"),
        # disk: a sparse file and a real one in the scratch folder and in the results folder
        "disk": dict(add=HONEST_ADD, mul=(
            "import os\nfor p in ['big', '/out/probe-big.npy', os.environ.get('LABKIT_PROBE_OUT', '.') + '/x']:\n"
            "    try:\n        with open(p, 'wb') as f:\n            f.truncate(50 * 2 ** 30)\n    except OSError:\n"
            "        pass\ntry:\n    with open('fill', 'wb') as f:\n        for _ in range(4096):\n"
            "            f.write(b'x' * 2 ** 20)\nexcept OSError:\n    pass")),
        # time: a cell that ignores the interrupt
        "stubborn": dict(add=HONEST_ADD, mul="import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"),
        # a crash and an exit
        "crash": dict(add=HONEST_ADD, mul="import os\nos._exit(1)"),
        # stderr noise from an honest solution: full points
        "noisy": dict(add="import sys, warnings\ndef add(a, b):\n    warnings.warn('noise', RuntimeWarning)\n"
                          "    print('noise on stderr', file=sys.stderr)\n    np.log(np.zeros(1))\n    return a + b",
                      mul="def mul(a, b):\n    return a * b"),
    }


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    need_sandbox()
    tmp = tmp_path_factory.mktemp("attacks")
    course = grading.build_course(tmp / "course", toy.toy_sources(tmp / "sources"), competition_data=None)
    grading.release(course)
    (course / "competition").mkdir(exist_ok=True)
    (course / "competition" / "ratings_test.csv").write_text("UserID,MovieID,Rating,Timestamp\n0,1,5,1\n")
    source = nbformat.read(course / "source" / TOY / f"{TOY}.ipynb", as_version=4)
    released = nbformat.read(course / "release" / TOY / f"{TOY}.ipynb", as_version=4)
    cases = attacks(course)

    def submit(student, nb):
        folder = course / "submitted" / student / TOY
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{TOY}.ipynb")

    submit("victim", source)
    submit("untouched", released)
    for student, spec in cases.items():
        submit(student, hostile(released, **spec))
    (course / "reports").mkdir()
    (course / "reports" / "leaderboard.csv").write_text("rank,student\n")
    (course / "reports" / "grades.csv").write_text("student\n")
    watched = [p for p in attacks(course)["escape"]["before"].split("'") if p.startswith("/")]
    before = {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in map(Path, watched) if p.is_file()
              and "reports" not in str(p) and "gradebook" not in str(p)}
    limits = sandbox.Limits(cell_timeout=20, notebook_timeout=150, memory=1 * sandbox.GiB,
                            address_space=4 * sandbox.GiB, scratch=256 * sandbox.MiB, file_size=64 * sandbox.MiB)
    out = grading.grade(course, exercises=toy.EXERCISES, limits=limits, workers=2, log=lambda *a: None)
    rows = {r["student"]: r for r in out["rows"]}
    after = {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in map(Path, before)}
    return {"course": course, "rows": rows, "before": before, "after": after, "out": out}


def reasons(row):
    return {c["grade_id"]: c["reason"] for c in row["checks"]}


def output_of(attacked, student, prefix):
    nb = nbformat.read(attacked["course"] / "autograded" / student / TOY / f"{TOY}.ipynb", as_version=4)
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            for line in o.get("text", "").splitlines():
                if line.startswith(prefix):
                    return json.loads(line[len(prefix):])
    raise AssertionError(f"{student} printed no {prefix}")


def test_controls_and_every_row(attacked):
    rows = attacked["rows"]
    assert set(rows) == {"victim", "untouched", *attacks(attacked["course"])}
    assert (rows["victim"]["points"], rows["victim"]["status"]) == (5.0, "graded"), rows["victim"]
    assert rows["untouched"]["points"] == 0.0
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{attacked['course'] / 'gradebook.db'}") as gb:
        assert gb.find_submission_notebook(TOY, TOY, "victim").score == 5.0
        assert {s.student.id for s in gb.assignment_submissions(TOY)} == set(rows)


@pytest.mark.parametrize("student", ["patching", "trace", "lookalike", "escape"])
def test_cheats_get_no_points_for_wrong_code(attacked, student):
    row = attacked["rows"][student]
    got = reasons(row)
    assert got["add_checks"], row           # add is wrong in every one of these
    assert row["points"] == 0.0, row         # and mul is wrong or missing
    assert "HIDDEN" not in json.dumps(row) and "2 * DATA" not in json.dumps(row), "no hidden test in the feedback"


def test_hidden_data_is_unreachable(attacked):
    seen = output_of(attacked, "escape", "SEEN=")
    assert seen["files"] == {}, seen["files"]
    procs = " ".join(seen["procs"].values())
    assert "pytest" not in procs and str(attacked["course"]) not in procs and len(seen["procs"]) < 10, seen["procs"]
    assert not [k for k, v in seen["env"].items() if str(attacked["course"]) in v or str(REPO / "exercises") in v]


def test_nothing_outside_the_sandbox_is_written(attacked):
    # what the code "wrote" landed in its private scratch (the course of this test lies under /tmp, which
    # in the sandbox is its own tmpfs); nothing else was writable, and nothing on this machine changed
    assert [p for p in output_of(attacked, "escape", "WROTE=") if not p.startswith("/tmp/")] == []
    assert attacked["before"] == attacked["after"]
    assert attacked["rows"]["victim"]["points"] == 5.0
    board = (attacked["course"] / "reports" / "leaderboard.csv").read_text()
    assert "rank 1" not in board


def test_no_process_outlives_its_submission(attacked):
    left = [p.info for p in psutil.process_iter(["pid", "cmdline"]) if MARK in " ".join(p.info["cmdline"] or [])]
    assert left == []


@pytest.mark.parametrize("student,why", [("memory", "memory"), ("stubborn", "timeout after"),
                                         ("crash", "kernel died"), ("disk", "")])
def test_resource_attacks_cost_only_their_own_points(attacked, student, why):
    row = attacked["rows"][student]
    got = reasons(row)
    assert got["add_checks"] == "" and row["points"] == 2.0, row   # add passed before the failure: kept
    assert why.lower() in got["mul_checks"].lower(), got   # memory: the limit (cgroup) or a MemoryError (rlimit)


def test_disk_attack_leaves_nothing_big(attacked):
    total = sum(p.stat().st_blocks * 512 for p in attacked["course"].rglob("*") if p.is_file())
    assert total < 20 * 2 ** 20, total


def test_stderr_noise_costs_nothing(attacked):
    row = attacked["rows"]["noisy"]
    assert (row["points"], row["status"]) == (5.0, "graded"), row
