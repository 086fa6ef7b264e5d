"""The trusted side of grading: runs a unit's otter test cases in the worker, against the kernel.

The student's kernel only answers requests (:mod:`autograder.agent`); the test functions, their
expected values and every comparison run here, in the worker process, with the worker's own torch
and ``helpers.checks``. Each test function gets its arguments from the kernel
(:mod:`autograder.protocol`): plain data by value, and for anything else a proxy:

* a function or class -> :class:`RemoteCallable`: calling it sends the arguments by value and
  returns the result by value; ``checks.run_student``'s guard is forwarded (op groups and the
  ``module:qualname`` of forbidden functions) and runs kernel-side around the call;
* an ``nn.Module`` -> :class:`RemoteModule`, a real ``nn.Module`` mirroring the student's tree with
  its parameters and buffers copied by value, so ``state_dict``, ``load_state_dict``, ``double``,
  ``eval`` and parameter counts work here; its ``forward`` pushes the mirrored state (if it changed)
  to the kernel and runs the student's module there;
* any other object -> :class:`RemoteObject`, whose attributes are read through the kernel.

A test that cannot run through the protocol says so in the master: its function's docstring
starts with ``judge: kernel`` and gives the reason. Only those cases run in the kernel, the old way
(:func:`kernel_cases` lists them; the worker runs them after the judged ones).
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import contextvars
import inspect
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from autograder import protocol
from autograder.agent import TARGET

MESSAGE_CHARS = 300  # a failure message shown to a student (it may quote their own text)
KERNEL_MARK = "judge: kernel"
START_CODE = '__import__("autograder.agent", fromlist=["start"]).start({nonce!r})'


class JudgeError(RuntimeError):
    """The kernel did not answer as the protocol says (closed channel, time out, bad message)."""


class RemoteError(Exception):
    """An exception raised in the kernel whose type the judge does not recreate."""


# --- the channel -----------------------------------------------------------------------------

class Channel:
    """Requests to the agent over a Jupyter comm, through the kernel client nbclient holds."""

    def __init__(self, kc, km, *, deadline: float) -> None:
        self.kc, self.km, self.deadline = kc, km, deadline
        self.comm_id = uuid.uuid4().hex
        self.nonce = uuid.uuid4().hex
        self.broken = ""  # why the kernel no longer answers ('' while it does)
        self.interrupted = False  # the time limit was reached once: the answer then in flight is the last

    async def start(self) -> None:
        """Start the agent (before the student's code) with a silent request kept out of history."""
        reply = await self.kc.execute(START_CODE.format(nonce=self.nonce), silent=True, store_history=False,
                                      reply=True, timeout=120)
        if reply["content"].get("status") != "ok":
            raise JudgeError("the grading agent did not start in the kernel")

    async def open(self) -> None:
        msg = self.kc.session.msg("comm_open", {"comm_id": self.comm_id, "target_name": TARGET,
                                                "data": {"nonce": self.nonce}})
        self.kc.shell_channel.send(msg)
        data, _ = await self.request({"op": "hello"})
        if data.get("value") != self.nonce:
            raise JudgeError("the grading channel answered without the nonce it was opened with")

    async def request(self, data: dict, buffers: list[bytes] | None = None) -> tuple[dict, list]:
        if self.broken:
            raise JudgeError(self.broken)
        try:
            answer = await self._request(data, buffers)
        except JudgeError as e:
            self.broken = str(e)
            raise
        if self.interrupted:
            self.broken = "the grading time limit was reached"
        return answer

    async def _request(self, data: dict, buffers: list[bytes] | None) -> tuple[dict, list]:
        rid = uuid.uuid4().hex
        msg = self.kc.session.msg("comm_msg", {"comm_id": self.comm_id, "data": {**data, "rid": rid}})
        msg["buffers"] = buffers or []
        self.kc.shell_channel.send(msg)
        interrupted = False
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                if interrupted:
                    raise JudgeError("the kernel did not answer after the grading time limit")
                await self.km.interrupt_kernel()  # the answer arrives as a KeyboardInterrupt error
                interrupted, self.interrupted, self.deadline = True, True, time.monotonic() + 10
                continue
            try:
                reply = await self.kc.get_iopub_msg(timeout=min(left, 5.0))
            except Exception:  # noqa: BLE001 - queue.Empty, then look at the clock again
                if not await self.km.is_alive():
                    raise JudgeError("the kernel died while it answered the judge") from None
                continue
            content = reply.get("content", {})
            if (reply.get("msg_type") == "comm_close" and content.get("comm_id") == self.comm_id):
                raise JudgeError("the notebook's code closed the grading channel")
            if reply.get("msg_type") != "comm_msg" or content.get("comm_id") != self.comm_id:
                continue  # output the student's code printed, status messages, ...
            answer = content.get("data") or {}
            if answer.get("rid") != rid:
                continue
            return answer, list(reply.get("buffers") or [])


# --- the guard, captured where run_student enters it -------------------------------------------

_GUARD: contextvars.ContextVar[dict | None] = contextvars.ContextVar("course_judge_guard", default=None)


@contextlib.contextmanager
def forwarded_guard():
    """While the judge runs, ``helpers.checks.no_shortcuts`` records its arguments instead of
    guarding this process (no student code runs here), so that a proxy called inside it asks the
    kernel to run the same guard around the call: op groups, forbidden functions by
    ``module:qualname``, other options as plain data."""
    from helpers import checks

    original = checks.no_shortcuts

    @contextlib.contextmanager
    def no_shortcuts(*groups: str, functions=(), **options):
        names = [n for n in (protocol.qualified_name(f) for f in functions) if n]
        token = _GUARD.set({"groups": [str(g) for g in groups], "functions": names, "options": options})
        try:
            yield
        finally:
            _GUARD.reset(token)

    checks.no_shortcuts = no_shortcuts
    try:
        yield
    finally:
        checks.no_shortcuts = original


# --- proxies ---------------------------------------------------------------------------------

class Remote:
    """The student's kernel seen from the judge: values by name, proxies for handles."""

    def __init__(self, channel: Channel, run: Callable) -> None:
        self.channel, self.run = channel, run  # run: drives a coroutine to its end (nbclient's loop)
        self.proxies: dict[int, Any] = {}
        self.dispatched: list[str] = []

    def request(self, data: dict, buffers: list[bytes] | None = None) -> Any:
        answer, received = self.run(self.channel.request(data, buffers))
        if not answer.get("ok"):
            raise remote_exception(answer.get("error") or {})
        self.dispatched = list(answer.get("dispatched") or [])
        return protocol.decode(answer.get("value"), received, handle=lambda t: self.proxy(t, received))

    def encode(self, value: Any, buffers: list[bytes]) -> Any:
        return protocol.encode(value, buffers, other=self._reference)

    def _reference(self, value: Any, sub) -> dict:
        if isinstance(value, (RemoteCallable, RemoteObject)):
            return {"t": "ref", "id": value._remote_id}
        if isinstance(value, RemoteModule) and value._remote_path == "":
            return {"t": "ref", "id": value._remote_id}
        ref = protocol.import_ref(value)
        if ref is None:
            raise protocol.ProtocolError(f"a {type(value).__name__} cannot be sent to the notebook's kernel")
        return ref

    def proxy(self, tree: dict, buffers: list) -> Any:
        if tree.get("t") != "handle" or type(tree.get("id")) is not int:
            raise protocol.ProtocolError("the kernel sent a malformed handle")
        kind = tree.get("kind")
        if kind == "module":
            nodes = protocol.decode(tree.get("tree"), buffers, handle=lambda t: self.proxy(t, buffers))
            return RemoteModule.mirror(self, tree["id"], nodes["nodes"])
        if tree["id"] not in self.proxies:
            cls = RemoteCallable if kind in ("function", "class") else RemoteObject
            self.proxies[tree["id"]] = cls(self, tree["id"], str(tree.get("name") or ""), str(tree.get("type") or ""))
        return self.proxies[tree["id"]]

    def get(self, name: str) -> Any:
        return self.request({"op": "get", "name": name})

    def getattr(self, ident: int, name: str) -> Any:
        return self.request({"op": "getattr", "id": ident, "name": name})

    def call(self, ident: int, args: tuple, kwargs: dict, **extra: Any) -> Any:
        buffers: list[bytes] = []
        guard = _GUARD.get()
        if guard is not None:
            guard = {**guard, "options": self.encode(guard["options"], buffers)}
        data = {"op": "call", "id": ident, "args": self.encode(list(args), buffers),
                "kwargs": self.encode(dict(kwargs), buffers), "guard": guard, "grad": torch.is_grad_enabled()}
        device = torch.get_default_device()
        if device.type == "meta":
            data["device"] = "meta"
        if "load" in extra:
            extra["load"]["state"] = self.encode(extra["load"]["state"], buffers)
        return self.request({**data, **extra}, buffers)


_BUILTIN_ERRORS = {name: cls for name, cls in vars(builtins).items() if isinstance(cls, type) and issubclass(cls, Exception)}


def remote_exception(error: dict) -> BaseException:
    """The kernel's exception as one of the judge's: builtin types and the checks' own failures
    keep their type (``run_student`` treats them alike in both models); others keep their name."""
    from helpers import checks

    name = str(error.get("type") or "Exception")[:80]
    message = str(error.get("message") or "")[:2000]
    if name == "KeyboardInterrupt":
        return JudgeError("the call ran past the grading time limit and was interrupted")
    cls = {"CheckFailed": checks.CheckFailed, "ShortcutUsed": checks.ShortcutUsed}.get(name) or _BUILTIN_ERRORS.get(name)
    if cls is None:
        cls = type(name if name.isidentifier() else "RemoteError", (RemoteError,), {})
    try:
        exc = cls(message)
    except Exception:  # noqa: BLE001 - an exception type with another signature
        exc = RemoteError(message)
    if error.get("mistake"):
        exc.mistake = str(error["mistake"])[:200]
    return exc


class RemoteCallable:
    """A student's function or class: calls run in the kernel, values cross by value."""

    def __init__(self, remote: Remote, ident: int, name: str, type_name: str) -> None:
        self._remote, self._remote_id, self.__name__, self._type = remote, ident, name, type_name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._remote.call(self._remote_id, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._remote.getattr(self._remote_id, name)

    def __repr__(self) -> str:
        return f"<the notebook's {self._type} {self.__name__}>"


class RemoteObject:
    """Any other object of the student's: its attributes are read through the kernel."""

    def __init__(self, remote: Remote, ident: int, name: str, type_name: str) -> None:
        self._remote, self._remote_id, self._type = remote, ident, type_name

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._remote.getattr(self._remote_id, name)

    def __repr__(self) -> str:
        return f"<the notebook's {self._type} object>"


class RemoteModule(torch.nn.Module):
    """A mirror of a student's ``nn.Module``: the same tree, parameters and buffers copied by
    value; ``forward`` runs the student's module in the kernel with the mirror's state."""

    @classmethod
    def mirror(cls, remote: Remote, ident: int, nodes: list[dict]) -> RemoteModule:
        root = None
        by_path: dict[str, RemoteModule] = {}
        for node in nodes:
            path = node["path"]
            if path in by_path:
                continue
            module = cls(remote, ident, path, node["class"])
            module.training = bool(node["training"])
            for name, p in node["parameters"].items():
                module.register_parameter(name, p if isinstance(p, torch.nn.Parameter) else torch.nn.Parameter(p))
            for name, b in node["buffers"].items():
                module.register_buffer(name, b, persistent=name in node["persistent"])
            if path == "":
                root = module
            else:
                parent, _, child = path.rpartition(".")
                by_path[parent].add_module(child, module)
            by_path[path] = module
        if root is None:
            raise protocol.ProtocolError("a module tree without its root")
        for module in by_path.values():
            object.__setattr__(module, "_root", root)
        root._pushed = root._snapshot()
        return root

    def __init__(self, remote: Remote, ident: int, path: str, class_name: str) -> None:
        super().__init__()
        object.__setattr__(self, "_remote", remote)
        object.__setattr__(self, "_remote_id", ident)
        object.__setattr__(self, "_remote_path", path)
        object.__setattr__(self, "_remote_class", class_name)
        object.__setattr__(self, "_pushed", None)
        object.__setattr__(self, "_root", None)

    def _snapshot(self) -> dict:
        state = {k: (id(t), t._version, t.dtype) for k, t in self._state_tensors().items()}
        return {"state": state, "training": {p: m.training for p, m in self.named_modules(remove_duplicate=False)}}

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        out = {}
        for path, m in self.named_modules(remove_duplicate=False):
            for name, t in list(m._parameters.items()) + list(m._buffers.items()):
                if t is not None:
                    out[f"{path}.{name}" if path else name] = t
        return out

    def _call_root(self, path: str, args: tuple, kwargs: dict) -> Any:
        now = self._snapshot()
        extra = {"path": path}
        if now != self._pushed:
            extra["load"] = {"state": {k: t.detach() for k, t in self._state_tensors().items()},
                             "training": now["training"]}
        result = self._remote.call(self._remote_id, args, kwargs, **extra)
        object.__setattr__(self, "_pushed", now)
        return result

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self._root._call_root(self._remote_path, args, kwargs)

    def extra_repr(self) -> str:
        return f"the notebook's {self._remote_class}"


# --- running a unit's cases -------------------------------------------------------------------

@dataclass
class CaseOutcome:
    question: str
    name: str
    hidden: bool
    points: float
    passed: bool
    message: str = ""
    mistake: str = ""
    dispatched: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"question": self.question, "name": self.name, "hidden": self.hidden, "points": self.points,
                "passed": self.passed, "message": self.message, "mistake": self.mistake}


def kernel_cases(source: str) -> set[str]:
    """Test functions of an otter test file that say ``judge: kernel`` (they run in the kernel)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            doc = ast.get_docstring(node) or ""
            if doc.strip().lower().startswith(KERNEL_MARK):
                found.add(node.name)
    return found


def all_cases(source: str) -> set[str]:
    """Every test function of an otter test file (read, never run)."""
    return {node.name for node in ast.parse(source).body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test")}


def failure_message(e: BaseException) -> str:
    """What a student may read of a failure: capped (it may quote their own text)."""
    try:
        text = f"{type(e).__name__}: {e}"
    except Exception:  # noqa: BLE001
        text = type(e).__name__
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS - 1] + "…"


def judge_tests(remote: Remote, tests: list[tuple[str, str]]) -> list[CaseOutcome]:
    """Run every case that is not ``judge: kernel`` against ``remote``; hidden cases keep no message."""
    from otter.test_files.exception_test import ExceptionTestFile

    outcomes = []
    with forwarded_guard():
        for name, source in tests:
            skip = kernel_cases(source)
            tf = ExceptionTestFile.from_string(source, path=name + ".py")
            for tc in tf.test_cases:
                fn_name = tc.body.test_func.__name__
                if fn_name in skip:
                    continue
                outcomes.append(judge_case(remote, tf.name, tc))
    return outcomes


def judge_case(remote: Remote, question: str, tc) -> CaseOutcome:
    outcome = CaseOutcome(question, tc.body.test_func.__name__, bool(tc.hidden), float(tc.points), False)
    try:
        env = {arg: remote.get(arg) for arg in inspect.signature(tc.body.test_func).parameters}
        tc.body.call_func(env)
        outcome.passed = True
    except JudgeError as e:  # the kernel stopped answering: this case and the later ones fail, earlier ones count
        outcome.message = "" if tc.hidden else f"not graded: {e}"[:MESSAGE_CHARS]
    except BaseException as e:  # noqa: BLE001 - the case fails; KeyboardInterrupt of the judge's own stays below
        if isinstance(e, KeyboardInterrupt):
            raise
        mistake = getattr(e, "mistake", "")
        outcome.mistake = mistake[:200] if isinstance(mistake, str) else ""
        outcome.message = "" if tc.hidden else failure_message(e)
    outcome.dispatched = remote.dispatched
    return outcome


def drive(coroutine):
    """Run a coroutine to its end on the loop nbclient's kernel client lives on."""
    from jupyter_core.utils import run_sync

    async def wait():
        return await coroutine

    return run_sync(wait)()


def start_agent(channel: Channel) -> None:
    """Start the agent; call it before the student's first cell runs."""
    drive(channel.start())


def run_judge(tests: list[tuple[str, str]], channel: Channel) -> list[dict]:
    """Open the channel on nbclient's kernel client and judge the unit; a broken channel fails the
    judged cases with a message."""
    try:
        drive(channel.open())
    except JudgeError as e:
        return broken(tests, str(e))
    return [o.to_dict() for o in judge_tests(Remote(channel, drive), tests)]


def broken(tests: list[tuple[str, str]], why: str) -> list[dict]:
    """Every judged case failed because the kernel would not answer."""
    from otter.test_files.exception_test import ExceptionTestFile

    out = []
    for name, source in tests:
        skip = kernel_cases(source)
        tf = ExceptionTestFile.from_string(source, path=name + ".py")
        for tc in tf.test_cases:
            if tc.body.test_func.__name__ not in skip:
                out.append(CaseOutcome(tf.name, tc.body.test_func.__name__, bool(tc.hidden), float(tc.points), False,
                                       "" if tc.hidden else f"not graded: {why}"[:MESSAGE_CHARS]).to_dict())
    return out
