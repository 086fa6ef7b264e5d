"""What crosses between the student's kernel and the judge: plain data by value, the rest as handles.

A message is a Jupyter comm message: a JSON ``data`` tree plus binary ``buffers``. Nothing is ever
unpickled, evaluated or imported on the judge's side while a message is read.

By value (both ways), each encoded by :func:`encode` as JSON or a tagged object ``{"t": tag, ...}``:

* ``None``, ``bool``, ``int``, ``str``, finite ``float`` as JSON; ``nan``/``inf`` as ``{"t": "float"}``;
* ``list`` as a JSON list; ``tuple``, ``set``, ``frozenset``, ``torch.Size``, ``dict`` (keys that
  are themselves plain values) tagged with their exact type, so that type checks give the same
  answer on both sides;
* ``bytes`` as a buffer;
* ``torch.Tensor`` (any subclass arrives as a plain ``Tensor``; ``nn.Parameter`` stays one) as
  raw little-endian bytes in a buffer + dtype + shape; a tensor on the ``meta`` device as shape only;
* ``numpy.ndarray`` (numeric and bool dtypes) and numpy scalars as raw bytes + dtype + shape.

By reference:

* kernel -> judge: any other object (functions, classes, ``nn.Module`` instances, ...) becomes
  ``{"t": "handle", "id", "kind", "type", "name"}``; ``kind`` is ``function``, ``class``,
  ``module`` (an ``nn.Module`` instance) or ``object``;
* judge -> kernel: a handle is sent back as ``{"t": "ref", "id"}``; a class or function that lives
  in ``torch``, ``torchvision``, ``helpers``, ``math`` or ``numpy`` as ``{"t": "import", "module",
  "qualname"}`` (the kernel imports it). The judge never accepts ``import``.

Caps (:data:`MAX_BYTES`, :data:`MAX_ITEMS`, :data:`MAX_DEPTH`, :data:`MAX_STR`) bound what one
message may carry; going over raises :class:`ProtocolError`.
"""
from __future__ import annotations

import importlib
import math
from typing import Any, Callable

import numpy as np
import torch

MAX_BYTES = 512 << 20  # all buffers of one message
MAX_ITEMS = 1_000_000  # containers' elements, counted over the whole message
MAX_DEPTH = 64  # nesting of containers
MAX_STR = 4 << 20  # characters of one string
IMPORTABLE = ("torch", "torchvision", "helpers", "math", "numpy")
_NUMPY_KINDS = "biufc"


class ProtocolError(ValueError):
    """A value that cannot cross (unknown tag, over a cap, malformed message)."""


class _Budget:
    def __init__(self) -> None:
        self.items = 0
        self.bytes = 0

    def item(self) -> None:
        self.items += 1
        if self.items > MAX_ITEMS:
            raise ProtocolError(f"more than {MAX_ITEMS} values in one message")

    def add(self, size: int) -> None:
        self.bytes += size
        if self.bytes > MAX_BYTES:
            raise ProtocolError(f"more than {MAX_BYTES >> 20} MiB in one message")


def _tensor_bytes(t: torch.Tensor) -> bytes:
    flat = t.detach().to("cpu").contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _torch_dtype(name: str) -> torch.dtype:
    dtype = getattr(torch, str(name), None)
    if not isinstance(dtype, torch.dtype):
        raise ProtocolError(f"unknown tensor dtype {name!r}")
    return dtype


def encode(value: Any, buffers: list[bytes], *, other: Callable[[Any, Callable[[Any], Any]], dict],
           _budget: _Budget | None = None, _depth: int = 0) -> Any:
    """``value`` as a JSON-ready tree; binary data is appended to ``buffers``. ``other(value, sub)``
    encodes anything that is not plain data (a handle or a reference; ``sub`` encodes plain data it
    carries), or raises :class:`ProtocolError`."""
    budget = _budget or _Budget()
    budget.item()
    if _depth > MAX_DEPTH:
        raise ProtocolError(f"values nested deeper than {MAX_DEPTH}")

    def sub(v: Any) -> Any:
        return encode(v, buffers, other=other, _budget=budget, _depth=_depth + 1)

    kind = type(value)
    if value is None or kind in (bool, int):
        return value
    if kind is float:
        return value if math.isfinite(value) else {"t": "float", "v": repr(value)}
    if kind is str:
        if len(value) > MAX_STR:
            raise ProtocolError(f"a string longer than {MAX_STR} characters")
        return value
    if kind is bytes:
        budget.add(len(value))
        buffers.append(value)
        return {"t": "bytes", "b": len(buffers) - 1}
    if kind is list:
        return [sub(v) for v in value]
    if kind in (tuple, set, frozenset, torch.Size):
        items = sorted(value, key=repr) if kind in (set, frozenset) else value
        return {"t": kind.__name__ if kind is not torch.Size else "size", "v": [sub(v) for v in items]}
    if kind is dict:
        return {"t": "dict", "v": [[sub(k), sub(v)] for k, v in value.items()]}
    if isinstance(value, torch.Tensor):
        return _encode_tensor(value, buffers, budget)
    if kind is np.ndarray and value.dtype.kind in _NUMPY_KINDS:
        data = np.ascontiguousarray(value).tobytes()
        budget.add(len(data))
        buffers.append(data)
        return {"t": "ndarray", "dtype": value.dtype.str, "shape": list(value.shape), "b": len(buffers) - 1}
    if isinstance(value, np.generic) and type(value).__module__ == "numpy" and value.dtype.kind in _NUMPY_KINDS:
        buffers.append(value.tobytes())
        return {"t": "npscalar", "dtype": value.dtype.str, "b": len(buffers) - 1}
    return other(value, sub)


def _encode_tensor(t: torch.Tensor, buffers: list[bytes], budget: _Budget) -> dict:
    plain = t
    if type(t) not in (torch.Tensor, torch.nn.Parameter):
        with torch._C.DisableTorchFunction():  # a subclass's __torch_function__ has no say in its bytes
            plain = torch.Tensor._make_subclass(torch.Tensor, t.detach(), False)
    if plain.layout != torch.strided or plain.is_quantized:
        raise ProtocolError(f"a {plain.layout} tensor cannot be sent; send a dense one")
    out = {"t": "tensor", "dtype": _dtype_name(plain.dtype), "shape": list(plain.shape),
           "parameter": type(t) is torch.nn.Parameter, "requires_grad": bool(t.requires_grad)}
    if plain.device.type == "meta":
        out["meta"] = True
        return out
    budget.add(plain.numel() * plain.element_size())
    buffers.append(_tensor_bytes(plain))
    out["b"] = len(buffers) - 1
    return out


def _buffer(buffers: list, index: Any) -> bytes:
    if type(index) is not int or not 0 <= index < len(buffers):
        raise ProtocolError(f"buffer {index!r} is not in the message")
    return bytes(buffers[index])


def decode(tree: Any, buffers: list, *, handle: Callable[[dict], Any], allow_import: bool = False,
           _budget: _Budget | None = None, _depth: int = 0) -> Any:
    """The inverse of :func:`encode`; ``handle`` turns a ``handle`` or ``ref`` object into the object
    it stands for. ``import`` objects are refused unless ``allow_import`` (the kernel's side)."""
    budget = _budget or _Budget()
    budget.item()
    if _depth > MAX_DEPTH:
        raise ProtocolError(f"values nested deeper than {MAX_DEPTH}")

    def sub(v: Any) -> Any:
        return decode(v, buffers, handle=handle, allow_import=allow_import, _budget=budget, _depth=_depth + 1)

    if tree is None or type(tree) in (bool, int, float, str):
        return tree
    if type(tree) is list:
        return [sub(v) for v in tree]
    if type(tree) is not dict:
        raise ProtocolError(f"unexpected {type(tree).__name__} in a message")
    tag = tree.get("t")
    if tag == "float":
        if tree.get("v") not in ("nan", "inf", "-inf"):
            raise ProtocolError("a non-finite float must be nan, inf or -inf")
        return float(tree["v"])
    if tag == "bytes":
        return _buffer(buffers, tree.get("b"))
    if tag in ("tuple", "set", "frozenset", "size"):
        items = [sub(v) for v in tree.get("v", [])]
        return {"tuple": tuple, "set": set, "frozenset": frozenset, "size": torch.Size}[tag](items)
    if tag == "dict":
        return {sub(k): sub(v) for k, v in tree.get("v", [])}
    if tag == "tensor":
        return _decode_tensor(tree, buffers)
    if tag == "ndarray":
        dtype = np.dtype(tree["dtype"])
        if dtype.kind not in _NUMPY_KINDS:
            raise ProtocolError(f"numpy dtype {tree['dtype']!r} cannot be sent")
        return np.frombuffer(_buffer(buffers, tree.get("b")), dtype=dtype).reshape(tree["shape"]).copy()
    if tag == "npscalar":
        dtype = np.dtype(tree["dtype"])
        if dtype.kind not in _NUMPY_KINDS:
            raise ProtocolError(f"numpy dtype {tree['dtype']!r} cannot be sent")
        return np.frombuffer(_buffer(buffers, tree.get("b")), dtype=dtype)[0]
    if tag in ("handle", "ref"):
        return handle(tree)
    if tag == "import" and allow_import:
        return imported(str(tree.get("module")), str(tree.get("qualname")))
    raise ProtocolError(f"unknown tag {tag!r}")


def _decode_tensor(tree: dict, buffers: list) -> torch.Tensor:
    dtype = _torch_dtype(tree.get("dtype"))
    shape = [int(s) for s in tree.get("shape", [])]
    if tree.get("meta"):
        t = torch.empty(shape, dtype=dtype, device="meta")
    else:
        data = _buffer(buffers, tree.get("b"))
        numel = math.prod(shape)
        if len(data) != numel * torch.empty((), dtype=dtype).element_size():
            raise ProtocolError(f"tensor of shape {shape} and dtype {dtype} with {len(data)} bytes")
        t = (torch.frombuffer(bytearray(data), dtype=torch.uint8).view(dtype).reshape(shape) if numel
             else torch.empty(shape, dtype=dtype))
    if tree.get("parameter"):
        return torch.nn.Parameter(t, requires_grad=bool(tree.get("requires_grad")))
    return t.requires_grad_(True) if tree.get("requires_grad") and t.is_floating_point() else t


def import_ref(value: Any) -> dict | None:
    """``{"t": "import", ...}`` for a class or function that the kernel can import by name, else None."""
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    if module.split(".")[0] not in IMPORTABLE:
        return None
    try:
        if imported(module, qualname) is not value:
            return None
    except (ImportError, AttributeError, ProtocolError):
        return None
    return {"t": "import", "module": module, "qualname": qualname}


def imported(module: str, qualname: str) -> Any:
    """``module.qualname``, for modules under :data:`IMPORTABLE` only."""
    if module.split(".")[0] not in IMPORTABLE:
        raise ProtocolError(f"{module!r} is not a module the protocol imports")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def qualified_name(fn: Any) -> str | None:
    """``"module:qualname"`` of a function or method the kernel can find by name (None otherwise)."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    return f"{module}:{qualname}"
