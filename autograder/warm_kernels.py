"""Sandboxed kernels forked from a warm interpreter: the imports paid once per grading run.

A grading kernel spends about 8 CPU-seconds before the student's first line runs: ipykernel, then
the set-up cell's torch, torchvision, otter and helpers. Paid again by each of a class's notebooks,
that is most of what grading costs. Here one fresh interpreter per grading run (:func:`serving`)
imports them once; for each kernel the grading job starts bubblewrap exactly as before, with the
same mounts and namespaces (:func:`autograder.sandbox.bwrap_command`), but running :data:`HOLDER`,
which says when the sandbox is built and then only waits. The warm interpreter forks (:class:`Place`
asks it to, once the holder has spoken); the fork joins that sandbox's namespaces, takes the
sandbox process's credentials (uid, no capabilities, ``no_new_privs``), the job's limits and cgroup,
and forks the kernel inside (``python -m autograder.kernel``, as a cold start would run it), whose
parent is then the sandbox's init, as a cold kernel's. The job tells the holder the kernel's pid;
when the kernel ends, the holder ends (killed, if the student stopped it), bubblewrap ends, and the
sandbox's PID namespace with every process the student started.

What every kernel of a run shares, being forks of one process: the address layout, Python's
string-hash key (a fresh interpreter draws its own) and matplotlib's settings as read when the warm
interpreter imported it (see :data:`PRELOAD`). None is a secret of anyone's: the warm interpreter
holds only imported libraries. Its random generators are reseeded in each kernel.

Written by hand because no tool does it: bubblewrap and ``nsenter`` can only ``exec`` into a
sandbox, and an ``exec`` throws the imports away. What is written here only *joins* namespaces
bubblewrap made and gives up privileges; deciding what the sandbox holds stays with bubblewrap.
Where joining fails (a kernel or policy that forbids it) the run says so and starts kernels cold.

The warm interpreter is started fresh (``python -m autograder.warm_kernels``) with a minimal
environment, never forked from the grader: it has imported libraries only, so a kernel forked from
it holds nothing a student may not see. It listens on a Unix socket in a private folder that no
sandbox mounts; grading jobs (trusted) find it through :data:`autograder.sandbox.WARM_VAR`.
"""
from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import fcntl
import json
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.sandbox import as_fresh_process, bwrap_command

# What a grading kernel imports before the student's code: the kernel, its agent, and the libraries
# of the units' set-up and import cells. matplotlib (0.5-0.6 s of every notebook's import cell) reads
# its settings when it is imported, here from the warm interpreter's environment: the same backend
# (MPLBACKEND) and defaults as a kernel's, and folders for its configuration and font cache in the
# warm interpreter's private home, which no sandbox mounts (a kernel that asks for them gets paths it
# cannot open; matplotlib writes there only to rebuild the font list). A ``matplotlibrc`` in the
# student's own folder is not read, as it would be by a kernel started cold; a notebook from Colab
# or JupyterLab has none. tests/test_warm_kernels.py compares the settings with a cold kernel's.
PRELOAD = ("ipykernel.kernelapp", "autograder.agent", "torch", "torchvision", "helpers", "otter",
           "matplotlib.pyplot", "helpers.checks", "helpers.plots", "helpers.data", "helpers.models", "helpers.bench")
RLIMITS = ("RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_CORE", "RLIMIT_NPROC")
START_SECONDS = 180.0  # the warm interpreter's imports, on a loaded 2-core machine
MAX_REQUEST = 8 << 20  # a job's request: the kernel's command, environment, folder, limits

# Runs as the sandbox's command in place of the kernel (``python -I -S``: nothing imported). It first
# says ``ready`` on its standard output: bubblewrap runs its command once the sandbox is built, but
# reports the sandboxed process's pid (``--info-fd``) before it makes a single mount, and a fork
# joining then would have a half-built file system for its root. It then reads the kernel's pid
# (in the sandbox's PID namespace) from the job on its standard input, and exits when that process
# ends, or at once when the job closes its input without one.
HOLDER = """\
import os, select, sys
print("ready", flush=True)
line = sys.stdin.readline().strip()
if line.isdigit():
    select.select([os.pidfd_open(int(line))], [], [])
"""
HOLDER_ARGV = (sys.executable, "-I", "-S", "-c", HOLDER)

# The namespaces bubblewrap unshares (``--unshare-all``), joined in this order; the user namespace
# is joined last where it does not own the others (bubblewrap run as root), first where it does.
_NAMESPACES = (("cgroup", 0x02000000), ("ipc", 0x08000000), ("uts", 0x04000000), ("net", 0x40000000),
               ("pid", 0x20000000), ("mnt", 0x00020000))
_CLONE_NEWUSER = 0x10000000
_NS_GET_USERNS = 0xB701  # ioctl: the user namespace that owns a namespace
_PR_SET_PDEATHSIG, _PR_CAPBSET_READ, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT = 1, 23, 24, 38, 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAPABILITY_VERSION_3 = 0x20080522


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


# --- the fork's way into the sandbox ------------------------------------------------------------

def _join(holder: int, pidfd: int) -> None:
    """Join every namespace of the sandbox process ``holder`` (``pidfd`` refers to it)."""
    libc = _libc()
    fds = {kind: os.open(f"/proc/{holder}/ns/{kind}", os.O_RDONLY) for kind, _ in _NAMESPACES}
    user = os.open(f"/proc/{holder}/ns/user", os.O_RDONLY)
    if select.select([pidfd], [], [], 0)[0]:  # ended: its pid may be another process's now
        raise RuntimeError("the sandbox ended before the kernel could join it")
    owner = fcntl.ioctl(fds["mnt"], _NS_GET_USERNS)  # returns a new descriptor
    current = os.stat("/proc/self/ns/user").st_ino  # read now: once in the sandbox's mounts, /proc is its
    try:
        if os.fstat(owner).st_ino != current:  # unprivileged: bubblewrap's user namespace owns the others
            _check(libc.setns(owner, _CLONE_NEWUSER), "joining the sandbox's user namespace")
            current = os.fstat(owner).st_ino
        for kind, flag in _NAMESPACES:
            _check(libc.setns(fds[kind], flag), f"joining the sandbox's {kind} namespace")
        if os.fstat(user).st_ino != current:
            _check(libc.setns(user, _CLONE_NEWUSER), "joining the sandbox's user namespace")
    finally:
        for fd in (*fds.values(), user, owner):
            os.close(fd)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_privileges() -> None:
    """What bubblewrap's own sandbox process has (``--cap-drop ALL``): no capability in any set,
    the bounding set empty, ``no_new_privs``."""
    libc = _libc()
    cap = 0
    while libc.prctl(_PR_CAPBSET_READ, cap, 0, 0, 0) >= 0:  # EINVAL past the kernel's last capability
        _check(libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0), f"dropping capability {cap} from the bounding set")
        cap += 1
    _check(libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clearing the ambient capabilities")
    header, data = _CapHeader(_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    _check(libc.capset(ctypes.byref(header), ctypes.byref(data)), "dropping every capability")
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "setting no_new_privs")


def _become_kernel(request: dict, stdio: list[int]) -> None:
    """In the sandbox's PID namespace: the kernel, as ``python -m autograder.kernel`` would start."""
    import runpy

    os.setsid()
    os.dup2(stdio[0], 0)
    os.dup2(stdio[1], 1)
    os.dup2(stdio[2], 2)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # as exec with close_fds: nothing of the warm process's
    as_fresh_process(request["env"], request["cwd"])
    sys.argv = [request["argv"][0], *request["argv"][request["argv"].index("autograder.kernel") + 1:]]
    code = 0
    try:
        runpy.run_module("autograder.kernel", run_name="__main__", alter_sys=True)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - the job's log says why; the kernel is then dead to the job
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    """The job's request (JSON, read to its end) and its kernel's three standard streams."""
    data, fds = b"", []
    while True:
        chunk, received, _, _ = socket.recv_fds(conn, 1 << 16, 3)
        fds += received
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST:
            raise ValueError(f"a request over {MAX_REQUEST >> 20} MiB")
    if len(fds) != 3:
        raise ValueError(f"3 standard streams expected, {len(fds)} received")
    return json.loads(data.decode()), fds


def _fork_kernel(conn: socket.socket) -> None:
    """In a fork of the warm interpreter: read the job's request; take the job's limits and cgroup,
    the sandbox's namespaces and credentials; fork once more (a PID namespace holds only the
    children of who joins it), and that child becomes the kernel. This process reports the
    kernel's pid, waits for it, then ends the sandbox, whatever state the student left its holder in."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    stdio: list[int] = []
    try:
        request, stdio = _receive(conn)
        holder = os.pidfd_open(request["holder"])
        for procs in request["cgroups"]:  # where a cold kernel would be: the job's (best effort, as there)
            with contextlib.suppress(OSError):
                Path(procs).write_text(str(os.getpid()))
        for name, (soft, hard) in request["limits"].items():
            resource.setrlimit(getattr(resource, name), (soft, hard))
        if os.getgroups() and os.geteuid() == 0:
            os.setgroups([])  # bubblewrap's process keeps no supplementary group either
        _join(request["holder"], holder)
        _drop_privileges()
        pid, kernel = _start_in_namespace(conn, request, stdio)
    except BaseException as e:  # noqa: BLE001 - reported to the job, which then starts its kernel cold
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"error": f"{type(e).__name__}: {e}"}).encode())
        os._exit(1)
    for fd in stdio:
        os.close(fd)
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps({"pid": pid}).encode())
    conn.close()
    select.select([kernel], [], [])
    # A cold kernel's end ends its sandbox (bubblewrap waits for it); here the holder is the one
    # bubblewrap waits for, and the student could have stopped it.
    with contextlib.suppress(OSError):
        signal.pidfd_send_signal(holder, signal.SIGKILL)
    os._exit(0)


def _start_in_namespace(conn: socket.socket, request: dict, stdio: list[int]) -> tuple[int, int]:
    """Fork into the sandbox's PID namespace, and there fork the kernel and leave it: as a cold
    kernel's, its parent is then the sandbox's init (``os.getppid() == 1``; a parent outside would
    read as 0, and ``os.kill(0, ...)`` is the kernel's own process group). Returns the kernel's pid
    in the namespace and a pidfd on it."""
    ours, theirs = socket.socketpair()
    if os.fork() == 0:
        ours.close()
        kernel = os.fork()
        if kernel == 0:
            theirs.close()
            conn.close()
            _become_kernel(request, stdio)
        socket.send_fds(theirs, [str(kernel).encode()], [os.pidfd_open(kernel)])
        os._exit(0)
    theirs.close()
    message, fds, _, _ = socket.recv_fds(ours, 64, 1)
    ours.close()
    if not message.isdigit() or len(fds) != 1:
        raise RuntimeError("the kernel did not start in the sandbox")
    os.wait()
    return int(message), fds[0]


def _serve(path: str) -> None:
    """The warm interpreter: import :data:`PRELOAD`, then fork for each connection. It reads no
    request itself: what it has read, each later fork would inherit (another job's paths and
    environment in the memory of the next student's kernel)."""
    import importlib
    import time

    parent = os.getppid()
    _check(_libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "tying the warm interpreter to its grader")
    if os.getppid() != parent:  # the grader is already gone
        return
    for name in PRELOAD:
        importlib.import_module(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the forks are reaped by the kernel
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(64)
    print("ready", flush=True)
    while True:
        try:
            conn, _ = server.accept()
        except OSError:  # out of descriptors for a moment: the job waits, then starts cold
            time.sleep(0.1)
            continue
        try:
            child = os.fork()
        except OSError:  # out of processes or memory for a moment: this job's kernel starts cold
            conn.close()
            continue
        if child == 0:
            server.close()
            _fork_kernel(conn)
        conn.close()


# --- the job's side ---------------------------------------------------------------------------

def _own_cgroups() -> list[str]:
    """The ``cgroup.procs`` files of this process's own (the job's) cgroups, to put the kernel in."""
    found = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if path == "/" or controllers not in ("", "pids"):
            continue
        procs = Path("/sys/fs/cgroup", "pids" if controllers else "", path.lstrip("/"), "cgroup.procs")
        if procs.exists():
            found.append(str(procs))
    return found


def launch(socket_path: str, holder: int, argv: list[str], env: dict[str, str], cwd: str,
           timeout: float = 60.0, quiet: bool = False) -> int:
    """Ask the warm interpreter for a kernel running ``argv`` inside the sandbox of ``holder``
    (bubblewrap's sandboxed process, running :data:`HOLDER`), writing to this process's standard
    output and error (nowhere when ``quiet``); return its pid in the sandbox, which the job writes
    on the holder's standard input."""
    limits = {name: resource.getrlimit(getattr(resource, name)) for name in RLIMITS}
    request = {"holder": holder, "argv": argv, "env": env, "cwd": cwd, "limits": limits,
               "cgroups": _own_cgroups()}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn, open(os.devnull, "rb") as null:
        conn.settimeout(timeout)
        conn.connect(socket_path)
        stdio = [null.fileno()] * 3 if quiet else [null.fileno(), 1, 2]
        socket.send_fds(conn, [json.dumps(request).encode()], stdio)
        conn.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    answer = json.loads(reply.decode() or '{"error": "the warm interpreter closed the connection"}')
    if "error" in answer:
        raise RuntimeError(f"no warm kernel: {answer['error']}")
    return int(answer["pid"])


class Place:
    """A grading job's pipes to a sandbox it holds for a warm kernel: bubblewrap started with
    :meth:`command` (the holder for its command) and :meth:`popen_kw`, then :meth:`started`; then
    :meth:`fill` asks the warm interpreter for the kernel once the sandbox is built."""

    def __init__(self) -> None:
        self._open: set[int] = set()
        self._info = self._pipe()  # bubblewrap's ``--info-fd`` report: the sandboxed process's pid
        self._built = self._pipe()  # the holder's standard output: ``ready``, once the sandbox is built
        self._pid = self._pipe()  # the holder's standard input: the kernel's pid, from the job

    def _pipe(self) -> tuple[int, int]:
        ends = os.pipe()
        self._open.update(ends)
        return ends

    def command(self, bwrap_cmd: list[str]) -> list[str]:
        """``bwrap_cmd`` (running :data:`HOLDER_ARGV`) reporting on the pipe :meth:`fill` reads."""
        return [bwrap_cmd[0], "--info-fd", str(self._info[1]), *bwrap_cmd[1:]]

    def popen_kw(self) -> dict:
        return {"pass_fds": (self._info[1],), "stdin": self._pid[0], "stdout": self._built[1]}

    def started(self) -> None:
        """bubblewrap has its ends (or failed to start): the job closes its copies."""
        self._close(self._info[1], self._built[1], self._pid[0])

    def fill(self, socket_path: str, argv: list[str], env: dict[str, str], cwd: str,
             timeout: float = 60.0, quiet: bool = False) -> int:
        """The kernel running ``argv``, forked into the built sandbox (:func:`launch`); its pid
        there, told to the holder. Whatever happens, the holder's input is closed after: without
        a pid, the holder ends and bubblewrap with it."""
        try:
            info = _read_until(self._info[0], timeout, _json_object, "bubblewrap said nothing of its sandbox")
            said = _read_until(self._built[0], timeout, lambda data: data if b"\n" in data else None,
                               "the sandbox's holder did not start")
            if said != b"ready\n":
                raise RuntimeError(f"the sandbox's holder said {said!r}")
            pid = launch(socket_path, int(info["child-pid"]), argv, env, cwd, timeout=timeout, quiet=quiet)
            os.write(self._pid[1], f"{pid}\n".encode())
            return pid
        finally:
            self.close()

    def close(self) -> None:
        self._close(*self._open)

    def _close(self, *fds: int) -> None:
        for fd in fds:
            if fd in self._open:  # once only: a number closed twice may be another thread's file by then
                self._open.discard(fd)
                os.close(fd)


def _json_object(data: bytes) -> dict | None:
    with contextlib.suppress(ValueError):
        return json.loads(data.decode())
    return None


def _read_until(fd: int, timeout: float, complete, silence: str):
    """What ``complete`` makes of what is read from ``fd``, once it makes something of it."""
    data = b""
    while True:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise RuntimeError(silence)
        chunk = os.read(fd, 4096)
        if not chunk:
            raise RuntimeError(f"bubblewrap ended before its sandbox was ready: {data.decode(errors='replace')!r}")
        data += chunk
        done = complete(data)
        if done is not None:
            return done


# --- one grading run --------------------------------------------------------------------------

def _minimal_env() -> dict[str, str]:
    """The warm interpreter's environment, which every kernel's ``/proc/self/environ`` shows:
    what the imports need, nothing of the grader's."""
    keep = ("PATH", "LANG", "LC_ALL", "LD_LIBRARY_PATH")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update({"PYTHONSAFEPATH": "1", "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"})
    return env


@contextlib.contextmanager
def serving(isolated, needed: bool = True):
    """``isolated`` with a warm interpreter for its kernels, for the ``with`` block (one grading
    run); unchanged where no kernel is ``needed``, kernels are not sandboxed, or the warm
    interpreter cannot join a sandbox."""
    if not needed or not isolated.isolated or isolated.warm:
        yield isolated
        return
    folder = tempfile.mkdtemp(prefix="cnn-warm-", dir="/tmp" if os.access("/tmp", os.W_OK) else None)
    path = os.path.join(folder, "s")  # a Unix socket path has at most 107 bytes
    home = os.path.join(folder, "home")
    os.mkdir(home)
    env = {**_minimal_env(), "HOME": home}
    proc = subprocess.Popen([sys.executable, "-P", "-m", "autograder.warm_kernels", path], cwd=folder, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        problem = _wait_ready(proc) or _probe(path, isolated)
        if problem:
            print(f"warm kernels: {problem}; kernels start cold", file=sys.stderr)
            yield isolated
        else:
            yield dataclasses.replace(isolated, warm=path)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_ready(proc: subprocess.Popen) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], START_SECONDS)
    line = proc.stdout.readline().decode(errors="replace").strip() if ready else ""
    if line == "ready":
        return ""
    if proc.poll() is None:
        proc.kill()
    rest = proc.stdout.read().decode(errors="replace").strip().splitlines() if ready else []
    return f"the warm interpreter did not start ({(rest or [line or 'no answer'])[-1]})"


def _probe(path: str, isolated) -> str:
    """'' when a fork of the warm interpreter can join a sandbox here, else why not."""
    with tempfile.TemporaryDirectory(prefix="cnn-warm-probe-") as folder:
        place = Place()
        cmd = place.command(bwrap_command(list(HOLDER_ARGV), [Path(folder)], Path(folder)))
        try:
            holder = subprocess.Popen(cmd, **place.popen_kw(), stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as e:
            place.close()
            return f"cannot start bubblewrap here ({e})"
        place.started()
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONSAFEPATH": "1"}
        try:
            place.fill(path, [sys.executable, "-m", "autograder.kernel", "--version"], env, folder, quiet=True)
            holder.wait(timeout=60)
        except (OSError, RuntimeError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
            return f"cannot join a sandbox here ({e})"
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()
        return ""


if __name__ == "__main__":
    _serve(sys.argv[1])
