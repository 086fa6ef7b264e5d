"""The bubblewrap sandbox: a submission sees its own folder and nothing else, under both backends.

The hostile class of each backend is graded once per run (tests/hostile.py; this file writes
the students below, other files theirs beside them). Each hostile notebook answers the
first question correctly, then attacks; an attack that works breaks its own answer (or leaves a
file behind), so every case below shows up either in the score, compared with an honest
neighbour's, or on disk. Every case fails on a grader that runs kernels unsandboxed.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder import config
from autograder.grade import grade
from autograder.sandbox import Entry, Limits, PidsCgroup, _bwrap_problem, bwrap_command, isolation, run_job
from autograder.submissions import MAX_NOTEBOOK_BYTES

CLASS = pytest.mark.slow(reason="grades a hostile class (about 20 notebooks) per backend in the sandbox")
needs_bwrap = pytest.mark.skipif(bool(_bwrap_problem()), reason=f"no bubblewrap here: {_bwrap_problem()}")

UNIT = "01_layers"
ANSWER = ("def my_conv_output_size(size, kernel_size, stride=1, padding=0):\n"
          "    return (size - kernel_size + 2 * padding) // stride + 1\n")
BREAK = "\n    my_conv_output_size = lambda *args, **kwargs: -1  # the attack worked\n"
SITE = Path(next(p for p in sys.path if p.endswith("site-packages")))
PLANTED = {"build": config.BUILD / "planted-by-a-submission.txt", "venv": SITE / "planted_by_a_submission.pth"}
DAEMON = "9973"  # `sleep 9973`: the daemon a submission leaves behind
# Cell code that leaves `sleep DAEMON` behind: forked twice, in a session of its own, with an empty
# environment (no token to find it by); only the end of the sandbox can end it. Needs `os`.
LEAVE_A_DAEMON = ("if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                  f"        os.execve('/bin/sleep', ['sleep', '{DAEMON}'], {{}})\n    os._exit(0)\nos.wait()\n")


def attacks(out: Path, subs: Path) -> dict[str, str]:
    """Cell code per hostile student; ``BREAK`` runs only if the attack succeeded."""
    root = config.ROOT
    return {
        "reads_solutions": f"try:\n    open({str(root / 'solutions' / f'{UNIT}.ipynb')!r}).read(){BREAK}except OSError:\n    pass",
        "reads_build": (f"import os\ntry:\n    os.listdir({str(config.BUILD / 'otter')!r}){BREAK}"
                        "except OSError:\n    pass"),
        "reads_out_folder": f"import os\ntry:\n    os.listdir({str(out)!r}){BREAK}except OSError:\n    pass",
        "reads_sibling": (f"import glob, os\nmine = os.path.realpath(os.getcwd())\n"
                          f"others = [p for p in glob.glob({str(subs)!r} + '/*/*.ipynb') "
                          "+ glob.glob(os.path.dirname(mine) + '/*/*.ipynb') if not p.startswith(mine)]\n"
                          f"if others:{BREAK}"),
        "writes_build": (f"try:\n    open({str(PLANTED['build'])!r}, 'w').write('x'){BREAK}"
                         "except OSError:\n    pass"),
        "writes_venv": ("import subprocess, sys, os\n"
                        "os.makedirs('pkg', exist_ok=True)\n"
                        "open('pkg/setup.py', 'w').write('from setuptools import setup\\n"
                        "setup(name=\"planted-by-a-submission\", version=\"1\", py_modules=[])\\n')\n"
                        "done = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-index', "
                        "'--no-deps', '--no-build-isolation', './pkg'], capture_output=True)\n"
                        f"try:\n    open({str(PLANTED['venv'])!r}, 'w').write(''){BREAK}except OSError:\n    pass\n"
                        f"if done.returncode == 0:{BREAK}"),
        "connects_to_kernels": ("import glob, json, os, tempfile, time\n"
                                "from ipykernel import get_connection_file\n"
                                "mine = os.path.realpath(get_connection_file())\n"
                                "found = []\nfor _ in range(30):\n"  # a 15 s watch, inside the class's cell limit
                                "    for p in set(glob.glob(tempfile.gettempdir() + '/*.json') + glob.glob('/tmp/*.json')"
                                " + glob.glob('/tmp/*/*.json') + glob.glob(os.path.dirname(os.getcwd()) + "
                                "'/*/home/jupyter/runtime/*.json')):\n"
                                "        try:\n            info = json.load(open(p))\n        except Exception:\n"
                                "            continue\n"
                                "        if isinstance(info, dict) and 'key' in info and os.path.realpath(p) != mine:\n"
                                "            found.append(p)\n"
                                "    if found:\n        break\n    time.sleep(0.5)\n"
                                f"if found:{BREAK}"),
        "leaves_a_daemon": "import os\n" + LEAVE_A_DAEMON,
        "shadows_a_package": ("import importlib, os, sys\nos.makedirs('torchvision', exist_ok=True)\n"
                              "open('torchvision/__init__.py', 'w').write('PLANTED = True')\n"
                              "open('colorsys.py', 'w').write('PLANTED = True')\n"
                              "importlib.invalidate_caches()\nsys.modules.pop('colorsys', None)\nimport colorsys\n"
                              f"if getattr(colorsys, 'PLANTED', False):{BREAK}"),
        "forks_without_end": ("import os, signal, time\nkids = []\nfor _ in range(300):\n    try:\n"
                              "        pid = os.fork()\n    except OSError:\n        break\n    if pid == 0:\n"
                              "        time.sleep(120)\n        os._exit(0)\n    kids.append(pid)\n"
                              "for pid in kids:\n    os.kill(pid, signal.SIGKILL)\n    os.waitpid(pid, 0)\n"
                              f"if len(kids) == 300:{BREAK}"),
        # The grading run's warm interpreter forks kernels (autograder.warm_kernels): its socket,
        # where the kernel's inherited environment (the warm interpreter's) says its folder is.
        "reaches_the_warm_interpreter": ("import glob, os, socket\n"
                                         "env = open('/proc/self/environ', 'rb').read().split(b'\\0')\n"
                                         "homes = [e[5:].decode() for e in env if e.startswith(b'HOME=')]\n"
                                         "paths = glob.glob('/tmp/cnn-warm-*/s') + [os.environ.get('CNN_COURSE_WARM_KERNELS', '')]"
                                         " + [os.path.join(os.path.dirname(h), 's') for h in homes]\n"
                                         "reached = []\nfor p in paths:\n    try:\n"
                                         "        socket.socket(socket.AF_UNIX).connect(p)\n        reached.append(p)\n"
                                         "    except OSError:\n        pass\n"
                                         f"if reached:{BREAK}"),
        # The warm kernel's sandbox holds two processes of the grader's before it: bubblewrap's
        # init (1) and the holder (2), whose standard input takes the kernel's pid from the job and
        # whose output told the job the sandbox was built. The student forges both (a pid that is
        # not the kernel's, another "ready") and leaves a daemon: the kernel must still be graded in
        # full, and its end must still end the sandbox (test_no_process_left).
        "feeds_the_holder": ("import os\nfor pid in (1, 2):\n    for fd, data in ((0, b'1\\n'), (1, b'ready\\n')):\n"
                             "        try:  # without O_NONBLOCK, opening a pipe no one reads waits for ever\n"
                             "            w = os.open(f'/proc/{pid}/fd/{fd}', os.O_WRONLY | os.O_NONBLOCK)\n"
                             "            os.write(w, data)\n            os.close(w)\n"
                             "        except OSError:\n            pass\n" + LEAVE_A_DAEMON),
        # matplotlib comes preloaded from the warm interpreter: its configuration and cache folders
        # are the warm interpreter's, not the job's. The student plants settings, a style and a
        # font list there for the kernels after it, changes its own settings, and leaves a daemon.
        # A file that lands outside the mounts private to its own sandbox (its folder, its home,
        # the sandbox's /tmp) reached something shared.
        "plants_matplotlib_settings": ("import os, matplotlib\nmatplotlib.rcParams['backend'] = 'svg'\n"
                                       "mine = tuple(os.path.realpath(p) + os.sep for p in (os.getcwd(), os.environ['HOME']))\n"
                                       "tmpfs = any(l.split()[1:3] == ['/tmp', 'tmpfs'] for l in open('/proc/self/mounts'))\n"
                                       "private = lambda p: (os.path.realpath(p) + os.sep).startswith(mine) or "
                                       "(tmpfs and os.stat(p).st_dev == os.stat('/tmp').st_dev)\n"
                                       "planted = []\nconfig, cache = matplotlib.get_configdir(), matplotlib.get_cachedir()\n"
                                       "for folder, name in ((config, 'matplotlibrc'), (os.path.join(config, 'stylelib'), "
                                       "'course.mplstyle'), (cache, 'fontlist-v390.json')):\n"
                                       "    try:\n        os.makedirs(folder, exist_ok=True)\n"
                                       "        with open(os.path.join(folder, name), 'w') as f:\n"
                                       "            f.write('backend: svg\\n')\n"
                                       "        if not private(folder):\n"
                                       "            planted.append(folder)\n"
                                       "    except OSError:\n        pass\n"
                                       + LEAVE_A_DAEMON + f"if planted:{BREAK}"),
        "prints_50_mb": "print('x' * (50 << 20))",
        "redefines_after_check": "def my_conv_output_size(*args, **kwargs):\n    return 0",
    }


NBGRADER_ATTACKS = {
    "writes_gradebook": ("import os, sqlite3\nhere = os.getcwd()\nfor _ in range(4):\n"
                         "    db = os.path.join(here, 'gradebook.db')\n"
                         "    if os.path.exists(db):\n"
                         "        c = sqlite3.connect(db)\n        c.execute('update grade set manual_score = 1000')\n"
                         "        c.commit()\n    here = os.path.dirname(here)"),
    "writes_course_config": ("import os\nhere = os.getcwd()\nfor _ in range(4):\n"
                             "    cfg = os.path.join(here, 'nbgrader_config.py')\n"
                             "    if os.path.exists(cfg):\n        try:\n"
                             "            open(cfg, 'a').write('\\nc.Execute.timeout = 1\\n')\n"
                             "        except OSError:\n            pass\n    here = os.path.dirname(here)"),
}


def pids_cgroup_available() -> bool:
    cgroup = PidsCgroup(8)
    cgroup.remove()
    return cgroup.path is not None


def first_question(nb: nbformat.NotebookNode) -> int:
    """Index of the first public check (otter form), or of the first test cell (nbgrader form)."""
    return next(i for i, c in enumerate(nb.cells)
                if c.source.startswith("grader.check(") or c.metadata.get("nbgrader", {}).get("grade"))


def otter_form(code: str | None, answer: bool = True, move_answer: bool = False) -> nbformat.NotebookNode:
    """The student notebook up to the first question's check, answered, then ``code``."""
    nb = nbformat.read(config.NOTEBOOKS / f"{UNIT}.ipynb", as_version=4)
    check = first_question(nb)
    nb.cells = nb.cells[:check + 1]
    answer_cell = next(c for c in nb.cells if "otter_answer_cell" in c.metadata.get("tags", []))
    if answer:
        answer_cell.source = ANSWER
    if move_answer:  # the answer after its check
        nb.cells.remove(answer_cell)
        nb.cells.append(answer_cell)
    if code is not None:
        nb.cells.append(nbformat.v4.new_code_cell(code))
    return nb


def nbgrader_form(change: str) -> nbformat.NotebookNode:
    """The nbgrader release up to the first question's tests, answered, then tampered with."""
    nb = nbformat.read(config.BUILD / "nbgrader" / "release" / UNIT / f"{UNIT}.ipynb", as_version=4)
    first = first_question(nb)
    last = max(i for i, c in enumerate(nb.cells)
               if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("q1_formula_test"))
    nb.cells = nb.cells[:last + 1]
    nb.cells[first - 1].source = ANSWER
    tests = nb.cells[first:]
    if change == "deleted":
        nb.cells = nb.cells[:first]
    elif change == "renamed":
        tests[0].metadata["nbgrader"]["grade_id"] = "q1_formula_test_renamed"
    elif change == "stray":
        nb.cells.append(nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {
            "grade": True, "grade_id": "bonus", "locked": False, "points": 100, "schema_version": 3,
            "solution": False, "task": False}}))
    return nb


def malformed(source: object) -> dict:
    nb = json.loads(nbformat.writes(otter_form(None)))
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                        "source": source})
    return nb


def fingerprint(*roots: Path) -> dict[str, str]:
    """Per root, a hash of every file's path, size and content (site-packages: names and sizes)."""
    prints = {}
    for root in roots:
        h = hashlib.sha256()
        for path in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if path.is_file() and "__pycache__" not in path.parts:
                h.update(str(path).encode())
                h.update(str(path.stat().st_size).encode())
                if root != SITE:
                    h.update(path.read_bytes())
        prints[str(root)] = h.hexdigest()
    return prints


def guarded() -> dict[str, str]:
    """What no submission may change: the unit's otter build, the release gradebook and course
    config, the master, the venv."""
    build = config.BUILD / "nbgrader"
    return fingerprint(config.BUILD / "otter" / UNIT, build / "gradebook.db", build / "nbgrader_config.py",
                       config.SOLUTIONS / f"{UNIT}.ipynb", SITE)


def hostile_students(backend: str, subs: Path, out: Path) -> dict[str, object]:
    """This file's students of the hostile class (tests/hostile.py): the attacks, an honest
    neighbour, a blank notebook, the moved and redefined answers, malformed notebooks."""
    notebooks: dict[str, object] = {name: otter_form(code) for name, code in attacks(out, subs).items()}
    notebooks.update({"honest": otter_form("print('hello')"), "blank": otter_form(None, answer=False),
                      "moves_answer_after_check": otter_form(None, move_answer=True),
                      "source_is_int": malformed(3), "source_is_null": malformed(None),
                      "saved_output_too_big": otter_form("print(1)")})
    big = notebooks["saved_output_too_big"]
    big.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * (MAX_NOTEBOOK_BYTES + 1))]
    if backend == "nbgrader":
        notebooks.update({name: otter_form(code) for name, code in NBGRADER_ATTACKS.items()})
        notebooks.update({f"nbgrader_{change}": nbgrader_form(change)
                          for change in ("honest", "deleted", "renamed", "stray")})
    return notebooks


@pytest.fixture
def graded(hostile_class):
    """The class as this file reads it; without bubblewrap its tests are skipped (the class is then
    graded with the process-group sandbox, which tests/test_grade_safety.py covers)."""
    if _bwrap_problem():
        pytest.skip(f"no bubblewrap here: {_bwrap_problem()}")
    return hostile_class


@CLASS
def test_honest_students_keep_their_marks(graded):
    _, rows, _, _, _, _ = graded
    assert rows["honest"]["status"] == "ok" and float(rows["honest"]["score"]) == 5.0  # question 1.1's points
    assert float(rows["blank"]["score"]) == 0.0


@pytest.mark.parametrize("name", list(attacks(Path("/"), Path("/"))) + list(NBGRADER_ATTACKS))
@CLASS
def test_attack_fails_and_changes_nothing_in_the_score(graded, name):
    backend, rows, _, _, _, _ = graded
    if name in NBGRADER_ATTACKS and backend != "nbgrader":
        pytest.skip("an attack on the nbgrader course")
    if name == "redefines_after_check":
        pytest.skip("the grading rule, below")
    if name == "forks_without_end" and not pids_cgroup_available():
        pytest.skip("no pids cgroup here: no process cap")
    assert rows[name]["status"] == "ok", rows[name]
    assert rows[name]["score"] == rows["honest"]["score"], f"{name}: the attack reached something"


@CLASS
def test_one_rule_for_moved_and_redefined_answers(graded):
    """A question is graded on the notebook's state after ALL its cells ran, in both backends."""
    _, rows, _, _, _, _ = graded
    assert rows["moves_answer_after_check"]["score"] == rows["honest"]["score"]
    assert rows["redefines_after_check"]["score"] == rows["blank"]["score"]


@CLASS
def test_nothing_planted_and_repository_venv_gradebook_unchanged(graded):
    _, _, _, _, (before, after), _ = graded
    assert [p for p in PLANTED.values() if p.exists()] == []
    assert not list(SITE.glob("planted*"))
    assert [root for root in before if before[root] != after[root]] == []


@CLASS
def test_no_process_left(graded):
    out = subprocess.run(["pgrep", "-f", f"sleep {DAEMON}"], capture_output=True, text=True).stdout
    assert out.strip() == ""


@CLASS
def test_malformed_and_oversized_notebooks_are_a_status(graded):
    _, rows, results, _, _, _ = graded
    for name, word in (("source_is_int", "source is int"), ("source_is_null", "source is NoneType"),
                       ("saved_output_too_big", "MB limit")):
        assert rows[name]["status"] == "unreadable"
        assert word in results[name].detail, results[name].detail
    assert "output over the limit was dropped" in results["prints_50_mb"].warnings


@CLASS
def test_nbgrader_rebuilds_test_cells_and_keeps_manual_scores_out(graded):
    backend, rows, _, out, _, _ = graded
    if backend != "nbgrader":
        pytest.skip("nbgrader only")
    for change in ("honest", "deleted", "renamed", "stray"):
        assert rows[f"nbgrader_{change}"]["status"] == "ok"
        assert rows[f"nbgrader_{change}"]["score"] == rows["honest"]["score"], change
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'nbgrader' / 'gradebook.db'}") as gb:
        assert gb.find_submission(UNIT, "writes_gradebook").score == float(rows["honest"]["score"])
        manual = [g.manual_score for s in ("writes_gradebook", "honest")
                  for g in gb.find_submission_notebook(UNIT, UNIT, s).grades]
    assert set(manual) == {None}
    assert (out / "nbgrader" / "nbgrader_config.py").read_text() == \
        (config.BUILD / "nbgrader" / "nbgrader_config.py").read_text()


@CLASS
def test_sandbox_is_recorded(graded):
    _, _, _, out, _, _ = graded
    assert (out / "sandbox.txt").read_text().startswith("sandbox: bubblewrap")


# --- the sandbox on its own (seconds) ---------------------------------------------------------

def sandboxed(code: str, folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(bwrap_command([sys.executable, "-c", code], [folder], folder),
                          capture_output=True, text=True, timeout=120)


@needs_bwrap
def test_sandbox_shows_only_the_library_and_its_folder(tmp_path):
    code = ("import json, os, sys, socket\n"
            f"root = {str(config.ROOT)!r}\n"
            "print(json.dumps([sorted(os.listdir(root)), sorted(os.listdir(root + '/autograder'))]))\n"
            "print(os.getuid(), len([p for p in os.listdir('/proc') if p.isdigit()]) < 5)\n"
            "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n    print('network')\n"
            "except OSError:\n    print('no network')\n"
            "open('mine.txt', 'w').write('ok')\n"
            "try:\n    open(sys.prefix + '/planted.txt', 'w')\n    print('venv writable')\n"
            "except OSError:\n    print('venv read-only')\n")
    done = sandboxed(code, tmp_path)
    assert done.returncode == 0, done.stderr
    listing, ids, network, venv = done.stdout.splitlines()
    top, package = json.loads(listing)
    assert "solutions" not in top and "notebooks" not in top and "tests" not in top
    assert "build" not in package and "demo" not in package and "grade.py" not in package
    assert ids == "1000 True" and network == "no network" and venv == "venv read-only"
    assert (tmp_path / "mine.txt").read_text() == "ok"


@needs_bwrap
def test_pid_namespace_ends_every_process(tmp_path):
    """A double-forked daemon with an empty environment (no token to find it by) dies with the sandbox."""
    code = ("import os\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            "        os.execve('/bin/sleep', ['sleep', '9979'], {})\n    os._exit(0)\nos.wait()\n")
    assert sandboxed(code, tmp_path).returncode == 0
    time.sleep(0.5)
    assert subprocess.run(["pgrep", "-f", "sleep 9979"], capture_output=True).stdout == b""


def test_a_forked_job_imports_nothing_from_its_folder_and_leaves_no_process(tmp_path, monkeypatch):
    """A grading job forked from the warm process (the otter worker's way) runs with the student's
    folder as its working directory: a module planted there is never imported, and a process the job
    started in a session of its own dies with the job."""
    folder = tmp_path / "job" / "notebook"
    folder.mkdir(parents=True)
    (folder / "planted_by_a_submission.py").write_text("raise SystemExit('imported from the job folder')\n")
    out = tmp_path / "probe.json"
    # The job's folder on the path, as a relative entry becomes once the job runs there.
    monkeypatch.setattr(sys, "path", [str(folder), *sys.path])
    outcome = run_job(Entry("hostile:forked_probe", {"out": str(out), "sleep": "9983"}), tmp_path / "job",
                      Limits(wall_seconds=60), cwd=folder)
    assert outcome.returncode == 0, outcome.log
    assert json.loads(out.read_text()) == {"planted": False, "own_session": True}
    time.sleep(0.5)
    assert subprocess.run(["pgrep", "-f", "sleep 9983"], capture_output=True).stdout == b""


@needs_bwrap
def test_process_cap(tmp_path):
    if not pids_cgroup_available():
        pytest.skip("no pids cgroup here: no process cap")
    code = ("import os, sys, time\nn = 0\nfor _ in range(200):\n    try:\n        pid = os.fork()\n"
            "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n"
            "    n += 1\nprint(n)\n")
    outcome = run_job([sys.executable, "-c", code], tmp_path / "job", Limits(processes=50, wall_seconds=60))
    assert int(outcome.log.split()[-1]) < 50


@pytest.mark.slow(reason="grades a notebook without the sandbox")
def test_require_refuses_without_bubblewrap_and_off_warns(tmp_path, monkeypatch, capsys):
    import autograder.sandbox as sandbox

    monkeypatch.setattr(sandbox, "_bwrap_problem", lambda: "bubblewrap is not installed")
    with pytest.raises(SystemExit, match="require"):
        isolation("require")
    assert not isolation("auto").isolated
    subs = tmp_path / "submissions"
    (subs / "honest").mkdir(parents=True)
    nbformat.write(otter_form("print('hello')"), subs / "honest" / f"{UNIT}.ipynb")
    results = grade(subs, tmp_path / "out", jobs=1, units=[UNIT], progress=False, sandbox="off",
                    limits=Limits(wall_seconds=150, cell_seconds=40, memory_bytes=6 << 30))
    assert [(r.status, r.score) for r in results] == [("ok", 5.0)]
    assert "WITHOUT isolation" in capsys.readouterr().err
    assert "WITHOUT isolation" in (tmp_path / "out" / "sandbox.txt").read_text()
