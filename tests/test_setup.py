"""The set-up: which Python `make venv` uses, the pinned requirements on each platform, machines
without MXNet (its lessons skipped with a reason), the course environment's MXNet hook and
JupyterLab settings, and the container files.

The Python choice is tested through the Makefile itself (`make python`, `make venv`) with fake
interpreters on a fake PATH, so these tests exercise the code `make` runs.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from labkit import frameworks, report

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")
MXNET_LESSONS = {"03", "04", "05"}
needs_make = pytest.mark.skipif(MAKE is None, reason="GNU make is not on the PATH")


# --------------------------------------------------------------------------- choosing Python


def _fake_bin(tmp_path: Path, **tools: str) -> Path:
    """A folder of fake executables (shell scripts), plus the real `uname` the Makefile asks."""
    folder = tmp_path / "bin"
    folder.mkdir(parents=True)
    for name, body in tools.items():
        (folder / name).write_text("#!/bin/sh\n" + body + "\n")
        (folder / name).chmod(0o755)
    if shutil.which("uname"):
        (folder / "uname").symlink_to(shutil.which("uname"))
    return folder


def _python(version: str, venv: bool = True) -> str:
    """A fake interpreter: prints `version` for the Makefile's version probe; `import ensurepip` fails without venv."""
    return f'case "$2" in *ensurepip*) exit {0 if venv else 1};; esac\necho {version}'


SHIM = 'echo "pyenv: $(basename "$0"): command not found" >&2\nexit 127'  # what pyenv's unselected shims do


def _make(*args: str, path: Path | str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {"PATH": str(path), "HOME": os.environ.get("HOME", "/tmp")}  # nothing else leaks in (no TORCH_*, no MAKEFLAGS)
    return subprocess.run([MAKE, "--no-print-directory", "-s", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@needs_make
def test_picks_the_first_supported_python_and_treats_a_failing_one_as_absent(tmp_path):
    fake = _fake_bin(tmp_path, **{"python3.12": SHIM, "python3.11": _python("3.11"), "python3": _python("3.13")})
    out = _make("python", "UV=", path=fake)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(fake / "python3.11")


@needs_make
def test_prefers_python_3_12_then_accepts_python3_when_it_is_supported(tmp_path):
    fake = _fake_bin(tmp_path, **{"python3.12": _python("3.12"), "python3.11": _python("3.11"), "python3": _python("3.11")})
    assert _make("python", "UV=", path=fake).stdout.strip() == str(fake / "python3.12")
    only = _fake_bin(tmp_path / "only", python3=_python("3.12"))
    assert _make("python", "UV=", path=only).stdout.strip() == str(only / "python3")


@needs_make
def test_a_python_without_venv_is_passed_over(tmp_path):
    fake = _fake_bin(tmp_path, **{"python3.12": _python("3.12", venv=False), "python3": _python("3.11")})
    assert _make("python", "UV=", path=fake).stdout.strip() == str(fake / "python3")


@needs_make
def test_no_supported_python_stops_before_installing_with_one_message(tmp_path):
    fake = _fake_bin(tmp_path, **{"python3.12": SHIM, "python3": _python("3.13")})
    venv = tmp_path / "venv"
    out = _make("venv", "UV=", f"VENV={venv}", path=fake)
    assert out.returncode != 0
    assert not venv.exists(), "nothing may be installed when no supported Python was found"
    message = out.stderr
    assert message.count("no supported Python found") == 1
    assert "python3 (3.13)" in message, "the message names the version it found"
    assert "3.11 or 3.12" in message
    assert "curl -LsSf https://astral.sh/uv/install.sh | sh" in message  # Linux and WSL2
    assert "brew install uv" in message and "brew install python@3.12" in message  # macOS
    assert "WSL2" in message and "wsl --install" in message  # Windows
    nothing = _fake_bin(tmp_path / "nothing", **{"python3.12": SHIM})
    assert "none that runs" in _make("python", "UV=", path=nothing).stderr


@needs_make
def test_uv_on_the_path_provides_python_and_installs(tmp_path):
    fake = _fake_bin(tmp_path, uv='[ "$1 $2" = "python find" ] && echo /fake/uv/python3.12', python3=_python("3.13"))
    out = _make("python", path=fake)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == [f"uv {fake / 'uv'}", "/fake/uv/python3.12"]
    dry = _make("-n", "venv", f"VENV={tmp_path / 'v'}", path=fake).stdout
    assert f"{fake / 'uv'} venv --seed --python '>=3.11,<3.13'" in dry
    assert f"{fake / 'uv'} pip install --python {tmp_path / 'v'}/bin/python" in dry
    assert "-m pip install" not in dry
    assert _make("python", "UV=", path=fake).returncode != 0, "UV= forces the pip branch (here: no usable Python)"


def test_supported_versions_agree_between_makefile_pyproject_and_container():
    makefile = (ROOT / "Makefile").read_text()
    spec = re.search(r"^PYTHON_SPEC\s*:=\s*(\S+)", makefile, re.M).group(1)
    versions = re.search(r"^PYTHON_VERSIONS\s*:=\s*(.+)$", makefile, re.M).group(1).split()
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"] == spec
    assert versions == ["3.11", "3.12"] and spec == ">=3.11,<3.13"
    assert re.search(r"^FROM python:(\d+\.\d+)-slim", (ROOT / "Dockerfile").read_text(), re.M).group(1) in versions


@needs_make
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the CPU index applies on Linux only")
def test_torch_cpu_index_is_a_setting(tmp_path):
    path = os.environ["PATH"]
    venv = f"VENV={tmp_path / 'v'}"
    index = "--extra-index-url https://download.pytorch.org/whl/cpu"
    assert index in _make("-n", "venv", "UV=", venv, path=path).stdout  # the default on Linux
    assert index not in _make("-n", "venv", "UV=", venv, "TORCH=cuda", path=path).stdout
    assert "--extra-index-url" not in _make("-n", "venv", "UV=", venv, "TORCH_CPU_INDEX=", path=path).stdout
    uv = _make("-n", "venv", "UV=/fake/uv", venv, "PIP_FIND_LINKS=/opt/wheels", path=path).stdout
    assert f"--find-links /opt/wheels {index} --index-strategy unsafe-best-match" in uv
    assert "TORCH=cpu (the default) or TORCH=cuda" in _make("-n", "venv", "TORCH=rocm", venv, path=path).stderr


# --------------------------------------------------------------------------- requirements per platform

PLATFORMS = {  # name: (uv's --python-platform, environment)
    "linux-x86_64": ("x86_64-manylinux_2_28", {}),
    "linux-aarch64": ("aarch64-manylinux_2_28", {}),
    "macos-arm64": ("aarch64-apple-darwin", {"MACOSX_DEPLOYMENT_TARGET": "14.0"}),  # torch 2.13 needs macOS 14
}
TARGETS = [(p, v) for p in PLATFORMS for v in ("3.11", "3.12")]
FRAMEWORKS = {  # what the environment markers must select
    "linux-x86_64": {"tensorflow-cpu": True, "tensorflow": False, "mxnet": True},
    "linux-aarch64": {"tensorflow-cpu": False, "tensorflow": True, "mxnet": True},
    "macos-arm64": {"tensorflow-cpu": False, "tensorflow": True, "mxnet": False},
}
NETWORK_ERRORS = ("Failed to fetch", "error sending request", "dns error", "Could not connect", "timed out",
                  "client error (Connect)", "Connection refused", "Network is unreachable")


def _uv() -> str:
    try:
        from uv import find_uv_bin  # requirements.txt pins uv, so the course environment has it

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if not found:
            pytest.fail("uv is not installed in this environment nor on the PATH: requirements.txt pins it; run `make venv`")
        return found


@pytest.fixture(scope="module")
def resolutions():
    """`uv pip compile` of requirements.txt from wheels only, for each target platform and Python (in parallel)."""
    uv = _uv()

    def compile_for(platform: str, version: str):
        uv_platform, extra_env = PLATFORMS[platform]
        return subprocess.run(
            [uv, "pip", "compile", str(ROOT / "requirements.txt"), "--python-platform", uv_platform,
             "--python-version", version, "--only-binary", ":all:", "--no-header", "--no-annotate", "--quiet"],
            capture_output=True, text=True, timeout=600, env={**os.environ, **extra_env}, cwd=ROOT)

    with ThreadPoolExecutor(8) as pool:  # network-bound
        jobs = {t: pool.submit(compile_for, *t) for t in TARGETS + [("linux-x86_64", "3.13")]}
        results = {t: job.result() for t, job in jobs.items()}
    for out in results.values():
        if out.returncode and any(e in out.stderr for e in NETWORK_ERRORS):
            pytest.skip("the package index is unreachable, so the requirements cannot be resolved here: "
                        + out.stderr.strip().splitlines()[0])
    return results


def _pins(lock: str) -> dict[str, str]:
    return dict(line.split("==", 1) for line in lock.splitlines() if "==" in line and not line.startswith("#"))


@pytest.mark.xdist_group("resolutions")  # one worker resolves every target once (module fixture), not each worker
@pytest.mark.parametrize("target", TARGETS, ids=[f"{p}-py{v}" for p, v in TARGETS])
def test_requirements_resolve_from_wheels(target, resolutions):
    out = resolutions[target]
    assert out.returncode == 0, out.stderr
    pins = _pins(out.stdout)
    for name in ("numpy==1.26.4", "torch==2.13.0", "pandas==3.0.6", "jupyterlab==4.6.6", "ipywidgets==8.1.9",
                 "nbgrader==0.9.6", "uv==0.13.9"):
        assert name.split("==")[0] in pins and pins[name.split("==")[0]] == name.split("==")[1], name
    # Markers: the right TensorFlow package; MXNet (and setuptools for its distutils) only where it has wheels.
    # Whether torch is the CPU build on Linux depends on the CPU index, which cannot be checked offline.
    platform = target[0]
    for package, present in FRAMEWORKS[platform].items():
        assert (package in pins) == present, f"{package} {'missing' if present else 'selected'} on {platform}"
    if FRAMEWORKS[platform]["mxnet"]:
        assert pins["tensorflow-cpu" if platform == "linux-x86_64" else "tensorflow"] == "2.21.0"
        assert pins["mxnet"] == "1.9.1" and pins["setuptools"] == "84.2.1"


@pytest.mark.xdist_group("resolutions")
def test_python_3_13_has_no_wheels_for_the_pinned_numpy(resolutions):
    out = resolutions[("linux-x86_64", "3.13")]
    assert out.returncode != 0 and "numpy==1.26.4" in out.stderr, "requires-python <3.13 is no longer needed?"


def test_xdist_groups_keep_a_notebooks_tests_on_one_worker(tmp_path):
    """`make test` executes each notebook once per worker that runs one of its tests, so its tests must share
    a worker (``--dist loadgroup``). With pytest 9.2 and pytest-xdist 3.8 the groups were silently ignored
    (pytest-xdist issue #1386) and notebooks ran two or three times."""
    (tmp_path / "test_groups.py").write_text(
        "import os, pathlib, pytest\n"
        "CASES = [pytest.param(g, marks=pytest.mark.xdist_group(g)) for g in 'abc']\n"
        "def note(g):\n"
        "    with open(pathlib.Path(__file__).parent / f'{g}.txt', 'a') as f:\n"
        "        f.write(os.environ['PYTEST_XDIST_WORKER'] + '\\n')\n"
        "@pytest.mark.parametrize('g', CASES)\n"
        "def test_one(g): note(g)\n"
        "@pytest.mark.parametrize('g', CASES)\n"
        "def test_two(g): note(g)\n"
        "@pytest.mark.parametrize('g', CASES)\n"
        "def test_three(g): note(g)\n")   # 3 groups of 3 on 2 workers: no chance alignment
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())  # the same reordering
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "xdist", "-p", "no:cacheprovider", "-o", "addopts=",
                           "-q", "-n", "2", "--dist", "loadgroup", "test_groups.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})  # xdist alone: faster
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    workers = {g: set((tmp_path / f"{g}.txt").read_text().split()) for g in "abc"}
    assert all(len(w) == 1 for w in workers.values()), f"a group's tests ran on several workers: {workers}"


# --------------------------------------------------------------------------- machines without MXNet


@pytest.mark.parametrize("system, machine, runs", [
    ("linux", "x86_64", True), ("darwin", "x86_64", True), ("darwin", "arm64", False), ("win32", "AMD64", False),
    ("linux", "aarch64", False)])  # (without the Arm Performance Libraries, which no package index has)
def test_mxnet_is_unavailable_exactly_where_it_cannot_be_had(monkeypatch, system, machine, runs):
    monkeypatch.delenv("LABKIT_HIDE_MXNET", raising=False)
    why = frameworks.unavailable("mxnet", system, machine)
    assert (why is None) == runs
    if not runs:
        expected = {"darwin": "has no wheel for macOS on Apple Silicon", "win32": "has no wheel for Windows",
                    "linux": "needs the Arm Performance Libraries"}[system]
        assert expected in why and "container" in why and "WSL2" in why


def test_torch_and_tensorflow_have_wheels_on_the_native_platforms_but_not_intel_macs(monkeypatch):
    for framework in ("torch", "tensorflow"):
        for system, machine in [("linux", "x86_64"), ("linux", "aarch64"), ("darwin", "arm64")]:
            assert frameworks.unavailable(framework, system, machine) is None
        assert "has no wheel for macOS x86_64" in frameworks.unavailable(framework, "darwin", "x86_64")


def test_import_mxnet_raises_one_clear_error_where_mxnet_is_hidden(monkeypatch):
    monkeypatch.setenv("LABKIT_HIDE_MXNET", "1")
    with pytest.raises(frameworks.MXNetUnavailable, match="LABKIT_HIDE_MXNET=1") as err:
        frameworks.import_mxnet()
    assert isinstance(err.value, ImportError) and "container" in str(err.value)
    monkeypatch.setenv("LABKIT_HIDE_MXNET", "0")
    assert frameworks.unavailable("mxnet", "linux", "x86_64") is None


def _lessons():
    return report.discover() + sorted(ROOT.glob("exercises/[0-9][0-9]_*.ipynb"))


def test_the_mxnet_lessons_and_only_they_declare_mxnet():
    for path in _lessons():
        nb = json.loads(path.read_text())
        code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
        uses = bool(re.search(r"\bmxnet\b|import_mxnet|labkit import gluon|\bgluon\b", code))
        requires = nb["metadata"].get("labkit", {}).get("requires", [])
        assert ("mxnet" in requires) == uses == (path.name[:2] in MXNET_LESSONS), path.name


STUB_PLUGIN = '''
"""Loaded with -p: no notebook is executed; only whether each lesson is skipped is observed."""
import pytest
from labkit import data, exercises, report

data.available = lambda name: True  # so the exercise checks are not skipped for want of real data


def _stub(*args, **kwargs):
    raise RuntimeError("stub: not executed by test_setup")


exercises.build_course = _stub   # the exercises' real nbgrader round trip (a module-scoped fixture)


@pytest.fixture(autouse=True)
def _no_execution(monkeypatch):
    monkeypatch.setattr(report, "execute", _stub)
'''


def test_hidden_mxnet_skips_exactly_the_mxnet_lessons_with_the_reason(tmp_path):
    """With LABKIT_HIDE_MXNET=1 the notebook and exercise runs of 03-05 are skipped with the reason; the
    others are not skipped (here they fail, as their execution is stubbed out to keep this test fast)."""
    (tmp_path / "stub_execution.py").write_text(STUB_PLUGIN)
    junit = tmp_path / "junit.xml"
    env = {**os.environ, "LABKIT_HIDE_MXNET": "1",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "stub_execution", "-o", "addopts=",
                    "-q", "-k", "smoke_run_records_sane_metrics or solutions_full_marks",
                    f"--junitxml={junit}", "tests/test_notebooks.py", "tests/test_exercises.py"],
                   cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    cases = {c.get("name"): c for c in ET.parse(junit).iter("testcase")}
    lessons = {name: name.split("[")[1].split("_")[0] for name in cases}
    assert len(cases) == len(_lessons()) and set(lessons.values()) >= MXNET_LESSONS | {"01", "02", "06", "07"}
    for name, case in cases.items():
        skipped = case.find("skipped")
        if lessons[name] in MXNET_LESSONS:
            assert skipped is not None, f"{name} ran with MXNet hidden"
            assert "needs mxnet" in skipped.get("message") and "LABKIT_HIDE_MXNET=1" in skipped.get("message")
            assert "container" in skipped.get("message")
        else:
            assert skipped is None, f"{name} was skipped: {skipped.get('message')}"
            assert "stub: not executed" in ET.tostring(case, encoding="unicode"), f"{name} did not reach execution"


def test_make_run_lists_the_mxnet_lessons_as_skipped_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_HIDE_MXNET", "1")
    ran = []

    def fake_execute(path, out, parameters, timeout=None):  # copies the notebook instead of running it
        ran.append(path.name.split("_")[0])
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, out)
        return 0.0

    monkeypatch.setattr(report, "execute", fake_execute)
    stale = tmp_path / "full" / "04_neumf.ipynb"  # an earlier run's result must not stand in
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    report.run(tmp_path)
    entries = {e["notebook"].split("_")[0]: e for e in json.loads((tmp_path / "report.json").read_text())["notebooks"]}
    assert sorted(ran) == sorted(set(entries) - MXNET_LESSONS) and not stale.exists()
    md = (tmp_path / "report.md").read_text()
    for lesson, entry in entries.items():
        if lesson in MXNET_LESSONS:
            assert entry["status"].startswith("skipped: ") and "LABKIT_HIDE_MXNET=1" in entry["skipped"], entry
            assert f"| skipped: {entry['notebook']}.ipynb needs mxnet: " in md  # the report's table gives the reason
        else:
            assert not entry["status"].startswith("skipped") and not entry.get("skipped")


def test_make_run_with_two_jobs_runs_the_lessons_two_at_a_time_and_08_after_them(tmp_path, monkeypatch):
    """RUN_JOBS=2 (CI): two kernels at a time, 08 (which reads the others) only once they have all ended,
    the report in lesson order and saying that the times include the sharing."""
    log = tmp_path / "log"

    def fake_execute(path, out, parameters, timeout=None):  # runs in a worker process (forked: patched there too)
        with open(log, "a") as f:
            f.write(f"start {path.stem} {os.getpid()} {time.time()}\n")
        time.sleep(0.3)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, out)
        with open(log, "a") as f:
            f.write(f"end {path.stem} {os.getpid()} {time.time()}\n")
        return 0.3

    monkeypatch.setattr(report, "execute", fake_execute)
    monkeypatch.delenv("LABKIT_BATCH", raising=False)
    report.run(tmp_path, only=["01_data_preparation", "01b_baselines", "06_two_tower", "08_comparison"], jobs=2)
    events = [line.split() for line in log.read_text().splitlines()]
    start = {stem: float(t) for kind, stem, _, t in events if kind == "start"}
    end = {stem: float(t) for kind, stem, _, t in events if kind == "end"}
    lessons = ["01_data_preparation", "01b_baselines", "06_two_tower"]
    assert len({pid for kind, stem, pid, _ in events if stem in lessons}) == 2, "two worker processes"
    assert max(start[s] for s in lessons[:2]) < min(end[s] for s in lessons[:2]), "two lessons at once"
    assert start["08_comparison"] >= max(end[s] for s in lessons), "08 runs after the lessons it reads"
    payload = json.loads((tmp_path / "report.json").read_text())
    assert [e["notebook"] for e in payload["notebooks"]] == lessons + ["08_comparison"] and payload["jobs"] == 2
    assert "ran 2 at a time" in (tmp_path / "report.md").read_text()
    assert "LABKIT_BATCH" not in os.environ, "the batch mode is set for the kernels only, then restored"


# --------------------------------------------------------------------------- the course environment


def _run(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **env}, timeout=300)


def test_the_mxnet_hook_makes_a_plain_import_work():
    if frameworks.unavailable("mxnet"):
        pytest.skip(frameworks.unavailable("mxnet"))
    out = _run("import labkit.frameworks as f; f.install_mxnet_hook(); import mxnet; "
               "print(mxnet.__version__, mxnet.nd.array([1, 2]).sum().asscalar())")
    assert out.stdout.strip().splitlines()[-1:] == ["1.9.1 3.0"], out.stderr
    hidden = _run("import labkit.frameworks as f; f.install_mxnet_hook(); import mxnet", LABKIT_HIDE_MXNET="1")
    assert "MXNetUnavailable" in hidden.stderr and "container" in hidden.stderr


def _course_environment():
    pth = Path(sysconfig.get_path("purelib")) / frameworks.PTH_NAME
    if not pth.is_file():
        pytest.skip(f"{sys.prefix} was not built by `make venv` (no {frameworks.PTH_NAME} in site-packages)")


def test_plain_import_mxnet_works_in_the_course_environment():
    _course_environment()
    if frameworks.unavailable("mxnet"):
        pytest.skip(frameworks.unavailable("mxnet"))
    out = _run("import mxnet; print(mxnet.__version__, mxnet.nd.array([1, 2]).sum().asscalar())")
    assert out.stdout.strip().splitlines()[-1:] == ["1.9.1 3.0"], out.stderr


def test_the_start_up_hook_imports_nothing_heavy():
    _course_environment()
    out = _run("import sys; print(sorted(m for m in ('numpy', 'pandas', 'mxnet', 'labkit.data') if m in sys.modules), "
               "type(sys.meta_path[0]).__name__)")
    assert out.stdout.split() == ["[]", "_MXNetImportHook"], out.stderr


def test_labkit_imports_lazily_and_keeps_its_names():
    out = _run("import sys, labkit; before = 'labkit.data' in sys.modules or 'numpy' in sys.modules; "
               "from labkit import data, metrics, seed_everything, device, import_mxnet, record; "
               "print(before, labkit.record is record, data.__name__, callable(seed_everything) and callable(device))")
    assert out.stdout.split() == ["False", "True", "labkit.data", "True"], out.stderr
    assert _run("import labkit; labkit.nothing").returncode != 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_make
def test_make_lab_starts_without_the_news_pop_up(tmp_path):
    """Starts the real server through `make lab` (no browser) and asks its settings API."""
    if not (ROOT / ".venv" / ".installed").is_file() or subprocess.run(
            [MAKE, "-q", ".venv/.installed"], cwd=ROOT, capture_output=True).returncode != 0:
        pytest.skip("this checkout's .venv is missing or out of date: run `make venv` first")
    port, token = _free_port(), "labkit-test"
    args = f"--port={port} --no-browser --allow-root --ServerApp.token={token} --ServerApp.port_retries=0"
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "user-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    env.pop("MAKEFLAGS", None)
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen([MAKE, "--no-print-directory", "lab", f"LAB_ARGS={args}"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/apputils-extension:notification?token={token}"
    try:
        settings, deadline = None, time.time() + 120
        while settings is None and time.time() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    settings = json.load(response)
            except OSError:
                time.sleep(1)
        assert settings is not None, (tmp_path / "lab.log").read_text()[-2000:]
        defaults = {name: spec.get("default") for name, spec in settings["schema"]["properties"].items()}
        assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False  # JupyterLab's own: "none", true
        assert json.loads(settings["raw"] or "{}").get("fetchNews") is None, "set by the environment, not by a user"
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # make and the server it started (their own session)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)
        log.close()


# --------------------------------------------------------------------------- the container


def test_container_files_use_only_make_targets():
    docker = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    assert re.search(r"^FROM python:3\.12-slim$", docker, re.M), "a multi-arch (amd64, arm64) base"
    runs = re.findall(r"^RUN (.+)$", docker, re.M)
    assert [r for r in runs if not r.startswith("apt-get ")] == ["make venv"], runs
    cmd = json.loads(re.search(r"^CMD (.+)$", docker, re.M).group(1))
    assert cmd[:2] == ["make", "lab"] and all(a in cmd[2] for a in ("--ip=0.0.0.0", "--port=8888", "--no-browser"))
    assert re.search(r"^EXPOSE 8888$", docker, re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "build", "data/*", "!data/checksums.sha256"} <= set(ignored)
    dev = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())
    assert dev["build"]["dockerfile"] == "../Dockerfile" and 8888 in dev["forwardPorts"]
    assert dev["postCreateCommand"] == "make venv"
