"""The kernel side of the judge: answers the judge's requests about the student's objects.

The worker starts it with one silent execute request (no history) before the student's first
cell, when no input or AST transformer of the student's exists yet::

    __import__("autograder.agent", fromlist=["start"]).start(NONCE)

From then on requests arrive as Jupyter comm messages on target :data:`TARGET`; comm messages
never pass through IPython's input transformers, AST transformers or ``run_cell``. The judge
opens the comm with the nonce, and the first answer (``hello``) sends it back, so a start that
the student's code replaced is detected and the judge fails the cases with a message.

Requests (``data["op"]``; values as :mod:`autograder.protocol` encodes them):

* ``hello`` -> the nonce;
* ``get`` ``name`` -> a global of the notebook (``None`` when undefined, as otter does);
* ``getattr`` ``id`` ``name`` -> an attribute of a handle;
* ``call`` ``id`` ``args`` ``kwargs`` ``guard`` ``grad`` ``device`` -> the result of calling a
  handle (for an ``nn.Module`` handle, its ``path`` child's ``__call__``), after ``load`` (a state
  by value and training flags) is applied to the module. The call runs under
  ``helpers.checks.no_shortcuts`` when ``guard`` names op groups or functions (``"module:qualname"``)
  and the answer lists the aten operators it dispatched. ``device`` ``"meta"`` (the judge's test
  builds on the meta device) runs it under ``helpers.runtime.meta_device``.

An ``nn.Module`` result arrives as a handle with its tree: each submodule's path, class and
training flag, each parameter and buffer by value (meta tensors as shapes only).
"""
from __future__ import annotations

import contextlib
import hmac
from typing import Any

import torch

from autograder import protocol

TARGET = "cnn_course_judge"
MESSAGE_CHARS = 300
DISPATCHED_CAP = 300

_state: dict[str, Any] = {}


def start(nonce: str) -> None:
    """Register the comm target; bind the guard now, before any student code can change it."""
    from comm import get_comm_manager

    from helpers import checks, runtime

    _state.update(nonce=str(nonce), objects={}, ids={}, no_shortcuts=checks.no_shortcuts,
                  meta_device=runtime.meta_device,
                  static_refusal=getattr(checks, "_static_refusal", None), checks=checks)
    get_comm_manager().register_target(TARGET, _open)


def _open(comm, msg) -> None:
    data = msg["content"].get("data") or {}
    if not hmac.compare_digest(str(data.get("nonce", "")), _state["nonce"]):
        comm.close()
        return
    comm.on_msg(lambda m: _answer(comm, m))


def _answer(comm, msg) -> None:
    data = msg["content"].get("data") or {}
    buffers: list[bytes] = []
    try:
        value = OPS[str(data.get("op"))](data, msg.get("buffers") or [])
        reply = {"ok": True, **value} if isinstance(value, dict) else {"ok": True}
        reply["value"] = protocol.encode(reply.get("value"), buffers, other=_handle)
    except BaseException as e:  # noqa: BLE001 - every failure (KeyboardInterrupt from a timeout too) is an answer
        buffers = []
        reply = {"ok": False, "error": _error(e)}
    reply["rid"] = data.get("rid")
    comm.send(reply, buffers=buffers)


def _error(e: BaseException) -> dict:
    mistake = getattr(e, "mistake", "")
    return {"type": type(e).__name__[:80], "message": _text(e)[:2000],
            "mistake": mistake[:200] if isinstance(mistake, str) else ""}


def _text(e: BaseException) -> str:
    try:
        return str(e)
    except Exception:  # noqa: BLE001 - a student's exception whose __str__ fails
        return f"<{type(e).__name__} whose message cannot be shown>"


# --- handles ---------------------------------------------------------------------------------

def _handle(value: Any, sub) -> dict:
    ids: dict[int, int] = _state["ids"]
    key = id(value)
    if key not in ids or _state["objects"].get(ids[key]) is not value:
        ids[key] = len(_state["objects"]) + 1
        _state["objects"][ids[key]] = value
    kind = ("module" if isinstance(value, torch.nn.Module) else "class" if isinstance(value, type)
            else "function" if callable(value) else "object")
    out = {"t": "handle", "id": ids[key], "kind": kind, "type": type(value).__qualname__[:200],
           "name": str(getattr(value, "__name__", ""))[:200] if kind in ("class", "function") else ""}
    if kind == "module":
        out["tree"] = sub(module_tree(value))
    return out


def _object(tree: dict) -> Any:
    if tree.get("t") != "ref" or tree.get("id") not in _state["objects"]:
        raise protocol.ProtocolError(f"no object {tree.get('id')!r} in this kernel")
    return _state["objects"][tree["id"]]


def _decode(tree: Any, buffers: list) -> Any:
    return protocol.decode(tree, buffers, handle=_object, allow_import=True)


def module_tree(module: torch.nn.Module) -> dict:
    """Each submodule: path, class name, training flag, own parameters and buffers by value."""
    nodes = []
    for path, m in module.named_modules(remove_duplicate=False):
        nodes.append({"path": path, "class": type(m).__qualname__[:200], "training": bool(m.training),
                      "parameters": {k: p for k, p in m._parameters.items() if p is not None},
                      "buffers": {k: b for k, b in m._buffers.items() if b is not None},
                      "persistent": [k for k in m._buffers if k not in m._non_persistent_buffers_set]})
    return {"nodes": nodes}


# --- requests --------------------------------------------------------------------------------

def _hello(data: dict, buffers: list) -> dict:
    return {"value": _state["nonce"]}


def _get(data: dict, buffers: list) -> dict:
    from IPython import get_ipython

    namespace = get_ipython().user_ns
    return {"value": namespace.get(str(data.get("name")))}


def _getattr(data: dict, buffers: list) -> dict:
    return {"value": getattr(_object({"t": "ref", "id": data.get("id")}), str(data.get("name")))}


def _functions(names: list) -> list:
    found = []
    for name in names or []:
        module, _, qualname = str(name).partition(":")
        try:
            found.append(protocol.imported(module, qualname))
        except (ImportError, AttributeError, protocol.ProtocolError):
            continue  # a reference the kernel cannot reach cannot be called from it either
    return found


class _Recorder(torch.utils._python_dispatch.TorchDispatchMode):
    """The aten operators a call dispatched (a set, in first-seen order)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, None] = {}

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        packet = getattr(func, "overloadpacket", None)
        self.seen[packet.__name__ if packet is not None else str(func)] = None
        return func(*args, **(kwargs or {}))


def _load(module: torch.nn.Module, load: dict, buffers: list) -> None:
    """Apply the judge's copy of the module: tensors by value (their dtype too), training flags."""
    modules = dict(module.named_modules(remove_duplicate=False))
    with torch.no_grad():
        for key, tensor in _decode(load.get("state") or {"t": "dict", "v": []}, buffers).items():
            path, _, attr = key.rpartition(".")
            owner = modules[path]
            if attr in owner._parameters:
                owner._parameters[attr].data = tensor.detach()
            elif attr in owner._buffers:
                owner._buffers[attr] = tensor.detach()
            else:
                raise KeyError(f"{key} is neither a parameter nor a buffer")
    for path, training in (load.get("training") or {}).items():
        modules[path].training = bool(training)


def _refuse_statically(target: Any, functions: list, allowed: str | None) -> None:
    """``run_student``'s look at the answer's code before it runs (a reference's code reused, a
    private torch entry point named), done here where the code is."""
    checks, refusal = _state["checks"], _state["static_refusal"]
    if refusal is None:
        return
    allows = checks.ALLOWED_OPS[allowed][0] if allowed else "your own code (not the course's routines)"
    why = refusal(target, functions, allows)
    if why:
        raise checks.ShortcutUsed(why)


def _call(data: dict, buffers: list) -> dict:
    target = _object({"t": "ref", "id": data.get("id")})
    if isinstance(target, torch.nn.Module):
        if data.get("load"):
            _load(target, data["load"], buffers)
        target = dict(target.named_modules(remove_duplicate=False))[str(data.get("path", ""))]
    args = _decode(data.get("args", []), buffers)
    kwargs = _decode(data.get("kwargs", {"t": "dict", "v": []}), buffers)
    guard = data.get("guard") or {}
    recorder = _Recorder() if guard else None
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.set_grad_enabled(bool(data.get("grad", True))))
        if data.get("device") == "meta":  # as the test builds its reference: shapes only, no initialisation
            stack.enter_context(_state["meta_device"]())
        elif data.get("device"):
            stack.enter_context(torch.device(str(data["device"])))
        if guard:
            options = _decode(guard.get("options") or {"t": "dict", "v": []}, buffers)
            functions = _functions(guard.get("functions"))
            _refuse_statically(target, functions, options.get("allowed"))
            stack.enter_context(_state["no_shortcuts"](*guard.get("groups", []), functions=functions, **options))
            stack.enter_context(recorder)
        value = target(*args, **kwargs)
    out = {"value": value}
    if recorder is not None:
        out["dispatched"] = list(recorder.seen)[:DISPATCHED_CAP]
    return out


OPS = {"hello": _hello, "get": _get, "getattr": _getattr, "call": _call}
