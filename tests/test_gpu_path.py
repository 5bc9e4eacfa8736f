"""The GPU set-up path: PyPI's CUDA build of torch brings triton, and ``import tensorflow`` then
``import triton`` kills the process (segfault, exit 139). So labkit's seeding and device selection
must never import torch's compiler stack (torch._inductor, torch._dynamo, triton), which
``torch.use_deterministic_algorithms`` does (issue 24).

The unit test runs here, in the course environment (the CPU build, no triton). The integration
tests need an environment with triton: ``make test-triton`` builds one once (the pinned numpy,
tensorflow-cpu and torch, plus triton 3.7.1, which gives the CPU build the CUDA build's import
path) and names its Python in ``LABKIT_TRITON_PYTHON``; ``make test-py312`` runs them again in the
Python 3.12 environment with PyPI's CUDA torch.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPILER = ("torch._inductor", "torch._dynamo", "triton")
LOADED = f"[m for m in {COMPILER!r} if m in sys.modules]"  # code printing which of them are imported


def _python(python: str, code: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh ``python`` that imports this clone's labkit; TensorFlow's C++ logs silenced."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    env.pop("TORCHINDUCTOR_DETERMINISTIC", None)
    return subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


def test_seeding_and_device_leave_torchs_compiler_stack_unimported():
    code = f"""
import sys, torch
from labkit import frameworks
frameworks.seed_everything(0); frameworks.device("torch")
print(torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(), {LOADED})
"""
    run = _python(sys.executable, code)
    assert run.returncode == 0, run.stderr[-3000:]
    enabled, warn_only, loaded = run.stdout.strip().splitlines()[-1].split(" ", 2)
    assert loaded == "[]", f"seed_everything/device imported torch's compiler stack: {loaded}"
    assert (enabled, warn_only) == ("True", "True"), "torch's deterministic algorithms (warn only) are not on"


# --- with triton installed: `make test-triton`, `make test-py312` ---
TRITON_PYTHON = os.environ.get("LABKIT_TRITON_PYTHON")
needs_triton = pytest.mark.skipif(not TRITON_PYTHON, reason="needs an environment with triton: LABKIT_TRITON_PYTHON "
                                  "is unset (`make test-triton` builds one and sets it)")
SEGFAULT = -11  # subprocess's returncode for a process killed by SIGSEGV (a shell shows 139)


def _in_triton_env(code: str) -> subprocess.CompletedProcess:
    assert Path(TRITON_PYTHON).is_file(), f"LABKIT_TRITON_PYTHON={TRITON_PYTHON} does not exist"
    return _python(TRITON_PYTHON, code)


@pytest.mark.integration
@needs_triton
def test_triton_env_has_torch_and_triton_as_the_cuda_build_does():
    run = _in_triton_env("import torch, triton, tensorflow as tf; print(torch.__version__.split('+')[0], "
                         "triton.__version__, tf.__version__)")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split()[-3:] == ["2.13.0", "3.7.1", "2.21.0"]


@pytest.mark.integration
@needs_triton
@pytest.mark.parametrize("code", ["import tensorflow; import triton",
                                  "import tensorflow, torch; torch.use_deterministic_algorithms(True, warn_only=True)"],
                         ids=["tensorflow-then-triton", "tensorflow-then-use_deterministic_algorithms"])
def test_the_environment_reproduces_the_crash(code):
    """The hazard the fix avoids: if this environment stopped crashing here, the tests below would prove nothing.
    (The course's import hook, where ``make venv`` installed it, is taken out first: it imports triton first.)"""
    run = _in_triton_env("import sys; sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "
                         f"'_MXNetImportHook']; {code}")
    assert run.returncode == SEGFAULT, (f"expected the segfault of issue 24, got exit {run.returncode}: "
                                        f"{run.stderr[-2000:]}")


@pytest.mark.integration
@needs_triton
def test_triton_then_tensorflow_imports():
    run = _in_triton_env("import triton; import tensorflow; print('ok')")
    assert run.returncode == 0 and run.stdout.split()[-1] == "ok", run.stderr[-3000:]


@pytest.mark.integration
@needs_triton
def test_the_course_import_hook_imports_triton_before_tensorflow():
    run = _in_triton_env("import labkit.frameworks as f; f.install_mxnet_hook(); import tensorflow; import triton; "
                         "print('ok')")
    assert run.returncode == 0 and run.stdout.split()[-1] == "ok", f"exit {run.returncode}: {run.stderr[-3000:]}"


@pytest.mark.integration
@needs_triton
@pytest.mark.parametrize("imports", ["import tensorflow as tf; import torch", "import torch; import tensorflow as tf"],
                         ids=["tensorflow-first", "torch-first"])
def test_seeding_after_both_frameworks_does_not_crash(imports):
    code = f"""
import sys
{imports}
from labkit import frameworks
def draw():
    return float(torch.rand(1)), float(tf.random.uniform(()))
frameworks.seed_everything(0); a = draw(); frameworks.seed_everything(0); b = draw()
frameworks.device("torch"), frameworks.device("tensorflow")
print(a == b, torch.are_deterministic_algorithms_enabled(), {LOADED})
"""
    run = _in_triton_env(code)
    crashed = " (segfault: the crash of issue 24)" if run.returncode == SEGFAULT else ""
    assert run.returncode == 0, f"exit {run.returncode}{crashed}: {run.stderr[-3000:]}"
    # triton alone may be there: the course's import hook loads it before TensorFlow (never inductor or dynamo)
    assert run.stdout.strip().splitlines()[-1] in ("True True []", "True True ['triton']")


@pytest.mark.integration
@needs_triton
@pytest.mark.parametrize("order", [("seed", "inductor"), ("inductor", "seed")], ids=["seeded-first", "inductor-first"])
def test_a_lesson_that_compiles_still_gets_inductors_deterministic_flag(order):
    """The flag use_deterministic_algorithms also sets, whether a lesson imports inductor after seeding or before."""
    step = {"seed": "seed_everything(0)", "inductor": "import torch._inductor.config as inductor, triton"}
    code = ("import torch\nfrom labkit import seed_everything\n" + "\n".join(step[s] for s in order)
            + "\nprint(inductor.deterministic, torch.are_deterministic_algorithms_enabled())")
    run = _in_triton_env(code)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split()[-2:] == ["True", "True"]
