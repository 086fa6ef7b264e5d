"""Kernels forked from the grading run's warm interpreter: the sandbox of a cold start, not less.

The oracle is bubblewrap's own sandboxed process: a kernel that bubblewrap starts (cold) and one
forked into a sandbox bubblewrap made (warm) must not differ in anything the student's code can
see of its process (credentials, capabilities, limits, folder, environment, open files, cgroup),
parent included, while each warm kernel has namespaces and a random state of its own. What the
warm interpreter could add is tested as attacks: reading an earlier job's request from memory,
stopping the holder so that the sandbox outlives the kernel, and (in the hostile classes of
tests/test_sandbox.py, graded by ``grade``, all in warm kernels) reaching its socket. Where it
is gone, kernels start cold.
"""
from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from autograder import sandbox, warm_kernels
from autograder.kernel import GradingKernelManager
from autograder.sandbox import SANDBOX_VAR, WARM_VAR, Isolation, _bwrap_problem, isolation

pytestmark = [pytest.mark.skipif(bool(_bwrap_problem()), reason=f"no bubblewrap here: {_bwrap_problem()}")]

# What the kernel reports of itself.
PROBE = r'''
import json, os, random, sys
status = {l.split(":")[0]: l.split(":", 1)[1].strip() for l in open("/proc/self/status") if ":" in l}
fds = {}
for fd in os.listdir("/proc/self/fd"):
    try:
        fds[fd] = os.readlink("/proc/self/fd/" + fd)
    except OSError:
        pass
print(json.dumps({
    "status": {k: status[k] for k in ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
                                      "NoNewPrivs", "Seccomp")},
    "namespaces": {n: os.readlink("/proc/self/ns/" + n) for n in ("user", "mnt", "pid", "net", "ipc", "uts", "cgroup")},
    "limits": open("/proc/self/limits").read(), "cgroup": open("/proc/self/cgroup").read(),
    "cwd": os.getcwd(), "env": dict(os.environ), "path": sys.path, "fds": fds, "pid": os.getpid(), "ppid": os.getppid(),
    "random": random.random(), "peer": __import__("time").sleep(2), "torch_threads": __import__("torch").get_num_threads(),
    "visible": {p: os.path.exists(p) for p in json.loads(os.environ.get("PROBE_PATHS", "[]"))},
    "matplotlib": {k: repr(v) for k, v in __import__("matplotlib").rcParams.items()},
    "backend": __import__("matplotlib.pyplot").get_backend(),
}))
'''


# A job's secret (its environment reaches the warm interpreter in its request), in two pieces, and
# what a later kernel finds of it in its own memory: the anonymous mappings, where an inherited
# heap would hold it. The pieces are compared apart, so the scan never holds them joined.
SECRET_VAR = "CNN_COURSE_EARLIER_JOB_SECRET"
SECRET = ("earlier-job-", "7c0ffee5ec2e7")
SCAN = f"""
import json, re
first, second = {SECRET[0].encode()!r}, {SECRET[1].encode()!r}
found, scanned = 0, 0
with open("/proc/self/mem", "rb", 0) as mem:
    for line in open("/proc/self/maps"):
        parts = line.split()
        if not parts[1].startswith("rw") or (len(parts) > 5 and not parts[5].startswith("[heap")):
            continue
        low, high = (int(x, 16) for x in parts[0].split("-"))
        try:
            mem.seek(low)
            data = mem.read(high - low)
        except (OSError, ValueError, OverflowError):
            continue
        scanned += len(data)
        at = data.find(first)
        while at >= 0:
            found += data[at + len(first):at + len(first) + len(second)] == second
            at = data.find(first, at + 1)
print(json.dumps({{"found": found, "scanned": scanned, "pid": __import__("os").getpid()}}))
"""


async def _report(cwd: Path, code: str = PROBE) -> dict:
    manager = GradingKernelManager()
    await manager.start_kernel(cwd=str(cwd))
    client = manager.client()
    client.start_channels()
    out: list[str] = []
    try:
        await client.wait_for_ready(timeout=120)
        reply = await client.execute_interactive(
            code, timeout=120, output_hook=lambda m: out.append(m["content"].get("text", "")))
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(now=True)
    return json.loads("".join(out))


async def _side_by_side(cwd: Path) -> list[dict]:
    """Two kernels alive at once (a namespace's number is reused once it is gone)."""
    return await asyncio.gather(_report(cwd), _report(cwd))


def _kinds(fds: dict[str, str]) -> dict[str, int]:
    """Open descriptors by kind (``socket``, ``pipe``, ``anon_inode:[eventfd]``, or the path)."""
    counts: dict[str, int] = {}
    for target in fds.values():
        kind = re.sub(r":\[\d+\]$", "", target)
        counts[kind] = counts.get(kind, 0) + 1
    return counts


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    """The same job's kernel started cold and twice warm, each reporting itself; and the socket."""
    folder = tmp_path_factory.mktemp("job")
    saved = dict(os.environ)
    os.environ[SANDBOX_VAR] = "bwrap"
    try:
        cold = asyncio.run(_report(folder))
        with warm_kernels.serving(isolation("require")) as warm:
            assert warm.warm, "the warm interpreter did not start here"
            os.environ[WARM_VAR] = warm.warm
            os.environ["PROBE_PATHS"] = json.dumps([warm.warm, str(Path(warm.warm).parent)])
            os.environ[SECRET_VAR] = SECRET[0] + SECRET[1]  # never in one piece in this file or the scan
            first, second = asyncio.run(_side_by_side(folder))
            del os.environ[SECRET_VAR]
            scan = asyncio.run(_report(folder, SCAN))
            outside = _attack_outside(warm.warm)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return cold, first, second, warm.warm, outside, scan


def _attack_outside(socket_path: str) -> str:
    """The hostile student ``reaches_the_warm_interpreter`` run outside any sandbox, as root."""
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from test_sandbox import attacks
    finally:
        sys.path.pop(0)
    code = attacks(Path("/nonexistent"), Path("/nonexistent"))["reaches_the_warm_interpreter"]
    code = code.replace("my_conv_output_size = lambda *args, **kwargs: -1", "print('reached', reached)")
    env = {**os.environ, WARM_VAR: socket_path}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60).stdout


@pytest.mark.slow(reason="starts a cold kernel, a warm interpreter and two warm kernels (about 30 s)")
def test_a_warm_kernel_sees_of_itself_what_a_cold_one_sees(kernels):
    cold, warm, *_ = kernels
    ours = ("PROBE_PATHS", SECRET_VAR)  # this test's, set for the warm kernels only
    assert {k: v for k, v in warm["env"].items() if k not in ours} == cold["env"]
    # ppid: the sandbox's init, as for a cold kernel (kill(getppid()) must not reach its process group)
    for key in ("status", "limits", "cgroup", "cwd", "path", "torch_threads", "ppid", "matplotlib", "backend"):
        assert warm[key] == cold[key], key
    assert warm["status"]["CapEff"] == warm["status"]["CapBnd"] == "0000000000000000"
    assert warm["status"]["NoNewPrivs"] == "1"
    # Nothing of the warm interpreter's stays open: the same descriptors of each kind as a cold
    # kernel (ipykernel's sockets, pipes and eventfds), standard input aside (cold: jupyter's pipe).
    kinds_cold, kinds_warm = _kinds(cold["fds"]), _kinds(warm["fds"])
    for kinds in (kinds_cold, kinds_warm):
        kinds.pop(cold["fds"]["0"].split(":")[0] if cold["fds"]["0"].startswith("pipe") else "", None)
        for path in [k for k in kinds if k.startswith("/") and ("history.sqlite" in k or k == "/dev/null")]:
            kinds.pop(path)  # IPython's history database: its journal is open or not at that moment
    kinds_cold.pop("pipe", None), kinds_warm.pop("pipe", None)
    assert kinds_warm == kinds_cold


@pytest.mark.slow(reason="starts a cold kernel, a warm interpreter and two warm kernels (about 30 s)")
def test_each_warm_kernel_has_a_sandbox_and_a_random_state_of_its_own(kernels):
    cold, first, second, *_ = kernels
    host = {n: os.readlink(f"/proc/self/ns/{n}") for n in first["namespaces"]}
    for kind in first["namespaces"]:
        assert len({host[kind], first["namespaces"][kind], second["namespaces"][kind]}) == 3, kind
        assert cold["namespaces"][kind] != host[kind], kind
    # Numbered in the sandbox's own PID namespace, after bubblewrap's init and the holder.
    assert cold["pid"] == 2 and 2 < first["pid"] < 10 and 2 < second["pid"] < 10
    assert first["random"] != second["random"]


@pytest.mark.slow(reason="starts a cold kernel, a warm interpreter and two warm kernels (about 30 s)")
def test_the_warm_interpreter_is_out_of_the_kernels_reach(kernels):
    _, first, _, socket_path, outside, _ = kernels
    assert WARM_VAR not in first["env"]
    assert not any(first["visible"].values()), first["visible"]
    # The attack the hostile class runs in the sandbox does reach it from outside: it can fail.
    # (It may reach other tests' warm interpreters too, running beside this one.)
    said = re.search(r"^reached (\[.*\])$", outside, re.MULTILINE)
    assert said and socket_path in ast.literal_eval(said.group(1)), outside


@pytest.mark.slow(reason="starts a cold kernel, a warm interpreter and two warm kernels (about 30 s)")
def test_a_kernel_holds_nothing_of_the_jobs_forked_before_it(kernels):
    cold, first, *_, scan = kernels
    assert first["env"][SECRET_VAR] == SECRET[0] + SECRET[1]  # the earlier kernels had it
    assert scan["pid"] != cold["pid"]  # warm: bubblewrap's own child is the holder
    assert scan["scanned"] > 10 << 20, scan  # the scan read the heap
    assert scan["found"] == 0, "a job's request is in a later kernel's memory"


def _held_mid_build(monkeypatch) -> int:
    """bubblewrap held half-way through building each sandbox: it copies a file (``--file``) from
    a pipe whose other end the caller closes. Returns that end."""
    from jupyter_client import launcher

    read, write = os.pipe()
    build = sandbox.bwrap_command

    def held(argv, writable, cwd):
        cmd = build(argv, writable, cwd)
        at = cmd.index("--chdir")
        return [*cmd[:at], "--file", str(read), "/tmp/held", *cmd[at:]]

    start = launcher.Popen

    def popen(cmd, **kw):
        return start(cmd, **{**kw, "pass_fds": (*kw.get("pass_fds", ()), read)})

    monkeypatch.setattr(sandbox, "bwrap_command", held)
    monkeypatch.setattr(launcher, "Popen", popen)
    return write


@pytest.mark.slow(reason="starts a warm interpreter and a warm kernel (about 15 s)")
def test_a_warm_kernel_joins_its_sandbox_only_once_bubblewrap_has_built_it(tmp_path, monkeypatch, capfd):
    """bubblewrap reports its sandboxed process (``--info-fd``) as it starts it, before the mounts
    are made: a fork joining then has a half-built file system for its root."""
    monkeypatch.setenv(SANDBOX_VAR, "bwrap")
    with warm_kernels.serving(isolation("require")) as warm:
        monkeypatch.setenv(WARM_VAR, warm.warm)
        release = _held_mid_build(monkeypatch)
        threading.Timer(3, os.close, [release]).start()
        report = asyncio.run(_report(tmp_path))
    assert "starting it cold" not in capfd.readouterr().err
    assert 2 < report["pid"] < 10  # forked warm: bubblewrap's own child is the holder
    assert report["cwd"] == str(tmp_path) and report["status"]["CapBnd"] == "0000000000000000"


async def _stops_its_holder(cwd: Path) -> tuple[bool, list[str]]:
    """A kernel that starts a process, stops the sandbox's holder (pid 2) and exits: whether the
    job saw its kernel end, and what is left of the process a few seconds later."""
    manager = GradingKernelManager()
    await manager.start_kernel(cwd=str(cwd))
    client = manager.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=120)
        code = ("import os, signal, subprocess\n"
                f"subprocess.Popen(['sleep', '{LEFT_BEHIND}'], start_new_session=True)\n"
                "os.kill(2, signal.SIGSTOP)\nos._exit(0)")
        client.execute(code)
        for _ in range(100):
            await asyncio.sleep(0.1)
            if not await manager.is_alive():
                break
        ended = not await manager.is_alive()
        left = subprocess.run(["pgrep", "-f", f"sleep {LEFT_BEHIND}"], capture_output=True, text=True).stdout.split()
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(now=True)
    return ended, left


LEFT_BEHIND = "9967"  # `sleep 9967`: what the student leaves behind


@pytest.mark.slow(reason="starts a warm interpreter and a warm kernel (about 15 s)")
def test_a_kernel_that_stops_its_holder_still_ends_its_sandbox(tmp_path, monkeypatch):
    monkeypatch.setenv(SANDBOX_VAR, "bwrap")
    with warm_kernels.serving(isolation("require")) as warm:
        monkeypatch.setenv(WARM_VAR, warm.warm)
        ended, left = asyncio.run(_stops_its_holder(tmp_path))
    assert ended, "the job did not see its kernel end"
    assert left == [], "the student's process outlived its kernel"


@pytest.mark.slow(reason="starts a kernel (about 10 s)")
def test_without_its_warm_interpreter_a_kernel_starts_cold(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv(SANDBOX_VAR, "bwrap")
    monkeypatch.setenv(WARM_VAR, str(tmp_path / "gone"))  # the warm interpreter died or never answered
    report = asyncio.run(_report(tmp_path))
    assert report["pid"] == 2 and report["status"]["CapEff"] == "0000000000000000"  # bubblewrap's own child
    assert "starting it cold" in capfd.readouterr().err


def test_without_bubblewrap_no_warm_interpreter_starts(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("started a process")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    plain = Isolation("process-group", "--sandbox off was given")
    with warm_kernels.serving(plain) as isolated:
        assert isolated == plain


@pytest.mark.slow(reason="starts the warm interpreter (its imports, about 8 s)")
def test_where_a_sandbox_cannot_be_joined_kernels_start_cold_and_the_run_says_so(monkeypatch, capsys):
    monkeypatch.setattr(warm_kernels, "_probe", lambda path, isolated: "cannot join a sandbox here (EPERM)")
    with warm_kernels.serving(isolation("require")) as isolated:
        assert isolated.isolated and not isolated.warm
    assert "cannot join a sandbox here (EPERM); kernels start cold" in capsys.readouterr().err
