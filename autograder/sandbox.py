"""Run one submission's grading in its own OS process group, with limits.

Each job is a child process (``python -m autograder.worker JOB.json``) started in a new session, so
it and everything it starts (the Jupyter kernel, any process the student's code spawns) share one
process group that is killed as a whole when the job ends, whatever happened. Limits:

* wall clock for the whole job (here, in the parent);
* memory: ``RLIMIT_AS`` per process, inherited by the kernel and its children;
* file size: ``RLIMIT_FSIZE`` caps anything written (logs a submission floods included);
* processes: ``RLIMIT_NPROC`` where the OS enforces it (not for root);
* CPU threads: one BLAS/OpenMP thread per job, so parallel jobs do not fight over cores.

Processes that escape the group (``setsid``) are found by a per-job token in their environment and
killed too.
"""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

TOKEN_VAR = "CNN_COURSE_GRADING_JOB"


@dataclass
class Limits:
    wall_seconds: float = 300.0  # the whole notebook
    cell_seconds: float = 60.0  # one cell (interrupted, then grading goes on); fast mode keeps cells short
    memory_bytes: int = 8 << 30  # address space per process: a kernel with torch, dynamo and oneDNN needs ~6 GiB of it
    file_bytes: int = 64 << 20  # any single file a job writes
    output_bytes: int = 1 << 20  # notebook outputs kept per submission
    processes: int = 512  # per user, where enforced


@dataclass
class JobOutcome:
    returncode: int | None  # None when killed by us on the wall clock
    timed_out: bool
    seconds: float
    log: str  # the tail of the job's stdout/stderr, for the instructor


def _limit(kind: int, value: int) -> None:
    soft, hard = resource.getrlimit(kind)
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    try:
        resource.setrlimit(kind, (value, hard))
    except (ValueError, OSError):
        pass


def _preexec(limits: Limits):
    def apply() -> None:
        _limit(resource.RLIMIT_AS, limits.memory_bytes)
        _limit(resource.RLIMIT_FSIZE, limits.file_bytes)
        _limit(resource.RLIMIT_CORE, 0)
        if os.geteuid() != 0:
            _limit(resource.RLIMIT_NPROC, limits.processes)
    return apply


def job_env(base: dict[str, str], workdir: Path, token: str) -> dict[str, str]:
    """The environment a job runs in: fast mode, a private home, one thread, its token."""
    env = dict(base)
    home = workdir / "home"
    for var, sub in {"HOME": "", "JUPYTER_CONFIG_DIR": "jupyter/config", "JUPYTER_DATA_DIR": "jupyter/data",
                     "JUPYTER_RUNTIME_DIR": "jupyter/runtime", "IPYTHONDIR": "ipython",
                     "MPLCONFIGDIR": "matplotlib", "XDG_CACHE_HOME": "cache", "TORCH_HOME": "torch"}.items():
        path = home / sub
        path.mkdir(parents=True, exist_ok=True)
        env[var] = str(path)
    env.update({"CNN_COURSE_FAST": "1", "MPLBACKEND": "Agg", "JUPYTER_PLATFORM_DIRS": "1",
                "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "OPENBLAS_NUM_THREADS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
                TOKEN_VAR: token})
    # The venv's bin/ first: nbgrader runs alembic, kernels resolve `python` there.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _tokened_pids(token: str) -> list[int]:
    """Processes whose environment carries ``token`` (readable for our own user, or as root)."""
    needle = f"{TOKEN_VAR}={token}".encode()
    pids = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def kill_job(pgid: int, token: str) -> None:
    """Kill the job's process group and anything that left it but still carries its token."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for _ in range(3):  # a forking process can add children while we kill: sweep a few times
        pids = _tokened_pids(token)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)


def run_job(argv: list[str], workdir: Path, limits: Limits, env: dict[str, str] | None = None,
            stdin: bytes = b"", cwd: Path | None = None) -> JobOutcome:
    """Run ``argv`` in its own session under ``limits``, feeding it ``stdin``; always kills the
    whole group at the end."""
    workdir.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    log_path = workdir / "job.log"
    start = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=cwd or workdir, env=job_env(env or dict(os.environ), workdir, token),
                                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_preexec(limits))
        timed_out = False
        try:
            proc.communicate(stdin, timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            kill_job(proc.pid, token)
            proc.wait()
    try:
        with open(log_path, "rb") as f:
            f.seek(max(0, log_path.stat().st_size - 4000))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        tail = ""
    return JobOutcome(None if timed_out else proc.returncode, timed_out, time.monotonic() - start, tail)
