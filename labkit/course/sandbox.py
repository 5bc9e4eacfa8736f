"""One submission's notebook in a bubblewrap sandbox, under memory, time, disk and output limits.

The sandbox (``bwrap``, as used by Flatpak) sees: the system's ``/usr`` and ``/etc`` read-only, the
course's Python environment (``.venv`` and its base interpreter) and ``labkit`` read-only (without
``labkit/course``, the grader), the dataset folders the exercise needs read-only, ``/in`` (the
notebook to run and the submission's own files, read-only), ``/out`` (where results go: the only
writable host folder, watched for size) and a private size-capped tmpfs ``/scratch`` (the working
folder, ``HOME``, caches). It has no network, its own PID, IPC, UTS and user namespaces (it runs
as ``nobody`` without capabilities: the grader and other submissions are invisible in ``/proc``),
``--die-with-parent`` and ``--new-session`` (no terminal to inject into). When its first process
ends, the PID namespace ends and every process it started is killed.

Limits (``Limits``): memory and processes through a cgroup (v1 ``memory`` and ``pids``, when the
machine lets root create one), else ``RLIMIT_AS`` per process; the whole run's wall clock (the
process group is killed); the scratch tmpfs size; ``/out``'s total size (a watchdog kills the run
past it) and any one file's size (``RLIMIT_FSIZE``); the captured stdout/stderr (tail kept).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

GiB, MiB = 1024 ** 3, 1024 ** 2
CGROUP = Path("/sys/fs/cgroup")


@dataclass
class Limits:
    """What one submission may use. ``memory``: bytes of RAM (cgroup) or address space (rlimit)."""
    cell_timeout: int = 600          # s per cell (interrupted, the rest runs)
    notebook_timeout: float = 1800   # s for the whole run (killed)
    memory: int = 6 * GiB            # the kernel and everything it starts, tmpfs included (cgroup)
    address_space: int = 24 * GiB    # RLIMIT_AS per process when no cgroup: TensorFlow maps ~4 GiB virtual at import
    scratch: int = 2 * GiB           # the private tmpfs (working folder, HOME, caches)
    output: int = 256 * MiB          # all of /out together
    file_size: int = 128 * MiB       # any one file written (RLIMIT_FSIZE)
    pids: int = 512                  # processes and threads (cgroup)
    log: int = 64 * 1024             # bytes of stdout/stderr kept (the tail)

    def describe(self) -> str:
        return (f"memory {self.memory / GiB:g} GiB (cgroup; else address space {self.address_space / GiB:g} GiB), "
                f"{self.pids} processes, {self.cell_timeout} s per cell, {self.notebook_timeout:g} s per notebook, "
                f"scratch {self.scratch / MiB:g} MiB, output {self.output / MiB:g} MiB, "
                f"files {self.file_size / MiB:g} MiB, no network")


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def unavailable() -> str | None:
    """Return why no sandbox can be made here (None when bubblewrap works)."""
    if sys.platform != "linux":
        return f"bubblewrap needs Linux (this is {sys.platform}): grade in the course's container (exercises/README.md)"
    bwrap = bwrap_path()
    if not bwrap:
        return "bubblewrap is not installed (Debian/Ubuntu: sudo apt-get install bubblewrap)"
    probe = subprocess.run([bwrap, "--unshare-all", "--die-with-parent", "--cap-drop", "ALL", "--uid", "65534",
                            "--gid", "65534", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"],
                           capture_output=True, text=True)
    if probe.returncode:
        return (f"bubblewrap cannot create namespaces here ({probe.stderr.strip()[:200]}): allow unprivileged "
                "user namespaces (sysctl kernel.unprivileged_userns_clone=1) or grade in a container")
    return None


def _cgroup(kind: str) -> Path | None:
    base = CGROUP / kind
    if not base.is_dir() or (CGROUP / "cgroup.controllers").exists():   # v1 hierarchy only
        return None
    try:
        path = base / "labkit" / uuid.uuid4().hex
        path.mkdir(parents=True)
        return path
    except OSError:
        return None


class _Group:
    """A v1 memory + pids cgroup for one run (or nothing, where the machine does not allow it)."""

    def __init__(self, limits: Limits):
        self.memory, self.pids, self.cpu = _cgroup("memory"), _cgroup("pids"), _cgroup("cpuacct")
        try:
            if self.memory:
                (self.memory / "memory.limit_in_bytes").write_text(str(limits.memory))
                if (self.memory / "memory.memsw.limit_in_bytes").exists():
                    (self.memory / "memory.memsw.limit_in_bytes").write_text(str(limits.memory))
            if self.pids:
                (self.pids / "pids.max").write_text(str(limits.pids))
        except OSError:
            self.close()
            self.memory = self.pids = None

    def join(self) -> None:   # in the child, before exec
        for path in (self.memory, self.pids, self.cpu):
            if path:
                (path / "cgroup.procs").write_text(str(os.getpid()))

    def peak(self) -> int | None:
        try:
            return int((self.memory / "memory.max_usage_in_bytes").read_text()) if self.memory else None
        except OSError:
            return None

    def cpu_seconds(self) -> float | None:
        try:
            return round(int((self.cpu / "cpuacct.usage").read_text()) / 1e9, 1) if self.cpu else None
        except OSError:
            return None

    def oom(self) -> bool:
        try:
            text = (self.memory / "memory.oom_control").read_text() if self.memory else ""
        except OSError:
            return False
        return any(line.split()[0] == "oom_kill" and int(line.split()[1]) > 0 for line in text.splitlines())

    def kill_all(self) -> None:
        for path in (self.memory, self.pids):
            if not path:
                continue
            for _ in range(50):
                try:
                    pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
                except OSError:
                    break
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.1)

    def close(self) -> None:
        self.kill_all()
        for path in (self.memory, self.pids, self.cpu):
            if path:
                try:
                    path.rmdir()
                except OSError:
                    pass


def _du(folder: Path) -> int:
    """Bytes allocated under ``folder`` (sparse files count what they really use)."""
    total = 0
    for root, dirs, files in os.walk(folder):
        for name in files + dirs:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total


def command(inner: list[str], inbox: Path, outbox: Path, binds: list[Path], env: dict[str, str],
            limits: Limits, hide: list[Path] = ()) -> list[str]:
    """The ``bwrap`` command line running ``inner`` with ``/in`` read-only and ``/out`` writable."""
    cmd = [bwrap_path() or "bwrap", "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
           "--uid", "65534", "--gid", "65534", "--hostname", "sandbox", "--disable-userns"]
    for system in ("/usr", "/etc"):
        cmd += ["--ro-bind", system, system]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            cmd += ["--symlink", os.readlink(path), f"/{name}"]
        elif path.is_dir():
            cmd += ["--ro-bind", str(path), f"/{name}"]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--size", str(limits.scratch), "--tmpfs", "/scratch",
            "--symlink", "/scratch/tmp", "/tmp", "--dir", "/scratch/tmp", "--dir", "/scratch/home"]
    for path in binds:
        cmd += ["--ro-bind", str(path), str(path)]
    for path in hide:
        cmd += ["--tmpfs", str(path), "--remount-ro", str(path)]
    cmd += ["--ro-bind", str(inbox), "/in", "--bind", str(outbox), "/out", "--chdir", "/scratch", "--clearenv"]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return cmd + ["--", *inner]


def run(cmd: list[str], outbox: Path, limits: Limits, sandboxed: bool = True, cwd: Path | None = None,
        env: dict | None = None) -> dict:
    """Run ``cmd`` (a ``command`` line, or the bare runner when not ``sandboxed``) under ``limits``.

    Returns ``{"returncode", "killed" (why the run was ended from outside, or None), "oom", "memory_peak",
    "cpu_seconds" (cgroup cpuacct, where available), "seconds", "log" (the tail of stdout+stderr), "limits", "cgroup"}``; never raises for what the
    code inside did.
    """
    group = _Group(limits)

    def child():
        os.setsid()
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size, limits.file_size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if group.memory is None:
            resource.setrlimit(resource.RLIMIT_AS, (limits.address_space, limits.address_space))
        group.join()

    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=child, cwd=cwd, env=env)
    tail = bytearray()

    def drain():
        for chunk in iter(lambda: proc.stdout.read(65536), b""):
            tail.extend(chunk)
            del tail[:-limits.log]

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    killed = None
    while proc.poll() is None:
        elapsed = time.monotonic() - start
        if elapsed > limits.notebook_timeout:
            killed = f"timeout after {limits.notebook_timeout:g} s for the whole notebook (killed)"
        elif _du(outbox) > limits.output:
            killed = f"output over {limits.output // MiB} MiB (killed)"
        if killed:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            group.kill_all()
            break
        time.sleep(0.5)
    proc.wait()
    if not sandboxed:   # without a PID namespace, end what the run left behind in its session
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    reader.join(timeout=5)
    result = {"returncode": proc.returncode, "killed": killed, "oom": group.oom(), "memory_peak": group.peak(),
              "cpu_seconds": group.cpu_seconds(),
              "seconds": round(time.monotonic() - start, 1), "log": tail.decode("utf-8", "replace"),
              "limits": asdict(limits), "cgroup": group.memory is not None}
    group.close()
    return result
