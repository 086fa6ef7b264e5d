"""Where a submission runs: its own job process, limits, and (on Linux) a bubblewrap sandbox.

Each job is a child process (the grading worker, or ``nbgrader autograde``) started in a new
session under these limits:

* wall clock for the whole job (here, in the parent);
* memory: ``RLIMIT_AS`` per process, inherited by the kernel and its children;
* file size: ``RLIMIT_FSIZE`` caps anything written (logs a submission floods included);
* processes: a ``pids`` cgroup per job where the grader may create one (as root on Linux);
  ``RLIMIT_NPROC`` is no cap for root, nor inside a user namespace mapped to root;
* CPU threads: one BLAS/OpenMP thread per job, so parallel jobs do not fight over cores.

The job itself is trusted (it holds the hidden tests). Only the student's kernel runs the
student's code, and :class:`autograder.kernel.GradingKernelManager` starts it inside
:func:`bwrap_command`: its own user, mount, PID, IPC, UTS, cgroup and network namespaces, an
unprivileged uid, the system, Python and the venv read-only, only its own folder writable, a
private ``/tmp``; nothing of the repository but the library the notebook imports. When the
kernel ends, its PID namespace ends and every process it started goes with it. Within a grading
run the kernel is forked into that sandbox from a warm interpreter (:mod:`autograder.warm_kernels`),
with the environment :func:`sandbox_env` gives it, as bubblewrap would have.

Where bubblewrap is missing or cannot create namespaces (macOS, a container that forbids them),
:func:`isolation` falls back to the process-group sandbox alone and says why; processes that
escape the group (``setsid``) are then found by a per-job token in their environment.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

TOKEN_VAR = "CNN_COURSE_GRADING_JOB"
SANDBOX_VAR = "CNN_COURSE_SANDBOX"  # "bwrap" when kernels are to be started inside bubblewrap
SOCKETS_VAR = "CNN_COURSE_SOCKETS"  # a short private folder per job for its kernels' IPC sockets
WARM_VAR = "CNN_COURSE_WARM_KERNELS"  # the grading run's warm interpreter (autograder.warm_kernels)
SANDBOX_MODES = ("auto", "require", "off")
SANDBOX_UID = 1000  # the unprivileged uid and gid the kernel runs as inside its namespace
# Files of the autograder package the kernel imports; nothing else of autograder/ is visible.
KERNEL_MODULES = ("__init__.py", "kernel.py", "agent.py", "protocol.py")
# The few files of /etc a Python kernel reads (the dynamic linker's cache, time zone, fonts).
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "fonts",
             "alternatives", "ssl")
CGROUP_PIDS_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))
# What the sandboxed process's environment is given and loses. ipykernel's parent poller would see
# PID 1 (bubblewrap's init) and quit: the kernel dies with its parent through --die-with-parent
# instead. The warm interpreter's socket is the job's, not the kernel's.
SANDBOX_ENV = {"USER": "student", "LOGNAME": "student", "PYTHONSAFEPATH": "1", "TMPDIR": "/tmp"}
SANDBOX_UNSET = ("JPY_PARENT_PID", WARM_VAR)


@dataclass
class Limits:
    wall_seconds: float = 300.0  # the whole notebook
    cell_seconds: float = 60.0  # one cell (interrupted, then grading goes on); fast mode keeps cells short
    memory_bytes: int = 8 << 30  # address space per process: a kernel with torch, dynamo and oneDNN needs ~6 GiB of it
    file_bytes: int = 64 << 20  # any single file a job writes
    output_bytes: int = 1 << 20  # notebook outputs kept per submission
    processes: int = 512  # tasks (processes and threads) per job, where a pids cgroup is available


@dataclass(frozen=True)
class Isolation:
    """How submissions are isolated in this run: ``bubblewrap`` or the ``process-group`` fallback."""

    kind: str
    reason: str = ""  # why there is no bubblewrap ('' when there is)
    warm: str = ""  # the socket of the run's warm interpreter, when kernels are forked from one

    @property
    def isolated(self) -> bool:
        return self.kind == "bubblewrap"

    def describe(self) -> str:
        """One line for the terminal and the class report."""
        if self.isolated:
            return "sandbox: bubblewrap (own namespaces, unprivileged uid, no network, only its folder writable)"
        return ("WARNING: submissions were graded WITHOUT isolation (process group and limits only: "
                f"they could read and write what the grader can); {self.reason}")


@dataclass
class JobOutcome:
    returncode: int | None  # None when killed by us on the wall clock
    timed_out: bool
    seconds: float
    log: str  # the tail of the job's stdout/stderr, for the instructor


# --- bubblewrap ------------------------------------------------------------------------------

def _package_dirs(name: str) -> list[Path]:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(p).resolve() for p in spec.submodule_search_locations]


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64"):
        path = Path("/") / top
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


def _python_binds() -> list[str]:
    """The Python install, the venv, and the course library the kernel imports, read-only.

    The venv and an editable install may live inside the repository: each is bound on its own,
    so the rest of the repository (masters, build, demo, outputs) does not exist in the sandbox.
    """
    roots: list[Path] = [Path("/usr")]
    args: list[str] = []
    for prefix in (sys.base_prefix, sys.prefix):
        path = Path(prefix).resolve()
        if not _under(path, roots):
            args += ["--ro-bind", str(path), str(path)]
            roots.append(path)
        if Path(prefix) != path and not _under(Path(prefix), roots):  # a symlinked prefix
            args += ["--ro-bind", prefix, prefix]
    for folder in _package_dirs("helpers"):
        if not _under(folder, roots):
            args += ["--ro-bind", str(folder), str(folder)]
    for folder in _package_dirs("autograder"):
        if not _under(folder, roots):
            for name in KERNEL_MODULES:
                args += ["--ro-bind-try", str(folder / name), str(folder / name)]
    return args


def bwrap_command(argv: list[str], writable: list[Path], cwd: Path) -> list[str]:
    """``argv`` wrapped in bubblewrap: the one place the sandbox's mounts and namespaces are decided.

    ``writable`` folders (the kernel's own folder, its connection folder) are bound read-write at
    the same paths; everything else visible is read-only, and most of the machine is absent.
    """
    args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session",
            "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--cap-drop", "ALL",
            "--hostname", "sandbox", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
            "--tmpfs", "/run", "--tmpfs", "/var/tmp"]
    args += _system_binds() + _python_binds()
    for folder in writable:
        args += ["--bind", str(folder), str(folder)]
    for name, value in SANDBOX_ENV.items():
        args += ["--setenv", name, value]
    for name in SANDBOX_UNSET:
        args += ["--unsetenv", name]
    return args + ["--chdir", str(cwd), "--"] + list(argv)


def sandbox_env(env: dict[str, str], cwd: Path) -> dict[str, str]:
    """``env`` as the process :func:`bwrap_command` starts in ``cwd`` sees it."""
    env = {k: v for k, v in env.items() if k not in SANDBOX_UNSET}
    return {**env, **SANDBOX_ENV, "PWD": str(cwd)}  # bubblewrap's --chdir sets PWD


@functools.cache
def _bwrap_problem() -> str:
    """'' when bubblewrap can start a sandboxed Python here, else why not. Asked once per process:
    the answer does not change while it runs, and asking costs seconds (the sandboxed Python
    imports ``helpers``, torch with it, to show the sandbox holds what a kernel needs)."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform})"
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    probe = bwrap_command([sys.executable, "-c", "import helpers"], [], Path("/"))
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap did not start: {e}"
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return f"bubblewrap cannot create a sandbox here: {lines[-1] if lines else done.returncode}"
    return ""


def isolation(mode: str = "auto") -> Isolation:
    """The isolation ``--sandbox MODE`` gives here; ``require`` refuses to go on without bubblewrap."""
    if mode not in SANDBOX_MODES:
        raise SystemExit(f"--sandbox must be one of {', '.join(SANDBOX_MODES)}, got {mode!r}")
    if mode == "off":
        return Isolation("process-group", "--sandbox off was given")
    problem = _bwrap_problem()
    if problem and mode == "require":
        raise SystemExit(f"--sandbox require: no isolation available: {problem}")
    return Isolation("process-group", problem) if problem else Isolation("bubblewrap")


# --- the job process -------------------------------------------------------------------------

def _limit(kind: int, value: int) -> None:
    soft, hard = resource.getrlimit(kind)
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    try:
        resource.setrlimit(kind, (value, hard))
    except (ValueError, OSError):
        pass


class PidsCgroup:
    """A ``pids`` cgroup capping one job's tasks; also lists them to kill them all at the end."""

    def __init__(self, limit: int):
        self.path: Path | None = None
        for root in CGROUP_PIDS_ROOTS:
            if not (root / "cgroup.procs").exists() or (root == Path("/sys/fs/cgroup")
                                                         and "pids" not in _read(root / "cgroup.subtree_control")):
                continue
            path = root / f"cnn-course-{uuid.uuid4().hex[:12]}"
            try:
                path.mkdir()
                (path / "pids.max").write_text(str(limit))
            except OSError:
                if path.is_dir():
                    path.rmdir()
                continue
            self.path = path
            break

    def enter(self) -> None:
        """Move the calling process (a child, before exec) into the cgroup."""
        if self.path is not None:
            try:
                (self.path / "cgroup.procs").write_text(str(os.getpid()))
            except OSError:
                pass

    def pids(self) -> list[int]:
        if self.path is None:
            return []
        return [int(p) for p in _read(self.path / "cgroup.procs").split()]

    def remove(self) -> None:
        if self.path is not None:
            for _ in range(250):  # its last processes may take a moment to be reaped
                try:
                    self.path.rmdir()
                    return
                except OSError:
                    time.sleep(0.02)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _preexec(limits: Limits, cgroup: PidsCgroup):
    def apply() -> None:
        cgroup.enter()
        _limit(resource.RLIMIT_AS, limits.memory_bytes)
        _limit(resource.RLIMIT_FSIZE, limits.file_bytes)
        _limit(resource.RLIMIT_CORE, 0)
        if os.geteuid() != 0:
            _limit(resource.RLIMIT_NPROC, limits.processes)
    return apply


def job_env(base: dict[str, str], workdir: Path, token: str, sandbox: Isolation | None = None) -> dict[str, str]:
    """The environment a job runs in: fast mode, a private home, one thread, its token, its sandbox."""
    env = dict(base)
    home = workdir / "home"
    for var, sub in {"HOME": "", "JUPYTER_CONFIG_DIR": "jupyter/config", "JUPYTER_DATA_DIR": "jupyter/data",
                     "JUPYTER_RUNTIME_DIR": "jupyter/runtime", "IPYTHONDIR": "ipython",
                     "MPLCONFIGDIR": "matplotlib", "XDG_CACHE_HOME": "cache", "TORCH_HOME": "torch"}.items():
        path = home / sub
        path.mkdir(parents=True, exist_ok=True)
        env[var] = str(path)
    env.update({"CNN_COURSE_FAST": "1", "MPLBACKEND": "Agg", "JUPYTER_PLATFORM_DIRS": "1",
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONSAFEPATH": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "OPENBLAS_NUM_THREADS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
                TOKEN_VAR: token, SANDBOX_VAR: "bwrap" if sandbox and sandbox.isolated else "none"})
    if sandbox and sandbox.isolated and sandbox.warm:
        env[WARM_VAR] = sandbox.warm
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


def kill_job(pgid: int, token: str, cgroup: PidsCgroup | None = None) -> None:
    """Kill the job's process group, its cgroup, and anything that left them but carries its token."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for _ in range(5):  # a forking process can add children while we kill: sweep a few times
        pids = set(_tokened_pids(token)) | set(cgroup.pids() if cgroup else [])
        pids.discard(os.getpid())
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)


# --- jobs forked from a warm process ----------------------------------------------------------
# The grading worker needs PyTorch, nbclient and otter's test files before it can judge: about 5 s
# of imports on a 2-core CPU, a quarter of grading a notebook, paid again by every job started
# with a fresh interpreter. The standard library's forkserver starts one process per grader that
# imports them once (PRELOAD) and forks each job from it; the job then sets up exactly what a fresh
# process would get (session, cgroup, limits, environment, folder, log) before it runs.

@dataclass(frozen=True)
class Entry:
    """A job that is a function of the course's own code: ``"module:function"``, called with
    ``payload`` (sent through a pipe, never written to disk) in a process forked from a warm one;
    it returns the job's exit code. Pass it to :func:`run_job` in place of an argv."""

    function: str
    payload: object
    preload: tuple[str, ...] = ()  # modules the warm process imports (the first Entry decides)


_FORKSERVER_LOCK = threading.Lock()
_forkserver_context = None


def _forkserver(preload: tuple[str, ...]):
    global _forkserver_context
    with _FORKSERVER_LOCK:
        if _forkserver_context is None:
            import multiprocessing

            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(list(preload))
            _forkserver_context = context
        return _forkserver_context


def _forked_job(entry: Entry, env: dict[str, str], cwd: str, log_path: str, limits: Limits,
                cgroup: PidsCgroup) -> None:
    """The job's first steps in the forked process: what ``subprocess.Popen`` with
    ``start_new_session`` and :func:`_preexec` give a fresh one, then the entry point."""
    import importlib

    os.setsid()
    _preexec(limits, cgroup)()
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    as_fresh_process(env, cwd)
    code = 1
    try:
        module, _, function = entry.function.partition(":")
        code = int(getattr(importlib.import_module(module), function)(entry.payload) or 0)
    except BaseException:  # noqa: BLE001 - the job's log says why; its grader turns the code into a status
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def as_fresh_process(env: dict[str, str], cwd: str) -> None:
    """In a fork of a warm interpreter (a job's, a kernel's), what a fresh ``python -P`` started
    with ``env`` in ``cwd`` has: that environment and folder, nothing on ``sys.path`` that leads
    into the folder (it is the student's), random generators of its own, and torch's threads as
    ``OMP_NUM_THREADS`` says (torch was imported under the warm interpreter's; unset, OpenMP takes
    every core)."""
    import random
    from importlib.machinery import FileFinder

    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    here = os.path.realpath(cwd)

    def kept(entry: str) -> bool:
        if os.path.isabs(entry):
            return os.path.realpath(entry) != here
        # A relative entry is a folder in the student's, unless a path hook claimed it: the
        # marker of an editable install, which a fresh interpreter has too.
        finder = sys.path_importer_cache.get(entry)
        return bool(entry) and finder is not None and not isinstance(finder, FileFinder)

    sys.path[:] = [entry for entry in sys.path if kept(entry)]
    random.seed()  # also done at fork by the module itself; numpy's is not
    if "numpy.random" in sys.modules:
        sys.modules["numpy.random"].seed()
    torch = sys.modules.get("torch")
    if torch is not None:
        threads = env.get("OMP_NUM_THREADS", "")
        torch.set_num_threads(int(threads) if threads.isdigit() and int(threads) > 0 else len(os.sched_getaffinity(0)))


class _Forked:
    """A forked job, with the part of ``subprocess.Popen`` that :func:`run_job` uses."""

    def __init__(self, entry: Entry, env: dict[str, str], cwd: Path, log_path: Path, limits: Limits,
                 cgroup: PidsCgroup) -> None:
        context = _forkserver(entry.preload)
        self.process = context.Process(target=_forked_job, daemon=False,
                                       args=(entry, env, str(cwd), str(log_path), limits, cgroup))
        self.process.start()
        self.pid = self.process.pid

    def communicate(self, _stdin: bytes, timeout: float) -> None:
        self.process.join(timeout)
        if self.process.exitcode is None:
            raise subprocess.TimeoutExpired("job", timeout)

    def wait(self) -> None:
        self.process.join()

    @property
    def returncode(self) -> int | None:
        return self.process.exitcode


def run_job(argv: list[str] | Entry, workdir: Path, limits: Limits, env: dict[str, str] | None = None,
            stdin: bytes = b"", cwd: Path | None = None, sandbox: Isolation | None = None) -> JobOutcome:
    """Run ``argv`` (or an :class:`Entry`) in its own session under ``limits``, feeding it
    ``stdin``; always kills the whole job at the end. With a bubblewrap ``sandbox``, the kernels it
    starts are sandboxed."""
    workdir.mkdir(parents=True, exist_ok=True)
    os.chmod(workdir, 0o700)
    token = uuid.uuid4().hex
    log_path = workdir / "job.log"
    cgroup = PidsCgroup(limits.processes)
    # A Unix socket path has at most 107 bytes: the sockets get a short folder of their own.
    sockets = tempfile.mkdtemp(prefix="cnn-", dir="/tmp" if os.access("/tmp", os.W_OK) else None)
    start = time.monotonic()
    try:
        with open(log_path, "wb") as log:
            job_environment = {**job_env(env or dict(os.environ), workdir, token, sandbox), SOCKETS_VAR: sockets}
            if isinstance(argv, Entry):
                proc = _Forked(argv, job_environment, cwd or workdir, log_path, limits, cgroup)
            else:
                proc = subprocess.Popen(argv, cwd=cwd or workdir, env=job_environment,
                                        stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True, preexec_fn=_preexec(limits, cgroup))
            timed_out = False
            try:
                proc.communicate(stdin, timeout=limits.wall_seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                kill_job(proc.pid, token, cgroup)
                proc.wait()
    finally:
        cgroup.remove()
        shutil.rmtree(sockets, ignore_errors=True)
    try:
        with open(log_path, "rb") as f:
            f.seek(max(0, log_path.stat().st_size - 4000))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        tail = ""
    return JobOutcome(None if timed_out else proc.returncode, timed_out, time.monotonic() - start, tail)
