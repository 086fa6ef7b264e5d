"""`make lab` is the student's JupyterLab: it starts as root, and shows no instructor tooling (nbgrader)."""
from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from autograder import config

TOKEN = "course-test"


def lab_command(port: int) -> str:
    """The shell command `make lab` runs (read with `make -n`, so nothing is installed or started)."""
    out = subprocess.run(["make", "-n", "--no-print-directory", "lab",
                          f"LAB_ARGS=--no-browser --port={port} --ServerApp.token={TOKEN}"],
                         cwd=config.ROOT, capture_output=True, text=True, check=True).stdout
    joined = out.replace("\\\n", " ")
    (line,) = [cmd for cmd in joined.splitlines() if " lab notebooks/" in cmd]
    return line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def serve(command: str, port: int) -> tuple[str, int]:
    """Start the lab, return (the /lab page, the status of nbgrader's formgrader route), stop it."""
    proc = subprocess.Popen(["bash", "-c", command], cwd=config.ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the lab exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
            try:
                status, page = get(f"http://127.0.0.1:{port}/lab?token={TOKEN}")
                return page, get(f"http://127.0.0.1:{port}/formgrader?token={TOKEN}")[0]
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
        pytest.fail("the lab did not answer within 120 s")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def disabled_extensions(page: str) -> list[str]:
    m = re.search(r'"disabledExtensions":\s*(\[[^\]]*\])', page)
    return re.findall(r'"([^"]+)"', m.group(1)) if m else []


@pytest.mark.slow(reason="starts JupyterLab twice, about 20 s each on 2 cores")
def test_make_lab_starts_without_instructor_tooling():
    command = lab_command(free_port())
    assert ("--allow-root" in command) == (os.geteuid() == 0)
    port = int(re.search(r"--port=(\d+)", command).group(1))
    page, formgrader = serve(command, port)  # as root here: it would refuse without --allow-root
    assert "@jupyter/nbgrader" in disabled_extensions(page)
    assert formgrader == 404
    # the same lab without the student configuration shows nbgrader: the check above can fail
    plain = re.sub(r"JUPYTER_CONFIG_PATH=\S+", "", command)
    port = free_port()
    page, formgrader = serve(re.sub(r"--port=\d+", f"--port={port}", plain), port)
    assert "@jupyter/nbgrader" not in disabled_extensions(page)
    assert formgrader != 404
